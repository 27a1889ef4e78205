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
def relabel(as_of: str | None = None) -> int:
    """Nightly entry point (beat, 02:00 local): relabel every fan for `as_of` (default today).

    Returns the RelabelRun id. A run while another holds the lock is recorded as skipped.
    """
    from segmentation import services  # local import keeps worker start-up light

    day = date.fromisoformat(as_of) if as_of else timezone.localdate()
    return services.relabel(as_of=day).pk
