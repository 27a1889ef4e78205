import pytest
from django.db import IntegrityError, transaction

from customers.models import Customer, Order
from tests.factories import aware_dt, make_customer, make_order, make_store


def test_the_database_refuses_a_second_fan_with_the_same_phone(store):
    make_customer(store=store, phone="13800138000")
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(store=make_store(), phone="13800138000", name="重复")


def test_the_database_refuses_a_second_order_with_the_same_external_id_in_one_store(store):
    fan = make_customer(store=store)
    make_order(customer=fan, external_id="POS-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.create(
            store=store,
            customer=fan,
            external_id="POS-1",
            amount="10.00",
            paid_at=aware_dt(2026, 1, 2),
        )


def test_two_stores_may_use_the_same_external_id(store, other_store):
    make_order(customer=make_customer(store=store), external_id="POS-1")
    make_order(customer=make_customer(store=other_store), external_id="POS-1")
    assert Order.objects.filter(external_id="POS-1").count() == 2


def test_the_database_refuses_a_phone_that_is_not_a_mainland_mobile(store):
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(store=store, phone="01062345678", name="座机")
