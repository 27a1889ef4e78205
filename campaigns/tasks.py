"""Celery entry points of campaigns (thin: JSON arguments in, a service call)."""

from __future__ import annotations

from datetime import date, timedelta

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

# POS uploads can arrive a few days late: keep tagging buyers of events that ended recently.
LATE_ORDER_DAYS = 7


@shared_task(
    name="campaigns.tasks.refresh_event_tags",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def refresh_event_tags(today: str | None = None) -> int:
    """Nightly: `transacted:<code>` for participants of running and recently ended events."""
    from campaigns.selectors import campaigns_to_refresh
    from campaigns.services import refresh_event_tags as refresh

    day = date.fromisoformat(today) if today else timezone.localdate()
    return sum(
        refresh(campaign=c)
        for c in campaigns_to_refresh(today=day, grace=timedelta(days=LATE_ORDER_DAYS))
    )
