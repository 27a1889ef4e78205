"""Relabel runs are `running` only while their lock is held; the dates a relabel accepts; a
distributed run's failed part fails the run (issue 12, items 6 and 8)."""

from datetime import date, timedelta
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from django.urls import reverse
from django.utils import timezone, translation
from rest_framework.test import APIClient

from segmentation import distributed, services, tasks
from segmentation.models import RelabelRun
from segmentation.selectors import PARTS_TABLE
from tests.factories import aware_dt, make_customer, make_order, make_store
from tests.segmentation.helpers import lock_held_elsewhere

AS_OF = date(2026, 6, 30)


@pytest.fixture
def hq_api(hq) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=hq.user)
    return client


def left_running() -> RelabelRun:
    """What a run killed mid-way leaves: `running`, and nobody holds the lock."""
    return RelabelRun.objects.create(as_of=AS_OF, status=RelabelRun.Status.RUNNING)


# --- runs left running ----------------------------------------------------------------------


def test_a_running_run_without_its_lock_is_recorded_interrupted(db):
    run = left_running()
    assert services.fail_interrupted_runs() == 1
    run.refresh_from_db()
    assert (run.status, run.error) == (RelabelRun.Status.FAILED, "interrupted")
    assert run.finished_at is not None


def test_a_running_run_whose_lock_is_held_stays_running(db):
    run = left_running()
    with lock_held_elsewhere():
        assert services.fail_interrupted_runs() == 0
    run.refresh_from_db()
    assert run.status == RelabelRun.Status.RUNNING


def test_finished_and_queued_runs_are_not_touched(db):
    kept = [
        RelabelRun.objects.create(as_of=AS_OF, status=status)
        for status in ("queued", "succeeded", "failed", "skipped")
    ]
    assert services.fail_interrupted_runs() == 0
    assert [RelabelRun.objects.get(pk=r.pk).status for r in kept] == [
        "queued",
        "succeeded",
        "failed",
        "skipped",
    ]


def test_the_run_history_api_shows_a_killed_run_as_failed(hq_api):
    run = left_running()
    body = hq_api.get("/api/v1/relabel-runs/").json()
    assert [(r["id"], r["status"], r["error"]) for r in body["results"]] == [
        (run.pk, "failed", "interrupted")
    ]


def test_the_run_history_api_leaves_a_live_run_running(hq_api):
    run = left_running()
    with lock_held_elsewhere():
        body = hq_api.get("/api/v1/relabel-runs/").json()
    assert [(r["id"], r["status"]) for r in body["results"]] == [(run.pk, "running")]


def test_the_run_history_api_costs_a_fixed_number_of_queries(hq_api, django_assert_max_num_queries):
    for _ in range(5):
        left_running()
    with django_assert_max_num_queries(8):
        assert len(hq_api.get("/api/v1/relabel-runs/").json()["results"]) == 5


def test_the_admin_run_list_shows_a_killed_run_as_failed(client, db):
    client.force_login(get_user_model().objects.create_superuser("root", password="pw-12345678"))
    run = left_running()
    assert client.get(reverse("admin:segmentation_relabelrun_changelist")).status_code == 200
    run.refresh_from_db()
    assert (run.status, run.error) == (RelabelRun.Status.FAILED, "interrupted")


def test_the_next_run_records_a_killed_run_interrupted(store):
    killed = left_running()
    run = services.relabel(as_of=AS_OF)
    killed.refresh_from_db()
    assert run.status == RelabelRun.Status.SUCCEEDED
    assert (killed.status, killed.error) == (RelabelRun.Status.FAILED, "interrupted")


def test_a_skipped_run_leaves_the_running_one_alone(store):
    running = left_running()
    with lock_held_elsewhere():
        assert services.relabel(as_of=AS_OF).status == RelabelRun.Status.SKIPPED
    running.refresh_from_db()
    assert running.status == RelabelRun.Status.RUNNING


def test_a_queued_run_that_already_started_elsewhere_is_not_run_again(store):
    queued = RelabelRun.objects.create(as_of=AS_OF, status=RelabelRun.Status.QUEUED)
    stale = RelabelRun.objects.get(pk=queued.pk)
    RelabelRun.objects.filter(pk=queued.pk).update(status=RelabelRun.Status.SUCCEEDED)
    with mock.patch("segmentation.services.run_pipeline") as pipeline:
        run = services.relabel(as_of=AS_OF, queued_run=stale)
    pipeline.assert_not_called()
    assert run.status == RelabelRun.Status.SUCCEEDED


# --- the dates a relabel accepts ------------------------------------------------------------

TODAY = date(2026, 7, 1)


def test_as_of_defaults_to_today():
    assert services.parse_as_of(None, today=TODAY) == TODAY
    assert services.parse_as_of("", today=TODAY) == TODAY


@pytest.mark.parametrize(
    "value", ["1990-01-01", "2026-07-01", (TODAY + timedelta(days=366)).isoformat()]
)
def test_as_of_within_the_range_is_accepted(value):
    assert services.parse_as_of(value, today=TODAY) == date.fromisoformat(value)


@pytest.mark.parametrize(
    "value",
    ["0001-01-01", "1989-12-31", (TODAY + timedelta(days=367)).isoformat(), "9999-12-31"],
)
def test_as_of_outside_the_range_is_refused(value):
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        services.parse_as_of(value, today=TODAY)
    assert refused.value.message_dict == {
        "as_of": [f"Choose a date between 1990-01-01 and {TODAY + timedelta(days=366)}."]
    }


@pytest.mark.parametrize("value", ["31/01/2026", "2026-02-30", "soon", "123"])
def test_as_of_that_is_no_date_is_refused(value):
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        services.parse_as_of(value, today=TODAY)
    assert refused.value.message_dict == {"as_of": ["Enter a date as YYYY-MM-DD."]}


@pytest.mark.parametrize("value", ["0001-01-01", "1989-12-31", "9999-12-31"])
def test_the_api_refuses_an_as_of_outside_the_range_with_400(hq_api, value):
    with mock.patch("segmentation.tasks.relabel.delay") as delay:
        response = hq_api.post("/api/v1/relabel/", {"as_of": value}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["as_of"]
    assert not RelabelRun.objects.exists()
    delay.assert_not_called()


def test_the_api_accepts_the_first_date_of_the_range(hq_api, django_capture_on_commit_callbacks):
    with (
        mock.patch("segmentation.tasks.relabel.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = hq_api.post("/api/v1/relabel/", {"as_of": "1990-01-01"}, format="json")
    assert response.status_code == 202
    delay.assert_called_once_with("1990-01-01", run_id=response.json()["run_id"])


def test_the_api_accepts_a_year_ahead_but_not_a_day_more(hq_api):
    last = timezone.localdate() + timedelta(days=366)
    with mock.patch("segmentation.tasks.relabel.delay"):
        ok = hq_api.post("/api/v1/relabel/", {"as_of": last.isoformat()}, format="json")
        late = (last + timedelta(days=1)).isoformat()
        refused = hq_api.post("/api/v1/relabel/", {"as_of": late}, format="json")
    assert (ok.status_code, refused.status_code) == (202, 400)


def test_the_command_refuses_an_as_of_outside_the_range(db):
    with pytest.raises(CommandError, match="1990-01-01"):
        call_command("relabel", "--as-of", "0001-01-01")
    assert not RelabelRun.objects.exists()


def test_the_hq_page_refuses_an_as_of_outside_the_range(client, hq):
    client.force_login(hq.user)
    with mock.patch("segmentation.tasks.relabel.delay") as delay:
        response = client.post("/hq/relabel/", {"as_of": "0001-01-01"}, follow=True)
    assert response.status_code == 200
    assert "1990-01-01" in " ".join(str(m) for m in response.context["messages"])
    assert not RelabelRun.objects.exists()
    delay.assert_not_called()


def test_queueing_refuses_a_date_outside_the_range(db):
    with pytest.raises(ValidationError):
        tasks.queue_relabel(as_of=date(1, 1, 1))
    assert not RelabelRun.objects.exists()


# --- a distributed run's parts --------------------------------------------------------------


def brand() -> None:
    for _ in range(2):
        store = make_store()
        for i in range(3):
            make_order(customer=make_customer(store=store), paid_at=aware_dt(2026, 6, 1 + i))


def parts_of(run_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {PARTS_TABLE} WHERE run_id = %s", [run_id])
        return cursor.fetchone()[0]


def test_a_part_that_fails_fails_its_run_and_removes_its_rows(db):
    brand()
    run = distributed.create_run(as_of=AS_OF)
    first, second = distributed.store_partitions(2)
    tasks.aggregate_part(run.pk, AS_OF.isoformat(), first)
    assert parts_of(run.pk) == 3
    with (
        mock.patch.object(distributed.selectors, "aggregate_sql", side_effect=ValueError("bad")),
        pytest.raises(ValueError),
    ):
        tasks.aggregate_part(run.pk, AS_OF.isoformat(), second)
    run.refresh_from_db()
    assert (run.status, run.error) == (RelabelRun.Status.FAILED, "ValueError: bad")
    assert run.finished_at is not None
    assert parts_of(run.pk) == 0


def test_a_part_after_its_run_failed_writes_nothing(db):
    brand()
    run = distributed.create_run(as_of=AS_OF)
    distributed.fail_part(run_id=run.pk, error="a part failed")
    assert tasks.aggregate_part(run.pk, AS_OF.isoformat(), distributed.store_partitions(1)[0]) == 0
    assert parts_of(run.pk) == 0
    assert tasks.finish_distributed(run.pk, AS_OF.isoformat()) == RelabelRun.Status.FAILED


def test_a_part_that_loses_its_connection_is_retried(db):
    brand()
    run = distributed.create_run(as_of=AS_OF)
    with mock.patch.object(
        distributed, "aggregate_part", side_effect=[OperationalError("gone"), 6]
    ) as part:
        result = tasks.aggregate_part.apply(args=(run.pk, AS_OF.isoformat(), [1]), throw=False)
    assert result.get() == 6
    assert part.call_count == 2
    run.refresh_from_db()
    assert run.status == RelabelRun.Status.QUEUED


def test_a_part_out_of_retries_fails_its_run(db):
    brand()
    run = distributed.create_run(as_of=AS_OF)
    with mock.patch.object(distributed, "aggregate_part", side_effect=OperationalError("gone")):
        result = tasks.aggregate_part.apply(  # its last attempt
            args=(run.pk, AS_OF.isoformat(), [1]), retries=tasks.PART_RETRIES, throw=False
        )
    assert isinstance(result.result, OperationalError)
    run.refresh_from_db()
    assert (run.status, run.error) == (RelabelRun.Status.FAILED, "OperationalError: gone")


def test_the_chord_error_callback_fails_the_run(db):
    run = distributed.create_run(as_of=AS_OF)
    assert tasks.fail_distributed(run.pk, "a part of the distributed run failed") is True
    run.refresh_from_db()
    assert run.status == RelabelRun.Status.FAILED


def test_a_distributed_run_is_running_only_in_its_callback(db):
    brand()
    run = distributed.create_run(as_of=AS_OF)
    seen = []
    real = services.run_pipeline

    def spy(**kwargs):
        seen.append(RelabelRun.objects.get(pk=run.pk).status)
        return real(**kwargs)

    for ids in distributed.store_partitions(2):
        tasks.aggregate_part(run.pk, AS_OF.isoformat(), ids)
    assert RelabelRun.objects.get(pk=run.pk).status == RelabelRun.Status.QUEUED
    with mock.patch.object(services, "run_pipeline", side_effect=spy):
        assert tasks.finish_distributed(run.pk, AS_OF.isoformat()) == "succeeded"
    assert seen == ["running"]
    assert parts_of(run.pk) == 0


def test_parts_of_dead_runs_are_removed_when_the_next_distributed_run_starts(db):
    brand()
    dead = distributed.create_run(as_of=AS_OF)
    tasks.aggregate_part(dead.pk, AS_OF.isoformat(), distributed.store_partitions(1)[0])
    RelabelRun.objects.filter(pk=dead.pk).update(status=RelabelRun.Status.FAILED)
    distributed.create_run(as_of=AS_OF)
    assert parts_of(dead.pk) == 0
