"""What follow-ups earned: attribution at its window's edges, refunds, hold-out, caps across sources."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection

from campaigns.models import Contact
from campaigns.services import freeze_audience
from customers.models import Order
from followups.models import FollowUp, Reason
from followups.selectors import credited_sales, follow_up_results, leaderboard_for
from followups.services import _holdout_sql, complete_follow_up
from tests.campaigns.helpers import make_campaign
from tests.factories import make_customer, make_order, make_staff
from tests.followups.helpers import noon

pytestmark = pytest.mark.django_db

DUE = date(2026, 6, 1)
DONE_AT = noon(DUE)


def done_follow_up(fan, guide, *, reason=Reason.AFTER_SALE_CARE, at=DONE_AT) -> FollowUp:
    follow_up = FollowUp.objects.create(
        customer=fan, guide=guide, store=fan.store, reason=reason, occasion=str(at), due_on=DUE
    )
    follow_up, _created = complete_follow_up(
        follow_up=follow_up, by=guide, channel="wechat", reached=True, note="", now=at
    )
    return follow_up


@pytest.mark.parametrize(("days_after", "credited"), [(14, True), (15, False)])
def test_a_sale_within_14_days_after_completion_is_credited(store, guide, days_after, credited):
    fan = make_customer(store=store, guide=guide)
    follow_up = done_follow_up(fan, guide)
    make_order(customer=fan, amount="800.00", paid_at=DONE_AT + timedelta(days=days_after))

    assert credited_sales(FollowUp.objects.all()) == (
        {follow_up.pk: Decimal("800.00")} if credited else {}
    )


def test_a_sale_before_the_completion_is_not_credited(store, guide):
    fan = make_customer(store=store, guide=guide)
    done_follow_up(fan, guide)
    make_order(customer=fan, paid_at=DONE_AT - timedelta(minutes=1))

    assert credited_sales(FollowUp.objects.all()) == {}


def test_a_refund_of_the_credited_sale_removes_the_credit(store, guide):
    fan = make_customer(store=store, guide=guide)
    follow_up = done_follow_up(fan, guide)
    sale = make_order(customer=fan, amount="800.00", paid_at=DONE_AT + timedelta(days=2))
    make_order(customer=fan, kind=Order.Kind.REFUND, refund_of=sale, amount="300.00",
               paid_at=DONE_AT + timedelta(days=3))  # fmt: skip
    assert credited_sales(FollowUp.objects.all()) == {follow_up.pk: Decimal("500.00")}

    make_order(customer=fan, kind=Order.Kind.REFUND, refund_of=sale, amount="500.00",
               paid_at=DONE_AT + timedelta(days=4))  # fmt: skip

    assert credited_sales(FollowUp.objects.all()) == {}


def test_a_sale_is_credited_once_to_the_latest_follow_up_in_reach(store, guide):
    fan = make_customer(store=store, guide=guide)
    done_follow_up(fan, guide, reason=Reason.BIRTHDAY)
    later = done_follow_up(fan, guide, at=DONE_AT + timedelta(days=1))
    make_order(customer=fan, amount="800.00", paid_at=DONE_AT + timedelta(days=2))

    assert credited_sales(FollowUp.objects.all()) == {later.pk: Decimal("800.00")}


def test_results_per_reason_and_guide_with_the_holdout_lift(store, guide, hq):
    bought, idle, held_bought, held_idle = (
        make_customer(store=store, guide=guide) for _ in range(4)
    )
    done_follow_up(bought, guide)
    done_follow_up(idle, guide)
    make_order(customer=bought, amount="800.00", paid_at=DONE_AT + timedelta(days=1))
    for fan in (held_bought, held_idle):
        FollowUp.objects.create(customer=fan, guide=guide, store=store, occasion="h",
                                reason=Reason.AFTER_SALE_CARE, due_on=DUE, is_holdout=True)  # fmt: skip
    FollowUp.objects.filter(is_holdout=True).update(created_at=DONE_AT)
    make_order(customer=held_bought, paid_at=DONE_AT + timedelta(days=3))
    FollowUp.objects.create(customer=idle, guide=guide, store=store, occasion="late",
                            reason=Reason.BIRTHDAY, due_on=DUE)  # fmt: skip

    results = follow_up_results(actor=hq, since=DUE, until=DUE, today=DUE + timedelta(days=1))

    care, birthday = results["by_reason"]
    assert (care["reason"], care["generated"], care["held_out"], care["done"]) == (
        "after_sale_care", 2, 2, 2,
    )  # fmt: skip
    assert (care["reached"], care["converted"], care["sales"]) == (2, 1, "800.00")
    lift = care["conversion_difference"]
    assert (lift["rate_contact"], lift["rate_holdout"], lift["difference"]) == (0.5, 0.5, 0.0)
    assert (birthday["reason"], birthday["overdue"], birthday["done"]) == ("birthday", 1, 0)
    [row] = results["by_guide"]
    assert (row["guide"], row["done"], row["sales"]) == (guide.work_number, 2, "800.00")
    assert results["total"]["generated"] == 3


def test_results_of_a_guide_count_her_follow_ups_only_and_never_a_holdout(store, guide):
    colleague = make_staff(store=store)
    done_follow_up(make_customer(store=store), guide)
    done_follow_up(make_customer(store=store), colleague)
    FollowUp.objects.create(customer=make_customer(store=store), guide=guide, store=store,
                            occasion="h", reason=Reason.BIRTHDAY, due_on=DUE, is_holdout=True)  # fmt: skip

    results = follow_up_results(actor=guide, since=DUE, until=DUE, today=DUE)

    assert (results["total"]["done"], results["total"]["held_out"]) == (1, 0)


def test_the_leaderboard_ranks_by_converted_sales_and_a_guide_sees_her_row(store, guide, manager):
    rival = make_staff(store=store, name="赵六")
    for who, amount in ((guide, "300.00"), (rival, "900.00")):
        fan = make_customer(store=store, guide=who)
        done_follow_up(fan, who)
        make_order(customer=fan, amount=amount, paid_at=DONE_AT + timedelta(days=1))
    today = DUE + timedelta(days=2)

    board = leaderboard_for(actor=manager, store_id=store.pk, today=today)
    mine = leaderboard_for(actor=guide, store_id=store.pk, today=today)

    assert [(row["guide__name"], row["rank"]) for row in board] == [("赵六", 1), (guide.name, 2)]
    assert [(row["guide_id"], row["rank"], row["of"]) for row in mine] == [(guide.pk, 2, 2)]


def test_a_completed_follow_up_counts_towards_the_campaign_contact_cap(store, guide, settings):
    settings.CAMPAIGN_CONTACT_CAP = 1
    fan = make_customer(store=store, guide=guide)
    done_follow_up(fan, guide, at=noon(date(2026, 3, 1)))
    campaign = make_campaign(stores=[store])

    report = freeze_audience(campaign=campaign, audience={}, now=noon(date(2026, 3, 4)))

    assert report["removed"]["contact_cap"] == 1


def test_a_freeze_writes_one_ledger_row_per_contacted_member_and_a_refreeze_replaces_them(store):
    fans = [make_customer(store=store) for _ in range(3)]
    campaign = make_campaign(stores=[store])
    freeze_audience(campaign=campaign, audience={}, now=noon(date(2026, 3, 4)))

    freeze_audience(campaign=campaign, audience={}, now=noon(date(2026, 3, 5)))

    rows = Contact.objects.filter(campaign=campaign)
    assert sorted(rows.values_list("customer", flat=True)) == [f.pk for f in fans]
    assert {c.contacted_at for c in rows} == {noon(date(2026, 3, 5))}


@pytest.mark.parametrize("reason", list(Reason.values))
def test_the_holdout_share_is_within_1_point_of_10_percent_on_100000_follow_ups(reason):
    """The generator's own SQL expression over 100,000 fan ids, twice: the same share and the
    same fans both times (a seeded hash of fan, reason and day)."""
    holdout, params = _holdout_sql(reason=reason, as_of=date(2026, 6, 30))
    sql = f"""
        WITH RECURSIVE ids(f_customer) AS (
            SELECT 1 UNION ALL SELECT f_customer + 1 FROM ids WHERE f_customer < 100000
        )
        SELECT SUM(CASE WHEN {holdout.replace("c.", "")} THEN 1 ELSE 0 END),
               SUM(CASE WHEN {holdout.replace("c.", "")} THEN f_customer ELSE 0 END)
          FROM ids
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params * 2)
        first = cursor.fetchone()
        cursor.execute(sql, params * 2)
        again = cursor.fetchone()

    share = first[0] / 100_000
    assert abs(share - settings.FOLLOW_UP_HOLDOUT_PERCENT / 100) <= 0.01
    assert again == first
