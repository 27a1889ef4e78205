"""Fact labels (SPEC §2.4, §3): zodiac, birthday month, next birthday and distance.

The rule functions are pure (no database, no clock: `today` is passed in). Lunar dates are
converted with the maintained `lunardate` library (years 1900–2099); nothing here hand-writes a
lunar table. `refresh_fact_labels` is the set-based writer used by the relabel job and imports.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache

import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils.translation import gettext_lazy as _
from lunardate import LunarDate

from fanops import bulk

GREGORIAN = "gregorian"
LUNAR = "lunar"
EARTH_RADIUS_KM = 6371.0088
NEAR_KM = 3.0

# Start (month, day) of each sign, in calendar order (seed 000's boundaries).
ZODIAC_STARTS: list[tuple[int, int, str]] = [
    (1, 20, "aquarius"),
    (2, 19, "pisces"),
    (3, 21, "aries"),
    (4, 20, "taurus"),
    (5, 21, "gemini"),
    (6, 22, "cancer"),
    (7, 23, "leo"),
    (8, 23, "virgo"),
    (9, 23, "libra"),
    (10, 24, "scorpio"),
    (11, 23, "sagittarius"),
    (12, 22, "capricorn"),
]
_ZODIAC_KEYS = np.array([m * 100 + d for m, d, _ in ZODIAC_STARTS])
# Index 0 is "before Jan 20" (capricorn); index i is ZODIAC_STARTS[i - 1].
_ZODIAC_BY_INDEX = np.array(["capricorn"] + [code for _, _, code in ZODIAC_STARTS], dtype=object)

LUNAR_YEARS = range(1900, 2100)  # what lunardate covers
_GREGORIAN_MONTH_DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]  # yearless: Feb 29 exists


# ---------------------------------------------------------------------------------------------
# Lunar helpers (cached: fans share a few thousand distinct birthdays)


@lru_cache(maxsize=65536)
def lunar_month_length(year: int, month: int, is_leap_month: bool) -> int | None:
    """Days in lunar (year, month[, leap]) — 29 or 30 — or None if that month does not exist."""
    if year not in LUNAR_YEARS or not 1 <= month <= 12:
        return None
    if is_leap_month and LunarDate.leapMonthForYear(year) != month:
        return None
    try:
        LunarDate(year, month, 30, is_leap_month).toSolarDate()
    except ValueError:
        return 29
    return 30


@lru_cache(maxsize=65536)
def lunar_occurrence(year: int, month: int, day: int, is_leap_month: bool) -> date | None:
    """The Gregorian date on which a lunar (month, day[, leap]) birthday falls in lunar `year`.

    A leap-month birthday falls in the leap month when `year` has it, else in the ordinary month;
    day 30 in a 29-day month falls on day 29.
    """
    if year not in LUNAR_YEARS or not 1 <= month <= 12 or not 1 <= day <= 30:
        return None
    use_leap = bool(is_leap_month) and LunarDate.leapMonthForYear(year) == month
    length = lunar_month_length(year, month, use_leap)
    if length is None:
        return None
    return LunarDate(year, month, min(day, length), use_leap).toSolarDate()


@lru_cache(maxsize=65536)
def lunar_to_gregorian(year: int, month: int, day: int, is_leap_month: bool) -> date | None:
    """The exact Gregorian date of a lunar date, or None if it does not exist."""
    try:
        return LunarDate(year, month, day, bool(is_leap_month)).toSolarDate()
    except ValueError:
        return None


def gregorian_birthday_in(year: int, month: int, day: int) -> date | None:
    """Gregorian (month, day) in `year`; Feb 29 falls on Feb 28 in common years."""
    if month == 2 and day == 29:
        try:
            return date(year, 2, 29)
        except ValueError:
            return date(year, 2, 28)
    try:
        return date(year, month, day)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Validation (used by customers.services and the pages)


def validate_birthday(
    *,
    calendar: str,
    year: int | None,
    month: int | None,
    day: int | None,
    is_leap_month: bool = False,
) -> None:
    """Raise ValidationError (keyed by field) unless the birthday can exist.

    Gregorian: a real date (Feb 29 only in leap years when the year is known); no leap month.
    Lunar: month 1–12, day 1–30; with a year: 1900–2099, the leap month must exist in that year
    and the day must exist in that month.
    """
    if not calendar:
        if month is not None or day is not None or is_leap_month:
            raise ValidationError({"birth_calendar": _("Choose the calendar of the birthday.")})
        return
    if calendar not in (GREGORIAN, LUNAR):
        raise ValidationError({"birth_calendar": _("Unknown calendar.")})
    if month is None or day is None:
        raise ValidationError({"birth_month": _("A birthday needs a month and a day.")})
    if not 1 <= month <= 12:
        raise ValidationError({"birth_month": _("The month must be between 1 and 12.")})
    if calendar == GREGORIAN:
        if is_leap_month:
            raise ValidationError(
                {"birth_is_leap_month": _("Only lunar birthdays can be in a leap month.")}
            )
        if not 1 <= day <= _GREGORIAN_MONTH_DAYS[month - 1]:
            raise ValidationError({"birth_day": _("This day does not exist in that month.")})
        if year is not None:
            try:
                date(year, month, day)
            except ValueError:
                raise ValidationError({"birth_day": _("This date does not exist.")}) from None
        return
    if not 1 <= day <= 30:
        raise ValidationError({"birth_day": _("A lunar day must be between 1 and 30.")})
    if year is None:
        return
    if year not in LUNAR_YEARS:
        raise ValidationError({"birth_year": _("Lunar years between 1900 and 2099 are supported.")})
    length = lunar_month_length(year, month, bool(is_leap_month))
    if length is None:
        raise ValidationError({"birth_is_leap_month": _("That lunar year has no such leap month.")})
    if day > length:
        raise ValidationError({"birth_day": _("That lunar month has only 29 days.")})


# ---------------------------------------------------------------------------------------------
# Rules


def zodiac_of(month: int, day: int) -> str:
    """Zodiac code for a Gregorian (month, day)."""
    index = int(np.searchsorted(_ZODIAC_KEYS, month * 100 + day, side="right"))
    return str(_ZODIAC_BY_INDEX[index])


def zodiac_for(
    *,
    calendar: str,
    year: int | None,
    month: int | None,
    day: int | None,
    is_leap_month: bool = False,
) -> str:
    """Zodiac code, or '' if unknown. A lunar birthday needs its year (converted first)."""
    if not month or not day:
        return ""
    if calendar == GREGORIAN:
        if not 1 <= month <= 12 or not 1 <= day <= _GREGORIAN_MONTH_DAYS[month - 1]:
            return ""
        return zodiac_of(month, day)
    if calendar == LUNAR and year:
        solar = lunar_to_gregorian(year, month, day, bool(is_leap_month))
        return zodiac_of(solar.month, solar.day) if solar else ""
    return ""


def birthday_month_label(
    *,
    calendar: str,
    year: int | None = None,
    month: int | None,
    day: int | None = None,
    is_leap_month: bool = False,
) -> str:
    """'m01'..'m12' in the fan's own calendar (a lunar fan by her lunar month), '' if unknown."""
    if calendar not in (GREGORIAN, LUNAR) or not month or not 1 <= month <= 12:
        return ""
    return f"m{month:02d}"


def next_birthday(
    *,
    calendar: str,
    year: int | None,
    month: int | None,
    day: int | None,
    is_leap_month: bool,
    today: date,
) -> date | None:
    """The first Gregorian date on or after `today` on which the birthday falls (SPEC §3)."""
    if not month or not day:
        return None
    if calendar == GREGORIAN:
        for y in (today.year, today.year + 1):
            when = gregorian_birthday_in(y, month, day)
            if when is None:
                return None
            if when >= today:
                return when
        return None
    if calendar == LUNAR:
        this_lunar_year = LunarDate.fromSolarDate(today.year, today.month, today.day).year
        # The lunar year holding `today` may have begun in the previous Gregorian year: try the
        # previous, current and next lunar year and take the first occurrence on/after today.
        for y in (this_lunar_year - 1, this_lunar_year, this_lunar_year + 1):
            when = lunar_occurrence(y, month, day, bool(is_leap_month))
            if when is not None and when >= today:
                return when
    return None


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km (earth radius 6371.0088 km)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def _haversine_np(lat1, lon1, lat2, lon2):
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(a))


def _num(value: float | Decimal | str | None) -> float | None:
    return None if value is None or value == "" else float(value)


def distance_label(
    *,
    fan_lat: float | Decimal | None,
    fan_lon: float | Decimal | None,
    fan_city: str,
    store_lat: float | Decimal | None,
    store_lon: float | Decimal | None,
    store_city: str,
) -> str:
    """`out_of_town` / `within_3km` / `beyond_3km` / `same_city`, or '' when nothing is known."""
    fan_city, store_city = (fan_city or "").strip(), (store_city or "").strip()
    if fan_city and fan_city != store_city:
        return "out_of_town"
    coords = [_num(fan_lat), _num(fan_lon), _num(store_lat), _num(store_lon)]
    if all(c is not None for c in coords):
        return "within_3km" if haversine_km(*coords) <= NEAR_KM else "beyond_3km"
    if fan_city:
        return "same_city"
    return ""


def fact_labels_for(customer) -> dict[str, str]:
    """{'zodiac', 'birthday_month', 'distance'} for one fan (uses `customer.store`)."""
    birthday = {
        "calendar": customer.birth_calendar,
        "year": customer.birth_year,
        "month": customer.birth_month,
        "day": customer.birth_day,
        "is_leap_month": customer.birth_is_leap_month,
    }
    store = customer.store
    return {
        "zodiac": zodiac_for(**birthday),
        "birthday_month": birthday_month_label(**birthday),
        "distance": distance_label(
            fan_lat=customer.latitude,
            fan_lon=customer.longitude,
            fan_city=customer.city,
            store_lat=store.latitude,
            store_lon=store.longitude,
            store_city=store.city,
        ),
    }


# ---------------------------------------------------------------------------------------------
# Set-based refresh

FACT_COLUMNS = ("zodiac", "birthday_month", "distance")

_READ_SQL = """
SELECT c.id, c.birth_calendar, c.birth_year, c.birth_month, c.birth_day,
       CASE WHEN c.birth_is_leap_month THEN 1 ELSE 0 END AS birth_is_leap_month,
       TRIM(c.city) AS city, CAST(c.latitude AS {float}) AS latitude,
       CAST(c.longitude AS {float}) AS longitude, c.zodiac, c.birthday_month, c.distance,
       TRIM(s.city) AS store_city, CAST(s.latitude AS {float}) AS store_latitude,
       CAST(s.longitude AS {float}) AS store_longitude
FROM customers_customer c JOIN customers_store s ON s.id = c.store_id
"""
_READ_COLUMNS = [
    "id", "birth_calendar", "birth_year", "birth_month", "birth_day", "birth_is_leap_month",
    "city", "latitude", "longitude", "zodiac", "birthday_month", "distance",
    "store_city", "store_latitude", "store_longitude",
]  # fmt: skip
_TEXT_COLUMNS = ["birth_calendar", "city", "zodiac", "birthday_month", "distance", "store_city"]
_NUMBER_COLUMNS = [c for c in _READ_COLUMNS if c not in _TEXT_COLUMNS and c != "id"]
_MONTH_LABELS = np.array([""] + [f"m{m:02d}" for m in range(1, 13)], dtype=object)
_OUTCOMES = np.array(["", "out_of_town", "within_3km", "beyond_3km", "same_city"], dtype=object)


def compute_fact_labels(fans: pd.DataFrame) -> pd.DataFrame:
    """Vectorised SPEC §3 over a frame shaped like `_READ_COLUMNS`: zodiac, birthday_month, distance.

    Text columns are strings ('' when empty, city already trimmed), number columns floats (NaN
    when unknown), as `_read_fans` returns them.
    """
    n = len(fans)
    cal = fans["birth_calendar"].to_numpy(dtype=object)
    month = fans["birth_month"].to_numpy(dtype=float)
    day = fans["birth_day"].to_numpy(dtype=float)
    year = fans["birth_year"].to_numpy(dtype=float)
    leap = fans["birth_is_leap_month"].to_numpy(dtype=float) == 1
    is_greg, is_lunar = cal == GREGORIAN, cal == LUNAR
    month_ok = (month >= 1) & (month <= 12)
    known = month_ok & ~np.isnan(day)
    month_i = np.where(month_ok, month, 0).astype(int)
    day_i = np.where(np.isnan(day), 0, day).astype(int)

    # birthday_month: the fan's own calendar.
    birthday_month = np.where((is_greg | is_lunar) & month_ok, _MONTH_LABELS[month_i], "")

    # zodiac: Gregorian directly; lunar with a year through cached conversions.
    zodiac = np.full(n, "", dtype=object)
    greg = known & is_greg
    max_day = np.array([0, *_GREGORIAN_MONTH_DAYS])[month_i]
    greg_ok = greg & (day_i >= 1) & (day_i <= max_day)
    idx = np.searchsorted(_ZODIAC_KEYS, month_i * 100 + day_i, side="right")
    zodiac[greg_ok] = _ZODIAC_BY_INDEX[idx[greg_ok]]
    lunar = known & is_lunar & ~np.isnan(year)
    if lunar.any():
        keys = list(
            zip(
                year[lunar].astype(int).tolist(),
                month_i[lunar].tolist(),
                day_i[lunar].tolist(),
                leap[lunar].tolist(),
                strict=True,
            )
        )
        codes = {
            k: zodiac_for(calendar=LUNAR, year=k[0], month=k[1], day=k[2], is_leap_month=k[3])
            for k in set(keys)
        }
        zodiac[lunar] = [codes[k] for k in keys]

    # distance
    fan_city = fans["city"].to_numpy(dtype=object)
    store_city = fans["store_city"].to_numpy(dtype=object)
    lat1, lon1, lat2, lon2 = (
        fans[c].to_numpy(dtype=float)
        for c in ("latitude", "longitude", "store_latitude", "store_longitude")
    )
    has_coords = ~(np.isnan(lat1) | np.isnan(lon1) | np.isnan(lat2) | np.isnan(lon2))
    with np.errstate(invalid="ignore"):
        km = _haversine_np(lat1, lon1, lat2, lon2)
    has_city = fan_city != ""
    outcome = np.select(
        [has_city & (fan_city != store_city), has_coords & (km <= NEAR_KM), has_coords, has_city],
        [1, 2, 3, 4],
        default=0,
    )
    return pd.DataFrame(
        {"zodiac": zodiac, "birthday_month": birthday_month, "distance": _OUTCOMES[outcome]},
        index=fans.index,
    )


_READ_TYPES = [
    (name, "int64" if name == "id" else str if name in _TEXT_COLUMNS else "float64")
    for name in _READ_COLUMNS
]
STAGE_TABLE = "customers_fact_labels_stage"
_STAGE_COLUMNS = [
    ("id", "bigint PRIMARY KEY"),
    ("zodiac", "varchar(12) NOT NULL"),
    ("birthday_month", "varchar(3) NOT NULL"),
    ("distance", "varchar(12) NOT NULL"),
]


def _read_fans(customer_ids: Iterable[int] | None) -> pd.DataFrame:
    """Every fan (or `customer_ids`) with her store's city and coordinates, in one query (a
    COPY on PostgreSQL: about 5× faster than fetching a million tuples)."""
    pg = connection.vendor == "postgresql"
    sql = _READ_SQL.format(float="DOUBLE PRECISION" if pg else "REAL")
    params: list = []
    if customer_ids is not None:
        params = [int(i) for i in customer_ids]
        if not params:
            return bulk.read_frame(sql + " WHERE 1 = 0", [], _READ_TYPES)
        sql += " WHERE c.id IN (" + ",".join(["%s"] * len(params)) + ")"
    return bulk.read_frame(sql, params, _READ_TYPES)


def _write(changed: pd.DataFrame) -> None:
    """Stage the changed fans' labels and write them with one UPDATE … FROM."""
    customers = "customers_customer"
    with bulk.staged(STAGE_TABLE, _STAGE_COLUMNS, changed), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {customers} SET zodiac = t.zodiac, birthday_month = t.birthday_month,"
            f" distance = t.distance FROM {STAGE_TABLE} t WHERE {customers}.id = t.id"
        )


def refresh_fact_labels(*, customer_ids: Iterable[int] | None = None) -> int:
    """Recompute zodiac, birthday_month and distance for all fans (or `customer_ids`) in bulk.

    One read of every fan with her store, vectorised rules, and one bulk write of only the rows
    whose labels change (staged with `fanops.bulk`: COPY on PostgreSQL, then one UPDATE … FROM).
    Returns the number of fans whose labels changed.
    """
    fans = _read_fans(customer_ids)
    if fans.empty:
        return 0
    labels = compute_fact_labels(fans)
    labels["id"] = fans["id"].astype("int64")
    current = fans[list(FACT_COLUMNS)].fillna("").astype(str)
    differs = (labels[list(FACT_COLUMNS)].astype(str) != current).any(axis=1)
    changed = labels[differs]
    if changed.empty:
        return 0
    with transaction.atomic():
        _write(changed)
    return len(changed)


def birthday_window(today: date, within_days: int) -> list[date]:
    """Every date in [today, today + within_days]."""
    return [today + timedelta(days=i) for i in range(within_days + 1)]
