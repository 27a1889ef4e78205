"""Celery entry points of segmentation, and the enqueueing of runs (API, HQ page, scale-out).

Thin adapters around `segmentation.services` and `segmentation.distributed`: the dependency is
one-way (tasks → services), so the services never import the tasks.
"""

from __future__ import annotations

from datetime import date

from celery import chord, shared_task
from django.db import OperationalError, transaction
from django.utils import timezone

from segmentation import distributed, services
from segmentation.models import RelabelRun

PART_RETRIES = 3


def queue_relabel(*, as_of: date) -> RelabelRun:
    """Record a `queued` run and hand it to a worker once the caller's transaction commits.

    The caller (API, HQ page) gets the run's id at once; the worker turns that same row into the
    running, then finished (or skipped) run. `as_of` must pass `services.parse_as_of`.
    """
    as_of = services.parse_as_of(as_of)
    run = RelabelRun.objects.create(as_of=as_of, status=RelabelRun.Status.QUEUED)
    transaction.on_commit(lambda: relabel.delay(as_of.isoformat(), run_id=run.pk))
    return run


def queue_distributed_relabel(*, as_of: date, parts: int = 4) -> RelabelRun:
    """Start a relabel whose order aggregation runs as `parts` Celery tasks (by fans' store).

    A chord, sent once the caller's transaction commits (no worker looks for an uncommitted
    run): each `aggregate_part` fills the parts table for its stores, `finish_distributed`
    classifies and switches; if the chord fails (a part lost with its worker),
    `fail_distributed` records the run failed. Returns the run (`queued` until the callback
    takes the lock, then `running`).
    """
    run = distributed.create_run(as_of=as_of)
    day = as_of.isoformat()
    header = [aggregate_part.si(run.pk, day, ids) for ids in distributed.store_partitions(parts)]
    callback = finish_distributed.si(run.pk, day).on_error(
        fail_distributed.si(run.pk, "a part of the distributed run failed")
    )
    transaction.on_commit(lambda: chord(header)(callback), robust=False)
    return run


@shared_task(
    name="segmentation.tasks.relabel",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def relabel(as_of: str | None = None, run_id: int | None = None, full: bool = False) -> int:
    """Nightly entry point (beat, 02:00 local): relabel every fan for `as_of` (default today);
    `full`: from every order, with the drift check (beat, Sundays).

    `run_id` names a run queued by `queue_relabel` (API, HQ page). Returns the RelabelRun id. A
    run while another holds the lock is recorded as skipped; a queued run that is delivered
    again after it started (acks_late) is left alone.
    """
    day = date.fromisoformat(as_of) if as_of else timezone.localdate()
    if run_id is None:
        return services.relabel(as_of=day, full=full).pk
    queued = RelabelRun.objects.filter(pk=run_id, status=RelabelRun.Status.QUEUED).first()
    if queued is None:
        return run_id
    return services.relabel(as_of=day, queued_run=queued, full=full).pk


@shared_task(
    bind=True, name="segmentation.tasks.aggregate_part", acks_late=True, max_retries=PART_RETRIES
)
def aggregate_part(self, run_id: int, as_of: str, store_ids: list[int]) -> int:
    """One part of a distributed relabel: aggregate the orders of `store_ids`' fans.

    A lost database connection is retried (backing off 1, 2, 4 s); a part that fails for good
    fails its run and removes the run's parts.
    """
    try:
        return distributed.aggregate_part(
            run_id=run_id, as_of=date.fromisoformat(as_of), store_ids=store_ids
        )
    except OperationalError as exc:
        if not self.request.called_directly and self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=2**self.request.retries) from exc
        distributed.fail_part(run_id=run_id, error=f"{type(exc).__name__}: {exc}")
        raise
    except Exception as exc:
        distributed.fail_part(run_id=run_id, error=f"{type(exc).__name__}: {exc}")
        raise


@shared_task(name="segmentation.tasks.finish_distributed", acks_late=True)
def finish_distributed(run_id: int, as_of: str) -> str:
    """The chord callback of a distributed relabel: classify and switch once."""
    return distributed.finish_distributed(run_id=run_id, as_of=date.fromisoformat(as_of)).status


@shared_task(name="segmentation.tasks.fail_distributed", ignore_result=True)
def fail_distributed(run_id: int, error: str) -> bool:
    """The chord's error callback: a part failed without recording it (its worker was lost)."""
    return distributed.fail_part(run_id=run_id, error=error)


@shared_task(name="segmentation.tasks.relabel_distributed", ignore_result=True)
def relabel_distributed(as_of: str | None = None, parts: int = 4) -> int:
    """Start a relabel whose aggregation is split by store across workers (docs/scaling.md)."""
    day = date.fromisoformat(as_of) if as_of else timezone.localdate()
    return queue_distributed_relabel(as_of=day, parts=parts).pk
