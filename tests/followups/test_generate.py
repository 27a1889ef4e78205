"""The nightly generation of follow-ups: each reason at its boundaries, idempotency, exclusions."""

from datetime import date, timedelta

import pytest
from lunardate import LunarDate

from campaigns.models import Contact
from followups.models import FollowUp, FollowUpRule, Reason
from tests.factories import make_customer
from tests.followups.helpers import (
    AS_OF,
    fan_with_labels,
    follow_ups,
    generate,
    noon,
    only,
    run_with_changes,
)

pytestmark = pytest.mark.django_db


# --- after-sale care -----------------------------------------------------------------------------


@pytest.mark.parametrize(("days_since_sale", "expected"), [(2, 0), (3, 1)])
def test_after_sale_care_is_due_on_day_3_after_the_sale(store, guide, days_since_sale, expected):
    only(Reason.AFTER_SALE_CARE)
    fan_with_labels(
        store=store, guide=guide, last_sale=AS_OF - timedelta(days=days_since_sale), frequency=1
    )

    generate()

    assert follow_ups(Reason.AFTER_SALE_CARE).count() == expected


def test_after_sale_care_belongs_to_her_guide_and_store_with_her_name_in_the_message(store, guide):
    only(Reason.AFTER_SALE_CARE)
    fan = fan_with_labels(
        store=store, guide=guide, name="张三", last_sale=AS_OF - timedelta(days=3), frequency=1
    )

    generate()

    follow_up = FollowUp.objects.get()
    assert (follow_up.customer, follow_up.guide, follow_up.store) == (fan, guide, store)
    assert follow_up.due_on == AS_OF
    assert follow_up.occasion == (AS_OF - timedelta(days=3)).isoformat()
    assert follow_up.status == FollowUp.Status.OPEN
    assert follow_up.message.startswith("张三您好")


def test_a_missed_night_catches_up_but_nothing_already_expired_is_created(store):
    only(Reason.AFTER_SALE_CARE)
    late = fan_with_labels(store=store, last_sale=AS_OF - timedelta(days=3 + 13), frequency=1)
    fan_with_labels(store=store, last_sale=AS_OF - timedelta(days=3 + 14), frequency=1)

    generate()

    assert list(follow_ups().values_list("customer", flat=True)) == [late.pk]


# --- repurchase nudge ----------------------------------------------------------------------------


@pytest.mark.parametrize(("days_since_last", "expected"), [(29, 0), (30, 1)])
def test_the_nudge_comes_exactly_at_her_mean_gap(store, days_since_last, expected):
    only(Reason.REPURCHASE_NUDGE)
    last = AS_OF - timedelta(days=days_since_last)
    # 4 sales 90 days apart in all: a mean gap of 30 days.
    fan_with_labels(
        store=store, last_sale=last, window_first_sale=last - timedelta(days=90), frequency=4
    )

    generate()

    assert follow_ups(Reason.REPURCHASE_NUDGE).count() == expected


def test_a_fractional_mean_gap_rounds_up_to_the_next_whole_day(store):
    only(Reason.REPURCHASE_NUDGE)
    last = AS_OF - timedelta(days=45)
    # 3 sales over 89 days: a mean gap of 44.5 days → due on day 45.
    fan_with_labels(
        store=store, last_sale=last, window_first_sale=last - timedelta(days=89), frequency=3
    )

    generate(AS_OF - timedelta(days=1))
    assert follow_ups().count() == 0
    generate()
    assert follow_ups().get().due_on == AS_OF


@pytest.mark.parametrize(("days_since_last", "expected"), [(59, 0), (60, 1)])
def test_a_single_buyer_is_nudged_after_60_days(store, days_since_last, expected):
    only(Reason.REPURCHASE_NUDGE)
    fan_with_labels(store=store, last_sale=AS_OF - timedelta(days=days_since_last), frequency=1)

    generate()

    assert follow_ups(Reason.REPURCHASE_NUDGE).count() == expected


def test_the_nudges_message_is_her_segments_playbook_message(store):
    only(Reason.REPURCHASE_NUDGE)
    fan_with_labels(
        store=store,
        name="李四",
        last_sale=AS_OF - timedelta(days=60),
        frequency=1,
        rfm_segment="important_winback",
    )

    generate()

    assert "李四" in follow_ups().get().message
    assert "{name}" not in follow_ups().get().message


# --- birthday -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("days_ahead", "expected"), [(8, 0), (7, 1)])
def test_a_birthday_is_due_7_days_before(store, days_ahead, expected):
    only(Reason.BIRTHDAY)
    day = AS_OF + timedelta(days=days_ahead)
    make_customer(store=store, birth_calendar="gregorian", birth_month=day.month, birth_day=day.day)

    generate()

    assert follow_ups(Reason.BIRTHDAY).count() == expected


def test_a_lunar_birthday_7_days_ahead_across_the_gregorian_new_year(store):
    only(Reason.BIRTHDAY)
    as_of, birthday = date(2026, 12, 28), date(2027, 1, 4)
    lunar = LunarDate.fromSolarDate(birthday.year, birthday.month, birthday.day)
    make_customer(
        store=store,
        birth_calendar="lunar",
        birth_month=lunar.month,
        birth_day=lunar.day,
        birth_is_leap_month=bool(lunar.isLeapMonth),
    )

    generate(as_of - timedelta(days=1))
    assert follow_ups().count() == 0
    generate(as_of)

    follow_up = follow_ups(Reason.BIRTHDAY).get()
    assert (follow_up.occasion, follow_up.due_on) == ("2027-01-04", as_of)


# --- label changes of the night -----------------------------------------------------------------


def test_a_stage_drop_recorded_last_night_gets_a_follow_up(store):
    only(Reason.STAGE_DROP)
    asleep = make_customer(store=store)
    woke = make_customer(store=store)
    run_with_changes(
        (asleep, "r_stage", "active", "sleeping"), (woke, "r_stage", "sleeping", "active")
    )

    generate()

    assert list(follow_ups(Reason.STAGE_DROP).values_list("customer", flat=True)) == [asleep.pk]


def test_an_apple_upgrade_is_congratulated_and_a_downgrade_is_not(store):
    only(Reason.APPLE_UPGRADE)
    up = make_customer(store=store)
    down = make_customer(store=store)
    run_with_changes((up, "apple", "green", "red"), (down, "apple", "red", "green"))

    generate()

    assert list(follow_ups(Reason.APPLE_UPGRADE).values_list("customer", flat=True)) == [up.pk]


def test_an_upgrade_made_live_after_last_nights_follow_ups_comes_with_tonights(store):
    only(Reason.APPLE_UPGRADE)
    fan = make_customer(store=store)
    yesterday = run_with_changes(as_of=AS_OF - timedelta(days=1))
    generate(AS_OF - timedelta(days=1))
    # A sale at the till moved her apple under yesterday's run; tonight's run changed nothing.
    run_with_changes()
    yesterday.changes.create(customer=fan, group="apple", from_code="green", to_code="yellow")

    generate()

    assert follow_ups(Reason.APPLE_UPGRADE).get().customer == fan


def test_a_remark_that_differs_from_the_standard_gets_one_follow_up_with_the_standard(store):
    only(Reason.REMARK_UPDATE)
    fan = fan_with_labels(store=store, wechat_remark="小张")
    fan.labels.remark_store_account = "WXL-张三-VIP-20240315"
    fan.labels.save()

    generate()
    generate(AS_OF + timedelta(days=1))

    follow_up = follow_ups(Reason.REMARK_UPDATE).get()
    assert follow_up.message == follow_up.occasion == "WXL-张三-VIP-20240315"


# --- idempotency, exclusions, expiry ------------------------------------------------------------


def test_a_rerun_for_the_same_day_creates_nothing(store):
    fan_with_labels(store=store, last_sale=AS_OF - timedelta(days=3), frequency=1)
    first = generate()

    second = generate()

    assert first[Reason.AFTER_SALE_CARE] == 1
    assert all(second[reason] == 0 for reason in Reason.values)
    assert follow_ups().count() == 1


def test_a_fan_has_at_most_one_pending_follow_up_per_reason(store):
    only(Reason.REPURCHASE_NUDGE)
    last = AS_OF - timedelta(days=60)
    fan = fan_with_labels(store=store, last_sale=last, frequency=1)
    generate()
    # A back-dated sale moved her last sale: a new occasion, but the first is still open.
    fan.labels.last_sale = last - timedelta(days=1)
    fan.labels.save()

    generate(AS_OF + timedelta(days=1))

    assert follow_ups().count() == 1


def test_a_done_follow_up_is_not_created_again(store):
    only(Reason.AFTER_SALE_CARE)
    fan_with_labels(store=store, last_sale=AS_OF - timedelta(days=3), frequency=1)
    generate()
    follow_ups().update(status=FollowUp.Status.DONE, completed_at=noon(AS_OF))

    generate(AS_OF + timedelta(days=1))

    assert follow_ups().count() == 1


def test_do_not_contact_fans_get_none(store):
    fan_with_labels(
        store=store, last_sale=AS_OF - timedelta(days=3), frequency=1, do_not_contact=True
    )

    generate()

    assert follow_ups().count() == 0


def test_a_switched_off_reason_creates_nothing(store):
    FollowUpRule.objects.filter(reason=Reason.AFTER_SALE_CARE).update(is_enabled=False)
    fan_with_labels(store=store, last_sale=AS_OF - timedelta(days=3), frequency=1)

    assert generate().get(Reason.AFTER_SALE_CARE) is None
    assert follow_ups().count() == 0


def test_hq_sets_a_reasons_days(store):
    only(Reason.AFTER_SALE_CARE)
    FollowUpRule.objects.filter(reason=Reason.AFTER_SALE_CARE).update(days=5)
    fan_with_labels(store=store, last_sale=AS_OF - timedelta(days=3), frequency=1)
    fan_with_labels(store=store, last_sale=AS_OF - timedelta(days=5), frequency=1)

    generate()

    assert follow_ups().get().occasion == (AS_OF - timedelta(days=5)).isoformat()


@pytest.mark.parametrize(("contacts", "expected"), [(1, 1), (2, 0)])
def test_the_weekly_cap_counts_every_source_of_the_ledger(store, contacts, expected):
    only(Reason.AFTER_SALE_CARE)
    fan = fan_with_labels(store=store, last_sale=AS_OF - timedelta(days=3), frequency=1)
    sources = [Contact.Source.CAMPAIGN, Contact.Source.MANUAL]
    for source in sources[:contacts]:
        Contact.objects.create(
            customer=fan,
            channel="wechat",
            source=source,
            contacted_at=noon(AS_OF - timedelta(days=6)),
        )

    generate()

    assert follow_ups().count() == expected


def test_contacts_older_than_a_week_do_not_count_towards_the_cap(store):
    only(Reason.AFTER_SALE_CARE)
    fan = fan_with_labels(store=store, last_sale=AS_OF - timedelta(days=3), frequency=1)
    for _ in range(2):
        Contact.objects.create(
            customer=fan,
            channel="phone",
            source="manual",
            contacted_at=noon(AS_OF - timedelta(days=8)),
        )

    generate()

    assert follow_ups().count() == 1


@pytest.mark.parametrize(("days_past_due", "status"), [(13, "open"), (14, "expired")])
def test_a_follow_up_not_done_expires_14_days_after_its_due_date(store, days_past_due, status):
    only(Reason.AFTER_SALE_CARE)
    fan_with_labels(store=store, last_sale=AS_OF - timedelta(days=3), frequency=1)
    generate()

    counts = generate(AS_OF + timedelta(days=days_past_due))

    assert follow_ups().get().status == status
    assert counts["expired"] == (status == "expired")


def test_a_snoozed_follow_up_comes_back_on_its_date(store):
    only(Reason.AFTER_SALE_CARE)
    fan_with_labels(store=store, last_sale=AS_OF - timedelta(days=3), frequency=1)
    generate()
    follow_ups().update(status="snoozed", snoozed_until=AS_OF + timedelta(days=3))

    generate(AS_OF + timedelta(days=2))
    assert follow_ups().get().status == "snoozed"
    generate(AS_OF + timedelta(days=3))
    assert follow_ups().get().status == "open"


# --- hold-out -------------------------------------------------------------------------------------


def test_the_holdout_is_a_seeded_hash_of_fan_reason_and_day(store):
    only(Reason.AFTER_SALE_CARE)
    for _ in range(200):
        fan_with_labels(store=store, last_sale=AS_OF - timedelta(days=3), frequency=1)
    generate()
    held = set(follow_ups(is_holdout=True).values_list("customer", flat=True))
    FollowUp.objects.all().delete()

    generate()

    assert set(follow_ups(is_holdout=True).values_list("customer", flat=True)) == held
    assert 0 < len(held) < 60
