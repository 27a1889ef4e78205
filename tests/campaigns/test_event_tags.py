from campaigns.models import CheckIn
from campaigns.services import check_in, refresh_event_tags
from tagging.models import CustomerTag
from tests.campaigns.helpers import NOW, make_campaign, make_fan
from tests.factories import aware_dt, make_order


def event_tags_of(fan) -> set[str]:
    return {
        f"{group}:{code}"
        for group, code in CustomerTag.objects.filter(customer=fan).values_list(
            "tag__group__code", "tag__code"
        )
    }


def test_checking_in_twice_records_one_participation(store, guide):
    fan = make_fan(store=store)
    campaign = make_campaign(stores=[store])

    first, created_first = check_in(campaign=campaign, customer=fan, by=guide, now=NOW)
    second, created_second = check_in(campaign=campaign, customer=fan, by=guide, now=NOW)

    assert (created_first, created_second) == (True, False)
    assert first.pk == second.pk
    assert CheckIn.objects.filter(campaign=campaign, customer=fan).count() == 1
    assert event_tags_of(fan) == {"participated:spring"}


def test_participant_with_a_sale_at_an_event_store_on_the_event_dates_is_transacted(store):
    fan = make_fan(store=store)
    campaign = make_campaign(stores=[store])  # 2026-03-05 .. 2026-03-08, local dates
    make_order(customer=fan, store=store, paid_at=aware_dt(2026, 3, 8, 23, 59))
    check_in(campaign=campaign, customer=fan, now=NOW)

    assert event_tags_of(fan) == {"participated:spring", "transacted:spring"}


def test_sales_just_outside_the_event_dates_do_not_count(store):
    before = make_fan(store=store)
    after = make_fan(store=store)
    campaign = make_campaign(stores=[store])
    make_order(customer=before, store=store, paid_at=aware_dt(2026, 3, 4, 23, 59))
    make_order(customer=after, store=store, paid_at=aware_dt(2026, 3, 9, 0, 0))
    check_in(campaign=campaign, customer=before, now=NOW)
    check_in(campaign=campaign, customer=after, now=NOW)

    assert refresh_event_tags(campaign=campaign) == 0
    assert event_tags_of(before) == event_tags_of(after) == {"participated:spring"}


def test_the_first_local_day_counts_even_when_it_is_the_previous_day_in_utc(store):
    fan = make_fan(store=store)
    campaign = make_campaign(stores=[store])
    make_order(customer=fan, store=store, paid_at=aware_dt(2026, 3, 5, 0, 30))  # 16:30 UTC on 3/4
    check_in(campaign=campaign, customer=fan, now=NOW)

    assert "transacted:spring" in event_tags_of(fan)


def test_a_sale_at_a_store_outside_the_event_does_not_count(store, other_store):
    fan = make_fan(store=store)
    campaign = make_campaign(stores=[store])
    make_order(customer=fan, store=other_store, paid_at=aware_dt(2026, 3, 6))
    check_in(campaign=campaign, customer=fan, now=NOW)

    assert event_tags_of(fan) == {"participated:spring"}


def test_a_refund_is_not_a_purchase(store):
    fan = make_fan(store=store)
    campaign = make_campaign(stores=[store])
    make_order(customer=fan, store=store, paid_at=aware_dt(2026, 3, 6), kind="refund")
    check_in(campaign=campaign, customer=fan, now=NOW)

    assert event_tags_of(fan) == {"participated:spring"}


def test_buyers_who_did_not_take_part_are_not_transacted(store):
    fan = make_fan(store=store)
    campaign = make_campaign(stores=[store])
    make_order(customer=fan, store=store, paid_at=aware_dt(2026, 3, 6))

    assert refresh_event_tags(campaign=campaign) == 0
    assert event_tags_of(fan) == set()


def test_refresh_tags_participants_who_buy_after_checking_in(store):
    fan = make_fan(store=store)
    campaign = make_campaign(stores=[store])
    check_in(campaign=campaign, customer=fan, now=NOW)
    make_order(customer=fan, store=store, paid_at=aware_dt(2026, 3, 7))

    assert refresh_event_tags(campaign=campaign) == 1
    assert refresh_event_tags(campaign=campaign) == 1  # idempotent
    assert event_tags_of(fan) == {"participated:spring", "transacted:spring"}
    assert CustomerTag.objects.filter(customer=fan).count() == 2
