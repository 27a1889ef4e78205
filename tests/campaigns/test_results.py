import pytest

from campaigns.models import AudienceMember
from campaigns.selectors import campaign_results, conversion_difference
from campaigns.services import check_in
from tests.campaigns.helpers import NOW, make_campaign, make_fan
from tests.factories import aware_dt, make_order


def test_conversion_difference_on_a_hand_computed_example():
    # contacted 40/200 = 0.20, hold-out 5/50 = 0.10, d = 0.10;
    # SE = sqrt(0.2·0.8/200 + 0.1·0.9/50) = sqrt(0.0008 + 0.0018) = 0.0509902
    # 95 %: 0.10 ± 1.959964 · 0.0509902 = 0.10 ± 0.0999389
    result = conversion_difference(buyers_a=40, size_a=200, buyers_b=5, size_b=50)

    assert result["rate_contact"] == 0.2
    assert result["rate_holdout"] == 0.1
    assert result["difference"] == pytest.approx(0.1)
    assert result["ci_low"] == pytest.approx(0.000061, abs=1e-6)
    assert result["ci_high"] == pytest.approx(0.199939, abs=1e-6)


def test_conversion_difference_with_an_empty_group_has_no_interval():
    result = conversion_difference(buyers_a=3, size_a=10, buyers_b=0, size_b=0)

    assert result == {
        "rate_contact": 0.3,
        "rate_holdout": None,
        "difference": None,
        "ci_low": None,
        "ci_high": None,
    }


def test_conversion_difference_of_identical_certain_groups_is_zero_wide():
    result = conversion_difference(buyers_a=10, size_a=10, buyers_b=5, size_b=5)

    assert (result["difference"], result["ci_low"], result["ci_high"]) == (0.0, 0.0, 0.0)


def test_results_count_buyers_participants_and_sales_per_group(store, other_store, hq):
    campaign = make_campaign(stores=[store], frozen_at=NOW)
    contact_buyer, contact_idle, holdout_buyer = (make_fan(store=store) for _ in range(3))
    walk_in = make_fan(store=store)
    for fan, group in [
        (contact_buyer, "contact"),
        (contact_idle, "contact"),
        (holdout_buyer, "holdout"),
    ]:
        AudienceMember.objects.create(campaign=campaign, customer=fan, group=group)
    make_order(customer=contact_buyer, store=store, amount="300.00", paid_at=aware_dt(2026, 3, 5))
    make_order(customer=contact_buyer, store=store, amount="200.50", paid_at=aware_dt(2026, 3, 6))
    make_order(
        customer=contact_buyer, store=other_store, amount="999.00", paid_at=aware_dt(2026, 3, 6)
    )
    make_order(customer=contact_idle, store=store, amount="100.00", paid_at=aware_dt(2026, 3, 9))
    make_order(customer=holdout_buyer, store=store, amount="80.00", paid_at=aware_dt(2026, 3, 8))
    check_in(campaign=campaign, customer=contact_buyer, now=NOW)
    check_in(campaign=campaign, customer=walk_in, now=NOW)

    results = campaign_results(campaign=campaign, actor=hq)

    assert (results["audience"], results["contacted"], results["holdout"]) == (3, 2, 1)
    assert (results["participated"], results["participated_outside_audience"]) == (2, 1)
    assert results["groups"]["contact"] == {
        "size": 2,
        "participated": 1,
        "buyers": 1,
        "orders": 2,
        "sales": "500.50",
        "conversion": 0.5,
    }
    assert results["groups"]["holdout"] == {
        "size": 1,
        "participated": 0,
        "buyers": 1,
        "orders": 1,
        "sales": "80.00",
        "conversion": 1.0,
    }
    assert results["conversion_difference"]["difference"] == -0.5


def test_a_manager_sees_results_for_the_fans_of_their_store_only(store, other_store, manager):
    campaign = make_campaign(stores=[store, other_store], frozen_at=NOW)
    AudienceMember.objects.create(
        campaign=campaign, customer=make_fan(store=store), group="contact"
    )
    AudienceMember.objects.create(
        campaign=campaign, customer=make_fan(store=other_store), group="contact"
    )

    results = campaign_results(campaign=campaign, actor=manager)

    assert results["contacted"] == 1
