"""Concurrent duplicates against PostgreSQL: the unique constraint, not a check, keeps one order."""

import threading

import pytest
from django.db import connection

from customers.models import Customer, Order, PosToken
from tests.api.conftest import token_client
from tests.factories import make_store

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL's concurrency"),
    pytest.mark.django_db(transaction=True),
]

CLIENTS = 50


def _post_all(key: str, body: dict, n: int) -> list[tuple[int, int | None]]:
    barrier = threading.Barrier(n)
    results: list[tuple[int, int | None]] = []
    lock = threading.Lock()

    def post() -> None:
        client = token_client(key)
        try:
            barrier.wait()
            response = client.post("/api/v1/orders/", body, format="json")
            with lock:
                results.append((response.status_code, response.json().get("id")))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_50_concurrent_posts_of_one_order_make_exactly_one_row():
    store = make_store()
    key = PosToken.issue(store=store, name="front desk")[1]
    body = {
        "external_id": "RACE-1",
        "customer": {"phone": "13800138000", "name": "张三"},
        "paid_at": "2026-01-15T14:30:00+08:00",
        "amount": "599.00",
    }
    results = _post_all(key, body, CLIENTS)
    assert len(results) == CLIENTS
    assert Order.objects.count() == 1
    assert Customer.objects.count() == 1
    order = Order.objects.get()
    assert sorted({status for status, _ in results}) in ([200, 201], [201])
    assert [status for status, _ in results].count(201) == 1
    assert {order_id for _, order_id in results} == {order.pk}


def test_50_concurrent_refunds_cannot_exceed_their_sale():
    store = make_store()
    key = PosToken.issue(store=store, name="front desk")[1]
    sale = {
        "external_id": "SALE-1",
        "customer": {"phone": "13800138000"},
        "paid_at": "2026-01-15T14:30:00+08:00",
        "amount": "100.00",
    }
    assert token_client(key).post("/api/v1/orders/", sale, format="json").status_code == 201
    barrier = threading.Barrier(CLIENTS)
    statuses = []

    def refund(n: int) -> None:
        client = token_client(key)
        body = {
            **sale,
            "external_id": f"REF-{n}",
            "kind": "refund",
            "refund_of": "SALE-1",
            "amount": "30.00",
        }
        try:
            barrier.wait()
            statuses.append(client.post("/api/v1/orders/", body, format="json").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=refund, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses).count(201) == 3
    assert Order.objects.filter(kind="refund").count() == 3
