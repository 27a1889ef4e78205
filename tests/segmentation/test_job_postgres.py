"""The relabel job under real concurrency (PostgreSQL only: threads, processes, SIGKILL)."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.db import connection, connections

from customers.models import CustomerLabels
from segmentation import job
from segmentation.models import RelabelRun, StoreLabelling
from segmentation.selectors import labels_checksum
from segmentation.services import fail_interrupted_runs, relabel
from tests.factories import aware_dt, make_customer, make_order, make_store

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]

AS_OF = date(2026, 6, 30)
ROOT = Path(__file__).resolve().parents[2]


def brand(fans: int = 30) -> None:
    store = make_store()
    for i in range(fans):
        fan = make_customer(store=store, is_opinion_leader=i == 0)
        for j in range(i % 4):
            make_order(
                customer=fan, paid_at=aware_dt(2026, 6 - j, 1 + i % 27), amount=f"{200 + 70 * i}.00"
            )


def in_thread(target, results: list, index: int) -> threading.Thread:
    def run() -> None:
        try:
            results[index] = target()
        finally:
            connections.close_all()

    return threading.Thread(target=run)


def test_ten_concurrent_starts_do_the_work_once_and_skip_the_rest_at_once():
    brand()
    release = threading.Event()

    def slow_checkpoint(phase: str) -> None:
        if phase == "aggregate":
            release.wait(10)

    def timed_relabel():
        started = time.monotonic()
        run = relabel(as_of=AS_OF)
        return run, time.monotonic() - started

    results: list = [None] * 10
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(job, "checkpoint", slow_checkpoint)
        threads = [in_thread(timed_relabel, results, i) for i in range(10)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while (
            RelabelRun.objects.filter(status="skipped").count() < 9 and time.monotonic() < deadline
        ):
            time.sleep(0.02)
        release.set()
        for thread in threads:
            thread.join(20)
    statuses = sorted(run.status for run, _ in results)
    assert statuses == ["skipped"] * 9 + ["succeeded"]
    assert max(elapsed for run, elapsed in results if run.status == "skipped") < 1
    assert CustomerLabels.objects.count() == 30
    assert set(StoreLabelling.objects.values_list("as_of", flat=True)) == {AS_OF}


# One statement, so one snapshot: the stores' labels date and a digest of every labels row.
SNAPSHOT_SQL = """
    SELECT MIN(s.as_of), MAX(s.as_of),
           md5(string_agg(concat_ws(',', l.customer_id, l.apple, l.rfm_segment, l.r_stage,
                                    l.frequency, l.monetary, l.last_sale), ';'
                          ORDER BY l.customer_id))
      FROM segmentation_customerlabels l
      JOIN customers_customer c ON c.id = l.customer_id
      JOIN segmentation_storelabelling s ON s.store_id = c.store_id
"""


def labels_snapshot() -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(SNAPSHOT_SQL)
        return cursor.fetchone()


def test_a_reader_polling_during_a_run_never_sees_two_runs_mixed():
    brand(60)
    relabel(as_of=AS_OF)
    before = labels_snapshot()
    seen: set[tuple] = set()
    stop = threading.Event()

    def poll() -> None:
        try:
            while not stop.is_set():
                seen.add(labels_snapshot())
        finally:
            connections.close_all()

    reader = threading.Thread(target=poll)
    with pytest.MonkeyPatch.context() as patch:
        # Keep the switch transaction open a while after its UPDATE, before the commit.
        patch.setattr(
            job,
            "checkpoint",
            lambda phase: time.sleep(0.5) if phase == "switch_updated" else None,
        )
        reader.start()
        run = relabel(as_of=AS_OF + timedelta(days=200))
    stop.set()
    reader.join(5)
    after = labels_snapshot()
    assert run.status == RelabelRun.Status.SUCCEEDED
    assert before[2] != after[2]  # the second run moved labels, so a mix would show
    assert seen <= {before, after}
    assert before in seen


def kill_relabel_paused_at(phase: str, as_of: date) -> None:
    """Run `manage.py relabel` in a child process, wait until it pauses at `phase`, SIGKILL it."""
    settings_dict = connection.settings_dict
    url = (
        f"postgres://{settings_dict['USER']}:{settings_dict['PASSWORD']}@{settings_dict['HOST'] or 'localhost'}"
        f":{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
    )
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "1", job.PAUSE_ENV: f"{phase}:60"}
    child = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "relabel", "--as-of", as_of.isoformat()],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = ""
        deadline = time.monotonic() + 30
        while f"paused at {phase}" not in line and time.monotonic() < deadline:
            line = child.stderr.readline()
            if not line and child.poll() is not None:
                break
        assert f"paused at {phase}" in line
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
        child.stderr.close()


def test_sigkill_in_the_middle_of_the_switch_leaves_the_previous_labels_and_frees_the_lock():
    brand()
    relabel(as_of=AS_OF)
    before = labels_checksum()
    kill_relabel_paused_at("switch_updated", AS_OF + timedelta(days=200))
    assert labels_checksum() == before
    assert set(StoreLabelling.objects.values_list("as_of", flat=True)) == {AS_OF}
    # The server notices the dead session and frees its advisory lock.
    deadline = time.monotonic() + 10
    run = relabel(as_of=AS_OF + timedelta(days=1))
    while run.status == RelabelRun.Status.SKIPPED and time.monotonic() < deadline:
        time.sleep(0.2)
        run = relabel(as_of=AS_OF + timedelta(days=1))
    assert run.status == RelabelRun.Status.SUCCEEDED
    killed = RelabelRun.objects.get(as_of=AS_OF + timedelta(days=200))
    assert (killed.status, killed.error) == (RelabelRun.Status.FAILED, "interrupted")


def test_a_run_killed_by_sigkill_is_running_until_its_session_ends_then_interrupted():
    brand()
    kill_relabel_paused_at("classify", AS_OF)
    killed = RelabelRun.objects.get()
    assert killed.status == RelabelRun.Status.RUNNING  # what a dead process leaves
    deadline = time.monotonic() + 10
    while not fail_interrupted_runs() and time.monotonic() < deadline:
        time.sleep(0.2)
    killed.refresh_from_db()
    assert (killed.status, killed.error) == (RelabelRun.Status.FAILED, "interrupted")
    assert killed.finished_at is not None


def test_a_live_run_in_another_process_is_not_marked_interrupted():
    brand()
    paused = threading.Event()
    release = threading.Event()

    def slow_checkpoint(phase: str) -> None:
        if phase == "classify":
            paused.set()
            release.wait(20)

    results: list = [None]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(job, "checkpoint", slow_checkpoint)
        worker = in_thread(lambda: relabel(as_of=AS_OF), results, 0)
        worker.start()
        try:
            assert paused.wait(20)
            assert RelabelRun.objects.get().status == RelabelRun.Status.RUNNING
            assert fail_interrupted_runs() == 0
        finally:
            release.set()
            worker.join(30)
    assert results[0].status == RelabelRun.Status.SUCCEEDED


def test_a_write_that_holds_the_orders_back_makes_the_run_read_every_order(monkeypatch):
    """The high water's SHARE lock waits at most HIGH_WATER_LOCK_TIMEOUT for writes in flight
    (the tills queue behind it meanwhile); then the run reads every order instead."""
    import psycopg2

    from segmentation import selectors

    make_order(customer=make_customer(), paid_at=aware_dt(2026, 5, 1))
    assert relabel(as_of=date(2026, 6, 1)).order_high_water is not None
    monkeypatch.setattr(selectors, "HIGH_WATER_LOCK_TIMEOUT", "100ms")
    params = connection.get_connection_params()
    other = psycopg2.connect(**{k: v for k, v in params.items() if k != "cursor_factory"})
    try:
        with other.cursor() as cursor:  # a long import's open transaction
            cursor.execute("LOCK TABLE customers_order IN ROW EXCLUSIVE MODE")
        run = relabel(as_of=date(2026, 6, 2))
    finally:
        other.rollback()
        other.close()
    assert (run.status, run.mode, run.order_high_water) == ("succeeded", "full", None)
