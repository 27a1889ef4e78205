import hashlib
from datetime import date
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from customers.models import Customer, Order, Staff, Store
from devtools.demo import generate_demo_brand

TODAY = date(2026, 1, 31)


def brand_checksum() -> str:
    """Every generated value except ids and timestamps of the run, references by natural key."""
    digest = hashlib.sha256()
    for row in Store.objects.order_by("code").values_list(
        "code", "name", "city", "latitude", "longitude"
    ):
        digest.update(repr(row).encode())
    for row in Staff.objects.order_by("work_number").values_list(
        "work_number", "name", "role", "store__code", "user__username"
    ):
        digest.update(repr(row).encode())
    for row in Customer.objects.order_by("phone").values_list(
        "phone",
        "name",
        "gender",
        "store__code",
        "guide__work_number",
        "birth_calendar",
        "birth_year",
        "birth_month",
        "birth_day",
        "birth_is_leap_month",
        "city",
        "latitude",
        "longitude",
        "referrer__phone",
        "member_since",
        "is_opinion_leader",
        "do_not_contact",
        "height_cm",
    ):
        digest.update(repr(row).encode())
    for row in Order.objects.order_by("store__code", "external_id").values_list(
        "store__code",
        "external_id",
        "customer__phone",
        "kind",
        "refund_of__external_id",
        "amount",
        "paid_at",
        "payment_method",
        "channel",
    ):
        digest.update(repr(row).encode())
    return digest.hexdigest()


def wipe_brand() -> None:
    Order.objects.filter(kind=Order.Kind.REFUND).delete()
    Order.objects.all().delete()
    Customer.objects.all().delete()
    Staff.objects.all().delete()
    get_user_model().objects.all().delete()
    Store.objects.all().delete()


def small_brand(seed: int):
    return generate_demo_brand(
        stores=2, customers=80, orders=400, seed=seed, today=TODAY, progress=False
    )


def test_the_same_seed_gives_the_same_brand(db):
    small_brand(seed=5)
    first = brand_checksum()
    wipe_brand()
    small_brand(seed=5)
    assert brand_checksum() == first


def test_another_seed_gives_another_brand(db):
    small_brand(seed=5)
    first = brand_checksum()
    wipe_brand()
    small_brand(seed=6)
    assert brand_checksum() != first


def test_the_demo_brand_has_the_requested_sizes_and_logins(db):
    summary = small_brand(seed=1)
    assert (Store.objects.count(), Customer.objects.count(), Order.objects.count()) == (2, 80, 400)
    assert summary.orders == 400 and summary.refunds == 16
    assert Staff.objects.filter(role=Staff.Role.MANAGER).count() == 2
    assert 6 <= Staff.objects.filter(role=Staff.Role.GUIDE).count() <= 12
    assert (
        get_user_model().objects.get(username=summary.logins["hq"]).check_password(summary.password)
    )
    assert Staff.objects.get(user__username=summary.logins["guide"]).role == Staff.Role.GUIDE


def test_demo_orders_lie_in_the_two_years_before_today(db):
    small_brand(seed=1)
    dates = [timezone.localtime(o.paid_at).date() for o in Order.objects.all()]
    assert min(dates) >= date(2024, 1, 31) and max(dates) <= date(2026, 1, 30)


def test_every_demo_refund_refunds_an_earlier_sale_of_the_same_fan_and_not_more(db):
    generate_demo_brand(stores=2, customers=200, orders=2000, seed=2, today=TODAY, progress=False)
    refunds = Order.objects.filter(kind=Order.Kind.REFUND).select_related("refund_of")
    assert refunds.count() == 80
    for refund in refunds:
        sale = refund.refund_of
        assert sale.kind == Order.Kind.SALE
        assert sale.customer_id == refund.customer_id
        assert sale.paid_at <= refund.paid_at
        assert refund.amount <= sale.amount


def test_demo_phones_are_unique_valid_mobiles_and_some_birthdays_are_lunar_leap_months(db):
    from lunardate import LunarDate

    generate_demo_brand(stores=3, customers=3000, orders=0, seed=4, today=TODAY, progress=False)
    phones = list(Customer.objects.values_list("phone", flat=True))
    assert len(set(phones)) == 3000
    leap = Customer.objects.filter(birth_calendar="lunar", birth_is_leap_month=True)
    assert leap.exists()
    for fan in leap:
        LunarDate(fan.birth_year, fan.birth_month, fan.birth_day, True).toSolarDate()  # exists
    lunar_share = Customer.objects.filter(birth_calendar="lunar").count() / 3000
    assert 0.12 < lunar_share < 0.18


def test_seed_demo_if_empty_leaves_an_existing_brand_alone(store):
    out = StringIO()
    call_command("seed_demo", "--customers", "5", "--orders", "5", "--if-empty", stdout=out)
    assert "not loaded" in out.getvalue()
    assert Customer.objects.count() == 0


def test_seed_demo_refuses_a_database_with_stores_without_if_empty(store):
    with pytest.raises(CommandError):
        call_command("seed_demo", "--customers", "5", "--orders", "5")


def test_seed_demo_prints_the_demo_logins(db):
    out = StringIO()
    call_command(
        "seed_demo",
        "--stores",
        "1",
        "--customers",
        "20",
        "--orders",
        "50",
        "--today",
        "2026-01-31",
        "--no-progress",
        stdout=out,
    )
    assert "fanops-demo" in out.getvalue()
    assert "s001.g1" in out.getvalue() and "s001.mgr" in out.getvalue()


def test_demo_fact_labels_are_those_the_tagging_rules_compute(db):
    from customers.facts import refresh_fact_labels

    generate_demo_brand(stores=3, customers=500, orders=0, seed=8, today=TODAY, progress=False)
    assert Customer.objects.exclude(distance="").exists()
    assert Customer.objects.exclude(zodiac="").exists()
    assert refresh_fact_labels() == 0  # nothing left to change
