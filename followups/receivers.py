"""Follow-ups react to the night's relabel (`segmentation.signals.labels_switched`)."""

from __future__ import annotations

from followups import tasks


def generate_after_relabel(sender, run, **kwargs) -> None:
    """Queue the day's follow-ups for the run's date: they read the labels it just switched in
    (a worker runs them; with eager Celery, at once)."""
    tasks.generate_follow_ups.delay(run.as_of.isoformat())
