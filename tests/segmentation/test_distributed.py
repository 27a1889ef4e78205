"""The scale-out variant: the aggregation split by store, combined into one switch."""

from datetime import date, timedelta
from unittest import mock

from customers.models import CustomerLabels
from segmentation import distributed, services, tasks
from segmentation.models import RelabelRun
from segmentation.selectors import labels_checksum
from tests.factories import aware_dt, make_customer, make_order, make_store
from tests.segmentation.helpers import lock_held_elsewhere

AS_OF = date(2026, 6, 30)


def brand() -> None:
    for s in range(3):
        store = make_store()
        for i in range(8):
            fan = make_customer(store=store, is_opinion_leader=(s, i) == (0, 0))
            for j in range((i + s) % 4):
                make_order(
                    customer=fan,
                    paid_at=aware_dt(2026, 6 - j, 1 + 3 * i),
                    amount=f"{150 * (i + j + s)}.00",
                )


def run_by_hand(as_of: date, parts: int) -> RelabelRun:
    """What the chord does, called as plain functions (no broker needed)."""
    run = distributed.create_run(as_of=as_of)
    for store_ids in distributed.store_partitions(parts):
        tasks.aggregate_part(run.pk, as_of.isoformat(), store_ids)
    tasks.finish_distributed(run.pk, as_of.isoformat())
    return RelabelRun.objects.get(pk=run.pk)


def test_parts_combined_give_the_same_labels_as_one_run(db):
    brand()
    services.relabel(as_of=AS_OF)
    expected = labels_checksum()
    CustomerLabels.objects.all().delete()
    run = run_by_hand(AS_OF, parts=2)
    assert run.status == RelabelRun.Status.SUCCEEDED
    assert run.fans_labelled == 24
    assert labels_checksum() == expected


def test_a_retried_part_does_not_count_twice(db):
    brand()
    services.relabel(as_of=AS_OF + timedelta(days=1))
    expected = labels_checksum()
    run = distributed.create_run(as_of=AS_OF + timedelta(days=1))
    day = (AS_OF + timedelta(days=1)).isoformat()
    for store_ids in distributed.store_partitions(3):
        tasks.aggregate_part(run.pk, day, store_ids)
        tasks.aggregate_part(run.pk, day, store_ids)  # Celery delivered it twice
    tasks.finish_distributed(run.pk, day)
    assert labels_checksum() == expected


def test_the_callback_is_skipped_while_another_run_holds_the_lock(db):
    brand()
    run = distributed.create_run(as_of=AS_OF)
    with lock_held_elsewhere():
        assert tasks.finish_distributed(run.pk, AS_OF.isoformat()) == "skipped"
    assert not CustomerLabels.objects.exists()


def test_starting_a_distributed_run_sends_one_chord_of_store_parts_after_commit(
    db, django_capture_on_commit_callbacks
):
    brand()
    with mock.patch("segmentation.tasks.chord") as chord:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            run = tasks.queue_distributed_relabel(as_of=AS_OF, parts=2)
        chord.assert_not_called()  # workers must not look for a run that is not committed
        callbacks[0]()
    assert run.status == RelabelRun.Status.QUEUED  # running only once the callback has the lock
    header = chord.call_args.args[0]
    assert [sig.task for sig in header] == ["segmentation.tasks.aggregate_part"] * 2
    assert sorted(i for sig in header for i in sig.args[2]) == sorted(
        distributed.store_partitions(1)[0]
    )
    callback = chord.return_value.call_args.args[0]
    assert (callback.task, callback.args) == (
        "segmentation.tasks.finish_distributed",
        (run.pk, AS_OF.isoformat()),
    )
