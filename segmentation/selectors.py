"""Reads of segmentation: the relabel job's inputs, apple quotas, label counts and worklists."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import (
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    Max,
    Min,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.expressions import RawSQL

from customers.models import Customer, CustomerLabels, CustomerPrediction, Order, Staff, Store
from fanops import bulk
from fanops.vocabulary import Apple, Forecast, Membership, RfmSegment, RStage
from segmentation.models import AppleQuotaOverride, LabelChange, RelabelRun, StoreLabelling
from segmentation.rules import WINDOW_DAYS

# Seed 000 lists the tiers from the top: golden, red, yellow, green, blossom.
APPLE_TIERS = [Apple.GOLDEN, Apple.RED, Apple.YELLOW, Apple.GREEN, Apple.BLOSSOM]
# Apple rank for "went up" worklists (blossom lowest, golden highest).
APPLE_RANK = {Apple.BLOSSOM: 0, Apple.GREEN: 1, Apple.YELLOW: 2, Apple.RED: 3, Apple.GOLDEN: 4}

# One row per buyer, as `aggregate_sql` returns it (name, numpy type). On PostgreSQL the
# instants are timestamptz in binary COPY: microseconds since 2000-01-01 UTC, '-infinity' (the
# int64 minimum) for none; on SQLite they are UTC text.
AGGREGATE_COLUMNS = [
    ("customer_id", "int64"),
    ("last_sale_at", "int64"),
    ("first_sale_at", "int64"),
    ("window_first_sale_at", "int64"),
    ("frequency", "int64"),
    ("lifetime_sales", "int64"),
    ("window_sales_cents", "int64"),
    ("window_refund_cents", "int64"),
]
MISSING = -1  # in the fans' integer columns: no value (no date, no guide, no referrer)
# Every fan, all integers (name, numpy type): `fans_sql`'s columns, in order.
FAN_COLUMNS = [
    ("customer_id", "int64"),
    ("store_id", "int64"),
    ("is_opinion_leader", "int16"),
    ("name_hash", "int64"),  # of the fan's name: remark keys notice a renamed fan or referrer
    ("member_since", "int32"),
    ("guide_id", "int64"),
    ("referrer_id", "int64"),
    ("has_labels", "int16"),  # whether she has a labels row; its keys below (0 when NULL)
    ("old_labels_key", "int64"),
    ("old_remark_key", "int64"),
    # 1 where her customer row was read; else (a nightly run, a fan not saved since the last)
    # her remark inputs are as that run hashed them and her opinion-leader mark is her row's.
    ("inputs_read", "int16"),
]
# The aggregates her labels row holds (as of the run that wrote it; day numbers, MISSING for no
# date or no row): an incremental run takes them for every fan whose orders did not move.
STORED_AGGREGATE_COLUMNS = [
    ("stored_last_sale", "int32"),
    ("stored_first_sale", "int32"),
    ("stored_window_first_sale", "int32"),
    ("stored_frequency", "int64"),
    ("stored_lifetime_sales", "int64"),
    ("stored_window_sales_cents", "int64"),
    ("stored_window_refund_cents", "int64"),
]
# `labels_rows_sql`'s columns: the row's keys and its stored aggregates.
LABELS_ROW_COLUMNS = [
    ("customer_id", "int64"),
    ("old_labels_key", "int64"),
    ("old_remark_key", "int64"),
    *STORED_AGGREGATE_COLUMNS,
    ("stored_is_opinion_leader", "int16"),
]


# --- relabel inputs ---------------------------------------------------------------------------


def local_day_start(day: date) -> datetime:
    """The first instant of `day` in TIME_ZONE (aware)."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(settings.TIME_ZONE))


def cutoffs(*, as_of: date) -> dict:
    """UTC instants bounding the job: sales before `end` count; the window starts at `window_start`.

    Comparing `paid_at` with instants (rather than converting every order to a local date) keeps
    the scan index-friendly and identical on PostgreSQL and SQLite.
    """
    end = local_day_start(as_of + timedelta(days=1))
    window_start = local_day_start(as_of - timedelta(days=WINDOW_DAYS - 1))
    adapt = connection.ops.adapt_datetimefield_value
    return {"end": adapt(end), "window_start": adapt(window_start)}


def _ids(values) -> str:
    """An SQL list of integers ('NULL' for none: `IN (NULL)` matches nothing)."""
    return ",".join(str(int(i)) for i in values) or "NULL"


SALE = "o.kind = 'sale'"  # of an order `o`: a sale (the aggregates count sales, refunds apart)


def _instant(vendor: str, expr: str) -> str:
    """An instant as `read_frame` reads it: PostgreSQL '-infinity' (binary: the int64 minimum)
    for none; SQLite text or NULL."""
    return f"COALESCE({expr}, '-infinity')" if vendor == "postgresql" else expr


def aggregate_sql(
    *,
    vendor: str,
    store_ids: list[int] | None = None,
    customer_ids=None,
    orders: str = "",
) -> str:
    """One GROUP BY over the orders: a row per fan with an order before the cutoff
    (AGGREGATE_COLUMNS; a fan with refunds only is no buyer, but her refunds are kept, so that
    her labels row holds the aggregates of all her orders and a later run can move them on).

    Parameters: %(end)s, %(window_start)s (and %(customer_ids)s, a list, on PostgreSQL).
    `store_ids` / `customer_ids`: only those fans. `orders`: a further condition on the orders
    `o` (with its own parameters).
    Kept as close to a bare GROUP BY as the rules allow
    (measured at 10M orders: 0.3 s above it): instants stay instants (local dates are taken in
    pandas, per buyer rather than per order), money is summed as stored and scaled per buyer,
    and the window's last sale is the last sale when that falls in the window (`_dated`).
    """
    order_table = Order._meta.db_table
    customer_table = Customer._meta.db_table
    sale = SALE
    in_window = "o.paid_at >= %(window_start)s"

    def instant(expr: str) -> str:
        return _instant(vendor, expr)

    if vendor == "postgresql":

        def cents(where: str) -> str:
            return f"COALESCE((SUM(o.amount) FILTER (WHERE {where}) * 100)::bigint, 0)"
    else:

        def cents(where: str) -> str:
            return (
                f"COALESCE(SUM(CAST(ROUND(o.amount * 100) AS INTEGER)) FILTER (WHERE {where}), 0)"
            )

    scope = ""
    if store_ids is not None:
        scope = (
            f" AND o.customer_id IN (SELECT id FROM {customer_table} "
            f"WHERE store_id IN ({_ids(store_ids)}))"
        )
    if customer_ids is not None:
        # PostgreSQL: an array parameter. For 20,000 fans of 1M the planner scans every order
        # (1.0 s at 10M): their orders lie on most pages, and an index scan of them costs 2.5 s.
        ids = (
            "= ANY(%(customer_ids)s::bigint[])"
            if vendor == "postgresql"
            else f"IN ({_ids(customer_ids)})"
        )
        scope += f" AND o.customer_id {ids}"
    if orders:
        scope += f" AND ({orders})"
    return f"""
        SELECT o.customer_id AS customer_id,
               {instant(f"MAX(o.paid_at) FILTER (WHERE {sale})")} AS last_sale_at,
               {instant(f"MIN(o.paid_at) FILTER (WHERE {sale})")} AS first_sale_at,
               {instant(f"MIN(o.paid_at) FILTER (WHERE {sale} AND {in_window})")}
                   AS window_first_sale_at,
               COUNT(*) FILTER (WHERE {sale} AND {in_window}) AS frequency,
               COUNT(*) FILTER (WHERE {sale}) AS lifetime_sales,
               {cents(f"{sale} AND {in_window}")} AS window_sales_cents,
               {cents(f"o.kind = 'refund' AND {in_window}")} AS window_refund_cents
          FROM {order_table} o
         WHERE o.paid_at < %(end)s{scope}
         GROUP BY o.customer_id
    """


def _day_number(vendor: str, expr: str) -> str:
    if vendor == "postgresql":
        return f"({expr} - DATE '1970-01-01')"
    return f"CAST(julianday({expr}) - 2440587.5 AS INTEGER)"


def _integer(expr: str, column: str, kind: str) -> str:
    return f"CAST(COALESCE({expr}, {MISSING}) AS {kind}) AS {column}"


def fans_sql(*, vendor: str, store_ids: list[int] | None = None, where: str = "") -> str:
    """Every fan's columns of FAN_COLUMNS up to `referrer_id`, all integers, in id order (of
    `store_ids`, or those `where` selects).

    Names are hashed in the database (`hashtextextended`, registered on SQLite by
    segmentation.apps) and read only for the fans whose remark names are rebuilt.
    """
    customers = Customer._meta.db_table
    if store_ids is not None:
        where = f"WHERE c.store_id IN ({_ids(store_ids)})"
    return f"""
        SELECT CAST(c.id AS BIGINT) AS customer_id, CAST(c.store_id AS BIGINT) AS store_id,
               CAST(CASE WHEN c.is_opinion_leader THEN 1 ELSE 0 END AS SMALLINT) AS is_opinion_leader,
               CAST(hashtextextended(c.name, 0) AS BIGINT) AS name_hash,
               {_integer(_day_number(vendor, "c.member_since"), "member_since", "INTEGER")},
               {_integer("c.guide_id", "guide_id", "BIGINT")},
               {_integer("c.referrer_id", "referrer_id", "BIGINT")}
          FROM {customers} c {where}
         ORDER BY c.id
    """


def labels_rows_sql(
    *, vendor: str, store_ids: list[int] | None = None, ids: tuple[int, int] | None = None
) -> str:
    """Every labels row's keys and stored aggregates (LABELS_ROW_COLUMNS), in id order (then
    normally row for row with `fans_sql`'s: `side_by_side` has nothing to look up); `ids`: of
    the fans with an id in [first, last] only."""
    labels = CustomerLabels._meta.db_table
    where = ""
    if ids is not None:
        where = f"WHERE l.customer_id BETWEEN {int(ids[0])} AND {int(ids[1])}"
    if store_ids is not None:
        where = (
            f"WHERE l.customer_id IN (SELECT id FROM {Customer._meta.db_table} "
            f"WHERE store_id IN ({_ids(store_ids)}))"
        )
    return f"""
        SELECT CAST(l.customer_id AS BIGINT) AS customer_id,
               CAST(COALESCE(l.labels_key, 0) AS BIGINT) AS old_labels_key,
               CAST(COALESCE(l.remark_key, 0) AS BIGINT) AS old_remark_key,
               {_integer(_day_number(vendor, "l.last_sale"), "stored_last_sale", "INTEGER")},
               {_integer(_day_number(vendor, "l.first_sale"), "stored_first_sale", "INTEGER")},
               {_integer(_day_number(vendor, "l.window_first_sale"), "stored_window_first_sale", "INTEGER")},
               CAST(l.frequency AS BIGINT) AS stored_frequency,
               CAST(l.lifetime_sales AS BIGINT) AS stored_lifetime_sales,
               CAST(l.window_sales_cents AS BIGINT) AS stored_window_sales_cents,
               CAST(l.window_refund_cents AS BIGINT) AS stored_window_refund_cents,
               CAST(CASE WHEN l.is_opinion_leader THEN 1 ELSE 0 END AS SMALLINT)
                   AS stored_is_opinion_leader
          FROM {labels} l {where}
         ORDER BY l.customer_id
    """


PG_EPOCH = np.datetime64("2000-01-01T00:00:00", "us")


def local_dates(values: pd.Series) -> pd.Series:
    """Instants → local dates in TIME_ZONE, as midnight datetime64 (NaT stays NaT). PostgreSQL:
    microseconds since 2000-01-01 UTC (the int64 minimum, -infinity, is NaT); SQLite: UTC text."""
    if connection.vendor == "postgresql":
        micros = values.to_numpy(dtype="int64").view("timedelta64[us]")
        stamps = pd.DatetimeIndex(PG_EPOCH + micros, tz="UTC")
    else:
        stamps = pd.DatetimeIndex(pd.to_datetime(values, utc=True, format="ISO8601"))
    # Wall-clock midnights: a cast to days floors (2.4 × faster than Series.dt.normalize at 10M).
    wall = stamps.tz_convert(settings.TIME_ZONE).tz_localize(None).to_numpy()
    return pd.Series(wall.astype("datetime64[D]").astype("datetime64[ns]"), index=values.index)


def _read_aggregates(sql: str, params: dict, *, as_of: date) -> pd.DataFrame:
    """`aggregate_sql`'s rows with local dates: rules.INPUT_COLUMNS' aggregate columns."""
    columns = AGGREGATE_COLUMNS
    if connection.vendor != "postgresql":  # the instants are text there
        columns = [(name, kind if "_at" not in name else "object") for name, kind in columns]
    frame = bulk.read_frame(sql, params, columns)
    out = {"customer_id": frame["customer_id"].to_numpy(dtype="int64")}
    out["last_sale"] = local_dates(frame["last_sale_at"])
    out["first_sale"] = local_dates(frame["first_sale_at"])
    out["window_first_sale"] = local_dates(frame["window_first_sale_at"])
    window_start = pd.Timestamp(as_of - timedelta(days=WINDOW_DAYS - 1))
    out["window_last_sale"] = out["last_sale"].where(out["last_sale"] >= window_start)
    for column in ("frequency", "lifetime_sales", "window_sales_cents", "window_refund_cents"):
        out[column] = frame[column].to_numpy(dtype="int64")
    return pd.DataFrame({k: pd.Series(v).to_numpy() for k, v in out.items()}, copy=False)


def buyer_aggregates(
    *,
    as_of: date,
    store_ids: list[int] | None = None,
    customer_ids=None,
    high_water: int | None = None,
) -> pd.DataFrame:
    """One row per fan with an order on or before `as_of` (classify's aggregate inputs), one
    GROUP BY; of `store_ids`' fans or of `customer_ids` only. `high_water`: of the orders up
    to it only, so that what the run stores is exactly what the next run's deltas start from
    (an order written after the high water was read is the next run's)."""
    orders = "" if high_water is None else "o.id <= %(high_water)s"
    if customer_ids is not None and not len(customer_ids):
        orders = "1 = 0"  # nobody: a constant the planner folds (an empty array is no index)
    sql = aggregate_sql(
        vendor=connection.vendor, store_ids=store_ids, customer_ids=customer_ids, orders=orders
    )
    params = {**cutoffs(as_of=as_of), "high_water": high_water}
    if customer_ids is not None:
        params["customer_ids"] = [int(i) for i in customer_ids]
    return _read_aggregates(sql, params, as_of=as_of)


@dataclass
class OrderMoves:
    """What moved in the orders between run `since` and this one, as `buyer_aggregates` rows
    (of every fan with such orders, refunds-only fans included)."""

    arrived: pd.DataFrame  # orders `since` did not count that this run counts (window: this run's)
    left: pd.DataFrame  # orders of `since`'s window this run's window no longer holds (the sums)
    window_rest: pd.DataFrame  # of the fans in `left`: the first sale `since` counted that stays


def order_moves(*, since: RelabelRun, as_of: date, high_water: int) -> OrderMoves:
    """`OrderMoves` from run `since` to `as_of`, in three index-bound GROUP BYs of
    `aggregate_sql` (its sums, counts, firsts and lasts are the one definition of them): the
    orders up to `high_water` above `since`'s high water or dated from its cut-off on; the
    orders `since` read that were paid on the days that left the window; and the first sale of
    the remaining window of the fans in those."""
    before, now = cutoffs(as_of=since.as_of), cutoffs(as_of=as_of)
    vendor = connection.vendor
    marks = {
        "high_water": high_water,
        "since_high_water": since.order_high_water,
        "since_end": before["end"],
        "since_window_start": before["window_start"],
    }
    arrived_sql = aggregate_sql(
        vendor=vendor,
        orders="o.id <= %(high_water)s "
        "AND (o.id > %(since_high_water)s OR o.paid_at >= %(since_end)s)",
    )
    arrived = _read_aggregates(arrived_sql, {**now, **marks}, as_of=as_of)
    # The window of these sums is the days that left, [since's window start, this one's).
    left_sql = aggregate_sql(
        vendor=vendor,
        orders="o.id <= %(since_high_water)s AND o.paid_at >= %(window_start)s",
    )
    left_window = {"end": now["window_start"], "window_start": before["window_start"]}
    left = _read_aggregates(left_sql, {**left_window, **marks}, as_of=as_of)
    window_rest = _first_sales(
        np.sort(left["customer_id"].to_numpy()),
        start=now["window_start"],
        end=before["end"],
        high_water=since.order_high_water,
    )
    return OrderMoves(arrived=arrived, left=left, window_rest=window_rest)


def _first_sales(customer_ids, *, start, end, high_water: int) -> pd.DataFrame:
    """Each fan's first sale paid in [start, end) up to `high_water`, as a local date
    (`window_first_sale`; NaT for none): one index probe per fan on (customer, paid_at) —
    their every order of the window lies on most of the pages of the table."""
    vendor = connection.vendor
    first = f"""(SELECT MIN(o.paid_at) FROM {Order._meta.db_table} o
                  WHERE o.customer_id = c.id AND {SALE} AND o.paid_at >= %(start)s
                    AND o.paid_at < %(end)s AND o.id <= %(high_water)s)"""
    fans = _fans_of(customer_ids).replace("%s", "%(ids)s")
    sql = f"SELECT CAST(c.id AS BIGINT), {_instant(vendor, first)} FROM {fans}"
    params = {"start": start, "end": end, "high_water": high_water}
    params["ids"] = [int(i) for i in customer_ids]
    columns = [("customer_id", "int64"), ("at", "int64" if vendor == "postgresql" else "object")]
    frame = bulk.read_frame(sql, params, columns)
    return pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy(dtype="int64"),
            "window_first_sale": local_dates(frame["at"]).to_numpy(),
        },
        copy=False,
    )


def _aligned(frame: pd.DataFrame, ids: np.ndarray, column: str) -> np.ndarray:
    """`frame[column]` for each of `ids` (0 or NaT where `frame` has no row)."""
    position = pd.Index(frame["customer_id"]).get_indexer(ids)
    values = frame[column].to_numpy()
    out = np.zeros(len(ids), dtype=values.dtype)
    if values.dtype.kind == "M":
        out[:] = np.datetime64("NaT")
    found = position >= 0
    out[found] = values[position[found]]
    return out


def advance_aggregates(stored: pd.DataFrame, moves: OrderMoves, *, as_of: date) -> pd.DataFrame:
    """`buyer_aggregates` of the fans of `stored` (their rows as the run `moves` starts from
    computed them) for `as_of`: the stored ones plus what arrived, minus what
    left the window. Exact because orders are append-only (a correction is a refund)."""
    ids = stored["customer_id"].to_numpy()
    arrived = {c: _aligned(moves.arrived, ids, c) for c in moves.arrived.columns}
    left = {c: _aligned(moves.left, ids, c) for c in moves.left.columns}
    out = {"customer_id": ids}
    out["lifetime_sales"] = stored["lifetime_sales"].to_numpy() + arrived["lifetime_sales"]
    kept = stored["frequency"].to_numpy() - left["frequency"]  # `since`'s window sales that stay
    out["frequency"] = kept + arrived["frequency"]
    for column in ("window_sales_cents", "window_refund_cents"):
        out[column] = stored[column].to_numpy() - left[column] + arrived[column]
    out["last_sale"] = np.fmax(stored["last_sale"].to_numpy(), arrived["last_sale"])
    out["first_sale"] = np.fmin(stored["first_sale"].to_numpy(), arrived["first_sale"])
    window_start = np.datetime64(as_of - timedelta(days=WINDOW_DAYS - 1), "ns")
    first = stored["window_first_sale"].to_numpy()
    stays = first >= window_start
    rest = _aligned(moves.window_rest, ids, "window_first_sale")
    first = np.where(stays, first, np.where(kept > 0, rest, np.datetime64("NaT")))
    out["window_first_sale"] = np.fmin(first, arrived["window_first_sale"])
    last = out["last_sale"]
    out["window_last_sale"] = np.where(last >= window_start, last, np.datetime64("NaT"))
    return pd.DataFrame(out, copy=False)[list(stored.columns)]


# `live_aggregates` on PostgreSQL, written out: the ORM's compilation of the query cost more
# than running it, on every sale at the till.
LIVE_AGGREGATES_SQL = """
SELECT c.id AS pk, c.is_opinion_leader,
       MAX(o.paid_at) FILTER (WHERE o.kind = %(sale)s AND o.paid_at < %(end)s) AS last_sale_at,
       MIN(o.paid_at) FILTER (WHERE o.kind = %(sale)s AND o.paid_at < %(end)s) AS first_sale_at,
       MIN(o.paid_at) FILTER (WHERE o.kind = %(sale)s AND o.paid_at < %(end)s
                                AND o.paid_at >= %(window_start)s) AS window_first_sale_at,
       COUNT(o.id) FILTER (WHERE o.kind = %(sale)s AND o.paid_at < %(end)s
                             AND o.paid_at >= %(window_start)s) AS frequency,
       COUNT(o.id) FILTER (WHERE o.kind = %(sale)s AND o.paid_at < %(end)s) AS lifetime_sales,
       SUM(o.amount) FILTER (WHERE o.kind = %(sale)s AND o.paid_at < %(end)s
                               AND o.paid_at >= %(window_start)s) AS window_sales,
       SUM(o.amount) FILTER (WHERE o.kind = %(refund)s AND o.paid_at < %(end)s
                               AND o.paid_at >= %(window_start)s) AS window_refunds
FROM customers_customer c LEFT JOIN customers_order o ON o.customer_id = c.id
WHERE c.id = ANY(%(ids)s)
GROUP BY c.id, c.is_opinion_leader
"""


def live_aggregates(*, customer_ids, as_of: date) -> list[dict]:
    """`aggregate_sql`'s aggregates of a few fans for `as_of`, with their opinion-leader mark,
    as Python values (instants, Decimals): one query, for the live relabel of a sale, where a
    COPY and DataFrames would cost more than the query. The property tests check it against
    the nightly run; a test checks the PostgreSQL text against the ORM's query."""
    end = local_day_start(as_of + timedelta(days=1))
    window_start = local_day_start(as_of - timedelta(days=WINDOW_DAYS - 1))
    if connection.vendor == "postgresql":
        params = {
            "ids": [int(i) for i in customer_ids],
            "end": end,
            "window_start": window_start,
            "sale": Order.Kind.SALE.value,
            "refund": Order.Kind.REFUND.value,
        }
        with connection.cursor() as cursor:
            cursor.execute(LIVE_AGGREGATES_SQL, params)
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return list(_live_aggregates_orm(customer_ids=customer_ids, end=end, window_start=window_start))


def _live_aggregates_orm(*, customer_ids, end: datetime, window_start: datetime):
    """`live_aggregates` through the ORM (every database; the reference of the SQL text)."""
    before_end = Q(orders__paid_at__lt=end)
    sale = before_end & Q(orders__kind=Order.Kind.SALE)
    window = Q(orders__paid_at__gte=window_start)
    refund = before_end & window & Q(orders__kind=Order.Kind.REFUND)
    return (
        Customer.objects.filter(pk__in=customer_ids)
        .order_by()
        .values("pk", "is_opinion_leader")
        .annotate(
            last_sale_at=Max("orders__paid_at", filter=sale),
            first_sale_at=Min("orders__paid_at", filter=sale),
            window_first_sale_at=Min("orders__paid_at", filter=sale & window),
            frequency=Count("orders", filter=sale & window),
            lifetime_sales=Count("orders", filter=sale),
            window_sales=Sum("orders__amount", filter=sale & window),
            window_refunds=Sum("orders__amount", filter=refund),
        )
    )


def fan_rows(*, store_ids: list[int] | None = None) -> pd.DataFrame:
    """Every fan (of `store_ids`) with what classifying, remark keys and the diff need
    (FAN_COLUMNS) and her stored aggregates (STORED_AGGREGATE_COLUMNS; MISSING without a row).

    Two primary-key scans put side by side in numpy rather than one join: at 1M fans 0.6 s and
    0.8 s against 2.3 s for the merge join's rows (an incremental run reads every labels row
    but only the fans whose inputs may have moved: `changed_customer_rows`, `night_fans`)."""
    return side_by_side(customer_rows(store_ids=store_ids), labels_rows(store_ids=store_ids))


def customer_rows(*, store_ids: list[int] | None = None, customer_ids=None) -> pd.DataFrame:
    """`fans_sql`'s rows: FAN_COLUMNS up to `referrer_id` (of `customer_ids` only: a few)."""
    where = "" if customer_ids is None else f"WHERE c.id IN ({_ids(customer_ids)})"
    sql = fans_sql(vendor=connection.vendor, store_ids=store_ids, where=where)
    return bulk.read_frame(sql, {}, FAN_COLUMNS[:7])


def labels_rows(
    *, store_ids: list[int] | None = None, ids: tuple[int, int] | None = None
) -> pd.DataFrame:
    """`labels_rows_sql`'s rows: LABELS_ROW_COLUMNS."""
    sql = labels_rows_sql(vendor=connection.vendor, store_ids=store_ids, ids=ids)
    return bulk.read_frame(sql, {}, LABELS_ROW_COLUMNS)


def labels_halves() -> list[tuple[int, int]]:
    """Two id ranges that split the labels rows about evenly (by the largest fan id), so that
    two connections can scan them at once; one range when there are few."""
    last = Customer.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    middle = last // 2
    return [(0, middle), (middle + 1, last)] if last > 10_000 else [(0, last)]


def side_by_side(fans: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """`fan_rows`: each fan of `customer_rows` with her row of `labels_rows` (if any)."""
    fan_ids, row_ids = fans["customer_id"].to_numpy(), rows["customer_id"].to_numpy()
    if np.array_equal(fan_ids, row_ids):  # every fan has a row, both in id order: no lookup
        columns = {name: fans[name].to_numpy() for name in fans.columns}
        columns["has_labels"] = np.ones(len(fans), dtype="int16")
        columns["inputs_read"] = np.ones(len(fans), dtype="int16")
        for name, kind in LABELS_ROW_COLUMNS[1:]:
            columns[name] = rows[name].to_numpy().astype(kind, copy=False)
        return pd.DataFrame(columns, copy=False)
    position = pd.Index(row_ids).get_indexer(fan_ids)
    found = position >= 0
    columns = {name: fans[name].to_numpy() for name in fans.columns}
    columns["has_labels"] = found.astype("int16")
    columns["inputs_read"] = np.ones(len(fans), dtype="int16")
    for name, kind in LABELS_ROW_COLUMNS[1:]:
        missing = 0 if name.startswith("old_") else MISSING
        values = np.full(len(fans), missing, dtype=kind)
        values[found] = rows[name].to_numpy()[position[found]]
        columns[name] = values
    return pd.DataFrame(columns, copy=False)


def changed_customer_rows(*, since: datetime, customer_ids) -> pd.DataFrame:
    """`customer_rows` of the fans whose labels or remark inputs may have moved since the instant
    `since` (the last run's start): `customer_ids` (the touched fans), the fans saved since
    (a trigger moves `updated_at` when a queryset or raw update changes an input), those whose
    referrer was and those of a guide saved since. A union, each part by its own index."""
    customers = Customer._meta.db_table
    vendor = connection.vendor
    guides = list(Staff.objects.filter(updated_at__gte=since).values_list("pk", flat=True))
    ids = np.asarray(customer_ids, dtype="int64")
    if vendor == "postgresql":
        listed, of_guides = "SELECT unnest(%(ids)s::bigint[])", "= ANY(%(guides)s::bigint[])"
    else:
        listed = f"SELECT id FROM {customers} WHERE id IN ({_ids(ids)})"
        of_guides = f"IN ({_ids(guides)})"
    saved = f"SELECT id FROM {customers} WHERE updated_at >= %(since)s"
    wanted = f"""
        {listed} UNION {saved}
        UNION SELECT id FROM {customers} WHERE referrer_id IN ({saved})
        UNION SELECT id FROM {customers} WHERE guide_id {of_guides}
    """
    sql = fans_sql(vendor=vendor, where=f"WHERE c.id IN ({wanted})")
    params = {"since": since, "ids": [int(i) for i in ids], "guides": guides}
    return bulk.read_frame(sql, params, FAN_COLUMNS[:7])


def rows_not_as_computed(customer_ids) -> np.ndarray:
    """Of `customer_ids`, the fans whose labels row the last run may not have computed: written
    since by a live sale or the admin (`labels_key` cleared). One probe per fan."""
    labels = CustomerLabels._meta.db_table
    if connection.vendor == "postgresql":
        wanted, params = "customer_id = ANY(%s::bigint[])", [[int(i) for i in customer_ids]]
    else:
        wanted, params = f"customer_id IN ({_ids(customer_ids)})", []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT customer_id FROM {labels} WHERE {wanted} AND labels_key IS NULL", params
        )
        return np.array([row[0] for row in cursor.fetchall()], dtype="int64")


def fan_count() -> int:
    """How many fans there are: one index-only count, without parallel workers (they would
    take the cores the night's other reads run on)."""
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
    return Customer.objects.count()


def fans_without_labels_row() -> np.ndarray:
    """The fans who have no labels row (an anti-join of the two tables)."""
    customers, labels = Customer._meta.db_table, CustomerLabels._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.id FROM {customers} c WHERE NOT EXISTS "
            f"(SELECT 1 FROM {labels} l WHERE l.customer_id = c.id)"
        )
        return np.array([row[0] for row in cursor.fetchall()], dtype="int64")


def night_fans(rows: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """`fan_rows` of a night from every labels row (`labels_rows`) and the customer rows read
    (`changed_customer_rows`, with the fans who have no labels row yet): a fan whose customer
    row was not read keeps her row's opinion-leader mark; her other customer columns are
    MISSING and `inputs_read` 0. Both come in id order: the fans read are found by bisection."""
    row_ids, read_ids = rows["customer_id"].to_numpy(), customers["customer_id"].to_numpy()
    if np.isin(read_ids, row_ids).all():  # normally: every fan read has a row
        ids, at_row = row_ids, None
    else:
        ids = np.union1d(row_ids, read_ids)
        at_row = pd.Index(row_ids).get_indexer(ids)
    at_read = np.searchsorted(ids, read_ids)
    columns: dict[str, np.ndarray] = {"customer_id": ids}
    for name, kind in LABELS_ROW_COLUMNS[1:]:
        if at_row is None:
            columns[name] = rows[name].to_numpy()
        else:
            values = np.full(len(ids), 0 if name.startswith("old_") else MISSING, dtype=kind)
            values[at_row >= 0] = rows[name].to_numpy()[at_row[at_row >= 0]]
            columns[name] = values
    for name, kind in FAN_COLUMNS[1:7]:
        values = np.full(len(ids), MISSING, dtype=kind)
        if name == "is_opinion_leader":
            values = np.maximum(columns["stored_is_opinion_leader"], 0).astype(kind)
        values[at_read] = customers[name].to_numpy()
        columns[name] = values
    has_row = np.ones(len(ids), dtype="int16") if at_row is None else (at_row >= 0).astype("int16")
    columns["has_labels"] = has_row
    read = np.zeros(len(ids), dtype="int16")
    read[at_read] = 1
    columns["inputs_read"] = read
    return pd.DataFrame(columns, copy=False)


NS_PER_DAY = 86_400_000_000_000


def _dates_of_day_numbers(days: np.ndarray) -> np.ndarray:
    """Day numbers (MISSING for none) as midnight datetime64[ns] (NaT for none): integer
    arithmetic and a view (numpy's timedelta64[D] conversion costs 6× as much)."""
    out = (days.astype("int64") * NS_PER_DAY).view("datetime64[ns]")
    out[days == MISSING] = np.datetime64("NaT")
    return out


def stored_aggregates(fans: pd.DataFrame, *, as_of: date) -> pd.DataFrame:
    """`buyer_aggregates` as the labels rows hold them, one row per fan of `fans`, in its order
    (zeros and NaT for a fan without a row). Exact for `as_of` for every fan none of whose
    orders entered or left the window since the run that wrote the row (`touched_fans`)."""
    return pd.DataFrame(stored_columns(fans, as_of=as_of), copy=False)


def stored_columns(fans: pd.DataFrame, *, as_of: date) -> dict[str, np.ndarray]:
    """`stored_aggregates`' columns, each a new array (a caller may overwrite some fans')."""
    rows = fans["has_labels"].to_numpy() == 1
    last_sale = _dates_of_day_numbers(fans["stored_last_sale"].to_numpy())
    window_start = np.datetime64(as_of - timedelta(days=WINDOW_DAYS - 1), "ns")
    out = {
        "customer_id": fans["customer_id"].to_numpy(dtype="int64"),
        "last_sale": last_sale,
        "first_sale": _dates_of_day_numbers(fans["stored_first_sale"].to_numpy()),
        "window_first_sale": _dates_of_day_numbers(fans["stored_window_first_sale"].to_numpy()),
        "window_last_sale": np.where(last_sale >= window_start, last_sale, np.datetime64("NaT")),
    }
    for column in ("frequency", "lifetime_sales", "window_sales_cents", "window_refund_cents"):
        out[column] = np.where(rows, fans[f"stored_{column}"].to_numpy(), 0).astype("int64")
    return out


def put_aggregates(columns: dict[str, np.ndarray], at: np.ndarray, frame: pd.DataFrame) -> None:
    """Overwrite in `columns` (aligned with `columns["customer_id"]`) the fans at positions
    `at` with their rows of `frame` (`buyer_aggregates`' shape; zeros and NaT without one)."""
    ids = columns["customer_id"][at]
    for name, values in columns.items():
        if name != "customer_id":
            values[at] = _aligned(frame, ids, name)


HIGH_WATER_LOCK_TIMEOUT = "2s"


def order_high_water() -> int | None:
    """The largest order id (0 for none): every order above it is new to the next run.

    On PostgreSQL a SHARE lock first waits for the order writes in flight (an id is drawn before
    its row commits) and holds new ones back for that instant: no order at or below the high
    water can commit after it was read. A write that keeps it waiting (a long import) would
    hold the tills back too: after HIGH_WATER_LOCK_TIMEOUT there is no high water (None), and
    this run and the next read every order."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(f"SET LOCAL lock_timeout = '{HIGH_WATER_LOCK_TIMEOUT}'")
                cursor.execute(f"LOCK TABLE {Order._meta.db_table} IN SHARE MODE")
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {Order._meta.db_table}")
            return int(cursor.fetchone()[0])
    except OperationalError:  # lock_timeout: the lock was not granted in time
        return None


def touched_fans(*, since: RelabelRun, as_of: date, high_water: int) -> np.ndarray:
    """The fans whose aggregates may differ from what run `since` stored, for `as_of`: those with
    an order written after it (an id above its high water, up to `high_water`), a sale or refund
    of the days that left the window, or an order dated in the days between the two runs'
    cut-offs (dated ahead when it was written). Orders are append-only (a correction is a
    refund), so every other fan's aggregates are those `since` stored. Index scans only."""
    before, now = cutoffs(as_of=since.as_of), cutoffs(as_of=as_of)
    params = {
        "since_high_water": since.order_high_water,
        "high_water": high_water,
        "left_from": before["window_start"],
        "left_to": now["window_start"],
        "arrived_from": before["end"],
        "arrived_to": now["end"],
    }
    sql = f"""
        SELECT DISTINCT customer_id FROM {Order._meta.db_table}
         WHERE (id > %(since_high_water)s AND id <= %(high_water)s)
            OR (paid_at >= %(left_from)s AND paid_at < %(left_to)s)
            OR (paid_at >= %(arrived_from)s AND paid_at < %(arrived_to)s)
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        # Sorted: the lookups by these ids then walk the indexes and tables in order.
        return np.unique(np.array([row[0] for row in cursor.fetchall()], dtype="int64"))


def _fans_of(customer_ids) -> str:
    """A FROM item `c(id)` of `customer_ids`: PostgreSQL, an array parameter (%s) unnested, so
    that the planner looks each one up by key; SQLite, the fans listed."""
    if connection.vendor == "postgresql":
        return "unnest(%s::bigint[]) AS c(id)"
    return f"(SELECT id FROM {Customer._meta.db_table} WHERE id IN ({_ids(customer_ids)})) c"


def name_hashes(customer_ids) -> dict[int, int]:
    """`fans_sql`'s name_hash of a few fans (referrers outside the fans read)."""
    customers = Customer._meta.db_table
    ids = ",".join(str(int(i)) for i in customer_ids) or "NULL"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, CAST(hashtextextended(name, 0) AS BIGINT) FROM {customers} "
            f"WHERE id IN ({ids})"
        )
        return dict(cursor.fetchall())


def _id_list(ids: list[int]):
    """`ids` for a `pk__in` filter: on PostgreSQL one array parameter (Django would otherwise
    prepare each of thousands of values on its own: 0.1 s per 20,000)."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", (ids,))
    return ids


REMARK_INPUT_COLUMNS = ["name", "member_since", "guide_name", "guide_abbreviation", "referrer_name"]


def remark_inputs(
    customer_ids: np.ndarray, *, chunk: int = 5_000, every: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Name, member_since, guide name and abbreviation and referrer name of `customer_ids`
    (in that order; '' / NaT where missing): read only for the fans whose remarks are rebuilt,
    `chunk` fans per query — or, for more than 20 chunks (a first run), in one scan of all fans,
    which is then far cheaper than the lookups (`every`: that scan's frame, read already)."""
    if every is None and len(customer_ids) > 20 * chunk:
        every = every_remark_input()
    if every is not None:  # a fan registered since it was read: '' and NaT
        found = every.reindex(customer_ids).reset_index(drop=True)
        texts = ["name", "guide_name", "guide_abbreviation", "referrer_name"]
        if found[texts].isna().to_numpy().any():
            found[texts] = found[texts].fillna("")
        return found
    fans = Customer.objects.values_list(
        "pk", "name", "member_since", "guide__name", "guide__abbreviation", "referrer__name"
    )
    ids = [int(i) for i in customer_ids]
    batches = [fans.filter(pk__in=_id_list(ids[i : i + chunk])) for i in range(0, len(ids), chunk)]
    columns = ["customer_id", *REMARK_INPUT_COLUMNS]
    rows = (row for batch in batches for row in batch.iterator(chunk_size=chunk))
    parts = [pd.DataFrame(columns=columns)]
    while block := list(islice(rows, 100_000)):  # never 1M fans' tuples at once
        parts.append(pd.DataFrame.from_records(block, columns=columns))
    frame = pd.concat(parts, ignore_index=True).set_index("customer_id")
    frame = frame.reindex(customer_ids)
    for column in ("name", "guide_name", "guide_abbreviation", "referrer_name"):
        frame[column] = frame[column].fillna("").astype(str)
    frame["member_since"] = pd.to_datetime(frame["member_since"])
    return frame.reset_index(drop=True)


def every_remark_input() -> pd.DataFrame:
    """`remark_inputs` of every fan, indexed by fan id (a first run): one CSV COPY of every
    fan's name, guide, referrer and member-since day, the guides' and referrers' names looked
    up in numpy (the ORM's tuples of a three-table join took ~4 s of client CPU at 1M fans)."""
    fans = bulk.read_frame(
        f"""SELECT id, name, COALESCE(guide_id, {MISSING}), COALESCE(referrer_id, {MISSING}),
                   member_since
              FROM {Customer._meta.db_table}""",
        None,
        [("customer_id", "int64"), ("name", "U"), ("guide_id", "int64"),
         ("referrer_id", "int64"), ("member_since", "U")],
    )  # fmt: skip
    ids = pd.Index(fans["customer_id"].to_numpy())
    names = fans["name"].fillna("").astype(str).to_numpy(dtype=object)

    def looked_up(keys: pd.Index, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
        position = keys.get_indexer(wanted)
        out = np.full(len(wanted), "", dtype=object)
        out[position >= 0] = values[position[position >= 0]]
        return out

    guides = list(Staff.objects.values_list("pk", "name", "abbreviation"))
    guide_ids = pd.Index([pk for pk, _, _ in guides], dtype="int64")
    guide_of = fans["guide_id"].to_numpy()
    frame = pd.DataFrame(
        {
            "name": names,
            "member_since": pd.to_datetime(fans["member_since"].replace("", None)).to_numpy(),
            "guide_name": looked_up(guide_ids, np.array([g[1] for g in guides], object), guide_of),
            "guide_abbreviation": looked_up(
                guide_ids, np.array([g[2] or "" for g in guides], object), guide_of
            ),
            "referrer_name": looked_up(ids, names, fans["referrer_id"].to_numpy()),
        },
        index=ids,
    )
    return frame


def combine(fans: pd.DataFrame, aggregates: pd.DataFrame) -> pd.DataFrame:
    """Every fan of `fans` with its buyer aggregates (zeros / NaT for fans with no sale).

    A positional lookup by customer id rather than `merge`: ~10× faster at 1M fans."""
    position = pd.Index(aggregates["customer_id"]).get_indexer(fans["customer_id"])
    buyer = position >= 0
    columns = {name: fans[name].to_numpy() for name in fans.columns}
    for name in aggregates.columns.drop("customer_id"):
        values = aggregates[name].to_numpy()
        columns[name] = np.full(len(position), 0, dtype=values.dtype)  # 0 or 1970-01-01
        if values.dtype.kind == "M":
            columns[name][:] = np.datetime64("NaT")
        columns[name][buyer] = values[position[buyer]]
    return pd.DataFrame(columns, copy=False)  # copy=False: no block consolidation (~0.5 s)


# The distributed run's scratch table (created and emptied by `segmentation.distributed`).
PARTS_TABLE = "segmentation_relabel_aggregate_part"


def buyer_aggregates_from_parts(*, run_id: int, as_of: date) -> pd.DataFrame:
    """The distributed run's combined parts, shaped like `buyer_aggregates`."""
    columns = ", ".join(name for name, _ in AGGREGATE_COLUMNS)
    sql = f"SELECT {columns} FROM {PARTS_TABLE} WHERE run_id = %(run)s ORDER BY customer_id"
    return _read_aggregates(sql, {"run": run_id}, as_of=as_of)


def relabel_inputs(*, as_of: date, store_ids: list[int] | None = None) -> pd.DataFrame:
    """Every fan (of `store_ids`, default all) with its aggregates for `as_of`: `classify`'s input.

    Two queries: one GROUP BY over the orders and one over the fans. Note that SPEC §3's
    population P is every buyer of the brand: to label only some stores, classify all and write
    some (as `segmentation.services.relabel` does); `store_ids` here serves the per-store split of the
    distributed run, whose parts are combined before classifying.
    """
    return combine(
        fan_rows(store_ids=store_ids), buyer_aggregates(as_of=as_of, store_ids=store_ids)
    )


# --- apple quotas -----------------------------------------------------------------------------


def _last_run_as_of() -> date | None:
    run = (
        RelabelRun.objects.filter(status=RelabelRun.Status.SUCCEEDED)
        .order_by("-finished_at", "-id")
        .only("as_of")
        .first()
    )
    return run.as_of if run else None


def _default_target(apple: str) -> int:
    return int(settings.APPLE_QUOTA_PER_STORE.get(str(apple), 0)) * int(settings.APPLE_QUOTA_UNIT)


def _tiers(targets: dict[str, int], actuals: dict[str, int]) -> list[dict]:
    return [
        {
            "apple": str(apple),
            "target": targets.get(str(apple), 0),
            "actual": actuals.get(str(apple), 0),
            "gap": targets.get(str(apple), 0) - actuals.get(str(apple), 0),
        }
        for apple in APPLE_TIERS
    ]


def store_apple_targets(*, store_ids: list[int]) -> dict[int, dict[str, int]]:
    """Target per store and tier: the brand default × unit unless the store overrides it."""
    targets = {sid: {str(a): _default_target(a) for a in APPLE_TIERS} for sid in store_ids}
    for row in AppleQuotaOverride.objects.filter(store_id__in=store_ids).values(
        "store_id", "apple", "target"
    ):
        targets[row["store_id"]][row["apple"]] = row["target"]
    return targets


def apple_quota_for_store(*, store: Store) -> dict:
    """`{"store", "as_of", "tiers": [{"apple", "target", "actual", "gap"}]}` for one store (3 queries)."""
    targets = store_apple_targets(store_ids=[store.pk])[store.pk]
    actuals = dict(
        CustomerLabels.objects.filter(customer__store=store)
        .values("apple")
        .annotate(n=Count("pk"))
        .values_list("apple", "n")
    )
    return {"store": store.code, "as_of": _last_run_as_of(), "tiers": _tiers(targets, actuals)}


def company_apple_quota() -> dict:
    """Company targets (sum over active stores), actuals and a row per active store (4 queries).

    `{"as_of", "tiers": [...], "stores": [{"store", "name", "tiers": [...]}]}`.
    """
    stores = list(
        Store.objects.filter(is_active=True).order_by("code").values("id", "code", "name")
    )
    ids = [s["id"] for s in stores]
    targets = store_apple_targets(store_ids=ids)
    actuals: dict[int, dict[str, int]] = {sid: {} for sid in ids}
    counts = (
        CustomerLabels.objects.filter(customer__store_id__in=ids)
        .values("customer__store_id", "apple")
        .annotate(n=Count("pk"))
        .values_list("customer__store_id", "apple", "n")
    )
    for store_id, apple, n in counts:
        actuals[store_id][apple] = n
    total_targets: dict[str, int] = {}
    total_actuals: dict[str, int] = {}
    rows = []
    for s in stores:
        for apple in APPLE_TIERS:
            key = str(apple)
            total_targets[key] = total_targets.get(key, 0) + targets[s["id"]][key]
            total_actuals[key] = total_actuals.get(key, 0) + actuals[s["id"]].get(key, 0)
        rows.append(
            {
                "store": s["code"],
                "name": s["name"],
                "tiers": _tiers(targets[s["id"]], actuals[s["id"]]),
            }
        )
    return {
        "as_of": _last_run_as_of(),
        "tiers": _tiers(total_targets, total_actuals),
        "stores": rows,
    }


# --- summaries and worklists -------------------------------------------------------------------


def segment_summary(*, customers: QuerySet[Customer]) -> dict:
    """Fans per rfm_segment, r_stage, apple and membership (every code, zeros included) in 1 query.

    `{"total": n, "apple": {code: n}, "rfm_segment": {...}, "r_stage": {...}, "membership": {...}}`;
    '' (no label, e.g. a fan with no sale) is counted under "none".
    """
    groups = {
        "apple": [str(c) for c in APPLE_TIERS],
        "rfm_segment": [c.value for c in RfmSegment],
        "r_stage": [c.value for c in RStage],
        "membership": [c.value for c in Membership],
    }
    summary: dict = {"total": 0} | {
        g: dict.fromkeys(codes, 0) | {"none": 0} for g, codes in groups.items()
    }
    rows = (
        CustomerLabels.objects.filter(customer__in=customers)
        .values("apple", "rfm_segment", "r_stage", "membership")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in rows:
        summary["total"] += row["n"]
        for group in groups:
            code = row[group] or "none"
            summary[group][code] = summary[group].get(code, 0) + row["n"]
    return summary


def repurchase_stats(*, customers: QuerySet[Customer]) -> dict:
    """Repurchase rate and mean repurchase gap of `customers` (1 query).

    - rate: fans with ≥ 2 sales in the 365-day window among fans with ≥ 1 sale in it (None if none).
    - mean gap (days): over fans with ≥ 2 lifetime sales, Σ(last_sale − first_sale) /
      Σ(lifetime_sales − 1), i.e. the mean number of days between one purchase and the next,
      each repurchase weighted once (None when nobody repurchased).
    """
    span = ExpressionWrapper(F("last_sale") - F("first_sale"), output_field=DurationField())
    row = CustomerLabels.objects.filter(customer__in=customers).aggregate(
        buyers=Count("pk", filter=Q(frequency__gte=1)),
        repeat_buyers=Count("pk", filter=Q(frequency__gte=2)),
        gaps=Sum(F("lifetime_sales") - 1, filter=Q(lifetime_sales__gte=2)),
        span=Sum(span, filter=Q(lifetime_sales__gte=2)),
    )
    rate = row["repeat_buyers"] / row["buyers"] if row["buyers"] else None
    gap = None
    if row["gaps"]:
        total = row["span"]
        days = (
            total.total_seconds() / 86400
            if isinstance(total, timedelta)
            else (total or 0) / 86_400_000_000
        )
        gap = round(days / row["gaps"], 1)
    return {
        "buyers": row["buyers"],
        "repeat_buyers": row["repeat_buyers"],
        "repurchase_rate": rate,
        "mean_gap_days": gap,
    }


def lock_labels_rows(
    customer_ids: list[int], *, groups: list[str]
) -> tuple[dict[int, dict], int | None]:
    """Lock the fans' labels rows (in id order, so two writers never deadlock) and read their
    codes of `groups`, with the id of the latest succeeded run (`last_run`'s) in the same round
    trip: the live relabel keeps that run's thresholds per process and rereads them only when
    the id moves."""
    quote = connection.ops.quote_name
    columns = ", ".join(f"l.{quote(group)}" for group in groups)
    placeholders = ", ".join(["%s"] * len(customer_ids))
    run = (
        "SELECT r.id FROM segmentation_relabelrun r WHERE r.status = %s"
        " ORDER BY r.finished_at DESC, r.id DESC LIMIT 1"
    )
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    status = RelabelRun.Status.SUCCEEDED.value
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT l.customer_id, {columns}, ({run}) FROM segmentation_customerlabels l"
            f" WHERE l.customer_id IN ({placeholders}) ORDER BY l.customer_id{lock}",
            [status, *customer_ids],
        )
        rows = cursor.fetchall()
        if not rows:
            cursor.execute(run, [status])
            found = cursor.fetchone()
            return {}, found[0] if found else None
    codes = {row[0]: dict(zip(groups, row[1:-1], strict=True)) for row in rows}
    return codes, rows[0][-1]


def last_run() -> RelabelRun | None:
    """The latest succeeded relabel run."""
    return (
        RelabelRun.objects.filter(status=RelabelRun.Status.SUCCEEDED)
        .order_by("-finished_at", "-id")
        .first()
    )


def label_changes_of_last_run(
    *,
    customers: QuerySet[Customer],
    group: str,
    to_codes: list[str] | tuple[str, ...] | None = None,
    from_codes: list[str] | tuple[str, ...] | None = None,
) -> QuerySet[LabelChange]:
    """Changes of `group` the latest succeeded run made to `customers` ("moved to sleeping last night")."""
    run = last_run()
    if run is None:
        return LabelChange.objects.none()
    changes = LabelChange.objects.filter(run=run, group=group, customer__in=customers)
    if to_codes is not None:
        changes = changes.filter(to_code__in=list(to_codes))
    if from_codes is not None:
        changes = changes.filter(from_code__in=list(from_codes))
    return changes.select_related("customer", "run").order_by("customer_id")


def label_changes_since(
    *,
    customers: QuerySet[Customer],
    since: datetime,
    group: str | None = None,
    to_codes: list[str] | tuple[str, ...] | None = None,
) -> QuerySet[LabelChange]:
    """Changes to `customers` made by succeeded runs that finished at or after `since`."""
    changes = LabelChange.objects.filter(
        customer__in=customers, run__status=RelabelRun.Status.SUCCEEDED, run__finished_at__gte=since
    )
    if group is not None:
        changes = changes.filter(group=group)
    if to_codes is not None:
        changes = changes.filter(to_code__in=list(to_codes))
    return changes.select_related("customer", "run").order_by("-run_id", "customer_id")


def apple_upgrades_of_last_run(*, customers: QuerySet[Customer]) -> QuerySet[LabelChange]:
    """Fans whose apple went up in the latest run (blossom < green < yellow < red < golden)."""
    return label_changes_of_last_run(customers=customers, group=LabelChange.Group.APPLE).filter(
        apple_upgrades()
    )


def apple_upgrades() -> Q:
    """LabelChange rows whose apple went up (blossom < green < yellow < red < golden)."""
    pairs = Q(pk__in=[])
    for low, low_rank in APPLE_RANK.items():
        for high, high_rank in APPLE_RANK.items():
            if high_rank > low_rank:
                pairs |= Q(from_code=low, to_code=high)
    return pairs


def labels_checksum() -> str:
    """A digest of every fan's computed labels and metrics and of every store's labels date
    (same labels ⇔ same checksum)."""
    digest = hashlib.sha256()
    for store_id, as_of in StoreLabelling.objects.order_by("store_id").values_list(
        "store_id", "as_of"
    ):
        digest.update(repr((store_id, as_of)).encode())
    rows = CustomerLabels.objects.order_by("customer_id").values_list(
        "customer_id",
        "frequency",
        "monetary",
        "lifetime_sales",
        "first_sale",
        "last_sale",
        "apple",
        "rfm_segment",
        "r_stage",
        "membership",
        "rhythm",
        "remark_store_account",
        "remark_personal_account",
    )
    for row in rows.iterator(chunk_size=10_000):
        digest.update(repr(row).encode())
    return digest.hexdigest()


def forecast_summary(*, customers: QuerySet[Customer]) -> dict:
    """The purchase forecasts of `customers` (a store's fans, scoped by the caller): expected
    sales in the next 90 days (expected purchases × expected spend per purchase), the fans due
    soon and at risk, and both per guide (one query each)."""
    predictions = CustomerPrediction.objects.filter(customer__in=customers.order_by())
    totals = predictions.aggregate(
        expected_sales_90d=Sum(
            F("expected_purchases_90d") * F("expected_spend"), output_field=FloatField()
        ),
        due_soon=Count("pk", filter=Q(forecast=Forecast.DUE_SOON)),
        at_risk=Count("pk", filter=Q(forecast=Forecast.AT_RISK)),
        model_as_of=Max("model_as_of"),
    )
    by_guide = (
        predictions.exclude(forecast="")
        .values("customer__guide__name")
        .annotate(
            due_soon=Count("pk", filter=Q(forecast=Forecast.DUE_SOON)),
            at_risk=Count("pk", filter=Q(forecast=Forecast.AT_RISK)),
        )
        .order_by("-at_risk", "customer__guide__name")
    )
    return {**totals, "by_guide": list(by_guide)}
