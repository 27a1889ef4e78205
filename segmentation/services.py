"""Writes of segmentation: the relabel job (SPEC §4) and its runs.

Use cases:
- `relabel(*, as_of, store_codes=None, progress=None)`: recompute every computed label for one
  `as_of`, one run at a time, all or nothing, recorded as a `RelabelRun` with per-fan changes.
- `fail_interrupted_runs()`: a run is `running` only while it holds the relabel lock; runs left
  `running` by a process that died (SIGKILL, worker lost, hard time limit) are recorded
  `failed` ("interrupted"). Called by the next run, the HQ page and `GET /relabel-runs/`.
- `parse_as_of(value)`: the one rule for the dates a relabel may be asked for (API, command,
  HQ page).

Enqueueing (the API, the HQ page, the distributed chord) lives with the tasks, in
`segmentation.tasks`: tasks import this module, never the other way round.

Phases (timed into `RelabelRun.timings`): aggregate (one GROUP BY over the orders; an
incremental run: every labels row, with the order moves and the changed fans read alongside),
fans (every fan with her labels row's keys, read alongside), stored (an incremental run: the
touched rows moved on), classify (pandas, `rules.classify`), remarks
(`segmentation.remark_names`: rebuilt where their inputs changed), diff (the fans whose
`labels_key` changed), stage (COPY of those rows into a temp table), switch
(`segmentation.switch`, one transaction: LabelChange rows, one UPDATE … FROM, INSERT of missing
rows, the stores' as_of, fact labels, run record). A first run on PostgreSQL (no labels row yet,
the whole brand) stages nothing: load (a binary COPY into a new table), indexes (the fact labels
refreshed meanwhile on their own connection), switch (the new table swapped in). See
docs/scaling.md.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from typing import TypeVar

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from customers import facts as customer_facts
from customers.models import Customer, Store
from fanops import bulk
from segmentation import forecasts, job, remark_names, rules, selectors, switch
from segmentation.job import PG_JOB_SETTINGS, Progress, Timer
from segmentation.models import RelabelRun
from segmentation.signals import labels_switched

__all__ = [
    "PG_JOB_SETTINGS",
    "fail_interrupted_runs",
    "parse_as_of",
    "relabel",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")
U = TypeVar("U")
V = TypeVar("V")

LOCK_NAME = "fanops.relabel"
LOCK_KEY = bulk.lock_key(LOCK_NAME)  # pg_try_advisory_lock key: sha256("fanops.relabel")[:8]
INTERRUPTED = "interrupted"
SKIPPED_ERROR = "Another relabel run holds the lock."
# The dates a relabel may be computed for: no order is older than 1990 (orders before are
# refused), and a labels date more than a year ahead is a typing mistake.
FIRST_AS_OF = date(1990, 1, 1)
AS_OF_AHEAD = timedelta(days=366)


# --- the date asked for -------------------------------------------------------------------------


def as_of_range(*, today: date | None = None) -> tuple[date, date]:
    """The first and last `as_of` a relabel accepts."""
    return FIRST_AS_OF, (today or timezone.localdate()) + AS_OF_AHEAD


def parse_as_of(value: str | date | None, *, today: date | None = None) -> date:
    """The `as_of` of a relabel request: today when blank, else an ISO date within
    `as_of_range` (raises ValidationError keyed "as_of"). Every door uses this rule."""
    today = today or timezone.localdate()
    if value is None or value == "":
        return today
    if not isinstance(value, date):
        try:
            value = date.fromisoformat(str(value).strip())
        except ValueError:
            raise ValidationError({"as_of": _("Enter a date as YYYY-MM-DD.")}) from None
    first, last = as_of_range(today=today)
    if not first <= value <= last:
        raise ValidationError(
            {
                "as_of": _("Choose a date between %(first)s and %(last)s.")
                % {"first": first.isoformat(), "last": last.isoformat()}
            }
        )
    return value


# --- the lock and the run records ---------------------------------------------------------------


@contextmanager
def relabel_lock() -> Iterator[bool]:
    """Hold the one-run-at-a-time lock for the block; yields False (at once) when it is taken.

    PostgreSQL: a session-level advisory lock — every process and machine using the database
    sees it, and it is released when the session ends, even on SIGKILL. SQLite: an flock() on a
    file next to the database (released by the kernel on exit). See `fanops.bulk`.
    """
    with bulk.advisory_lock(LOCK_NAME) as acquired:
        yield acquired


def _interrupted() -> dict:
    return {"status": RelabelRun.Status.FAILED, "error": INTERRUPTED, "finished_at": timezone.now()}


def fail_interrupted_runs() -> int:
    """Record as failed ("interrupted") the runs left `running` while nobody holds the lock.

    A run is `running` only while its process holds the relabel lock, and the lock dies with the
    process: a `running` run without it was killed. The check and the write are one statement
    (`fanops.bulk.update_if_unlocked`): a run starting meanwhile is never touched. Returns how
    many runs were marked.
    """
    running = RelabelRun.objects.filter(status=RelabelRun.Status.RUNNING)
    return bulk.update_if_unlocked(running, LOCK_NAME, **_interrupted())


def start_run(
    run: RelabelRun | None, *, as_of: date, restart_clock: bool = True
) -> RelabelRun | None:
    """Mark `run` (or a new run) `running`; the caller holds the lock, so any other `running`
    run was interrupted and is recorded so first. None when `run` is no longer `queued` (a
    delivery of its task that came again after it started: leave it alone).

    `restart_clock`: its `started_at` becomes now (a queued run starts when it gets the lock;
    a distributed run started with its parts)."""
    RelabelRun.objects.filter(status=RelabelRun.Status.RUNNING).update(**_interrupted())
    if run is None:
        return RelabelRun.objects.create(as_of=as_of, status=RelabelRun.Status.RUNNING)
    fields = {"status": RelabelRun.Status.RUNNING}
    if restart_clock:
        fields["started_at"] = timezone.now()
    if not RelabelRun.objects.filter(pk=run.pk, status=RelabelRun.Status.QUEUED).update(**fields):
        return None
    run.refresh_from_db()
    return run


def skip_run(run: RelabelRun | None, *, as_of: date) -> RelabelRun:
    """Record `run` (or a new run) `skipped`: another run holds the lock (a run that is no
    longer `queued` is left as it is)."""
    fields = {
        "status": RelabelRun.Status.SKIPPED,
        "finished_at": timezone.now(),
        "error": SKIPPED_ERROR,
    }
    if run is None:
        return RelabelRun.objects.create(as_of=as_of, **fields)
    RelabelRun.objects.filter(pk=run.pk, status=RelabelRun.Status.QUEUED).update(**fields)
    run.refresh_from_db()
    return run


def fail_run(run: RelabelRun, exc: BaseException, timer: Timer) -> RelabelRun:
    logger.exception("relabel for %s failed", run.as_of)
    run.status = RelabelRun.Status.FAILED
    run.error = f"{type(exc).__name__}: {exc}"[:5000]
    run.finished_at = timezone.now()
    run.timings = {**timer.timings, "total": timer.total()}
    run.save(update_fields=["status", "error", "finished_at", "timings"])
    return run


# --- the pipeline -------------------------------------------------------------------------------


def inputs_version() -> str:
    """A digest of the rules a labels row is computed by — `segmentation.rules`, the remark
    rules and their settings, the red apple's floor: an incremental run trusts the inputs its
    rows hold (remark keys, opinion-leader marks) only when the last run had the same."""
    text = "|".join(
        [inspect.getsource(rules), remark_names.remark_salt(), str(settings.APPLE_RED_MIN_SPEND)]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _store_ids(store_codes: list[str] | None) -> list[int] | None:
    if not store_codes:
        return None
    ids = dict(Store.objects.filter(code__in=store_codes).values_list("code", "id"))
    unknown = sorted(set(store_codes) - set(ids))
    if unknown:
        raise ValueError(f"unknown store code(s): {', '.join(unknown)}")
    return list(ids.values())


def compute_labels(
    *,
    as_of: date,
    inputs: pd.DataFrame,
    store_ids: list[int] | None,
    timer: Timer,
) -> pd.DataFrame:
    """Classify every fan of `inputs` (the whole brand), keep `store_ids`' fans, add remark
    names. `attrs["thresholds"]`: the brand's thresholds, stored with the run."""
    with timer.phase("classify"):
        columns = pd.DataFrame({c: inputs[c].array for c in rules.INPUT_COLUMNS}, copy=False)
        labels = rules.classify(  # (a column selection would copy 1M rows)
            columns, as_of=as_of, red_min_spend=settings.APPLE_RED_MIN_SPEND
        )
        thresholds = labels.attrs["thresholds"]
        fan_columns = {name: inputs[name].to_numpy() for name, _ in selectors.FAN_COLUMNS[1:]}
        labels = _side_by_side(labels, fan_columns)
        if store_ids is not None:
            labels = labels[labels["store_id"].isin(store_ids)].reset_index(drop=True)
    with timer.phase("remarks"):
        remarks = remark_names.remark_names(labels)
        labels = _side_by_side(labels, {name: remarks[name].to_numpy() for name in remarks})
    labels.attrs["thresholds"] = thresholds
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
    """Refresh zodiac, birthday month and distance (the customers' contract) inside the switch.

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
    timer: Timer,
    store_ids: list[int] | None = None,
    summary_since: RelabelRun | None = None,
) -> RelabelRun:
    """Stage the rows of `labels` that changed and switch them in one transaction, recording
    the run as succeeded; a brand-wide run's purchase forecasts go in the same transaction
    (`forecasts.predict`, moving on `summary_since`'s purchase summary or rebuilding it).

    `store_ids`: `labels` covers only those stores' fans; fact labels are refreshed for them only.
    """
    with ExitStack() as staging:
        with timer.phase("diff"):
            labels["labels_key"] = switch.labels_keys(labels)
            written = switch.rows_to_write(labels)
            rows = labels if written.all() else labels[written]
        swap = switch.swap_applies(labels, rows, store_ids=store_ids)
        if not swap:
            with timer.phase("stage"):
                staging.enter_context(switch.staged_labels(rows))
        beside = connection.vendor == "postgresql" and not connection.in_atomic_block
        with job.job_transaction():  # one transaction: forecasts, switch, fact labels, run record
            if store_ids is None:  # the purchase models are brand-wide; before the labels'
                # locks are taken (the swap locks the fans' table), so the tills wait less
                run.predictions = forecasts.predict(run=run, since=summary_since, timer=timer)
            if swap:  # a first run: a new table, COPY, indexes, swapped in
                run.error = _build_with_fact_labels(rows, timer=timer, beside=beside)
                with timer.phase("switch"):
                    change_counts = switch.swap_labels(run=run, as_of=as_of)
            else:
                with timer.phase("switch"):
                    change_counts = switch.switch_labels(run=run, as_of=as_of, store_ids=store_ids)
                with timer.phase("facts"):
                    run.error = _refresh_fact_labels(store_ids=store_ids)
            run.status = RelabelRun.Status.SUCCEEDED
            run.fans_labelled = len(labels)
            run.rows_written = len(rows)
            run.change_counts = change_counts
            run.label_counts = switch.label_counts(labels)
            run.thresholds = labels.attrs["thresholds"].as_json()
            run.inputs_version = inputs_version()
            run.finished_at = timezone.now()
            run.save()
    run.timings = {**timer.timings, "total": timer.total()}
    RelabelRun.objects.filter(pk=run.pk).update(timings=run.timings)
    return run


def _build_with_fact_labels(rows: pd.DataFrame, *, timer: Timer, beside: bool) -> str:
    """`switch.build_labels_table(rows)` and every fan's fact labels (a first run refreshes
    them all: ~1M rows read, ~6 s at 1M fans); returns the facts' warning text.

    `beside` (PostgreSQL, no outer transaction): the facts are refreshed meanwhile on a
    connection of their own, committed on their own — they derive from each fan's own fields,
    never from the run, so a run failing afterwards leaves them right — and finished before
    the swap locks the fans' table (their UPDATE would wait for it). Otherwise one after the
    other, in the run's transaction."""
    if not beside:
        switch.build_labels_table(rows, timer=timer)
        with timer.phase("facts"):
            return _refresh_fact_labels(store_ids=None)
    with ThreadPoolExecutor(max_workers=1) as pool:
        facts = pool.submit(_on_own_connection, partial(_refresh_fact_labels, store_ids=None))
        switch.build_labels_table(rows, timer=timer)
        with timer.phase("facts"):  # what is left of them once the table is built
            error, seconds = facts.result()
    timer.timings["facts (beside)"] = seconds
    return error


def _on_own_connection(read: Callable[[], T]) -> tuple[T, float]:
    """`read()` on this thread's own connection (closed afterwards), and its seconds."""
    started = time.perf_counter()
    try:
        with job.job_transaction():
            return read(), round(time.perf_counter() - started, 3)
    finally:
        connection.close()


def _alongside(
    work: Callable[[], T],
    read: Callable[[], V],
    *more: Callable[[], U],
    timer: Timer,
) -> tuple[V, T | tuple[T, U]]:
    """`read()`'s fans and `work()`'s result (timed as "aggregate"), with `more()`'s (then
    `(work(), more())`).

    On PostgreSQL outside a transaction `read` (and `more`) run on connections of their own
    meanwhile (the reads overlap); inside a transaction (tests) a second connection could not
    see its rows, so they run one after the other. `timings` then has "fans" measured on its own
    thread, overlapping "aggregate".
    """
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with ThreadPoolExecutor(max_workers=1 + len(more)) as pool:
            pending = pool.submit(_on_own_connection, read)
            extra = [pool.submit(_on_own_connection, task) for task in more]
            try:
                with timer.phase("aggregate"), job.job_transaction():
                    result = work()
            finally:
                fans, seconds = pending.result()
                others = [future.result()[0] for future in extra]
        timer.timings["fans (alongside)"] = seconds
        job.checkpoint("fans")
    else:
        with timer.phase("aggregate"), job.job_transaction():
            result = work()
            others = [task() for task in more]
        with timer.phase("fans"):
            fans = read()
    return fans, ((result, *others) if more else result)


def _read_inputs(*, aggregates: Callable[[], pd.DataFrame], timer: Timer) -> pd.DataFrame:
    """A full run's inputs: every buyer's aggregates from the orders, and every fan."""
    fans, buyers = _alongside(aggregates, selectors.fan_rows, timer=timer)
    return selectors.combine(fans, buyers)


@dataclass(frozen=True)
class Increment:
    """An incremental run's start: the run `since` whose rows it moves on, this run's high water
    and the fans whose orders moved in between (`selectors.touched_fans`)."""

    since: RelabelRun
    high_water: int
    touched: np.ndarray


def _read_increment(increment: Increment, *, as_of: date, timer: Timer) -> pd.DataFrame:
    """An incremental run's inputs: every fan with her aggregates — the stored ones, and for the
    touched fans the stored ones moved on by the orders that arrived and left the window
    (`selectors.advance_aggregates`), or read again from all their orders where the row may not
    hold what the last run computed (no row, or written since by a live sale or the admin:
    `labels_key` cleared).

    The orders are read only where they moved (index-bound, a few thousand rows at 10M orders):
    the touched fans' every order lay on most pages of the table (a 1.4 s scan at 10M). Of the
    fans only those whose inputs may have moved are read (`changed_customer_rows`; all of them
    when the rules changed, `inputs_version`): every other fan's are as her row holds them.
    The labels rows, the fans and the order moves are read on three connections at once."""
    high_water, since = increment.high_water, increment.since
    moved = partial(selectors.order_moves, since=since, as_of=as_of, high_water=high_water)
    everyone = since.inputs_version != inputs_version()  # the rules changed: read every fan

    def changed() -> tuple[pd.DataFrame, int]:
        if everyone:
            return selectors.customer_rows(), 0
        touched = increment.touched
        rows = selectors.changed_customer_rows(since=since.started_at, customer_ids=touched)
        return rows, selectors.fan_count()

    def recounted() -> tuple[np.ndarray, pd.DataFrame]:
        """The touched fans whose rows a live sale (or the admin) wrote, from all their orders:
        in production most of the day's buyers, so this runs beside the labels scan."""
        recount = selectors.rows_not_as_computed(increment.touched)
        fresh = selectors.buyer_aggregates(as_of=as_of, customer_ids=recount, high_water=high_water)
        return recount, fresh

    first, *rest = (partial(selectors.labels_rows, ids=ids) for ids in selectors.labels_halves())
    (customers, fan_count), (rows, moves, (recount, fresh), *more_rows) = _alongside(
        first, changed, moved, recounted, *rest, timer=timer
    )
    if more_rows:  # the halves in id order: one frame, still in id order
        rows = pd.concat([rows, *more_rows], ignore_index=True)
    with timer.phase("stored"):
        if not everyone and fan_count != len(rows):  # fans without a row (registration writes
            missing = selectors.fans_without_labels_row()  # one): read them too
            customers = (
                pd.concat(
                    [customers, selectors.customer_rows(customer_ids=missing)], ignore_index=True
                )
                .drop_duplicates("customer_id")
                .sort_values("customer_id", ignore_index=True)
            )
        fans = selectors.night_fans(rows, customers)
        has_row = fans["has_labels"].to_numpy() == 1
        touched = np.isin(fans["customer_id"].to_numpy(), increment.touched)
        kept = has_row & (fans["old_labels_key"].to_numpy() != 0)
        columns = selectors.stored_columns(fans, as_of=as_of)  # in place, column by column
        moving = np.flatnonzero(touched & kept)
        stored = pd.DataFrame({name: values[moving] for name, values in columns.items()})
        selectors.put_aggregates(
            columns, moving, selectors.advance_aggregates(stored, moves, as_of=as_of)
        )
        done = np.isin(fans["customer_id"].to_numpy(), recount)
        selectors.put_aggregates(columns, np.flatnonzero(done), fresh)
        # Rows written meanwhile (a sale during the reads) and fans without a row: normally none.
        again = np.flatnonzero(((touched & ~kept) | ~has_row) & ~done)
        if len(again):
            late = selectors.buyer_aggregates(
                as_of=as_of, customer_ids=columns["customer_id"][again], high_water=high_water
            )
            selectors.put_aggregates(columns, again, late)
        del columns["customer_id"]
        return pd.DataFrame({**{name: fans[name].array for name in fans}, **columns}, copy=False)


def run_pipeline(
    *,
    run: RelabelRun,
    as_of: date,
    store_ids: list[int] | None,
    timer: Timer,
    aggregates: Callable[[], pd.DataFrame] | None = None,
    increment: Increment | None = None,
    drift_since: RelabelRun | None = None,
    summary_since: RelabelRun | None = None,
) -> RelabelRun:
    """aggregate → fans → classify → remarks → stage → switch; the caller holds the lock.

    `aggregates` (a full run): every buyer's aggregates. `increment` (an incremental run): the
    last run's rows moved on by the orders that moved (`_read_increment`).
    `drift_since` (a full run): compare every untouched fan's stored aggregates with her orders
    and record the fans that differed in `run.drift` (the run's rows repair them).
    """
    try:
        if increment is not None:
            inputs = _read_increment(increment, as_of=as_of, timer=timer)
        else:
            inputs = _read_inputs(aggregates=aggregates, timer=timer)
        if drift_since is not None:
            with timer.phase("drift"):
                run.drift = _drift(
                    inputs, since=drift_since, as_of=as_of, high_water=run.order_high_water
                )
        labels = compute_labels(as_of=as_of, inputs=inputs, store_ids=store_ids, timer=timer)
        del inputs
        return write_labels(
            run=run,
            as_of=as_of,
            labels=labels,
            timer=timer,
            store_ids=store_ids,
            summary_since=summary_since,
        )
    except Exception as exc:  # recorded, never half-applied
        return fail_run(run, exc, timer)


DRIFT_SAMPLE = 20


def _drift(inputs: pd.DataFrame, *, since: RelabelRun, as_of: date, high_water: int) -> dict:
    """The fans whose stored aggregates differ from their orders although none of their orders
    moved since run `since`: what an incremental night would have got wrong (a write around
    the order service). {"fans": count, "sample": first ids}."""
    fans = inputs[[name for name, _ in selectors.FAN_COLUMNS + selectors.STORED_AGGREGATE_COLUMNS]]
    expected = selectors.combine(fans, selectors.stored_aggregates(fans, as_of=as_of))
    touched = selectors.touched_fans(since=since, as_of=as_of, high_water=high_water)
    differs = np.zeros(len(inputs), dtype=bool)
    for column in ("frequency", "lifetime_sales", "window_sales_cents", "window_refund_cents",
                   "last_sale", "first_sale", "window_first_sale"):  # fmt: skip
        now, stored = inputs[column].to_numpy(), expected[column].to_numpy()
        same = now == stored
        if now.dtype.kind == "M":
            same |= np.isnat(now) & np.isnat(stored)
        differs |= ~same
    ids = inputs["customer_id"].to_numpy()
    drifted = differs & (inputs["has_labels"].to_numpy() == 1) & ~np.isin(ids, touched)
    if drifted.any():
        logger.warning("relabel --full: %s fans' stored aggregates had drifted", drifted.sum())
        # Their rows' keys match what the job last wrote, not what they hold: rewrite them.
        inputs["old_labels_key"] = np.where(drifted, 0, inputs["old_labels_key"].to_numpy())
    sample = ids[drifted][:DRIFT_SAMPLE]
    return {"fans": int(drifted.sum()), "sample": [int(i) for i in sample]}


def _incremental_base(*, as_of: date, store_ids: list[int] | None) -> RelabelRun | None:
    """The run whose rows an incremental read can start from: the last succeeded one, if it was
    brand-wide and recorded its high water, for an as_of not after this one, within a window."""
    base = selectors.last_run()
    if store_ids is not None or base is None or base.order_high_water is None:
        return None
    if not (base.as_of <= as_of < base.as_of + timedelta(days=rules.WINDOW_DAYS)):
        return None
    return base


def relabel(
    *,
    as_of: date,
    store_codes: list[str] | None = None,
    progress: Progress | None = None,
    queued_run: RelabelRun | None = None,
    full: bool = False,
) -> RelabelRun:
    """Recompute every computed label for `as_of`. Safe to repeat; refuses to overlap.

    - Incremental when it can be: after a brand-wide run for an earlier (or the same) as_of,
      only the fans whose orders moved since are read from the orders (`selectors.touched_fans`); the
      others' aggregates come from their labels rows. `full`: every order is read, and every
      untouched fan's stored aggregates are checked against them (`RelabelRun.drift`).

    - One at a time: while another run holds the lock this records a `skipped` run and returns.
    - All or nothing: labels are computed into a staging table and switched in one transaction;
      on any error the labels stay as they were and the run is recorded `failed` with the error.
    - `store_codes`: only those stores' fans are written (and their changes recorded); the RFM
      means and membership ranks are still over every buyer of the brand (SPEC §3's P).
    - Deterministic: the same orders and `as_of` give the same labels.
    - `queued_run`: the row `segmentation.tasks.queue_relabel` recorded; this run fills it in.
    """
    with relabel_lock() as acquired:
        if not acquired:
            return skip_run(queued_run, as_of=as_of)
        run = start_run(queued_run, as_of=as_of)
        if run is None:
            queued_run.refresh_from_db()
            return queued_run
        timer = Timer(progress)
        try:
            store_ids = _store_ids(store_codes)
        except ValueError as exc:
            return fail_run(run, exc, timer)
        base = _incremental_base(as_of=as_of, store_ids=store_ids)
        if store_ids is None:
            run.order_high_water = selectors.order_high_water()
        incremental = not full and base is not None and run.order_high_water is not None
        run.mode = RelabelRun.Mode.INCREMENTAL if incremental else RelabelRun.Mode.FULL
        run.save(update_fields=["order_high_water", "mode"])
        aggregates = partial(
            selectors.buyer_aggregates, as_of=as_of, high_water=run.order_high_water
        )
        increment = None
        if run.mode == RelabelRun.Mode.INCREMENTAL:
            with timer.phase("touched"):
                touched = selectors.touched_fans(
                    since=base, as_of=as_of, high_water=run.order_high_water
                )
            increment = Increment(since=base, high_water=run.order_high_water, touched=touched)
        run = run_pipeline(
            run=run,
            as_of=as_of,
            store_ids=store_ids,
            timer=timer,
            aggregates=aggregates,
            increment=increment,
            drift_since=base if full else None,
            summary_since=forecasts.summary_base(base, full=full),
        )
        if store_ids is None:
            announce_switched(run)
        return run


def announce_switched(run: RelabelRun) -> None:
    """Tell the apps above (`segmentation.signals.labels_switched`) that a brand-wide run
    succeeded, once committed (at once outside a transaction): follow-ups are made from it."""
    if run.status == RelabelRun.Status.SUCCEEDED:
        transaction.on_commit(lambda: labels_switched.send(sender=RelabelRun, run=run))
