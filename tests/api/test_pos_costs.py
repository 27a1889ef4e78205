"""The POS hot path (issue 16's load goal): what a lookup and an order cost in queries, and that
the fast answers are exactly the serializers' answers."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from customers.models import Customer, Order
from customers.selectors import store_id_scope
from customers.serializers import OrderAnswerSerializer
from segmentation import live, selectors
from segmentation.services import relabel
from tests.factories import make_customer, make_order, make_staff

TZ = ZoneInfo(settings.TIME_ZONE)
LOOKUP = "/api/v1/customers/lookup/"
ORDERS = "/api/v1/orders/"
# Measured; a rise means a read crept back onto the till's path. The order counts include
# BEGIN, the savepoints and COMMIT: the token, the replay check, the fan by phone, the order insert, the locked
# labels row with the last run's id, the fan's aggregates, the labels upsert, the answer's labels.
LOOKUP_QUERIES = 4  # token; the fan with her labels, store, guide, referrer; tag groups; tags
LOOKUP_MISS_QUERIES = 2  # token, the phone's fan (of any store)
ORDER_KNOWN_FAN_QUERIES = 12
ORDER_NEW_FAN_QUERIES = 17  # + her insert in a savepoint (3), her labels row, her label changes


def at(days_ago: int) -> datetime:
    return datetime.combine(timezone.localdate() - timedelta(days=days_ago), time(12), tzinfo=TZ)


def body(external_id: str, phone: str, **overrides) -> dict:
    return {
        "external_id": external_id,
        "customer": {"phone": phone, "name": "张三"},
        "paid_at": (timezone.now() - timedelta(minutes=1)).isoformat(),
        "amount": "599.00",
        "payment_method": "card",
        **overrides,
    }


@pytest.fixture
def relabelled(store):
    """A fan with a sale, relabelled yesterday: sales are then relabelled live."""
    fan = make_customer(store=store, phone="13800000001")
    make_order(customer=fan, amount="300.00", paid_at=at(20))
    assert relabel(as_of=timezone.localdate() - timedelta(days=1)).status == "succeeded"
    return fan


def test_a_lookup_of_an_own_fan_costs_a_fixed_number_of_queries(
    pos, relabelled, django_assert_num_queries
):
    pos.post(LOOKUP, {"phone": "13800000001"}, format="json")  # the token's last use written
    with django_assert_num_queries(LOOKUP_QUERIES):
        response = pos.post(LOOKUP, {"phone": "13800000001"}, format="json")
    assert response.status_code == 200
    assert response.json()["id"] == relabelled.pk


def test_a_lookup_miss_costs_two_queries(pos, relabelled, django_assert_num_queries):
    pos.post(LOOKUP, {"phone": "13800000001"}, format="json")
    with django_assert_num_queries(LOOKUP_MISS_QUERIES):
        response = pos.post(LOOKUP, {"phone": "13900000009"}, format="json")
    assert response.status_code == 404


def test_an_order_of_a_known_fan_costs_a_fixed_number_of_queries(
    pos, relabelled, django_assert_num_queries
):
    pos.post(ORDERS, body("Q-0", "13800000001"), format="json")  # the last run read, once
    with django_assert_num_queries(ORDER_KNOWN_FAN_QUERIES):
        response = pos.post(ORDERS, body("Q-1", "13800000001"), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["labels"]["live_since"] is not None


def test_an_order_that_registers_her_costs_a_fixed_number_of_queries(
    pos, relabelled, django_assert_num_queries
):
    pos.post(ORDERS, body("Q-0", "13800000001"), format="json")  # the last run read, once
    with django_assert_num_queries(ORDER_NEW_FAN_QUERIES):
        response = pos.post(ORDERS, body("Q-2", "13900000002"), format="json")
    assert response.status_code == 201, response.json()
    assert Customer.objects.get(phone="13900000002").labels.apple == "green"


def serializer_answer(order_id: int, actor) -> dict:
    order = (
        Order.objects.select_related("store", "guide", "refund_of", "customer__labels")
        .prefetch_related("items")
        .get(pk=order_id)
    )
    order.customer_store_id = order.customer.store_id
    return OrderAnswerSerializer(order, context={"store_scope": store_id_scope(actor)}).data


def test_the_created_answer_is_the_serializers_answer_of_the_stored_order(pos, store, relabelled):
    guide = make_staff(store=store, work_number="G777")
    items = [
        {"sku": "A1", "name": "裙", "category": "dress", "quantity": 2, "unit_price": "199.5"},
        {"sku": "B2", "name": "衫", "category": "top", "quantity": 1, "unit_price": "200",
         "is_new_arrival": True},
    ]  # fmt: skip
    sale = pos.post(
        ORDERS,
        body("Q-3", "13800000001", guide=guide.work_number, items=items, amount="599"),
        format="json",
    )
    assert sale.status_code == 201, sale.json()
    device = PosDeviceOf(pos)
    assert sale.json() == serializer_answer(sale.json()["id"], device)
    refund = pos.post(
        ORDERS,
        body("Q-4", "13800000001", kind="refund", refund_of="Q-3", amount="100.5",
             paid_at="2026-01-15T06:30:00.123456+00:00"),
        format="json",
    )  # fmt: skip
    assert refund.status_code == 201, refund.json()
    assert refund.json() == serializer_answer(refund.json()["id"], device)


def test_the_created_answer_of_another_stores_member_names_no_fan_and_no_labels(
    pos, other_store, relabelled
):
    make_customer(store=other_store, phone="13700000007")
    response = pos.post(ORDERS, body("Q-5", "13700000007"), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["customer"] is None and response.json()["labels"] is None
    assert response.json() == serializer_answer(response.json()["id"], PosDeviceOf(pos))


def PosDeviceOf(client):  # noqa: N802 - reads as the actor of the client's token
    from customers.auth import PosTokenAuthentication

    key = client._credentials["HTTP_AUTHORIZATION"].removeprefix("Token ")
    return PosTokenAuthentication().authenticate_credentials(key)[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the written-out SQL is PostgreSQL's")
def test_the_live_aggregates_sql_gives_the_orms_values(store):
    fans = [make_customer(store=store) for _ in range(4)]
    make_order(customer=fans[0], amount="120.00", paid_at=at(1))
    make_order(customer=fans[0], amount="80.50", paid_at=at(400))
    make_order(customer=fans[1], amount="300.00", paid_at=at(3))
    make_order(customer=fans[1], amount="50.00", paid_at=at(2), kind=Order.Kind.REFUND)
    make_order(customer=fans[2], amount="10.00", paid_at=at(-3))  # after as_of: not counted
    ids = [f.pk for f in fans]
    as_of = timezone.localdate()
    fast = sorted(selectors.live_aggregates(customer_ids=ids, as_of=as_of), key=lambda r: r["pk"])
    end = selectors.local_day_start(as_of + timedelta(days=1))
    start = selectors.local_day_start(as_of - timedelta(days=selectors.WINDOW_DAYS - 1))
    orm = sorted(
        selectors._live_aggregates_orm(customer_ids=ids, end=end, window_start=start),
        key=lambda r: r["pk"],
    )
    assert fast == orm


def test_a_new_nights_thresholds_reach_the_next_sale_in_every_process(pos, relabelled):
    pos.post(ORDERS, body("Q-6", "13800000001"), format="json")
    run = live._last_run[1]
    live._last_run = (run.pk + 1000, run, None)  # as if another process had read another run
    response = pos.post(ORDERS, body("Q-7", "13800000001"), format="json")
    assert response.status_code == 201
    assert live._last_run[0] == run.pk and live._last_run[2] is not None  # reread, then used
