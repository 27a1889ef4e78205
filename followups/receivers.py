"""Follow-ups react to the night's relabel (`segmentation.signals.labels_switched`) and to fans
moving to another guide (`customers.signals.customers_transferred`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from followups import tasks
from followups.models import FollowUp

GENERATE_UID = "followups.generate"


def generate_after_relabel(sender, run, **kwargs) -> None:
    """Queue the day's follow-ups for the run's date: they read the labels it just switched in
    (a worker runs them; with eager Celery, at once)."""
    tasks.generate_follow_ups.delay(run.as_of.isoformat())


def move_pending_follow_ups(sender, customer_ids, to_guide, **kwargs) -> None:
    """A fan's pending follow-ups go with her to her new guide (in the move's transaction)."""
    FollowUp.objects.filter(customer_id__in=customer_ids, status__in=FollowUp.PENDING).update(
        guide=to_guide
    )


@contextmanager
def generation_paused() -> Iterator[None]:
    """No follow-ups after a relabel inside the block (benchmarks time the relabel alone)."""
    from segmentation.signals import labels_switched

    labels_switched.disconnect(generate_after_relabel, dispatch_uid=GENERATE_UID)
    try:
        yield
    finally:
        labels_switched.connect(generate_after_relabel, dispatch_uid=GENERATE_UID)
