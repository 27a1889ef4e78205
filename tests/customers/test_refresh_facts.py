"""refresh_fact_labels: the set-based writer agrees with the per-fan rules and is idempotent."""

import math
from decimal import Decimal

from customers.facts import fact_labels_for, haversine_km, refresh_fact_labels
from customers.models import Customer
from tests.factories import make_customer, make_store

THREE_KM_IN_DEGREES = math.degrees(3.0 / 6371.0088)


def _labels(fan) -> dict:
    fan.refresh_from_db()
    return {"zodiac": fan.zodiac, "birthday_month": fan.birthday_month, "distance": fan.distance}


def test_refresh_writes_zodiac_birthday_month_and_distance(db):
    store = make_store(city="杭州", latitude=Decimal("30.000000"), longitude=Decimal("120.000000"))
    near_lat = Decimal(f"{30 + THREE_KM_IN_DEGREES:.6f}") - Decimal("0.000001")
    far_lat = near_lat + Decimal("0.000002")
    assert (
        haversine_km(float(near_lat), 120.0, 30.0, 120.0)
        < 3.0
        < haversine_km(float(far_lat), 120.0, 30.0, 120.0)
    )
    near = make_customer(
        store=store,
        birth_calendar="gregorian",
        birth_month=7,
        birth_day=23,
        latitude=near_lat,
        longitude=Decimal("120"),
    )
    far = make_customer(store=store, latitude=far_lat, longitude=Decimal("120"), city="杭州")
    lunar = make_customer(
        store=store,
        birth_calendar="lunar",
        birth_year=2023,
        birth_month=2,
        birth_day=1,
        birth_is_leap_month=True,
    )
    lunar_no_year = make_customer(
        store=store, birth_calendar="lunar", birth_month=2, birth_day=1, city="杭州"
    )
    elsewhere = make_customer(
        store=store, city="上海", birth_calendar="gregorian", birth_month=2, birth_day=29
    )

    assert refresh_fact_labels() == 5

    assert _labels(near) == {"zodiac": "leo", "birthday_month": "m07", "distance": "within_3km"}
    assert _labels(far) == {"zodiac": "", "birthday_month": "", "distance": "beyond_3km"}
    assert _labels(lunar) == {"zodiac": "aries", "birthday_month": "m02", "distance": ""}
    assert _labels(lunar_no_year) == {
        "zodiac": "",
        "birthday_month": "m02",
        "distance": "same_city",
    }
    assert _labels(elsewhere) == {
        "zodiac": "pisces",
        "birthday_month": "m02",
        "distance": "out_of_town",
    }
    for fan in Customer.objects.select_related("store"):
        assert fact_labels_for(fan) == _labels(fan)


def test_refresh_twice_changes_nothing_the_second_time(db):
    make_customer(birth_calendar="gregorian", birth_month=1, birth_day=1, city="杭州")
    assert refresh_fact_labels() == 1
    assert refresh_fact_labels() == 0


def test_refresh_only_the_given_fans(db):
    one = make_customer(birth_calendar="gregorian", birth_month=1, birth_day=1)
    other = make_customer(birth_calendar="gregorian", birth_month=1, birth_day=1)
    assert refresh_fact_labels(customer_ids=[one.pk]) == 1
    assert _labels(one)["zodiac"] == "capricorn"
    assert _labels(other)["zodiac"] == ""
    assert refresh_fact_labels(customer_ids=[]) == 0


def test_refresh_clears_labels_of_a_forgotten_birthday(db):
    fan = make_customer(zodiac="leo", birthday_month="m07")
    assert refresh_fact_labels() == 1
    assert _labels(fan)["zodiac"] == ""
