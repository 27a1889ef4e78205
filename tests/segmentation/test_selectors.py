"""Apple quotas, segment summaries, repurchase figures and worklists read from the labels."""

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from django.test import override_settings
from django.utils import timezone

from customers.models import Customer, CustomerLabels
from segmentation.models import AppleQuotaOverride, RelabelRun
from segmentation.selectors import (
    apple_quota_for_store,
    apple_upgrades_of_last_run,
    company_apple_quota,
    label_changes_of_last_run,
    label_changes_since,
    remark_inputs,
    repurchase_stats,
    segment_summary,
)
from segmentation.services import relabel
from tests.factories import aware_dt, make_customer, make_order, make_store

AS_OF = date(2026, 6, 30)


def labelled(store, **labels) -> Customer:
    fan = make_customer(store=store)
    CustomerLabels.objects.create(customer=fan, **labels)
    return fan


def tiers(quota: dict) -> dict[str, tuple[int, int, int]]:
    return {t["apple"]: (t["target"], t["actual"], t["gap"]) for t in quota["tiers"]}


def test_a_stores_quota_is_the_brand_default_times_the_unit_minus_actuals(
    store, django_assert_max_num_queries
):
    labelled(store, apple="golden")
    labelled(store, apple="red")
    labelled(store, apple="red")
    with django_assert_max_num_queries(3):
        quota = apple_quota_for_store(store=store)
    assert quota["store"] == store.code
    assert [t["apple"] for t in quota["tiers"]] == ["golden", "red", "yellow", "green", "blossom"]
    assert tiers(quota) == {
        "golden": (3, 1, 2),
        "red": (1, 2, -1),
        "yellow": (2, 0, 2),
        "green": (5, 0, 5),
        "blossom": (1, 0, 1),
    }


@override_settings(APPLE_QUOTA_UNIT=10)
def test_a_store_override_replaces_the_default_for_that_tier(store):
    AppleQuotaOverride.objects.create(store=store, apple="green", target=7)
    quota = tiers(apple_quota_for_store(store=store))
    assert quota["green"] == (7, 0, 7)
    assert quota["golden"] == (30, 0, 30)


def test_company_quota_sums_active_stores_only(store, other_store, django_assert_max_num_queries):
    closed = make_store(is_active=False)
    AppleQuotaOverride.objects.create(store=other_store, apple="golden", target=10)
    labelled(store, apple="golden")
    labelled(other_store, apple="golden")
    labelled(closed, apple="golden")
    with django_assert_max_num_queries(4):
        quota = company_apple_quota()
    assert tiers(quota)["golden"] == (13, 2, 11)
    assert [row["store"] for row in quota["stores"]] == sorted([store.code, other_store.code])


def test_quota_as_of_is_the_last_successful_run(store):
    assert apple_quota_for_store(store=store)["as_of"] is None
    relabel(as_of=AS_OF)
    assert apple_quota_for_store(store=store)["as_of"] == AS_OF


def test_segment_summary_counts_every_group_in_one_query(
    store, other_store, django_assert_num_queries
):
    labelled(store, apple="red", rfm_segment="important_value", r_stage="active", membership="vip")
    labelled(
        store, apple="red", rfm_segment="important_value", r_stage="sleeping", membership="regular"
    )
    labelled(store, apple="blossom")
    labelled(
        other_store,
        apple="green",
        rfm_segment="general_winback",
        r_stage="churned",
        membership="regular",
    )
    with django_assert_num_queries(1):
        summary = segment_summary(customers=Customer.objects.filter(store=store))
    assert summary["total"] == 3
    assert summary["apple"]["red"] == 2 and summary["apple"]["green"] == 0
    assert summary["rfm_segment"]["important_value"] == 2 and summary["rfm_segment"]["none"] == 1
    assert summary["r_stage"] == {
        "active": 1,
        "sleeping": 1,
        "pre_churn": 0,
        "churned": 0,
        "none": 1,
    }
    assert summary["membership"]["vip"] == 1


def test_repurchase_rate_and_mean_gap(store):
    labelled(
        store,
        frequency=3,
        lifetime_sales=3,
        first_sale=date(2026, 1, 1),
        last_sale=date(2026, 1, 31),
    )
    labelled(
        store,
        frequency=1,
        lifetime_sales=2,
        first_sale=date(2026, 1, 1),
        last_sale=date(2026, 1, 21),
    )
    labelled(
        store,
        frequency=1,
        lifetime_sales=1,
        first_sale=date(2026, 1, 1),
        last_sale=date(2026, 1, 1),
    )
    labelled(store, frequency=0)
    stats = repurchase_stats(customers=Customer.objects.filter(store=store))
    assert (stats["buyers"], stats["repeat_buyers"]) == (3, 1)
    assert stats["repurchase_rate"] == pytest.approx(1 / 3)
    assert stats["mean_gap_days"] == pytest.approx((30 + 20) / (2 + 1), abs=0.05)


def test_repurchase_stats_without_buyers_are_empty(store):
    labelled(store, frequency=0)
    assert repurchase_stats(customers=Customer.objects.all()) == {
        "buyers": 0, "repeat_buyers": 0, "repurchase_rate": None, "mean_gap_days": None,
    }  # fmt: skip


def test_worklists_show_who_moved_to_sleeping_and_whose_apple_went_up_last_night(
    store, other_store
):
    sleeper = make_customer(store=store)
    climber = make_customer(store=store)
    elsewhere = make_customer(store=other_store)
    for fan in (sleeper, elsewhere):
        make_order(customer=fan, paid_at=aware_dt(2026, 4, 1))  # 90 days before AS_OF
    make_order(customer=climber, paid_at=aware_dt(2026, 6, 1))
    relabel(as_of=AS_OF)
    make_order(customer=climber, paid_at=aware_dt(2026, 6, 30, 18))
    relabel(as_of=AS_OF + timedelta(days=1))
    mine = Customer.objects.filter(store=store)

    moved = label_changes_of_last_run(
        customers=mine, group="r_stage", to_codes=["sleeping", "pre_churn"]
    )
    assert [(c.customer_id, c.from_code, c.to_code) for c in moved] == [
        (sleeper.pk, "active", "sleeping")
    ]
    upgrades = apple_upgrades_of_last_run(customers=mine)
    assert [(c.customer_id, c.from_code, c.to_code) for c in upgrades] == [
        (climber.pk, "green", "yellow")
    ]
    since = label_changes_since(
        customers=mine, since=timezone.now() - timedelta(hours=1), group="apple"
    )
    assert {c.customer_id for c in since} == {climber.pk}  # a fan's first labels are no change


def test_worklists_are_empty_before_any_run(store):
    assert not label_changes_of_last_run(customers=Customer.objects.all(), group="apple").exists()
    assert RelabelRun.objects.count() == 0


def test_remark_inputs_read_by_lookups_or_in_one_scan_agree(store, guide):
    referrer = make_customer(store=store, name="李四")
    fans = [
        make_customer(store=store, guide=guide if i % 2 else None, referrer=referrer)
        for i in range(24)
    ]
    ids = np.array([fan.pk for fan in reversed(fans)])
    by_lookups = remark_inputs(ids, chunk=5)  # 5 queries
    in_one_scan = remark_inputs(ids, chunk=1)  # more than 20 chunks: one scan of every fan
    pd.testing.assert_frame_equal(by_lookups, in_one_scan)
    assert list(by_lookups["name"]) == [fan.name for fan in reversed(fans)]
    assert set(by_lookups["referrer_name"]) == {"李四"}
    assert set(by_lookups["guide_name"]) == {"", guide.name}
