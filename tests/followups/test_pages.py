"""Today's worklist, the fan card's follow-ups and contacts, the dashboard's leaderboard (server side)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Contact
from followups.models import FollowUp
from tests.factories import make_customer, make_staff
from tests.followups.test_api import follow_up_of

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def test_today_sorts_her_follow_ups_into_overdue_today_and_upcoming(client, guide, store):
    today = timezone.localdate()
    fan = make_customer(store=store, guide=guide)
    late = follow_up_of(fan, guide, due_on=today - timedelta(days=2))
    due = follow_up_of(fan, guide, reason="birthday", occasion="b", due_on=today)
    later = follow_up_of(fan, guide, reason="stage_drop", occasion="s", due_on=today)
    later.status, later.snoozed_until = "snoozed", today + timedelta(days=3)
    later.save()
    client.force_login(guide.user)

    worklist = client.get("/today/").context["worklist"]

    assert [f.pk for f in worklist.overdue] == [late.pk]
    assert [f.pk for f in worklist.due_today] == [due.pk]
    assert [f.pk for f in worklist.upcoming] == [later.pk]
    assert worklist.counts == {"overdue": 1, "due_today": 1, "upcoming": 1}


def test_today_never_shows_a_holdout_or_a_colleagues_follow_up(client, guide, store):
    follow_up_of(make_customer(store=store), guide, is_holdout=True)
    colleague = make_staff(store=store)
    follow_up_of(make_customer(store=store), colleague)
    client.force_login(guide.user)

    worklist = client.get("/today/").context["worklist"]

    assert worklist.counts == {"overdue": 0, "due_today": 0, "upcoming": 0}


def test_a_manager_sees_the_whole_stores_worklist(client, manager, guide, store):
    follow_up_of(make_customer(store=store), guide)
    follow_up_of(make_customer(store=store), make_staff(store=store))
    client.force_login(manager.user)

    assert client.get("/today/").context["worklist"].counts["due_today"] == 2


def test_today_takes_a_fixed_number_of_queries(client, guide, store, django_assert_max_num_queries):
    for _ in range(30):
        follow_up_of(make_customer(store=store), guide)
    client.force_login(guide.user)
    client.get("/today/")
    with django_assert_max_num_queries(14):
        assert b'data-testid="follow-up"' in client.get("/today/").content


def test_done_from_today_swaps_the_row_and_writes_the_contact(client, guide, store):
    follow_up = follow_up_of(make_customer(store=store), guide)
    client.force_login(guide.user)

    response = client.post(
        f"/today/{follow_up.pk}/done/", {"channel": "phone", "reached": "true"}, headers=HTMX
    )

    assert 'data-testid="follow-up-state"' in response.content.decode()
    follow_up.refresh_from_db()
    assert (follow_up.status, follow_up.channel, follow_up.reached) == ("done", "phone", True)
    assert Contact.objects.get().source == "follow_up"


def test_done_without_the_reached_box_records_not_reached(client, guide, store):
    follow_up = follow_up_of(make_customer(store=store), guide)
    client.force_login(guide.user)

    client.post(f"/today/{follow_up.pk}/done/", {"channel": "wechat"}, headers=HTMX)

    assert FollowUp.objects.get().reached is False


@pytest.mark.parametrize("days", [1, 3, 7])
def test_snooze_from_today_hides_it_for_1_3_or_7_days(client, guide, store, days):
    follow_up = follow_up_of(make_customer(store=store), guide)
    client.force_login(guide.user)

    client.post(f"/today/{follow_up.pk}/snooze/", {"days": str(days)}, headers=HTMX)

    follow_up.refresh_from_db()
    assert follow_up.status == "snoozed"
    assert follow_up.snoozed_until == timezone.localdate() + timedelta(days=days)


def test_a_snooze_of_other_days_is_refused_on_the_row(client, guide, store):
    follow_up = follow_up_of(make_customer(store=store), guide)
    client.force_login(guide.user)

    response = client.post(f"/today/{follow_up.pk}/snooze/", {"days": "5"}, headers=HTMX)

    assert 'role="alert"' in response.content.decode()
    assert FollowUp.objects.get().status == "open"


def test_skip_needs_a_reason(client, guide, store):
    follow_up = follow_up_of(make_customer(store=store), guide)
    client.force_login(guide.user)

    refused = client.post(f"/today/{follow_up.pk}/skip/", {"reason": ""}, headers=HTMX)
    assert 'role="alert"' in refused.content.decode()
    assert FollowUp.objects.get().status == "open"

    client.post(f"/today/{follow_up.pk}/skip/", {"reason": "她上周刚来过"}, headers=HTMX)
    assert (FollowUp.objects.get().status, FollowUp.objects.get().skip_reason) == (
        "skipped",
        "她上周刚来过",
    )


def test_a_guide_cannot_act_on_a_colleagues_or_another_stores_follow_up(
    client, guide, store, other_store
):
    colleagues = follow_up_of(make_customer(store=store), make_staff(store=store))
    other = follow_up_of(make_customer(store=other_store), make_staff(store=other_store))
    client.force_login(guide.user)

    for follow_up in (colleagues, other):
        answer = client.post(f"/today/{follow_up.pk}/done/", {"channel": "wechat"})
        assert answer.status_code == 404
    assert Contact.objects.count() == 0


def test_hq_works_through_one_stores_worklist_at_a_time(client, hq, store, other_store):
    follow_up_of(make_customer(store=store), None)
    theirs = follow_up_of(make_customer(store=other_store), None)
    client.force_login(hq.user)

    worklist = client.get(f"/today/?store={other_store.code}").context["worklist"]

    assert [f.pk for f in worklist.due_today] == [theirs.pk]


def test_the_fan_card_shows_last_contacted_open_follow_ups_and_history(client, guide, store):
    fan = make_customer(store=store, guide=guide)
    follow_up_of(fan, guide)
    Contact.objects.create(customer=fan, staff=guide, channel="phone", source="manual",
                           contacted_at=timezone.now() - timedelta(days=3), note="问尺码")  # fmt: skip
    client.force_login(guide.user)

    response = client.get(f"/fans/{fan.pk}/")

    assert response.context["days_since_contact"] == 3
    assert len(response.context["follow_ups"]) == 1
    body = response.content.decode()
    assert "问尺码" in body
    assert 'data-testid="last-contacted"' in body


def test_contacted_on_the_fan_card_records_a_manual_contact(client, guide, store):
    fan = make_customer(store=store, guide=guide)
    client.force_login(guide.user)

    response = client.post(f"/fans/{fan.pk}/contacted/", {"channel": "in_store", "note": "试衣"})

    assert response.status_code == 302
    contact = Contact.objects.get()
    assert (contact.customer, contact.source, contact.channel) == (fan, "manual", "in_store")


def test_contacted_with_an_unknown_channel_writes_nothing(client, guide, store):
    fan = make_customer(store=store, guide=guide)
    client.force_login(guide.user)

    client.post(f"/fans/{fan.pk}/contacted/", {"channel": "fax"})

    assert Contact.objects.count() == 0


@pytest.mark.parametrize(("days_late", "shown"), [(2, False), (3, True)])
def test_a_follow_up_3_days_past_due_is_escalated_on_the_dashboard(
    client, manager, guide, store, days_late, shown
):
    follow_up_of(
        make_customer(store=store), guide, due_on=timezone.localdate() - timedelta(days=days_late)
    )
    client.force_login(manager.user)

    escalations = client.get("/dashboard/").context["escalations"]

    assert [(row["guide__name"], row["count"]) for row in escalations] == (
        [(guide.name, 1)] if shown else []
    )


def test_the_dashboard_shows_the_leaderboard_and_today_shows_a_guide_her_rank(
    client, manager, guide, store
):
    follow_up = follow_up_of(make_customer(store=store), guide)
    follow_up.status, follow_up.completed_at = "done", timezone.now()
    follow_up.save()
    client.force_login(manager.user)
    [row] = client.get("/dashboard/").context["leaderboard"]
    assert (row["guide__name"], row["done"], row["completion_rate"]) == (guide.name, 1, 1.0)

    client.force_login(guide.user)
    mine = client.get("/today/").context["my_rank"]

    assert (mine["rank"], mine["of"]) == (1, 1)
