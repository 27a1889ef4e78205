"""Writes of segmentation: the relabel job (SPEC §4).

Use cases:
- `relabel(*, as_of, store_codes=None, progress=None)`: recompute every computed label for one
  `as_of`, one run at a time, all or nothing, recorded as a `RelabelRun` with per-fan changes.
- `relabel_distributed(*, as_of)`: the same with the order aggregation split by store across
  Celery workers (see docs/scaling.md).

Phases (timed into `RelabelRun.timings`): aggregate (one GROUP BY over the orders), fans (every fan
with her labels row's keys, read alongside), classify (pandas, `rules.classify`), remarks (rebuilt
where their inputs changed), diff (the fans whose `labels_key` changed), stage (COPY of those rows
into a temp table), switch (one transaction: LabelChange rows, one UPDATE … FROM, INSERT of
missing rows, the stores' as_of, fact labels, run record). See docs/scaling.md.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from customers import facts as customer_facts
from customers.models import Customer, CustomerLabels, Staff, Store
from segmentation import rules, selectors
from segmentation.models import LabelChange, RelabelRun, StoreLabelling
from tagging import remarks as tagging_remarks

logger = logging.getLogger(__name__)

Progress = Callable[[str, float], None]

# pg_try_advisory_lock key: the first 8 bytes of sha256("fanops.relabel") as a signed bigint.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"fanops.relabel").digest()[:8], "big", signed=True)
STAGE_TABLE = "segmentation_relabel_stage"
# Measured at 1M fans / 10M orders: without these the aggregate is sort-based (≈ 20 s), JIT
# compilation adds seconds to every big statement, and the switch scans every labels row to
# update the few thousand staged ones (the tables are cached: a random read costs little more
# than a sequential one).
PG_JOB_SETTINGS = (
    "SET LOCAL jit = off",
    "SET LOCAL work_mem = '256MB'",
    "SET LOCAL random_page_cost = 1.1",
)
# Test hook: FANOPS_RELABEL_PAUSE="switch:30" sleeps 30 s inside that phase (kill -9 tests).
PAUSE_ENV = "FANOPS_RELABEL_PAUSE"

# The staged row of a fan whose labels row is (re)written: her new values (with monetary in
# cents); the remark names count only where `remarks_recomputed` (else the stored ones stay).
STAGE_COLUMNS = [
    ("customer_id", "bigint PRIMARY KEY"),
    ("has_labels", "boolean NOT NULL"),  # whether she had a labels row when the fans were read
    ("frequency", "integer NOT NULL"),
    ("monetary_cents", "bigint NOT NULL"),
    ("lifetime_sales", "integer NOT NULL"),
    ("first_sale", "date"),
    ("last_sale", "date"),
    ("apple", "varchar(8) NOT NULL"),
    ("rfm_segment", "varchar(24) NOT NULL"),
    ("r_stage", "varchar(10) NOT NULL"),
    ("membership", "varchar(12) NOT NULL"),
    ("rhythm", "varchar(12) NOT NULL"),
    ("remark_key", "bigint NOT NULL"),
    ("labels_key", "bigint NOT NULL"),
    ("remarks_recomputed", "boolean NOT NULL"),
    ("remark_store_account", "varchar(64) NOT NULL"),
    ("remark_personal_account", "varchar(64) NOT NULL"),
]
STAGE_CHUNK = 100_000
# The values of a labels row the job computes, hashed into its labels_key.
STORED_COLUMNS = [
    *(c for c in rules.OUTPUT_COLUMNS if c not in ("customer_id", "recency_days")),
    "remark_key",
]
CHANGE_GROUPS = [LabelChange.Group.APPLE, LabelChange.Group.RFM_SEGMENT, LabelChange.Group.R_STAGE]
COUNTED_GROUPS = ["apple", "rfm_segment", "r_stage", "membership", "rhythm"]


class RelabelLocked(Exception):
    """Another relabel run holds the lock."""


# --- lock ---------------------------------------------------------------------------------------


def _lock_file_path() -> str:
    name = str(connection.settings_dict["NAME"])
    if "mode=memory" in name or ":memory:" in name:
        name += f"|pid {os.getpid()}"  # an in-memory database lives in this process only
    elif name and os.sep in name:
        return name + ".relabel.lock"
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"fanops-relabel-{digest}.lock")


@contextmanager
def relabel_lock() -> Iterator[bool]:
    """Hold the one-run-at-a-time lock for the block; yields False (at once) when it is taken.

    PostgreSQL: a session-level advisory lock on this connection — every process and machine
    using the database sees it, and it is released when the session ends, even on SIGKILL.
    SQLite: an flock() on a file next to the database (released by the kernel on exit).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
            acquired = bool(cursor.fetchone()[0])
        try:
            yield acquired
        finally:
            if acquired:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
        return
    handle = open(_lock_file_path(), "a+")  # noqa: SIM115 - held for the whole block
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


# --- helpers ------------------------------------------------------------------------------------


def _checkpoint(phase: str) -> None:
    """Called as each phase ends; tests patch it to inject failures or pause via PAUSE_ENV."""
    pause = os.environ.get(PAUSE_ENV, "")
    if pause.partition(":")[0] == phase:
        print(f"relabel paused at {phase}", file=sys.stderr, flush=True)
        time.sleep(float(pause.partition(":")[2] or 30))


@contextmanager
def _job_transaction() -> Iterator[None]:
    """A transaction with the job's PostgreSQL settings (SET LOCAL ends with it)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for statement in PG_JOB_SETTINGS:
                    cursor.execute(statement)
        yield


def _as_date(value) -> date | None:
    """A date from a pandas/numpy value (None when missing)."""
    if value is None or pd.isna(value):
        return None
    if isinstance(value, np.datetime64):
        return value.astype("datetime64[D]").item()
    if isinstance(value, pd.Timestamp):
        return value.date()
    return value


def _remark_salt() -> str:
    """16 characters that change whenever the remark rules or their settings change."""
    import inspect

    source = inspect.getsource(tagging_remarks)
    text = f"{settings.REMARK_SEPARATOR}|{settings.REMARK_MAX_LENGTH}|{source}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _abbreviations(frame: pd.DataFrame, abbreviation_of) -> np.ndarray:
    """The guide abbreviation of each row, computed once per distinct (name, override)."""
    codes, guides = pd.factorize(frame["guide_name"] + "\x1f" + frame["guide_abbreviation"])
    by_guide = []
    for key in guides:
        name, _, override = key.partition("\x1f")
        by_guide.append(abbreviation_of(name, override) if (name or override) else "")
    return np.asarray(by_guide + [""], dtype=object)[codes]


def _look_up(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """values[i] where keys[i] == wanted, row by row; 0 where no key matches (exact int64)."""
    position = pd.Index(keys).get_indexer(wanted)
    found = position >= 0
    out = np.zeros(len(wanted), dtype="int64")
    out[found] = np.asarray(values, dtype="int64")[position[found]]
    return out


def _referrer_name_hashes(frame: pd.DataFrame) -> np.ndarray:
    """The name hash of each row's referrer (0 without one), looked up among the rows first."""
    referrer = frame["referrer_id"].to_numpy()
    out = _look_up(frame["customer_id"].to_numpy(), frame["name_hash"].to_numpy(), referrer)
    elsewhere = (out == 0) & (referrer != selectors.MISSING)
    if elsewhere.any():  # referrers outside the rows (a run for some stores)
        found = selectors.name_hashes(np.unique(referrer[elsewhere]))
        keys = np.fromiter(found.keys(), dtype="int64", count=len(found))
        hashes = np.fromiter(found.values(), dtype="int64", count=len(found))
        out[elsewhere] = _look_up(keys, hashes, referrer[elsewhere])
    return out


def _guide_hashes(frame: pd.DataFrame) -> np.ndarray:
    """A hash of each row's guide's name and abbreviation (0 without a guide)."""
    guides = list(Staff.objects.values_list("pk", "name", "abbreviation"))
    keys = np.asarray([pk for pk, _, _ in guides], dtype="int64")
    texts = np.asarray(
        [f"{name}\x1f{abbreviation}" for _, name, abbreviation in guides], dtype=object
    )
    hashes = pd.util.hash_array(texts).view("int64")
    return _look_up(keys, hashes, frame["guide_id"].to_numpy())


def remark_names(frame: pd.DataFrame) -> pd.DataFrame:
    """Standard WeChat remark names of each row of `frame`: remark_key, remarks_recomputed,
    remark_store_account and remark_personal_account ('' where not recomputed: keep the stored).

    `frame` holds the fan columns of `selectors.FAN_COLUMNS` and the classified labels. The
    rules are `tagging.remarks` (SPEC §3). A fan's names are recomputed only when the hash of
    their inputs (her name and member_since, her guide's name and abbreviation, her referrer's
    name, apple, old/new fan, first sale, the remark settings and rules) differs from the
    stored one: nightly, a few fans, whose names are then read.
    """
    inputs = pd.DataFrame(
        {
            "name": frame["name_hash"],
            "member_since": frame["member_since"],
            "guide": _guide_hashes(frame),
            "referrer": _referrer_name_hashes(frame),
            "apple": frame["apple"],
            "old_fan": frame["lifetime_sales"] >= 2,
            "first_sale": frame["first_sale"],
        }
    )
    key = pd.util.hash_pandas_object(inputs, index=False, hash_key=_remark_salt()).to_numpy()
    key = key.view("int64")
    stale = (frame["has_labels"].to_numpy() == 0) | (frame["old_remark_key"].to_numpy() != key)
    rows = np.flatnonzero(stale)
    fans = selectors.remark_inputs(frame["customer_id"].to_numpy()[rows])
    abbreviations = _abbreviations(fans, tagging_remarks.guide_abbreviation)
    first_sales = frame["first_sale"].to_numpy()[rows]
    first_dates = fans["member_since"].to_numpy()
    first_dates = np.where(np.isnat(first_dates), first_sales, first_dates)
    apples = frame["apple"].to_numpy()[rows]
    lifetime = frame["lifetime_sales"].to_numpy()[rows]
    store_names = np.full(len(frame), "", dtype=object)
    personal_names = np.full(len(frame), "", dtype=object)
    for j, (i, name, referrer) in enumerate(
        zip(rows, fans["name"].to_numpy(), fans["referrer_name"].to_numpy(), strict=True)
    ):
        store_names[i] = tagging_remarks.store_account_remark(
            abbreviation=abbreviations[j], fan_name=name, first_date=_as_date(first_dates[j])
        )
        personal_names[i] = tagging_remarks.personal_account_remark(
            fan_name=name,
            apple=apples[j],
            lifetime_sales=int(lifetime[j]),
            first_sale=_as_date(first_sales[j]),
            referrer_name=referrer,
        )
    out = pd.DataFrame(index=frame.index)
    out["remark_key"] = key
    out["remarks_recomputed"] = stale
    out["remark_store_account"] = store_names
    out["remark_personal_account"] = personal_names
    return out


# --- what changed, staging and switch -----------------------------------------------------------


def labels_keys(labels: pd.DataFrame) -> np.ndarray:
    """The labels_key of each row: a 64-bit hash of its STORED_COLUMNS."""
    stored = labels[STORED_COLUMNS]
    return pd.util.hash_pandas_object(stored, index=False).to_numpy().view("int64")


def rows_to_write(labels: pd.DataFrame) -> np.ndarray:
    """Which fans' labels rows the switch writes: those without a row, and those whose new
    values hash differently from the row's `labels_key` (labels must hold its new keys)."""
    new_row = labels["has_labels"].to_numpy() == 0
    return new_row | (labels["labels_key"].to_numpy() != labels["old_labels_key"].to_numpy())


def _sqlite_value(value):
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    return value


def _stage(cursor, table: str, columns: list[tuple[str, str]], frame: pd.DataFrame) -> None:
    """A temporary table `table` holding `frame`'s `columns`.

    PostgreSQL: CSV COPY (text columns FORCE_NOT_NULL: an empty field is '', not NULL; only the
    dates can be NULL). SQLite: executemany. STAGE_CHUNK rows at a time, to bound the memory of
    a first run (every fan staged).
    """
    cursor.execute(f"DROP TABLE IF EXISTS {table}")
    cursor.execute(
        f"CREATE TEMPORARY TABLE {table} (" + ", ".join(f"{n} {t}" for n, t in columns) + ")"
    )
    if not len(frame):
        return
    names = [name for name, _ in columns]
    texts = ", ".join(name for name, kind in columns if kind.startswith("varchar"))
    placeholders = ", ".join(["%s"] * len(names))
    for start in range(0, len(frame), STAGE_CHUNK):
        chunk = frame[names].iloc[start : start + STAGE_CHUNK]
        if connection.vendor == "postgresql":
            buffer = io.StringIO()
            chunk.to_csv(buffer, index=False, header=False, date_format="%Y-%m-%d")
            buffer.seek(0)
            cursor.cursor.copy_expert(
                f"COPY {table} FROM STDIN WITH (FORMAT csv, FORCE_NOT_NULL ({texts}))", buffer
            )
        else:
            rows = chunk.astype(object).itertuples(index=False, name=None)
            cursor.executemany(
                f"INSERT INTO {table} VALUES ({placeholders})",
                [tuple(_sqlite_value(v) for v in row) for row in rows],
            )


def stage_labels(rows: pd.DataFrame) -> None:
    """Load the rows to write into the session's staging table."""
    with connection.cursor() as cursor:
        _stage(cursor, STAGE_TABLE, STAGE_COLUMNS, rows)


def _drop_stage() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGE_TABLE}")


def switch_labels(
    *, run: RelabelRun, as_of: date, store_ids: list[int] | None
) -> dict[str, dict[str, int]]:
    """Apply the staging table; the caller holds the transaction.

    1. LabelChange rows: staged fans whose labels row holds another apple, segment or stage
    (a fan's first row is not a change); 2. one UPDATE … FROM of the staged fans' rows; 3. INSERT
    of the staged fans without a row (fans deleted meanwhile are skipped); 4. the stores'
    `StoreLabelling.as_of`. Returns the change counts per group, "from→to".
    """
    labels = CustomerLabels._meta.db_table
    changes = LabelChange._meta.db_table
    customers = Customer._meta.db_table
    money = (
        "(s.monetary_cents::numeric / 100)"
        if connection.vendor == "postgresql"
        else "(s.monetary_cents / 100.0)"
    )
    exists = f"EXISTS (SELECT 1 FROM {customers} c WHERE c.id = s.customer_id)"
    remarks = ["remark_store_account", "remark_personal_account"]
    copied = [
        name
        for name, _ in STAGE_COLUMNS
        if name
        not in ("customer_id", "has_labels", "monetary_cents", "remarks_recomputed", *remarks)
    ]
    assignments = ", ".join(
        [f"monetary = {money}"]
        + [f"{c} = s.{c}" for c in copied]
        + [
            f"{c} = CASE WHEN s.remarks_recomputed THEN s.{c} ELSE {labels}.{c} END"
            for c in remarks
        ]
    )
    columns = ["customer_id", "monetary", *copied, *remarks]
    values = ["s.customer_id", money, *(f"s.{c}" for c in copied + remarks)]
    params = {"run": run.pk}
    groups = " UNION ALL ".join(f"SELECT '{group}' AS grp" for group in CHANGE_GROUPS)

    def of(row: str) -> str:
        return (
            "CASE g.grp "
            + " ".join(f"WHEN '{gr}' THEN {row}.{gr}" for gr in CHANGE_GROUPS)
            + " END"
        )

    moved = (
        f"SELECT %(run)s, s.customer_id, g.grp, {of('l')}, {of('s')} FROM {STAGE_TABLE} s "
        f"JOIN {labels} l ON l.customer_id = s.customer_id CROSS JOIN ({groups}) g "
        f"WHERE {of('l')} <> {of('s')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO {changes} (run_id, customer_id, "group", from_code, to_code) {moved}',
            params,
        )
        cursor.execute(
            f"UPDATE {labels} SET {assignments} FROM {STAGE_TABLE} s "
            f"WHERE {labels}.customer_id = s.customer_id",
            params,
        )
        _checkpoint("switch_updated")
        cursor.execute(
            f"""INSERT INTO {labels} ({", ".join(columns)})
                SELECT {", ".join(values)} FROM {STAGE_TABLE} s WHERE NOT s.has_labels AND {exists}
                ON CONFLICT (customer_id) DO NOTHING""",
            params,
        )
        cursor.execute(
            f'SELECT "group", from_code, to_code, COUNT(*) FROM {changes} WHERE run_id = %(run)s '
            'GROUP BY "group", from_code, to_code',
            params,
        )
        counts: dict[str, dict[str, int]] = {str(g): {} for g in CHANGE_GROUPS}
        for group, from_code, to_code, n in cursor.fetchall():
            counts[group][f"{from_code}→{to_code}"] = n
    stores = store_ids if store_ids is not None else Store.objects.values_list("pk", flat=True)
    StoreLabelling.objects.bulk_create(
        [StoreLabelling(store_id=pk, as_of=as_of) for pk in stores],
        update_conflicts=True,
        unique_fields=["store"],
        update_fields=["as_of"],
    )
    return counts


def label_counts(labels: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Fans per code of each computed group ('' counted as "none")."""
    return {
        group: {
            (str(code) or "none"): int(n)
            for code, n in labels[group].value_counts(sort=False).sort_index().items()
            if n
        }
        for group in COUNTED_GROUPS
    }


# --- the job ------------------------------------------------------------------------------------


class _Timer:
    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.timings: dict[str, float] = {}
        self._started = time.perf_counter()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - started, 3)
        _checkpoint(name)
        if self.progress:
            self.progress(name, self.timings[name])

    def total(self) -> float:
        return round(time.perf_counter() - self._started, 3)


def _store_ids(store_codes: list[str] | None) -> list[int] | None:
    if not store_codes:
        return None
    ids = dict(Store.objects.filter(code__in=store_codes).values_list("code", "id"))
    unknown = sorted(set(store_codes) - set(ids))
    if unknown:
        raise ValueError(f"unknown store code(s): {', '.join(unknown)}")
    return list(ids.values())


def compute_labels(
    *, as_of: date, inputs: pd.DataFrame, store_ids: list[int] | None, timer: _Timer
) -> pd.DataFrame:
    """Classify every fan of `inputs` (the whole brand), keep `store_ids`' fans, add remark names."""
    with timer.phase("classify"):
        labels = rules.classify(
            inputs[rules.INPUT_COLUMNS], as_of=as_of, red_min_spend=settings.APPLE_RED_MIN_SPEND
        )
        fan_columns = {name: inputs[name].to_numpy() for name, _ in selectors.FAN_COLUMNS[1:]}
        labels = _side_by_side(labels, fan_columns)
        if store_ids is not None:
            labels = labels[labels["store_id"].isin(store_ids)].reset_index(drop=True)
    with timer.phase("remarks"):
        remarks = remark_names(labels)
        labels = _side_by_side(labels, {name: remarks[name].to_numpy() for name in remarks})
    return labels


def _side_by_side(frame: pd.DataFrame, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """`frame` with more columns, no copy (pandas would otherwise merge 1M-row blocks: ~0.4 s)."""
    return pd.DataFrame({**{name: frame[name].array for name in frame}, **columns}, copy=False)


def fans_needing_fact_labels(*, store_ids: list[int] | None) -> list[int] | None:
    """Fans whose fact labels may be stale: all of them (None) unless an earlier run refreshed
    them cleanly; then those saved since that run started, or whose store was.

    Fact labels depend on the fan's birthday and home and the store's place, never on the date,
    and `update_customer` recomputes them on every save: the nightly pass only catches writes
    that went around it (at 1M fans a full pass costs ~10 s, this one a scan of `updated_at`).
    """
    previous = (
        RelabelRun.objects.filter(status=RelabelRun.Status.SUCCEEDED, error="")
        .order_by("-started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    fans = Customer.objects.all()
    if store_ids is not None:
        fans = fans.filter(store_id__in=store_ids)
    if previous is None:
        return None if store_ids is None else list(fans.values_list("pk", flat=True))
    moved_stores = list(Store.objects.filter(updated_at__gte=previous).values_list("pk", flat=True))
    changed = fans.filter(Q(updated_at__gte=previous) | Q(store_id__in=moved_stores))
    return list(changed.values_list("pk", flat=True))


def _refresh_fact_labels(*, store_ids: list[int] | None) -> str:
    """Refresh zodiac, birthday month and distance (tagging's contract) inside the switch.

    In a savepoint: a failure there is logged and reported in the run's `error`, but does not
    cost the night's apple/RFM labels. Returns the warning text ('' when fine).
    """
    customer_ids = fans_needing_fact_labels(store_ids=store_ids)
    if customer_ids == []:
        return ""
    try:
        with transaction.atomic():
            customer_facts.refresh_fact_labels(customer_ids=customer_ids)
    except Exception as exc:
        logger.exception("fact labels were not refreshed")
        return f"fact labels not refreshed: {type(exc).__name__}: {exc}"[:5000]
    return ""


def write_labels(
    *,
    run: RelabelRun,
    as_of: date,
    labels: pd.DataFrame,
    timer: _Timer,
    store_ids: list[int] | None = None,
) -> RelabelRun:
    """Stage the rows of `labels` that changed and switch them in one transaction, recording
    the run as succeeded.

    `store_ids`: `labels` covers only those stores' fans; fact labels are refreshed for them only.
    """
    try:
        with timer.phase("diff"):
            labels["labels_key"] = labels_keys(labels)
            rows = labels[rows_to_write(labels)]
        with timer.phase("stage"):
            stage_labels(rows)
        with _job_transaction():  # one transaction: switch, fact labels, run record
            with timer.phase("switch"):
                change_counts = switch_labels(run=run, as_of=as_of, store_ids=store_ids)
            with timer.phase("facts"):
                run.error = _refresh_fact_labels(store_ids=store_ids)
            run.status = RelabelRun.Status.SUCCEEDED
            run.fans_labelled = len(labels)
            run.rows_written = len(rows)
            run.change_counts = change_counts
            run.label_counts = label_counts(labels)
            run.finished_at = timezone.now()
            run.save()
    finally:
        _drop_stage()
    run.timings = {**timer.timings, "total": timer.total()}
    RelabelRun.objects.filter(pk=run.pk).update(timings=run.timings)
    return run


def _fail(run: RelabelRun, exc: BaseException, timer: _Timer) -> RelabelRun:
    logger.exception("relabel for %s failed", run.as_of)
    run.status = RelabelRun.Status.FAILED
    run.error = f"{type(exc).__name__}: {exc}"[:5000]
    run.finished_at = timezone.now()
    run.timings = {**timer.timings, "total": timer.total()}
    run.save(update_fields=["status", "error", "finished_at", "timings"])
    return run


def _fans_on_own_connection() -> tuple[pd.DataFrame, float]:
    """`selectors.fan_rows()` on this thread's own connection (closed afterwards)."""
    started = time.perf_counter()
    try:
        with _job_transaction():
            return selectors.fan_rows(), round(time.perf_counter() - started, 3)
    finally:
        connection.close()


def _read_inputs(*, aggregates: Callable[[], pd.DataFrame], timer: _Timer) -> pd.DataFrame:
    """The buyers' aggregates and every fan, combined.

    On PostgreSQL outside a transaction the fans are read on a second connection while the
    orders are aggregated (the two scans overlap: ~10 s less at 1M fans); inside a transaction
    (tests) a second connection could not see its rows, so they are read one after the other.
    `timings` then has "fans" measured on its own thread, overlapping "aggregate".
    """
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(_fans_on_own_connection)
            try:
                with timer.phase("aggregate"), _job_transaction():
                    buyers = aggregates()
            finally:
                fans, seconds = pending.result()
        timer.timings["fans (alongside)"] = seconds
        _checkpoint("fans")
        return selectors.combine(fans, buyers)
    with timer.phase("aggregate"), _job_transaction():
        buyers = aggregates()
    with timer.phase("fans"):
        return selectors.combine(selectors.fan_rows(), buyers)


def _run_pipeline(
    *,
    run: RelabelRun,
    as_of: date,
    store_ids: list[int] | None,
    timer: _Timer,
    aggregates: Callable[[], pd.DataFrame],
) -> RelabelRun:
    """aggregate → fans → classify → remarks → stage → switch; the caller holds the lock."""
    try:
        inputs = _read_inputs(aggregates=aggregates, timer=timer)
        labels = compute_labels(as_of=as_of, inputs=inputs, store_ids=store_ids, timer=timer)
        del inputs
        return write_labels(run=run, as_of=as_of, labels=labels, timer=timer, store_ids=store_ids)
    except Exception as exc:  # recorded, never half-applied
        return _fail(run, exc, timer)


def _skipped(as_of: date, run: RelabelRun | None) -> RelabelRun:
    fields = {
        "status": RelabelRun.Status.SKIPPED,
        "finished_at": timezone.now(),
        "error": "Another relabel run holds the lock.",
    }
    if run is None:
        return RelabelRun.objects.create(as_of=as_of, **fields)
    RelabelRun.objects.filter(pk=run.pk).update(**fields)
    run.refresh_from_db()
    return run


def queue_relabel(*, as_of: date) -> RelabelRun:
    """Record a `queued` run and hand it to a worker once the caller's transaction commits.

    The caller (API, HQ page) gets the run's id at once; the worker turns that same row into the
    running, then finished (or skipped) run.
    """
    from segmentation.tasks import relabel as relabel_task

    run = RelabelRun.objects.create(as_of=as_of, status=RelabelRun.Status.QUEUED)
    transaction.on_commit(lambda: relabel_task.delay(as_of.isoformat(), run_id=run.pk))
    return run


def relabel(
    *,
    as_of: date,
    store_codes: list[str] | None = None,
    progress: Progress | None = None,
    queued_run: RelabelRun | None = None,
) -> RelabelRun:
    """Recompute every computed label for `as_of`. Safe to repeat; refuses to overlap.

    - One at a time: while another run holds the lock this records a `skipped` run and returns.
    - All or nothing: labels are computed into a staging table and switched in one transaction;
      on any error the labels stay as they were and the run is recorded `failed` with the error.
    - `store_codes`: only those stores' fans are written (and their changes recorded); the RFM
      means and membership ranks are still over every buyer of the brand (SPEC §3's P).
    - Deterministic: the same orders and `as_of` give the same labels.
    - `queued_run`: the row `queue_relabel` recorded; this run fills it in instead of a new one.
    """
    with relabel_lock() as acquired:
        if not acquired:
            return _skipped(as_of, queued_run)
        if queued_run is None:
            run = RelabelRun.objects.create(as_of=as_of, status=RelabelRun.Status.RUNNING)
        else:
            run = queued_run
            run.status, run.started_at = RelabelRun.Status.RUNNING, timezone.now()
            run.save(update_fields=["status", "started_at"])
        timer = _Timer(progress)
        try:
            store_ids = _store_ids(store_codes)
        except ValueError as exc:
            return _fail(run, exc, timer)
        return _run_pipeline(
            run=run,
            as_of=as_of,
            store_ids=store_ids,
            timer=timer,
            aggregates=lambda: selectors.buyer_aggregates(as_of=as_of),
        )


# --- scale-out: the aggregation split by store across Celery workers ----------------------------


def store_partitions(parts: int) -> list[list[int]]:
    """Every store id (active or not: their fans need labels too) in `parts` balanced groups."""
    ids = list(Store.objects.order_by("pk").values_list("pk", flat=True))
    groups = [ids[i::parts] for i in range(max(1, parts))]
    return [g for g in groups if g]


def aggregate_part(*, run_id: int, as_of: date, store_ids: list[int]) -> int:
    """Aggregate the orders of `store_ids`' fans into the parts table (one INSERT … SELECT).

    Runs on any worker; the data never leaves the database. Idempotent per (run, stores):
    a retried part first deletes what an earlier attempt wrote.
    """
    selectors.ensure_parts_table()
    params = {**selectors.cutoffs(as_of=as_of), "run": run_id}
    columns = ", ".join(name for name, _ in selectors.AGGREGATE_COLUMNS)
    customers = Customer._meta.db_table
    ids = ",".join(str(int(i)) for i in store_ids) or "NULL"
    with _job_transaction(), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {selectors.PARTS_TABLE} WHERE run_id = %(run)s AND customer_id IN "
            f"(SELECT id FROM {customers} WHERE store_id IN ({ids}))",
            params,
        )
        cursor.execute(
            f"INSERT INTO {selectors.PARTS_TABLE} (run_id, {columns}) SELECT %(run)s, {columns} "
            f"FROM ({selectors.aggregate_sql(vendor=connection.vendor, store_ids=store_ids)}) agg",
            params,
        )
        return cursor.rowcount


def finish_distributed(*, run_id: int, as_of: date) -> RelabelRun:
    """The chord's callback: classify the combined parts and switch once, under the lock."""
    run = RelabelRun.objects.get(pk=run_id)
    with relabel_lock() as acquired:
        if not acquired:
            run.status = RelabelRun.Status.SKIPPED
            run.finished_at = timezone.now()
            run.error = "Another relabel run holds the lock."
            run.save(update_fields=["status", "finished_at", "error"])
            return run
        try:
            return _run_pipeline(
                run=run,
                as_of=as_of,
                store_ids=None,
                timer=_Timer(None),
                aggregates=lambda: selectors.buyer_aggregates_from_parts(
                    run_id=run_id, as_of=as_of
                ),
            )
        finally:
            selectors.drop_parts(run_id=run_id)


def relabel_distributed(*, as_of: date, parts: int = 4) -> RelabelRun:
    """Start a relabel whose order aggregation runs as `parts` Celery tasks (by fans' store).

    A chord: each `segmentation.tasks.aggregate_part` fills the parts table for its stores, and
    `segmentation.tasks.finish_distributed` classifies the whole brand (the RFM means need every
    buyer) and switches the labels in one transaction under the same lock as `relabel`.
    Returns the run (status `running` until the callback finishes).
    """
    from celery import chord

    from segmentation import tasks

    run = RelabelRun.objects.create(as_of=as_of, status=RelabelRun.Status.RUNNING)
    day = as_of.isoformat()
    header = [tasks.aggregate_part.si(run.pk, day, ids) for ids in store_partitions(parts)]
    transaction.on_commit(
        lambda: chord(header)(tasks.finish_distributed.si(run.pk, day)), robust=False
    )
    return run
