"""The follow-up endpoints: scoping, hold-outs, idempotent completion, contacts into the ledger."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import Contact
from customers.models import Staff
from followups.models import FollowUp
from tests.factories import make_customer, make_staff

pytestmark = pytest.mark.django_db


def client_of(staff: Staff) -> APIClient:
    client = APIClient()
    client.default_format = "json"  # the API takes JSON only
    client.force_authenticate(staff.user)
    return client


def follow_up_of(fan, guide, **fields) -> FollowUp:
    values = {
        "customer": fan,
        "guide": guide,
        "store": fan.store,
        "reason": "after_sale_care",
        "occasion": "2026-01-15",
        "due_on": timezone.localdate(),
        "message": f"{fan.name}您好",
    }
    return FollowUp.objects.create(**{**values, **fields})


def test_a_guide_lists_her_own_follow_ups_only(guide, store):
    mine = follow_up_of(make_customer(store=store, guide=guide), guide)
    colleague = make_staff(store=store)
    follow_up_of(make_customer(store=store, guide=colleague), colleague)

    body = client_of(guide).get("/api/v1/follow-ups/").json()

    assert [row["id"] for row in body["results"]] == [mine.pk]


def test_a_manager_lists_her_stores_follow_ups_and_filters_by_guide(manager, guide, store):
    colleague = make_staff(store=store)
    follow_up_of(make_customer(store=store), guide)
    theirs = follow_up_of(make_customer(store=store), colleague)

    body = client_of(manager).get(f"/api/v1/follow-ups/?guide={colleague.work_number}").json()

    assert [row["id"] for row in body["results"]] == [theirs.pk]


def test_the_list_filters_by_status_reason_and_due_date(guide, store):
    fan = make_customer(store=store)
    today = timezone.localdate()
    due = follow_up_of(fan, guide, due_on=today - timedelta(days=1))
    follow_up_of(fan, guide, reason="birthday", occasion="x", due_on=today + timedelta(days=1))
    query = f"?status=open&reason=after_sale_care&due_before={today.isoformat()}"

    body = client_of(guide).get("/api/v1/follow-ups/" + query).json()

    assert [row["id"] for row in body["results"]] == [due.pk]


def test_the_list_takes_a_fixed_number_of_queries(guide, store, django_assert_max_num_queries):
    for _ in range(20):
        follow_up_of(make_customer(store=store), guide)
    with django_assert_max_num_queries(8):
        assert client_of(guide).get("/api/v1/follow-ups/").json()["count"] == 20


def test_a_holdout_is_invisible_to_the_store_and_visible_to_hq(guide, manager, hq, store):
    held = follow_up_of(make_customer(store=store), guide, is_holdout=True)

    for staff in (guide, manager):
        assert client_of(staff).get("/api/v1/follow-ups/").json()["count"] == 0
        answer = client_of(staff).post(
            f"/api/v1/follow-ups/{held.pk}/complete/", {"channel": "wechat", "reached": True}
        )
        assert answer.status_code == 404
    rows = client_of(hq).get("/api/v1/follow-ups/").json()["results"]
    assert [(row["id"], row["is_holdout"]) for row in rows] == [(held.pk, True)]


def test_completing_records_the_contact_in_the_ledger(guide, store):
    follow_up = follow_up_of(make_customer(store=store), guide)

    answer = client_of(guide).post(
        f"/api/v1/follow-ups/{follow_up.pk}/complete/",
        {"channel": "phone", "reached": False, "note": "没接"},
        format="json",
    )

    assert answer.status_code == 200
    assert (answer.json()["status"], answer.json()["reached"]) == ("done", False)
    contact = Contact.objects.get()
    assert (contact.source, contact.channel, contact.staff, contact.note) == (
        "follow_up",
        "phone",
        guide,
        "没接",
    )
    assert FollowUp.objects.get().contact == contact


def test_completing_twice_answers_the_first_completion(guide, store):
    follow_up = follow_up_of(make_customer(store=store), guide)
    url = f"/api/v1/follow-ups/{follow_up.pk}/complete/"
    first = client_of(guide).post(url, {"channel": "wechat", "reached": True}, format="json")

    again = client_of(guide).post(url, {"channel": "phone", "reached": False}, format="json")

    assert again.status_code == 200
    assert again.json() == first.json()
    assert Contact.objects.count() == 1


def test_another_stores_follow_up_is_404(guide, other_store):
    other_guide = make_staff(store=other_store)
    theirs = follow_up_of(make_customer(store=other_store), other_guide)

    for action, body in (
        ("complete", {"channel": "wechat", "reached": True}),
        ("snooze", {"until": (timezone.localdate() + timedelta(days=1)).isoformat()}),
        ("skip", {"reason": "不需要"}),
    ):
        answer = client_of(guide).post(f"/api/v1/follow-ups/{theirs.pk}/{action}/", body)
        assert answer.status_code == 404
    assert FollowUp.objects.get().status == "open"


@pytest.mark.parametrize(
    ("days", "status"), [(0, 400), (1, 200), (30, 200), (31, 400)], ids=["today", "1", "30", "31"]
)
def test_a_snooze_runs_from_tomorrow_to_30_days(guide, store, days, status):
    follow_up = follow_up_of(make_customer(store=store), guide)
    until = timezone.localdate() + timedelta(days=days)

    answer = client_of(guide).post(
        f"/api/v1/follow-ups/{follow_up.pk}/snooze/", {"until": until.isoformat()}
    )

    assert answer.status_code == status
    follow_up.refresh_from_db()
    assert follow_up.status == ("snoozed" if status == 200 else "open")


def test_a_skip_needs_a_reason_and_a_skipped_follow_up_cannot_be_completed(guide, store):
    follow_up = follow_up_of(make_customer(store=store), guide)
    url = f"/api/v1/follow-ups/{follow_up.pk}/"
    assert client_of(guide).post(url + "skip/", {"reason": "  "}).status_code == 400

    assert client_of(guide).post(url + "skip/", {"reason": "已到店买过"}).status_code == 200
    answer = client_of(guide).post(url + "complete/", {"channel": "wechat", "reached": True})

    assert answer.status_code == 409
    assert Contact.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [{"channel": "fax", "reached": True}, {"channel": "wechat"}, {"reached": True}, ["wechat"]],
    ids=["unknown channel", "no reached", "no channel", "not an object"],
)
def test_a_bad_completion_is_a_400_and_writes_nothing(guide, store, body):
    follow_up = follow_up_of(make_customer(store=store), guide)

    answer = client_of(guide).post(
        f"/api/v1/follow-ups/{follow_up.pk}/complete/", body, format="json"
    )

    assert answer.status_code == 400
    assert (FollowUp.objects.get().status, Contact.objects.count()) == ("open", 0)


def test_a_contact_recorded_by_hand_goes_into_the_ledger(guide, store):
    fan = make_customer(store=store)

    answer = client_of(guide).post(
        f"/api/v1/customers/{fan.pk}/contacts/", {"channel": "in_store", "note": "来店试衣"}
    )

    assert answer.status_code == 201
    assert answer.json()["source"] == "manual"
    assert Contact.objects.get().customer == fan


def test_a_contact_with_another_stores_fan_is_404(guide, other_store):
    fan = make_customer(store=other_store)

    answer = client_of(guide).post(f"/api/v1/customers/{fan.pk}/contacts/", {"channel": "phone"})

    assert answer.status_code == 404
    assert Contact.objects.count() == 0
