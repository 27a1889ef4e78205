"""SPEC §3 fact labels: zodiac, birthday month, next birthday (Gregorian and lunar), distance."""

import math
from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError

from customers.facts import (
    birthday_month_label,
    distance_label,
    haversine_km,
    next_birthday,
    validate_birthday,
    zodiac_for,
)

# SPEC §3, verbatim: sign, first (month, day), last (month, day).
ZODIAC_TABLE = [
    ("aries", (3, 21), (4, 19)),
    ("taurus", (4, 20), (5, 20)),
    ("gemini", (5, 21), (6, 21)),
    ("cancer", (6, 22), (7, 22)),
    ("leo", (7, 23), (8, 22)),
    ("virgo", (8, 23), (9, 22)),
    ("libra", (9, 23), (10, 23)),
    ("scorpio", (10, 24), (11, 22)),
    ("sagittarius", (11, 23), (12, 21)),
    ("capricorn", (12, 22), (1, 19)),
    ("aquarius", (1, 20), (2, 18)),
    ("pisces", (2, 19), (3, 20)),
]


def _greg_zodiac(month: int, day: int) -> str:
    return zodiac_for(calendar="gregorian", year=None, month=month, day=day, is_leap_month=False)


def _shift(month: int, day: int, days: int) -> tuple[int, int]:
    d = date(2024, month, day) + timedelta(days=days)  # 2024: a leap year, so Feb 29 exists
    return d.month, d.day


BOUNDARY_CASES = []
for i, (sign, first, last) in enumerate(ZODIAC_TABLE):
    previous_sign = ZODIAC_TABLE[i - 1][0]
    next_sign = ZODIAC_TABLE[(i + 1) % len(ZODIAC_TABLE)][0]
    BOUNDARY_CASES += [
        (first, sign),
        (_shift(*first, -1), previous_sign),
        (last, sign),
        (_shift(*last, 1), next_sign),
    ]


@pytest.mark.parametrize(("month_day", "sign"), BOUNDARY_CASES, ids=lambda v: str(v))
def test_zodiac_on_both_sides_of_every_boundary(month_day, sign):
    assert _greg_zodiac(*month_day) == sign


def test_zodiac_of_feb_29_is_pisces():
    assert _greg_zodiac(2, 29) == "pisces"


def test_zodiac_is_empty_when_the_birthday_is_unknown():
    assert zodiac_for(calendar="", year=None, month=None, day=None, is_leap_month=False) == ""


def test_lunar_birthday_without_a_year_has_no_zodiac():
    assert zodiac_for(calendar="lunar", year=None, month=1, day=1, is_leap_month=False) == ""


def test_lunar_birthday_with_a_year_is_converted_before_the_zodiac():
    # lunar 2025-01-01 is 2025-01-29 (aquarius); lunar leap 2/1 of 2023 is 2023-03-22 (aries)
    assert (
        zodiac_for(calendar="lunar", year=2025, month=1, day=1, is_leap_month=False) == "aquarius"
    )
    assert zodiac_for(calendar="lunar", year=2023, month=2, day=1, is_leap_month=True) == "aries"
    assert zodiac_for(calendar="lunar", year=2023, month=2, day=1, is_leap_month=False) == "pisces"


def test_birthday_month_is_in_the_fans_own_calendar():
    assert birthday_month_label(calendar="lunar", year=2025, month=1, day=1) == "m01"
    assert birthday_month_label(calendar="gregorian", year=None, month=12, day=31) == "m12"
    assert birthday_month_label(calendar="", year=None, month=None, day=None) == ""


def _next(calendar, month, day, today, leap=False, year=None):
    return next_birthday(
        calendar=calendar, year=year, month=month, day=day, is_leap_month=leap, today=today
    )


def test_lunar_new_year_2025_falls_on_january_29():
    assert _next("lunar", 1, 1, date(2025, 1, 1)) == date(2025, 1, 29)


def test_next_birthday_on_the_day_itself_is_today():
    assert _next("lunar", 1, 1, date(2025, 1, 29)) == date(2025, 1, 29)
    assert _next("gregorian", 3, 15, date(2025, 3, 15)) == date(2025, 3, 15)


def test_lunar_birthday_the_day_after_goes_to_next_lunar_year():
    assert _next("lunar", 1, 1, date(2025, 1, 30)) == date(2026, 2, 17)


def test_lunar_birthday_late_in_the_previous_lunar_year_is_found_in_january():
    # 2025-01-10 is still lunar 2024-12-11; lunar 12/20 of 2024 is 2025-01-19.
    assert _next("lunar", 12, 20, date(2025, 1, 10)) == date(2025, 1, 19)


def test_leap_month_birthday_falls_in_the_leap_month_when_the_year_has_it():
    assert _next("lunar", 2, 1, date(2023, 1, 1), leap=True, year=2023) == date(2023, 3, 22)


def test_ordinary_month_birthday_ignores_the_leap_month():
    assert _next("lunar", 2, 1, date(2023, 1, 1)) == date(2023, 2, 20)


def test_leap_month_birthday_falls_in_the_ordinary_month_without_that_leap_month():
    # 2024 has no leap month: ordinary lunar 2/1 of 2024 is 2024-03-10.
    assert _next("lunar", 2, 1, date(2024, 1, 1), leap=True, year=2023) == date(2024, 3, 10)


def test_lunar_day_30_in_a_29_day_month_falls_on_day_29():
    # lunar month 2 of 2025 has 29 days: lunar 2025-02-29 is 2025-03-28.
    assert _next("lunar", 2, 30, date(2025, 3, 1)) == date(2025, 3, 28)


def test_lunar_day_30_in_a_30_day_month_falls_on_day_30():
    # lunar month 1 of 2025 has 30 days: lunar 2025-01-30 is 2025-02-27.
    assert _next("lunar", 1, 30, date(2025, 2, 1)) == date(2025, 2, 27)


def test_leap_month_day_30_in_a_29_day_leap_month_falls_on_day_29():
    # leap month 2 of 2023 has 29 days; its day 29 is 2023-04-19.
    assert _next("lunar", 2, 30, date(2023, 3, 25), leap=True) == date(2023, 4, 19)


def test_feb_29_falls_on_feb_28_in_a_common_year():
    assert _next("gregorian", 2, 29, date(2025, 2, 1)) == date(2025, 2, 28)


def test_feb_29_falls_on_feb_29_in_a_leap_year():
    assert _next("gregorian", 2, 29, date(2028, 2, 1)) == date(2028, 2, 29)


def test_gregorian_birthday_passed_this_year_is_next_year():
    assert _next("gregorian", 2, 29, date(2025, 3, 1)) == date(2026, 2, 28)
    assert _next("gregorian", 1, 3, date(2025, 12, 25)) == date(2026, 1, 3)


def test_next_birthday_unknown_without_month_and_day():
    assert _next("", None, None, date(2025, 1, 1)) is None


# -- distance ---------------------------------------------------------------------------------

STORE = {"store_lat": 30.0, "store_lon": 120.0, "store_city": "杭州"}
THREE_KM_IN_DEGREES = math.degrees(3.0 / 6371.0088)  # along a meridian


def _distance(**fan):
    return distance_label(**{"fan_lat": None, "fan_lon": None, "fan_city": "", **fan, **STORE})


def test_distance_just_below_3_km_is_within_3km():
    lat = 30.0 + THREE_KM_IN_DEGREES - 1e-6
    assert haversine_km(lat, 120.0, 30.0, 120.0) < 3.0
    assert _distance(fan_lat=lat, fan_lon=120.0, fan_city="杭州") == "within_3km"


def test_distance_just_above_3_km_is_beyond_3km():
    lat = 30.0 + THREE_KM_IN_DEGREES + 1e-6
    assert haversine_km(lat, 120.0, 30.0, 120.0) > 3.0
    assert _distance(fan_lat=lat, fan_lon=120.0, fan_city="杭州") == "beyond_3km"


def test_distance_uses_coordinates_when_the_fan_has_no_city():
    assert _distance(fan_lat=30.0, fan_lon=120.0) == "within_3km"


def test_fan_in_another_city_is_out_of_town_even_when_near():
    assert _distance(fan_lat=30.0, fan_lon=120.0, fan_city="上海") == "out_of_town"


def test_same_city_without_coordinates_is_same_city():
    assert _distance(fan_city="杭州") == "same_city"


def test_distance_unknown_without_city_or_coordinates():
    assert _distance() == ""


def test_haversine_of_one_degree_of_longitude_on_the_equator():
    assert haversine_km(0.0, 0.0, 0.0, 1.0) == pytest.approx(2 * math.pi * 6371.0088 / 360)


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "year", "month", "day", "leap", "field"),
    [
        ("gregorian", None, 2, 30, False, "birth_day"),
        ("gregorian", 2025, 2, 29, False, "birth_day"),
        ("gregorian", None, 4, 31, False, "birth_day"),
        ("gregorian", None, 13, 1, False, "birth_month"),
        ("gregorian", None, 3, 1, True, "birth_is_leap_month"),
        ("lunar", None, 13, 1, False, "birth_month"),
        ("lunar", None, 1, 31, False, "birth_day"),
        ("lunar", 2024, 2, 1, True, "birth_is_leap_month"),
        ("lunar", 2025, 2, 30, False, "birth_day"),
        ("lunar", 1899, 1, 1, False, "birth_year"),
        ("chinese", None, 1, 1, False, "birth_calendar"),
        ("lunar", None, None, 1, False, "birth_month"),
        ("", None, 5, 1, False, "birth_calendar"),
    ],
)
def test_impossible_birthdays_are_refused_naming_the_field(calendar, year, month, day, leap, field):
    with pytest.raises(ValidationError) as caught:
        validate_birthday(calendar=calendar, year=year, month=month, day=day, is_leap_month=leap)
    assert field in caught.value.message_dict


@pytest.mark.parametrize(
    ("calendar", "year", "month", "day", "leap"),
    [
        ("gregorian", None, 2, 29, False),
        ("gregorian", 2024, 2, 29, False),
        ("lunar", 2023, 2, 29, True),
        ("lunar", None, 2, 30, True),
        ("lunar", 2025, 1, 30, False),
        ("", None, None, None, False),
    ],
)
def test_possible_birthdays_are_accepted(calendar, year, month, day, leap):
    validate_birthday(calendar=calendar, year=year, month=month, day=day, is_leap_month=leap)
