"""Reads of segmentation: the relabel job's inputs, apple quotas, label counts and worklists."""

from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from django.conf import settings
from django.db import connection
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, QuerySet, Sum

from customers.models import Customer, Order, Staff, Store
from segmentation.models import (
    Apple,
    AppleQuotaOverride,
    CustomerLabels,
    LabelChange,
    Membership,
    RelabelRun,
    RfmSegment,
    RStage,
)
from segmentation.rules import WINDOW_DAYS

# Seed 000 lists the tiers from the top: golden, red, yellow, green, blossom.
APPLE_TIERS = [Apple.GOLDEN, Apple.RED, Apple.YELLOW, Apple.GREEN, Apple.BLOSSOM]
# Apple rank for "went up" worklists (blossom lowest, golden highest).
APPLE_RANK = {Apple.BLOSSOM: 0, Apple.GREEN: 1, Apple.YELLOW: 2, Apple.RED: 3, Apple.GOLDEN: 4}

AGGREGATE_COLUMNS = [
    "customer_id",
    "last_sale",
    "first_sale",
    "window_first_sale",
    "window_last_sale",
    "frequency",
    "lifetime_sales",
    "window_sales_cents",
    "window_refund_cents",
]
FAN_COLUMNS = [
    "customer_id",
    "store_id",
    "is_opinion_leader",
    "name",
    "member_since",
    "guide_name",
    "guide_abbreviation",
    "referrer_name",
    # The fan's current labels row: whether there is one, its remark key and the codes the
    # change records compare with ('' without a row).
    "has_labels",
    "remark_key",
    "old_apple",
    "old_rfm_segment",
    "old_r_stage",
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
    return {"end": adapt(end), "window_start": adapt(window_start), "tz": settings.TIME_ZONE}


def aggregate_sql(*, vendor: str, store_ids: list[int] | None = None) -> str:
    """One GROUP BY over the orders: a row per fan with a sale before the cutoff (AGGREGATE_COLUMNS).

    Parameters: %(end)s, %(window_start)s, %(tz)s. On PostgreSQL dates come back as local day
    numbers (days since 1970-01-01); on SQLite as UTC timestamps (converted by `_with_dates`).
    """
    order_table = Order._meta.db_table
    customer_table = Customer._meta.db_table
    sale = "o.kind = 'sale'"
    in_window = "o.paid_at >= %(window_start)s"
    if vendor == "postgresql":
        money = "o.amount * 100"

        def local_date(expr: str) -> str:  # as a day number: parsed 10× faster than text dates
            return f"((({expr}) AT TIME ZONE %(tz)s)::date - DATE '1970-01-01')"

        cents_sum = "(SUM({m}) FILTER (WHERE {w}))::bigint"
    else:
        money = "CAST(ROUND(o.amount * 100) AS INTEGER)"

        def local_date(expr: str) -> str:
            return expr

        cents_sum = "SUM({m}) FILTER (WHERE {w})"
    scope = ""
    if store_ids is not None:
        ids = ",".join(str(int(i)) for i in store_ids) or "NULL"
        scope = f" AND o.customer_id IN (SELECT id FROM {customer_table} WHERE store_id IN ({ids}))"
    return f"""
        SELECT o.customer_id AS customer_id,
               {local_date(f"MAX(o.paid_at) FILTER (WHERE {sale})")} AS last_sale,
               {local_date(f"MIN(o.paid_at) FILTER (WHERE {sale})")} AS first_sale,
               {local_date(f"MIN(o.paid_at) FILTER (WHERE {sale} AND {in_window})")} AS window_first_sale,
               {local_date(f"MAX(o.paid_at) FILTER (WHERE {sale} AND {in_window})")} AS window_last_sale,
               COUNT(*) FILTER (WHERE {sale} AND {in_window}) AS frequency,
               COUNT(*) FILTER (WHERE {sale}) AS lifetime_sales,
               COALESCE({cents_sum.format(m=money, w=f"{sale} AND {in_window}")}, 0) AS window_sales_cents,
               COALESCE({cents_sum.format(m=money, w=f"o.kind = 'refund' AND {in_window}")}, 0)
                   AS window_refund_cents
          FROM {order_table} o
         WHERE o.paid_at < %(end)s{scope}
         GROUP BY o.customer_id
        HAVING COUNT(*) FILTER (WHERE {sale}) > 0
    """


FAN_SQL_COLUMNS = [
    "customer_id", "store_id", "is_opinion_leader", "name", "member_since", "guide_id",
    "referrer_id", "has_labels", "remark_key", "old_apple", "old_rfm_segment", "old_r_stage",
]  # fmt: skip


def fans_sql(*, store_ids: list[int] | None = None) -> str:
    """Every fan (FAN_SQL_COLUMNS): one scan of the fans and their labels' remark key.

    Guide and referrer names are looked up in pandas (`fan_rows`), which is cheaper than
    joining 1M fans to themselves.
    """
    customer_table = Customer._meta.db_table
    labels_table = CustomerLabels._meta.db_table
    where = ""
    if store_ids is not None:
        where = "WHERE c.store_id IN (" + (",".join(str(int(i)) for i in store_ids) or "NULL") + ")"
    return f"""
        SELECT c.id AS customer_id, c.store_id,
               CASE WHEN c.is_opinion_leader THEN 1 ELSE 0 END AS is_opinion_leader,
               c.name, c.member_since, c.guide_id, c.referrer_id,
               CASE WHEN l.customer_id IS NULL THEN 0 ELSE 1 END AS has_labels, l.remark_key,
               l.apple AS old_apple, l.rfm_segment AS old_rfm_segment, l.r_stage AS old_r_stage
          FROM {customer_table} c
          LEFT JOIN {labels_table} l ON l.customer_id = c.id
          {where}
    """


def frame_from_query(sql: str, params: dict, *, columns: list[str]) -> pd.DataFrame:
    """Run `sql` and return its rows; on PostgreSQL through COPY … TO STDOUT (fast for 1M rows)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor if hasattr(cursor, "cursor") else cursor
            query = raw.mogrify(sql, params).decode()
            buffer = io.BytesIO()
            raw.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true)", buffer)
            buffer.seek(0)
            frame = pd.read_csv(buffer, keep_default_na=False, na_values=[""], dtype={"name": str})
            return frame[columns] if len(frame.columns) else pd.DataFrame(columns=columns)
        cursor.execute(sql, params)
        return pd.DataFrame.from_records(cursor.fetchall(), columns=columns)


def _local_dates(values: pd.Series) -> pd.Series:
    """UTC timestamps (SQLite text) → local dates in TIME_ZONE, as midnight datetime64."""
    stamps = pd.to_datetime(values, utc=True, format="ISO8601")
    return stamps.dt.tz_convert(settings.TIME_ZONE).dt.tz_localize(None).dt.normalize()


def buyer_aggregates(*, as_of: date, store_ids: list[int] | None = None) -> pd.DataFrame:
    """One row per fan with a sale on or before `as_of` (AGGREGATE_COLUMNS), one GROUP BY."""
    params = cutoffs(as_of=as_of)
    frame = frame_from_query(
        aggregate_sql(vendor=connection.vendor, store_ids=store_ids),
        params,
        columns=AGGREGATE_COLUMNS,
    )
    return _with_dates(frame)


def _with_dates(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("last_sale", "first_sale", "window_first_sale", "window_last_sale"):
        if connection.vendor == "postgresql":
            frame[column] = pd.to_datetime(pd.to_numeric(frame[column]), unit="D")
        else:
            frame[column] = _local_dates(frame[column])
    return frame


def fan_rows(*, store_ids: list[int] | None = None) -> pd.DataFrame:
    """Every fan (of `store_ids`) with what apples and remark names need (FAN_COLUMNS)."""
    frame = frame_from_query(fans_sql(store_ids=store_ids), {}, columns=FAN_SQL_COLUMNS)
    frame["customer_id"] = frame["customer_id"].astype("int64")
    frame["is_opinion_leader"] = pd.to_numeric(frame["is_opinion_leader"]).fillna(0).astype(bool)
    frame["name"] = frame["name"].fillna("").astype(str)
    frame["member_since"] = pd.to_datetime(frame["member_since"])
    frame["remark_key"] = pd.array(frame["remark_key"], dtype="Int64")
    frame["has_labels"] = pd.to_numeric(frame["has_labels"]).fillna(0).astype(bool)
    for column in ("old_apple", "old_rfm_segment", "old_r_stage"):
        frame[column] = frame[column].fillna("").astype(str)

    guides = pd.DataFrame.from_records(
        list(Staff.objects.values_list("pk", "name", "abbreviation")),
        columns=["guide_id", "guide_name", "guide_abbreviation"],
    )
    guide_id = pd.to_numeric(frame["guide_id"])
    for column in ("guide_name", "guide_abbreviation"):
        frame[column] = guide_id.map(guides.set_index("guide_id")[column]).fillna("").astype(str)

    names = pd.Series(frame["name"].to_numpy(), index=frame["customer_id"].to_numpy())
    referrer_id = pd.to_numeric(frame["referrer_id"])
    missing = set(referrer_id.dropna().astype("int64")) - set(names.index)
    if missing:  # referrers outside `store_ids`
        extra = dict(Customer.objects.filter(pk__in=missing).values_list("pk", "name"))
        names = pd.concat([names, pd.Series(extra, dtype=object)])
    frame["referrer_name"] = referrer_id.map(names).fillna("").astype(str)
    return frame[FAN_COLUMNS]


def combine(fans: pd.DataFrame, aggregates: pd.DataFrame) -> pd.DataFrame:
    """Every fan of `fans` with its buyer aggregates (zeros / NaT for fans with no sale)."""
    frame = fans.merge(aggregates, on="customer_id", how="left", sort=False)
    for column in ("frequency", "lifetime_sales", "window_sales_cents", "window_refund_cents"):
        frame[column] = pd.to_numeric(frame[column]).fillna(0).astype("int64")
    return frame


PARTS_TABLE = "segmentation_relabel_part"


def ensure_parts_table() -> None:
    """The scratch table the distributed run's parts fill (UNLOGGED on PostgreSQL: no WAL)."""
    pg = connection.vendor == "postgresql"
    day = "integer" if pg else "text"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""CREATE {"UNLOGGED " if pg else ""}TABLE IF NOT EXISTS {PARTS_TABLE} (
                run_id bigint NOT NULL, customer_id bigint NOT NULL,
                last_sale {day}, first_sale {day}, window_first_sale {day}, window_last_sale {day},
                frequency bigint, lifetime_sales bigint,
                window_sales_cents bigint, window_refund_cents bigint
            )"""
        )


def buyer_aggregates_from_parts(*, run_id: int) -> pd.DataFrame:
    """The distributed run's combined parts, shaped like `buyer_aggregates`."""
    ensure_parts_table()
    columns = ", ".join(AGGREGATE_COLUMNS)
    frame = frame_from_query(
        f"SELECT {columns} FROM {PARTS_TABLE} WHERE run_id = %(run)s ORDER BY customer_id",
        {"run": run_id},
        columns=AGGREGATE_COLUMNS,
    )
    return _with_dates(frame)


def drop_parts(*, run_id: int) -> None:
    """Forget a distributed run's parts."""
    ensure_parts_table()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {PARTS_TABLE} WHERE run_id = %s", [run_id])


def relabel_inputs(*, as_of: date, store_ids: list[int] | None = None) -> pd.DataFrame:
    """Every fan (of `store_ids`, default all) with its aggregates for `as_of`: `classify`'s input.

    Two queries: one GROUP BY over the orders and one over the fans. Note that SPEC §3's
    population P is every buyer of the brand: to label only some stores, classify all and write
    some (as `services.relabel` does); `store_ids` here serves the per-store split of the
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
    pairs = Q(pk__in=[])
    for low, low_rank in APPLE_RANK.items():
        for high, high_rank in APPLE_RANK.items():
            if high_rank > low_rank:
                pairs |= Q(from_code=low, to_code=high)
    return label_changes_of_last_run(customers=customers, group=LabelChange.Group.APPLE).filter(
        pairs
    )


def labels_checksum(*, customer_ids: list[int] | None = None) -> str:
    """A digest of every fan's computed labels and metrics (same labels ⇔ same checksum)."""
    import hashlib

    rows = CustomerLabels.objects.order_by("customer_id")
    if customer_ids is not None:
        rows = rows.filter(customer_id__in=customer_ids)
    digest = hashlib.sha256()
    for row in rows.values_list(
        "customer_id",
        "as_of",
        "recency_days",
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
    ).iterator(chunk_size=10_000):
        digest.update(repr(row).encode())
    return digest.hexdigest()
