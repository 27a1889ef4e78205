"""The relabel with its order aggregation split by store across Celery workers (docs/scaling.md).

A chord (sent by `segmentation.tasks.queue_distributed_relabel`): each part aggregates the orders
of its stores' fans into the parts table, and the callback classifies the whole brand (the RFM
means need every buyer) and switches the labels once, under the same lock as `relabel`.

The run is `queued` while its parts aggregate (they hold no lock: any worker runs them) and
`running` only in the callback, under the lock — so a run killed there is found by
`services.fail_interrupted_runs`. A part that fails for good fails its run and removes the rows
the run's parts wrote; a part arriving after that writes nothing.
"""

from __future__ import annotations

from datetime import date

from django.db import connection, transaction
from django.utils import timezone

from customers.models import Customer, Store
from fanops import bulk
from segmentation import job, selectors, services
from segmentation.models import RelabelRun

PARTS_TABLE = selectors.PARTS_TABLE
_LIVE = (RelabelRun.Status.QUEUED, RelabelRun.Status.RUNNING)


def store_partitions(parts: int) -> list[list[int]]:
    """Every store id (active or not: their fans need labels too) in `parts` balanced groups."""
    ids = list(Store.objects.order_by("pk").values_list("pk", flat=True))
    groups = [ids[i::parts] for i in range(max(1, parts))]
    return [g for g in groups if g]


def ensure_parts_table() -> None:
    """The scratch table the parts fill (UNLOGGED on PostgreSQL: no WAL)."""
    instant = "timestamptz NOT NULL" if connection.vendor == "postgresql" else "text"
    columns = [
        ("run_id", "bigint NOT NULL"),
        ("customer_id", "bigint NOT NULL"),
        *((name, instant) for name in ("last_sale_at", "first_sale_at", "window_first_sale_at")),
        *(
            (name, "bigint NOT NULL")
            for name in ("frequency", "lifetime_sales", "window_sales_cents", "window_refund_cents")
        ),
    ]
    with connection.cursor() as cursor:
        bulk.create_table(cursor, PARTS_TABLE, columns, unlogged=True, if_not_exists=True)


def forget_parts(*, run_id: int | None = None) -> None:
    """Delete the parts of `run_id`, or (None) of every run no longer queued or running."""
    ensure_parts_table()
    runs = RelabelRun._meta.db_table
    with connection.cursor() as cursor:
        if run_id is not None:
            cursor.execute(f"DELETE FROM {PARTS_TABLE} WHERE run_id = %s", [run_id])
            return
        cursor.execute(
            f"DELETE FROM {PARTS_TABLE} WHERE run_id NOT IN "
            f"(SELECT id FROM {runs} WHERE status IN (%s, %s))",
            list(_LIVE),
        )


def create_run(*, as_of: date) -> RelabelRun:
    """The `queued` run the parts fill in; parts of dead runs (killed callbacks) go first."""
    forget_parts()
    return RelabelRun.objects.create(as_of=as_of, status=RelabelRun.Status.QUEUED)


def _still_queued(cursor, run_id: int) -> bool:
    """Whether the run still waits for its parts; on PostgreSQL the row is share-locked until
    the part commits, so `fail_part` (which updates it) waits for parts already writing."""
    lock = " FOR SHARE" if connection.vendor == "postgresql" else ""
    cursor.execute(f"SELECT status FROM {RelabelRun._meta.db_table} WHERE id = %s{lock}", [run_id])
    row = cursor.fetchone()
    return row is not None and row[0] == RelabelRun.Status.QUEUED


def aggregate_part(*, run_id: int, as_of: date, store_ids: list[int]) -> int:
    """Aggregate the orders of `store_ids`' fans into the parts table (one INSERT … SELECT).

    Runs on any worker; the data never leaves the database. Idempotent per (run, stores):
    a retried part first deletes what an earlier attempt wrote. Writes nothing (0) once the run
    is no longer queued (failed by another part, or finished).
    """
    ensure_parts_table()
    params = {**selectors.cutoffs(as_of=as_of), "run": run_id}
    columns = ", ".join(name for name, _ in selectors.AGGREGATE_COLUMNS)
    customers = Customer._meta.db_table
    ids = ",".join(str(int(i)) for i in store_ids) or "NULL"
    with job.job_transaction(), connection.cursor() as cursor:
        if not _still_queued(cursor, run_id):
            return 0
        cursor.execute(
            f"DELETE FROM {PARTS_TABLE} WHERE run_id = %(run)s AND customer_id IN "
            f"(SELECT id FROM {customers} WHERE store_id IN ({ids}))",
            params,
        )
        cursor.execute(
            f"INSERT INTO {PARTS_TABLE} (run_id, {columns}) SELECT %(run)s, {columns} "
            f"FROM ({selectors.aggregate_sql(vendor=connection.vendor, store_ids=store_ids)}) agg",
            params,
        )
        return cursor.rowcount


def fail_part(*, run_id: int, error: str) -> bool:
    """A part failed for good: record its run `failed` with `error` and remove the run's parts.
    False when the run was no longer queued (left as it is)."""
    with transaction.atomic():
        failed = RelabelRun.objects.filter(pk=run_id, status=RelabelRun.Status.QUEUED).update(
            status=RelabelRun.Status.FAILED, error=error[:5000], finished_at=timezone.now()
        )
        if failed:
            forget_parts(run_id=run_id)
    return bool(failed)


def finish_distributed(*, run_id: int, as_of: date) -> RelabelRun:
    """The chord's callback: classify the combined parts and switch once, under the lock.

    A run that is no longer queued (a part failed it, or this callback came twice) is returned
    as it is.
    """
    run = RelabelRun.objects.get(pk=run_id)
    if run.status != RelabelRun.Status.QUEUED:
        return run
    with services.relabel_lock() as acquired:
        if not acquired:
            run = services.skip_run(run, as_of=as_of)
            forget_parts(run_id=run_id)
            return run
        started = services.start_run(run, as_of=as_of, restart_clock=False)
        if started is None:
            run.refresh_from_db()
            return run
        ensure_parts_table()
        try:
            run = services.run_pipeline(
                run=started,
                as_of=as_of,
                store_ids=None,
                timer=job.Timer(),
                aggregates=lambda: selectors.buyer_aggregates_from_parts(
                    run_id=run_id, as_of=as_of
                ),
            )
        finally:
            forget_parts(run_id=run_id)
    services.announce_switched(run)
    return run
