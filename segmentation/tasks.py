"""Celery entry points of segmentation: thin adapters around `segmentation.services`."""

from __future__ import annotations

from datetime import date

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone


@shared_task(
    name="segmentation.tasks.relabel",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def relabel(as_of: str | None = None, run_id: int | None = None) -> int:
    """Nightly entry point (beat, 02:00 local): relabel every fan for `as_of` (default today).

    `run_id` names a run queued by `services.queue_relabel` (API, HQ page). Returns the
    RelabelRun id. A run while another holds the lock is recorded as skipped; a queued run that
    is delivered again after it started (acks_late) is left alone.
    """
    from segmentation import services  # local import keeps worker start-up light
    from segmentation.models import RelabelRun

    day = date.fromisoformat(as_of) if as_of else timezone.localdate()
    if run_id is None:
        return services.relabel(as_of=day).pk
    queued = RelabelRun.objects.filter(pk=run_id, status=RelabelRun.Status.QUEUED).first()
    if queued is None:
        return run_id
    return services.relabel(as_of=day, queued_run=queued).pk


@shared_task(name="segmentation.tasks.aggregate_part", acks_late=True, max_retries=3)
def aggregate_part(run_id: int, as_of: str, store_ids: list[int]) -> int:
    """One part of a distributed relabel: aggregate the orders of `store_ids`' fans."""
    from segmentation import services

    return services.aggregate_part(
        run_id=run_id, as_of=date.fromisoformat(as_of), store_ids=store_ids
    )


@shared_task(name="segmentation.tasks.finish_distributed", acks_late=True)
def finish_distributed(run_id: int, as_of: str) -> str:
    """The chord callback of a distributed relabel: classify and switch once."""
    from segmentation import services

    return services.finish_distributed(run_id=run_id, as_of=date.fromisoformat(as_of)).status


@shared_task(name="segmentation.tasks.relabel_distributed", ignore_result=True)
def relabel_distributed(as_of: str | None = None, parts: int = 4) -> int:
    """Start a relabel whose aggregation is split by store across workers (docs/scaling.md)."""
    from segmentation import services

    day = date.fromisoformat(as_of) if as_of else timezone.localdate()
    return services.relabel_distributed(as_of=day, parts=parts).pk
