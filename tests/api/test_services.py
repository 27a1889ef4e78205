"""The write services other apps call: registration, profile updates, orders, deactivation."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from customers.auth import issue_staff_token
from customers.models import Customer, CustomerLabels, Order, Staff, StaffToken
from customers.schemas import OrderSchema, validate_input
from customers.services import (
    CustomerExists,
    OrderConflict,
    deactivate_staff,
    record_order,
    register_customer,
    update_customer,
)
from tests.factories import make_customer, make_order


def parse_order_in(body: dict, *, now=None):
    """The order schema every door uses (POST /orders/, the batch, import_orders, the admin)."""
    return validate_input(OrderSchema(context={"now": now} if now else {}), body)


def order_body(**overrides) -> dict:
    body = {
        "external_id": "T-1",
        "customer": {"phone": "+86 138 0013 8000", "name": "张三"},
        "paid_at": "2026-01-15T14:30:00+08:00",
        "amount": "599.00",
    }
    body.update(overrides)
    return body


def test_register_customer_normalises_the_phone_and_starts_as_blossom(store):
    fan = register_customer(store=store, phone="+86 138 0013 8000", name="张三")
    assert fan.phone == "13800138000"
    assert CustomerLabels.objects.get(customer=fan).apple == "blossom"


def test_register_customer_gives_an_opinion_leader_a_golden_apple(store):
    fan = register_customer(store=store, phone="13800138000", name="张三", is_opinion_leader=True)
    assert fan.labels.apple == "golden"


def test_register_customer_with_a_taken_phone_raises_customer_exists(store):
    existing = make_customer(store=store, phone="13800138000")
    with pytest.raises(CustomerExists) as exc:
        register_customer(store=store, phone="138 0013 8000", name="李四")
    assert exc.value.customer == existing
    assert Customer.objects.count() == 1


def test_update_customer_refuses_a_lunar_day_that_does_not_exist(store, guide):
    fan = make_customer(store=store)
    with pytest.raises(ValidationError) as exc:
        # lunar 2023 month 1 has 29 days
        update_customer(
            customer=fan,
            changes={"birthday": {"calendar": "lunar", "year": 2023, "month": 1, "day": 30}},
            by=guide,
        )
    assert "birth_day" in exc.value.message_dict


def test_update_customer_refuses_a_height_of_251(store, guide):
    fan = make_customer(store=store)
    with pytest.raises(ValidationError) as exc:
        update_customer(customer=fan, changes={"height_cm": 251}, by=guide)
    assert list(exc.value.message_dict) == ["height_cm"]


def test_update_customer_accepts_a_height_of_250(store, guide):
    fan = make_customer(store=store)
    update_customer(customer=fan, changes={"height_cm": 250}, by=guide)
    fan.refresh_from_db()
    assert fan.height_cm == 250


def test_a_guide_cannot_mark_an_opinion_leader(store, guide):
    fan = make_customer(store=store)
    with pytest.raises(ValidationError) as exc:
        update_customer(customer=fan, changes={"is_opinion_leader": True}, by=guide)
    assert list(exc.value.message_dict) == ["is_opinion_leader"]
    fan.refresh_from_db()
    assert fan.is_opinion_leader is False


def test_a_manager_marking_an_opinion_leader_turns_the_apple_golden(store, manager):
    fan = make_customer(store=store)
    update_customer(customer=fan, changes={"is_opinion_leader": True}, by=manager)
    assert CustomerLabels.objects.get(customer=fan).apple == "golden"


def test_record_order_registers_a_new_phone_at_the_store(store):
    order, created = record_order(store=store, order_in=parse_order_in(order_body()))
    assert created is True
    assert order.customer.phone == "13800138000"
    assert order.customer.store == store
    assert order.amount == Decimal("599.00")


def test_record_order_twice_with_the_same_body_returns_the_first_order(store):
    first, _ = record_order(store=store, order_in=parse_order_in(order_body()))
    again, created = record_order(store=store, order_in=parse_order_in(order_body()))
    assert (again.pk, created) == (first.pk, False)
    assert Order.objects.count() == 1


def test_record_order_with_a_reused_external_id_and_another_amount_conflicts(store):
    record_order(store=store, order_in=parse_order_in(order_body()))
    with pytest.raises(OrderConflict):
        record_order(store=store, order_in=parse_order_in(order_body(amount="600.00")))
    assert Order.objects.count() == 1


def test_refunds_cannot_exceed_their_sale(store):
    fan = make_customer(store=store, phone="13800138000")
    make_order(customer=fan, external_id="S-1", amount="100.00")
    refund = order_body(external_id="R-1", kind="refund", refund_of="S-1", amount="60.00")
    record_order(store=store, order_in=parse_order_in(refund))
    with pytest.raises(ValidationError) as exc:
        record_order(
            store=store,
            order_in=parse_order_in({**refund, "external_id": "R-2", "amount": "40.01"}),
        )
    assert list(exc.value.message_dict) == ["amount"]
    record_order(
        store=store, order_in=parse_order_in({**refund, "external_id": "R-3", "amount": "40.00"})
    )
    assert Order.objects.filter(kind="refund").count() == 2


def test_a_refund_replay_is_not_counted_against_its_sale(store):
    fan = make_customer(store=store, phone="13800138000")
    make_order(customer=fan, external_id="S-1", amount="100.00")
    refund = order_body(external_id="R-1", kind="refund", refund_of="S-1", amount="100.00")
    first, _ = record_order(store=store, order_in=parse_order_in(refund))
    again, created = record_order(store=store, order_in=parse_order_in(refund))
    assert (again.pk, created) == (first.pk, False)


def test_paid_at_six_minutes_ahead_is_refused_and_four_minutes_ahead_accepted():
    now = timezone.now()
    with pytest.raises(ValidationError) as exc:
        parse_order_in(order_body(paid_at=(now + timedelta(minutes=6)).isoformat()), now=now)
    assert list(exc.value.message_dict) == ["paid_at"]
    parse_order_in(order_body(paid_at=(now + timedelta(minutes=4)).isoformat()), now=now)


@pytest.mark.parametrize(
    "amount", ["-1", "1e9", "abc", "1.234", "NaN", "Infinity", "1000000.01", True]
)
def test_bad_amounts_are_refused_naming_the_field(amount):
    with pytest.raises(ValidationError) as exc:
        parse_order_in(order_body(amount=amount))
    assert list(exc.value.message_dict) == ["amount"]


@pytest.mark.parametrize("amount", ["0", "0.00", "1000000", "1000000.00", "12.5"])
def test_amounts_at_the_bounds_are_accepted(amount):
    assert parse_order_in(order_body(amount=amount)).amount == Decimal(amount)


def test_deactivating_a_guide_deletes_their_api_tokens(guide, manager):

    issue_staff_token(guide.user)
    deactivate_staff(staff=guide, by=manager)
    assert not StaffToken.objects.filter(user=guide.user).exists()
    guide.refresh_from_db()
    assert (guide.is_active, guide.user.is_active) == (False, False)


def test_deactivating_a_guide_ends_their_browser_sessions(client, guide, manager):
    from django.contrib.sessions.models import Session

    client.force_login(guide.user)
    other = make_staff_session(manager)
    deactivate_staff(staff=guide, by=manager)
    assert list(Session.objects.values_list("pk", flat=True)) == [other]


def make_staff_session(staff: Staff) -> str:
    from django.test import Client

    c = Client()
    c.force_login(staff.user)
    return c.session.session_key
