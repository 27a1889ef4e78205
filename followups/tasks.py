"""Celery entry points of follow-ups: thin adapters around `followups.services`."""

from __future__ import annotations

from datetime import date

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from followups import services


@shared_task(
    name="followups.tasks.generate_follow_ups",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def generate_follow_ups(as_of: str | None = None) -> dict[str, int]:
    """The day's follow-ups for `as_of` (default today), after that day's relabel. Idempotent:
    a delivery that comes twice creates nothing the second time."""
    day = date.fromisoformat(as_of) if as_of else timezone.localdate()
    return services.generate_follow_ups(as_of=day, now=timezone.now())
