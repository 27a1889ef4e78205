import pytest
from django.db import IntegrityError

from campaigns.models import AudienceMember, Campaign, Playbook
from campaigns.selectors import personalise, playbook_for_segment
from fanops.vocabulary import RfmSegment
from tests.campaigns.helpers import make_campaign, make_fan


def test_every_rfm_segment_has_a_seeded_playbook_with_a_named_message(db):
    playbooks = {p.rfm_segment: p for p in Playbook.objects.all()}

    assert set(playbooks) == set(RfmSegment.values)
    assert all("{name}" in p.default_message and p.action_zh for p in playbooks.values())
    assert "优惠券" in playbooks["important_value"].action_zh
    assert "挽回" in playbooks["important_winback"].action_zh


def test_playbook_for_a_fan_without_a_segment_is_none(db):
    assert playbook_for_segment("") is None
    assert playbook_for_segment("important_value").rfm_segment == "important_value"


def test_a_message_gets_the_fans_name_and_nothing_else_is_interpreted():
    assert personalise("{name}您好 {0} {other}", name="张三") == "张三您好 {0} {other}"


def test_the_database_refuses_an_event_ending_before_it_starts(store):
    with pytest.raises(IntegrityError):
        make_campaign(stores=[store], starts_on="2026-03-05", ends_on="2026-03-04")


@pytest.mark.parametrize("percent", [51, 100])
def test_the_database_refuses_a_holdout_over_50_percent(store, percent):
    with pytest.raises(IntegrityError):
        Campaign.objects.create(
            code="x",
            name="x",
            starts_on="2026-03-05",
            ends_on="2026-03-05",
            holdout_percent=percent,
        )


def test_a_fan_is_in_an_audience_at_most_once(store):
    fan = make_fan(store=store)
    campaign = make_campaign(stores=[store])
    AudienceMember.objects.create(campaign=campaign, customer=fan, group="contact")

    with pytest.raises(IntegrityError):
        AudienceMember.objects.create(campaign=campaign, customer=fan, group="holdout")


def test_deleting_a_fan_removes_her_memberships(store, guide):
    fan = make_fan(store=store, guide=guide)
    campaign = make_campaign(stores=[store])
    AudienceMember.objects.create(campaign=campaign, customer=fan, guide=guide, group="contact")

    fan.delete()

    assert not AudienceMember.objects.exists()


def test_deleting_a_guide_keeps_the_members_without_a_guide(store, guide):
    fan = make_fan(store=store)
    campaign = make_campaign(stores=[store])
    AudienceMember.objects.create(campaign=campaign, customer=fan, guide=guide, group="contact")

    guide.delete()

    assert AudienceMember.objects.get().guide_id is None
