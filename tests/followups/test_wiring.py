"""Follow-ups follow the relabel and the fans: the night's run generates them, a transfer moves them."""

from datetime import date
from unittest import mock

import pytest
from django.utils import timezone

from customers.models import Staff
from customers.transfers import transfer_customers
from followups import tasks
from followups.models import FollowUp
from segmentation.services import relabel
from tests.factories import aware_dt, make_customer, make_order, make_staff
from tests.followups.helpers import only
from tests.followups.test_api import follow_up_of
from tests.segmentation.test_distributed import run_by_hand

pytestmark = pytest.mark.django_db


def test_a_succeeded_relabel_queues_the_days_follow_ups_once_committed(
    store, guide, django_capture_on_commit_callbacks
):
    make_order(customer=make_customer(store=store, guide=guide), paid_at=aware_dt(2026, 6, 27))

    with (
        mock.patch("followups.tasks.generate_follow_ups.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        relabel(as_of=date(2026, 6, 30))

    delay.assert_called_once_with("2026-06-30")


def test_the_task_generates_from_the_labels_the_relabel_switched(store, guide):
    only("after_sale_care")
    fan = make_customer(store=store, guide=guide)
    make_order(customer=fan, paid_at=aware_dt(2026, 6, 27))
    relabel(as_of=date(2026, 6, 30))

    tasks.generate_follow_ups("2026-06-30")

    follow_up = FollowUp.objects.get()
    assert (follow_up.customer, follow_up.occasion, follow_up.due_on) == (
        fan,
        "2026-06-27",
        date(2026, 6, 30),
    )


def test_a_store_relabel_queues_nothing(store, guide, django_capture_on_commit_callbacks):
    only("after_sale_care")
    make_order(customer=make_customer(store=store, guide=guide), paid_at=aware_dt(2026, 6, 27))

    with (
        mock.patch("followups.tasks.generate_follow_ups.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        relabel(as_of=date(2026, 6, 30), store_codes=[store.code])

    delay.assert_not_called()


def test_moving_a_fan_to_another_guide_moves_her_pending_follow_ups(store, guide, manager):
    fan = make_customer(store=store, guide=guide)
    pending = follow_up_of(fan, guide)
    done = follow_up_of(fan, guide, reason="birthday", occasion="b", status="done",
                        completed_at=timezone.now())  # fmt: skip
    new_guide = make_staff(store=store, role=Staff.Role.GUIDE)

    transfer_customers(customers=[fan], to_guide=new_guide, by=manager, now=timezone.now())

    pending.refresh_from_db()
    done.refresh_from_db()
    assert (pending.guide, done.guide) == (new_guide, guide)


def test_a_distributed_run_queues_the_days_follow_ups_too(
    store, django_capture_on_commit_callbacks
):
    make_order(customer=make_customer(store=store), paid_at=aware_dt(2026, 6, 27))

    with (
        mock.patch("followups.tasks.generate_follow_ups.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        run = run_by_hand(date(2026, 6, 30), parts=2)

    assert run.status == "succeeded"
    delay.assert_called_once_with("2026-06-30")
