"""POST /api/v1/orders/: validation, idempotency, refunds, store scoping."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import Customer, Order
from tests.factories import make_customer, make_order

URL = "/api/v1/orders/"


def body(**overrides) -> dict:
    data = {
        "external_id": "POS-0001",
        "customer": {"phone": "+86 138 0013 8000", "name": "张三"},
        "paid_at": "2026-01-15T14:30:00+08:00",
        "amount": "599.00",
        "payment_method": "card",
    }
    data.update(overrides)
    return data


def test_a_pos_records_a_sale_and_registers_the_new_fan_at_its_store(pos, store):
    response = pos.post(URL, body(), format="json")
    assert response.status_code == 201, response.json()
    order = Order.objects.get()
    assert response.json()["id"] == order.pk
    assert response.json()["amount"] == "599.00"
    assert response.json()["store"] == store.code
    assert order.customer.phone == "13800138000"
    assert order.customer.store == store


def test_the_same_order_posted_twice_answers_200_with_the_original(pos):
    first = pos.post(URL, body(), format="json")
    again = pos.post(URL, body(), format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Order.objects.count() == 1


def test_a_reused_external_id_with_another_amount_answers_409_with_the_original_id(pos):
    first = pos.post(URL, body(), format="json")
    response = pos.post(URL, body(amount="600.00"), format="json")
    assert response.status_code == 409
    assert response.json()["id"] == first.json()["id"]
    assert Order.objects.get().amount == 599


def test_items_are_recorded_and_part_of_the_replay_check(pos):
    items = [
        {"sku": "A1", "name": "衬衫", "category": "top", "quantity": 2, "unit_price": "299.50"}
    ]
    assert pos.post(URL, body(items=items), format="json").status_code == 201
    assert pos.post(URL, body(items=items), format="json").status_code == 200
    changed = [{**items[0], "quantity": 3}]
    assert pos.post(URL, body(items=changed), format="json").status_code == 409
    assert Order.objects.get().items.get().quantity == 2


def test_a_refund_points_at_its_sale(pos, store):
    fan = make_customer(store=store, phone="13800138000")
    sale = make_order(customer=fan, external_id="S-1", amount="300.00")
    response = pos.post(
        URL, body(external_id="R-1", kind="refund", refund_of="S-1", amount="300.00"), format="json"
    )
    assert response.status_code == 201, response.json()
    assert Order.objects.get(external_id="R-1").refund_of == sale


def test_a_refund_larger_than_its_sale_is_refused_naming_the_amount(pos, store):
    fan = make_customer(store=store, phone="13800138000")
    make_order(customer=fan, external_id="S-1", amount="300.00")
    response = pos.post(
        URL, body(external_id="R-1", kind="refund", refund_of="S-1", amount="300.01"), format="json"
    )
    assert response.status_code == 400
    assert "amount" in response.json()
    assert not Order.objects.filter(kind="refund").exists()


def test_a_refund_of_another_fans_sale_is_refused(pos, store):
    other_fan = make_customer(store=store)
    make_order(customer=other_fan, external_id="S-1", amount="300.00")
    response = pos.post(URL, body(external_id="R-1", kind="refund", refund_of="S-1"), format="json")
    assert response.status_code == 400
    assert "refund_of" in response.json()
    assert not Customer.objects.filter(phone="13800138000").exists()


def test_a_guide_of_the_store_can_be_named_by_work_number(pos, guide):
    response = pos.post(URL, body(guide=guide.work_number), format="json")
    assert response.status_code == 201
    assert response.json()["guide"] == guide.work_number
    assert Customer.objects.get(phone="13800138000").guide == guide


def test_a_guide_of_another_store_is_refused(pos, other_store_guide):
    response = pos.post(URL, body(guide=other_store_guide.work_number), format="json")
    assert response.status_code == 400
    assert "guide" in response.json()
    assert not Order.objects.exists()
    assert not Customer.objects.exists()


def test_hq_must_name_the_store(hq_api):
    response = hq_api.post(URL, body(), format="json")
    assert response.status_code == 400
    assert "store" in response.json()


def test_hq_records_an_order_for_a_named_store(hq_api, other_store):
    response = hq_api.post(URL, body(store=other_store.code), format="json")
    assert response.status_code == 201
    assert Order.objects.get().store == other_store


def test_a_guide_records_an_order_at_her_own_store(guide_api, store):
    response = guide_api.post(URL, body(), format="json")
    assert response.status_code == 201
    assert Order.objects.get().store == store


# --- bad input: each a 4xx naming the field, and nothing written ---------------------------------

BAD_BODIES = {
    "missing external_id": ({"external_id": None}, "external_id"),
    "empty external_id": ({"external_id": ""}, "external_id"),
    "65-char external_id": ({"external_id": "x" * 65}, "external_id"),
    "missing customer": ({"customer": None}, "customer"),
    "12-digit phone": ({"customer": {"phone": "138001380001"}}, "customer.phone"),
    "landline phone": ({"customer": {"phone": "0571-88888888"}}, "customer.phone"),
    "amount -1": ({"amount": "-1"}, "amount"),
    "amount 1e9": ({"amount": "1e9"}, "amount"),
    "amount abc": ({"amount": "abc"}, "amount"),
    "amount three decimals": ({"amount": "1.005"}, "amount"),
    "amount NaN": ({"amount": "NaN"}, "amount"),
    "amount Infinity": ({"amount": "Infinity"}, "amount"),
    "amount over a million": ({"amount": "1000000.01"}, "amount"),
    "missing amount": ({"amount": None}, "amount"),
    "paid_at without offset": ({"paid_at": "2026-01-15T14:30:00"}, "paid_at"),
    "paid_at a day ahead": ({"paid_at": "FUTURE"}, "paid_at"),
    "paid_at not a date": ({"paid_at": "yesterday"}, "paid_at"),
    "unknown kind": ({"kind": "gift"}, "kind"),
    "unknown payment method": ({"payment_method": "bitcoin"}, "payment_method"),
    "item quantity 0": (
        {"items": [{"sku": "A", "quantity": 0, "unit_price": "1.00"}]},
        "items[0].quantity",
    ),
    "unknown store": ({"store": "S999"}, "store"),
    "refund_of on a sale": ({"refund_of": "S-1"}, "refund_of"),
}


@pytest.mark.parametrize("overrides,field", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_bad_order_is_refused_naming_the_field_and_writes_nothing(pos, overrides, field):
    data = body(**overrides)
    if data["paid_at"] == "FUTURE":
        data["paid_at"] = (timezone.now() + timedelta(days=1)).isoformat()
    data = {k: v for k, v in data.items() if v is not None}
    response = pos.post(URL, data, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json(), response.json()
    assert not Order.objects.exists()
    assert not Customer.objects.exists()


def test_another_stores_code_with_a_pos_token_is_refused_like_an_unknown_one(pos, other_store):
    response = pos.post(URL, body(store=other_store.code), format="json")
    unknown = pos.post(URL, body(store="S999"), format="json")
    assert response.status_code == unknown.status_code == 400
    assert response.json() == unknown.json()
    assert not Order.objects.exists()


def test_malformed_json_is_a_400(pos):
    response = pos.post(URL, data=b'{"external_id": ', content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()


def test_a_body_over_one_mebibyte_is_a_413_and_writes_nothing(pos):
    data = body(items=[{"sku": "A" * 60, "name": "x" * 200, "unit_price": "1.00"}] * 8000)
    raw = json.dumps(data).encode()
    assert len(raw) > 2_000_000
    response = pos.post(URL, data=raw, content_type="application/json")
    assert response.status_code == 413
    assert "detail" in response.json()
    assert not Order.objects.exists()


def test_no_token_is_a_401(client, db):
    response = client.post(URL, body(), content_type="application/json")
    assert response.status_code == 401
    assert not Order.objects.exists()


def test_a_revoked_pos_token_is_a_401(pos, store):
    store.pos_tokens.update(is_active=False)
    assert pos.post(URL, body(), format="json").status_code == 401


def test_a_deactivated_guides_token_is_a_401_at_once(guide_api, guide, manager):
    from customers.services import deactivate_staff

    assert guide_api.get(URL).status_code == 200
    deactivate_staff(staff=guide, by=manager)
    assert guide_api.get(URL).status_code == 401


def test_a_guide_whose_profile_alone_is_switched_off_is_a_401(guide_api, guide):
    guide.is_active = False
    guide.save()
    assert guide_api.get(URL).status_code == 401


# --- list ----------------------------------------------------------------------------------------


def test_the_order_list_shows_only_the_callers_store(pos, store, other_store):
    mine = make_order(customer=make_customer(store=store))
    make_order(customer=make_customer(store=other_store))
    response = pos.get(URL)
    assert [o["id"] for o in response.json()["results"]] == [mine.pk]


def test_the_order_list_filters_by_customer_and_local_dates(guide_api, store):
    from tests.factories import aware_dt

    fan = make_customer(store=store)
    make_order(customer=fan, paid_at=aware_dt(2026, 1, 9, 23, 59))
    inside = make_order(customer=fan, paid_at=aware_dt(2026, 1, 10, 0, 0))
    last = make_order(customer=fan, paid_at=aware_dt(2026, 1, 12, 23, 59))
    make_order(customer=fan, paid_at=aware_dt(2026, 1, 13, 0, 0))
    make_order(customer=make_customer(store=store), paid_at=aware_dt(2026, 1, 11))
    response = guide_api.get(
        URL, {"customer": fan.pk, "since": "2026-01-10", "until": "2026-01-12"}
    )
    assert [o["id"] for o in response.json()["results"]] == [last.pk, inside.pk]


def test_the_order_list_takes_a_constant_number_of_queries(
    pos, store, django_assert_max_num_queries
):
    for _ in range(30):
        make_order(customer=make_customer(store=store))
    with django_assert_max_num_queries(6):
        response = pos.get(URL, {"page_size": 500})
    assert response.json()["count"] == 30


def test_a_nul_character_in_the_body_is_a_400(pos):
    response = pos.post(URL, body(external_id="A\x00B"), format="json")
    assert response.status_code == 400
    assert not Order.objects.exists()


def test_a_nul_character_in_a_query_parameter_is_a_400(pos):
    assert pos.get("/api/v1/customers/", {"q": "a\x00b"}).status_code == 400


def test_logs_of_orders_and_lookups_never_hold_a_raw_phone(pos, caplog):
    import logging
    import re

    with caplog.at_level(logging.DEBUG):
        pos.post(URL, body(), format="json")
        pos.post("/api/v1/customers/lookup/", {"phone": "13912345678"}, format="json")
        pos.post(URL, body(customer={"phone": "1391234567"}), format="json")
    assert caplog.records
    assert not re.search(r"1[3-9]\d{9}", caplog.text)
