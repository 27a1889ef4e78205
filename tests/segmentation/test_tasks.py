"""The Celery entry point and its nightly schedule."""

from datetime import date
from unittest import mock

from celery.schedules import crontab
from django.conf import settings

from fanops.celery import app
from segmentation import tasks
from segmentation.models import RelabelRun


def test_the_task_is_registered_under_its_stable_name():
    assert tasks.relabel.name == "segmentation.tasks.relabel"
    assert app.tasks["segmentation.tasks.relabel"].name == "segmentation.tasks.relabel"


def test_the_beat_schedule_runs_the_relabel_nightly_at_two():
    entry = settings.CELERY_BEAT_SCHEDULE["segmentation-relabel-nightly"]
    assert entry["task"] == "segmentation.tasks.relabel"
    assert entry["schedule"] == crontab(hour=2, minute=0, day_of_week="1-6")
    assert settings.CELERY_TIMEZONE == settings.TIME_ZONE


def test_the_beat_schedule_reads_every_order_on_sunday_nights():
    entry = settings.CELERY_BEAT_SCHEDULE["segmentation-relabel-weekly-full"]
    assert entry["task"] == "segmentation.tasks.relabel"
    assert entry["schedule"] == crontab(hour=2, minute=0, day_of_week="0")
    assert entry["kwargs"] == {"full": True}


def test_the_task_parses_an_iso_date_and_calls_the_service():
    run = RelabelRun(pk=41, as_of=date(2026, 3, 1))
    with mock.patch("segmentation.services.relabel", return_value=run) as service:
        assert tasks.relabel("2026-03-01") == 41
    service.assert_called_once_with(as_of=date(2026, 3, 1), full=False)


def test_the_task_defaults_to_the_local_today():
    with (
        mock.patch("segmentation.services.relabel", return_value=RelabelRun(pk=1)) as service,
        mock.patch("segmentation.tasks.timezone.localdate", return_value=date(2026, 7, 4)),
    ):
        tasks.relabel()
    service.assert_called_once_with(as_of=date(2026, 7, 4), full=False)


def test_the_task_really_relabels_when_called_as_a_function(store):
    run_id = tasks.relabel("2026-03-01")
    assert RelabelRun.objects.get(pk=run_id).status == RelabelRun.Status.SUCCEEDED


def test_a_queued_run_is_the_row_the_worker_fills_in(store):
    with mock.patch("segmentation.tasks.relabel.delay"):
        queued = tasks.queue_relabel(as_of=date(2026, 3, 1))
    assert tasks.relabel("2026-03-01", run_id=queued.pk) == queued.pk
    queued.refresh_from_db()
    assert queued.status == RelabelRun.Status.SUCCEEDED
    assert RelabelRun.objects.count() == 1


def test_a_queued_run_delivered_again_after_it_ran_is_left_alone(store):
    done = RelabelRun.objects.create(as_of=date(2026, 3, 1), status=RelabelRun.Status.SUCCEEDED)
    with mock.patch("segmentation.services.relabel") as service:
        assert tasks.relabel("2026-03-01", run_id=done.pk) == done.pk
    service.assert_not_called()


def test_a_queued_run_that_meets_the_lock_is_recorded_skipped(store):
    queued = RelabelRun.objects.create(as_of=date(2026, 3, 1), status=RelabelRun.Status.QUEUED)
    with mock.patch("segmentation.services.relabel_lock") as lock:
        lock.return_value.__enter__.return_value = False  # another run holds it
        tasks.relabel("2026-03-01", run_id=queued.pk)
    queued.refresh_from_db()
    assert queued.status == RelabelRun.Status.SKIPPED
    assert RelabelRun.objects.count() == 1
