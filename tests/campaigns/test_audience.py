from datetime import timedelta

import numpy as np
import pytest
from django.core.exceptions import ValidationError

from campaigns.models import AudienceMember, Campaign
from campaigns.selectors import holdout_mask, holdout_size
from campaigns.services import freeze_audience, preview_audience
from tests.campaigns.helpers import NOW, contacted_before, make_campaign, make_fan, members

CONTACT, HOLDOUT = AudienceMember.Group.CONTACT, AudienceMember.Group.HOLDOUT


def test_offline_event_leaves_out_out_of_town_fans_and_keeps_local_ones(store):
    away = make_fan(store=store, distance="out_of_town")
    local = make_fan(store=store, distance="within_3km")
    campaign = make_campaign(stores=[store], kind=Campaign.Kind.OFFLINE)

    report = freeze_audience(campaign=campaign, audience={"all": ["apple:red"]}, now=NOW)

    assert report == {
        "matched": 2,
        "removed": {"out_of_town": 1, "contact_cap": 0, "opted_out": 0},
        "holdout": 0,
        "contacts": 1,
    }
    assert members(campaign) == {local.pk}
    assert away.pk not in members(campaign)


def test_online_event_invites_out_of_town_fans(store):
    away = make_fan(store=store, distance="out_of_town")
    campaign = make_campaign(stores=[store], kind=Campaign.Kind.ONLINE)

    report = freeze_audience(campaign=campaign, audience={"all": ["apple:red"]}, now=NOW)

    assert report["removed"]["out_of_town"] == 0
    assert members(campaign, CONTACT) == {away.pk}


def test_fan_at_the_contact_cap_within_the_window_is_left_out(store, settings):
    settings.CAMPAIGN_CONTACT_CAP = 2
    settings.CAMPAIGN_CONTACT_WINDOW_DAYS = 30
    capped = make_fan(store=store)
    contacted_before(capped, frozen_at=NOW - timedelta(days=29), code="old-1")
    contacted_before(capped, frozen_at=NOW - timedelta(days=1), code="old-2")
    once = make_fan(store=store)
    contacted_before(once, frozen_at=NOW - timedelta(days=1), code="old-3")
    campaign = make_campaign(stores=[store])

    report = freeze_audience(campaign=campaign, audience={"all": ["apple:red"]}, now=NOW)

    assert report["removed"]["contact_cap"] == 1
    assert members(campaign) == {once.pk}


def test_contacts_older_than_the_window_do_not_count_towards_the_cap(store, settings):
    settings.CAMPAIGN_CONTACT_CAP = 2
    settings.CAMPAIGN_CONTACT_WINDOW_DAYS = 30
    fan = make_fan(store=store)
    contacted_before(
        fan, frozen_at=NOW - timedelta(days=30), code="old-1"
    )  # exactly 30 days: outside
    contacted_before(fan, frozen_at=NOW - timedelta(days=2), code="old-2")
    campaign = make_campaign(stores=[store])

    report = freeze_audience(campaign=campaign, audience={"all": ["apple:red"]}, now=NOW)

    assert report["removed"]["contact_cap"] == 0
    assert members(campaign, CONTACT) == {fan.pk}


def test_being_held_out_before_does_not_count_as_a_contact(store, settings):
    settings.CAMPAIGN_CONTACT_CAP = 1
    fan = make_fan(store=store)
    past = make_campaign(stores=[store], code="old", frozen_at=NOW - timedelta(days=1))
    AudienceMember.objects.create(campaign=past, customer=fan, group=HOLDOUT)
    campaign = make_campaign(stores=[store])

    report = freeze_audience(campaign=campaign, audience={}, now=NOW)

    assert report["removed"]["contact_cap"] == 0
    assert members(campaign) == {fan.pk}


def test_fans_who_asked_not_to_be_contacted_are_never_included(store):
    quiet = make_fan(store=store, do_not_contact=True)
    reachable = make_fan(store=store, do_not_contact=False)
    campaign = make_campaign(stores=[store], holdout_percent=50)

    report = freeze_audience(campaign=campaign, audience={"all": ["apple:red"]}, now=NOW)

    assert report["removed"]["opted_out"] == 1
    assert members(campaign) == {reachable.pk}
    assert quiet.pk not in members(campaign)


def test_a_fan_removed_by_two_rules_is_counted_once_under_the_first(store):
    make_fan(store=store, distance="out_of_town", do_not_contact=True)
    campaign = make_campaign(stores=[store])

    report = freeze_audience(campaign=campaign, audience={}, now=NOW)

    assert report["removed"] == {"out_of_town": 1, "contact_cap": 0, "opted_out": 0}
    assert report["matched"] == 1 and report["contacts"] == 0


def test_filter_combines_all_any_and_none(store, other_store):
    wanted_red = make_fan(store=store, apple="red", distance="within_3km", r_stage="active")
    wanted_yellow = make_fan(
        store=store, apple="yellow", distance="within_3km", r_stage="pre_churn"
    )
    make_fan(store=store, apple="green", distance="within_3km")  # not red or yellow
    make_fan(store=store, apple="red", distance="beyond_3km")  # too far
    make_fan(store=store, apple="yellow", distance="within_3km", r_stage="sleeping")  # sleeping
    make_fan(store=other_store, apple="red", distance="within_3km")  # another store's fan
    campaign = make_campaign(stores=[store])
    audience = {
        "all": ["distance:within_3km"],
        "any": ["apple:red", "apple:yellow"],
        "none": ["r_stage:sleeping"],
    }

    report = freeze_audience(campaign=campaign, audience=audience, now=NOW)

    assert report["matched"] == 2
    assert members(campaign) == {wanted_red.pk, wanted_yellow.pk}


def test_preview_counts_what_the_freeze_saves_without_writing(store):
    for _ in range(7):
        make_fan(store=store)
    make_fan(store=store, do_not_contact=True)
    campaign = make_campaign(stores=[store], holdout_percent=30)

    preview = preview_audience(campaign=campaign, audience={"all": ["apple:red"]}, now=NOW)
    assert not AudienceMember.objects.exists()
    report = freeze_audience(campaign=campaign, audience={"all": ["apple:red"]}, now=NOW)

    assert (
        preview
        == report
        == {
            "matched": 8,
            "removed": {"out_of_town": 0, "contact_cap": 0, "opted_out": 1},
            "holdout": 2,
            "contacts": 5,
        }
    )
    assert len(members(campaign, HOLDOUT)) == 2 and len(members(campaign, CONTACT)) == 5


def test_holdout_is_reproducible_with_the_same_seed_and_disjoint_from_contacts(store):
    for _ in range(40):
        make_fan(store=store)
    first = make_campaign(stores=[store], code="first", holdout_percent=25, seed=7)
    second = make_campaign(
        stores=[store], code="second", holdout_percent=25, seed=7, kind=Campaign.Kind.ONLINE
    )

    freeze_audience(campaign=first, audience={}, now=NOW)
    freeze_audience(campaign=second, audience={}, now=NOW)

    assert len(members(first, HOLDOUT)) == 10
    assert members(first, HOLDOUT) == members(second, HOLDOUT)
    assert members(first, HOLDOUT).isdisjoint(members(first, CONTACT))
    assert members(first, HOLDOUT) | members(first, CONTACT) == members(first)


def test_another_seed_holds_out_other_fans(store):
    ids = np.arange(1, 1001)
    a = set(ids[holdout_mask(ids, seed=1, size=100)])
    b = set(ids[holdout_mask(ids, seed=2, size=100)])
    assert len(a) == len(b) == 100
    assert a != b


def test_holdout_does_not_depend_on_the_order_of_the_ids():
    ids = np.arange(1, 501)
    shuffled = np.random.default_rng(0).permutation(ids)
    assert set(ids[holdout_mask(ids, seed=9, size=50)]) == set(
        shuffled[holdout_mask(shuffled, seed=9, size=50)]
    )


@pytest.mark.parametrize(
    ("eligible", "percent", "expected"),
    [
        (0, 10, 0),
        (10, 0, 0),
        (10, 50, 5),
        (5, 10, 1),
        (4, 10, 0),
        (15, 10, 2),
        (100_000, 10, 10_000),
        (1, 50, 1),
    ],
)
def test_holdout_size_rounds_half_up(eligible, percent, expected):
    assert holdout_size(eligible, percent) == expected


def test_freezing_again_replaces_the_list(store):
    red = make_fan(store=store, apple="red")
    yellow = make_fan(store=store, apple="yellow")
    campaign = make_campaign(stores=[store])

    freeze_audience(campaign=campaign, audience={"all": ["apple:red"]}, now=NOW)
    freeze_audience(campaign=campaign, audience={"all": ["apple:yellow"]}, now=NOW)

    assert members(campaign) == {yellow.pk}
    assert red.pk not in members(campaign)
    campaign.refresh_from_db()
    assert campaign.audience_filter == {"all": ["apple:yellow"], "any": [], "none": []}
    assert campaign.frozen_at == NOW


def test_unknown_tag_is_refused_naming_the_field_and_nothing_is_saved(store):
    make_fan(store=store)
    campaign = make_campaign(stores=[store])

    with pytest.raises(ValidationError) as caught:
        freeze_audience(campaign=campaign, audience={"any": ["apple:red", "apple:purple"]}, now=NOW)

    assert "apple:purple" in " ".join(caught.value.message_dict["any"])
    assert not AudienceMember.objects.exists()
    campaign.refresh_from_db()
    assert campaign.frozen_at is None


def test_members_keep_the_guide_and_labels_they_had_at_freeze_time(store, guide):
    fan = make_fan(store=store, guide=guide, apple="yellow", rfm_segment="important_winback")
    campaign = make_campaign(stores=[store])

    freeze_audience(campaign=campaign, audience={}, now=NOW)

    member = AudienceMember.objects.get(campaign=campaign, customer=fan)
    assert (member.guide_id, member.apple, member.rfm_segment, member.group) == (
        guide.pk,
        "yellow",
        "important_winback",
        CONTACT,
    )
