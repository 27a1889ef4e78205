"""SPEC §3 boundaries on the pure classification (no database)."""

from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from segmentation.rules import INPUT_COLUMNS, classify

AS_OF = date(2026, 6, 30)
RED = Decimal("3000.00")


def buyer(
    customer_id: int,
    *,
    recency: int = 10,
    frequency: int = 1,
    sales: int = 10_000,
    refunds: int = 0,
    span: int = 0,
    lifetime: int | None = None,
    leader: bool = False,
) -> dict:
    """One classified-input row: dates given as days before AS_OF, money in cents."""
    last = AS_OF - timedelta(days=recency)
    in_window = frequency > 0
    return {
        "customer_id": customer_id,
        "is_opinion_leader": leader,
        "last_sale": pd.Timestamp(last),
        "first_sale": pd.Timestamp(last - timedelta(days=span)),
        "window_first_sale": pd.Timestamp(last - timedelta(days=span)) if in_window else pd.NaT,
        "window_last_sale": pd.Timestamp(last) if in_window else pd.NaT,
        "frequency": frequency,
        "lifetime_sales": lifetime if lifetime is not None else max(frequency, 1),
        "window_sales_cents": sales if in_window else 0,
        "window_refund_cents": refunds,
    }


def no_sale(customer_id: int, *, leader: bool = False) -> dict:
    return {
        "customer_id": customer_id,
        "is_opinion_leader": leader,
        "last_sale": pd.NaT,
        "first_sale": pd.NaT,
        "window_first_sale": pd.NaT,
        "window_last_sale": pd.NaT,
        "frequency": 0,
        "lifetime_sales": 0,
        "window_sales_cents": 0,
        "window_refund_cents": 0,
    }


def run(*rows: dict, red: Decimal = RED) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=INPUT_COLUMNS)
    return classify(frame, as_of=AS_OF, red_min_spend=red).set_index("customer_id")


@pytest.mark.parametrize(
    ("recency", "stage"),
    [
        (0, "active"),
        (90, "active"),
        (91, "sleeping"),
        (180, "sleeping"),
        (181, "pre_churn"),
        (365, "pre_churn"),
        (366, "churned"),
        (900, "churned"),
    ],
)
def test_recency_stage_boundaries(recency, stage):
    labels = run(buyer(1, recency=recency, frequency=1 if recency < 365 else 0))
    assert labels.loc[1, "r_stage"] == stage
    assert labels.loc[1, "recency_days"] == recency


def test_a_fan_with_no_sale_has_no_segment_stage_membership_or_rhythm_and_is_blossom():
    labels = run(no_sale(1), buyer(2))
    assert labels.loc[1, ["apple", "rfm_segment", "r_stage", "membership", "rhythm"]].tolist() == [
        "blossom", "", "", "", "",
    ]  # fmt: skip
    assert pd.isna(labels.loc[1, "recency_days"])


def test_an_opinion_leader_without_sales_is_golden():
    labels = run(no_sale(1, leader=True))
    assert labels.loc[1, "apple"] == "golden"
    assert labels.loc[1, "rfm_segment"] == ""


def test_an_opinion_leader_who_buys_is_still_golden():
    labels = run(buyer(1, frequency=5, sales=1_000_000, leader=True))
    assert labels.loc[1, "apple"] == "golden"


@pytest.mark.parametrize(
    ("frequency", "sales", "apple"),
    [
        (2, 300_000, "red"),  # APPLE_RED_MIN_SPEND exactly reached
        (2, 299_999, "yellow"),  # one cent short
        (3, 300_001, "red"),
        (1, 900_000, "green"),  # big spender, but no repurchase in the period
        (0, 0, "green"),  # bought before the window only
    ],
)
def test_apple_tiers_at_the_red_threshold(frequency, sales, apple):
    labels = run(buyer(1, frequency=frequency, sales=sales, lifetime=max(frequency, 1)))
    assert labels.loc[1, "apple"] == apple


def test_red_threshold_reached_after_refunds_counts_net_spend():
    labels = run(buyer(1, frequency=2, sales=350_000, refunds=50_001))
    assert labels.loc[1, "apple"] == "yellow"
    assert labels.loc[1, "monetary_cents"] == 299_999


def test_refunds_lower_monetary_but_never_below_zero_and_leave_frequency():
    labels = run(
        buyer(1, frequency=2, sales=10_000, refunds=15_000), buyer(2, frequency=1, sales=500)
    )
    assert labels.loc[1, "monetary_cents"] == 0
    assert labels.loc[1, "frequency"] == 2


def test_values_exactly_at_the_mean_are_low():
    # Two buyers with equal recency, frequency and monetary: every value equals the mean.
    labels = run(
        buyer(1, recency=10, frequency=2, sales=5000), buyer(2, recency=10, frequency=2, sales=5000)
    )
    assert labels["rfm_segment"].tolist() == ["general_winback", "general_winback"]


def test_rfm_high_and_low_follow_exact_integer_means():
    # n = 3, Σrecency = 30 → mean 10; Σfrequency = 6 → mean 2; Σmonetary = 30000 → mean 10000.
    labels = run(
        buyer(1, recency=9, frequency=3, sales=10_001),  # R high, F high, M high
        buyer(2, recency=10, frequency=2, sales=10_000),  # all exactly at the mean: low
        buyer(3, recency=11, frequency=1, sales=9_999),  # all low
    )
    assert labels["rfm_segment"].tolist() == [
        "important_value",
        "general_winback",
        "general_winback",
    ]


@pytest.mark.parametrize(
    ("r_high", "f_high", "m_high", "segment"),
    [
        (True, True, True, "important_value"),
        (True, False, True, "important_development"),
        (False, True, True, "important_retain"),
        (False, False, True, "important_winback"),
        (True, True, False, "general_value"),
        (True, False, False, "general_development"),
        (False, True, False, "general_retain"),
        (False, False, False, "general_winback"),
    ],
)
def test_the_eight_segments_follow_table_2_2(r_high, f_high, m_high, segment):
    # Fan 1 is compared with a reference fan 2 whose values sit on the other side.
    fan = buyer(
        1,
        recency=1 if r_high else 100,
        frequency=5 if f_high else 1,
        sales=90_000 if m_high else 100,
    )
    other = buyer(
        2,
        recency=100 if r_high else 1,
        frequency=1 if f_high else 5,
        sales=100 if m_high else 90_000,
    )
    assert run(fan, other).loc[1, "rfm_segment"] == segment


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, ["supreme_vip"]),
        (9, ["supreme_vip"] + ["vip"] * 2 + ["senior"] * 2 + ["regular"] * 4),
        (10, ["supreme_vip"] + ["vip"] * 2 + ["senior"] * 2 + ["regular"] * 5),
        (11, ["supreme_vip"] * 2 + ["vip"] * 1 + ["senior"] * 3 + ["regular"] * 5),
    ],
)
def test_membership_uses_ceil_ranks(n, expected):
    # Fan i spends (n - i + 1) × 100: rank i is fan i.
    rows = [buyer(i, sales=(n - i + 1) * 100) for i in range(1, n + 1)]
    assert run(*rows).sort_index()["membership"].tolist() == expected


def test_membership_ties_in_spend_rank_by_fan_id():
    rows = [buyer(i, sales=5000) for i in (7, 3, 5)] + [buyer(i, sales=100) for i in range(10, 17)]
    labels = run(*rows)
    assert labels.loc[3, "membership"] == "supreme_vip"  # ⌈0.10·10⌉ = 1: the smallest id wins
    assert labels.loc[5, "membership"] == "vip"
    assert labels.loc[7, "membership"] == "vip"


@pytest.mark.parametrize(
    ("frequency", "span", "rhythm"),
    [
        (1, 0, "single"),
        (0, 0, "single"),  # a buyer with no sale in the window
        (2, 31, "monthly"),
        (2, 32, "quarterly"),
        (3, 62, "monthly"),  # gap exactly 31
        (3, 63, "quarterly"),  # gap 31.5
        (2, 92, "quarterly"),
        (2, 93, "half_yearly"),
        (3, 366, "half_yearly"),  # gap 183
        (3, 367, "yearly"),  # gap 183.5
        (2, 364, "yearly"),
    ],
)
def test_rhythm_mean_gap_boundaries(frequency, span, rhythm):
    labels = run(buyer(1, frequency=frequency, span=span, lifetime=max(frequency, 1)))
    assert labels.loc[1, "rhythm"] == rhythm


def test_a_threshold_with_fractions_of_a_cent_rounds_up():
    labels = run(buyer(1, frequency=2, sales=300_000), red=Decimal("3000.001"))
    assert labels.loc[1, "apple"] == "yellow"


def test_huge_sums_are_compared_without_overflow():
    big = 9 * 10**17  # cents; big × n exceeds int64
    labels = run(buyer(1, sales=big), buyer(2, sales=big - 1), buyer(3, sales=0))
    assert labels["rfm_segment"].str.startswith("important").tolist() == [True, True, False]
