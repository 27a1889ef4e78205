"""SPEC §3 as pure, vectorised pandas: RFM segment, recency stage, apple, membership, rhythm.

No database and no clock: `classify` gets one row per fan and the `as_of` date, so a test can
hand it a five-row DataFrame. Every comparison that SPEC §3 calls exact is done in integers:
money in cents (int64, or Python ints when a product could overflow), dates as day numbers.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_CEILING, Decimal

import numpy as np
import pandas as pd

# Input columns of `classify` (one row per fan; fans without a sale have NaT dates and zeros).
INPUT_COLUMNS = [
    "customer_id",
    "is_opinion_leader",
    "last_sale",  # local date of the latest sale on or before as_of
    "first_sale",  # local date of the first sale ever (on or before as_of)
    "window_first_sale",  # local date of the first sale in the 365-day window
    "window_last_sale",  # local date of the last sale in the window
    "frequency",  # sales in the window
    "lifetime_sales",  # sales on or before as_of
    "window_sales_cents",  # sum of sale amounts in the window, in cents
    "window_refund_cents",  # sum of refund amounts in the window, in cents
]

OUTPUT_COLUMNS = [
    "customer_id",
    "recency_days",
    "frequency",
    "monetary_cents",
    "lifetime_sales",
    "first_sale",
    "last_sale",
    "apple",
    "rfm_segment",
    "r_stage",
    "membership",
    "rhythm",
]

WINDOW_DAYS = 365  # sales with 0 <= as_of - date <= 364

# Index = 4·R + 2·F + M (1 = high), SPEC table 2.2.
SEGMENT_BY_RFM = np.array(
    [
        "general_winback",  # R low,  F low,  M low
        "important_winback",  # R low,  F low,  M high
        "general_retain",  # R low,  F high, M low
        "important_retain",  # R low,  F high, M high
        "general_development",  # R high, F low,  M low
        "important_development",  # R high, F low,  M high
        "general_value",  # R high, F high, M low
        "important_value",  # R high, F high, M high
    ],
    dtype=object,
)

_EPOCH = np.datetime64("1970-01-01", "D")

# Category lists of the output columns; position = the code ('' = no label is code 0 where a
# fan can have no label).
APPLES = ["blossom", "green", "yellow", "red", "golden"]
SEGMENTS = ["", *SEGMENT_BY_RFM]  # code = 1 + 4·R + 2·F + M
STAGES = ["", "active", "sleeping", "pre_churn", "churned"]
MEMBERSHIPS = ["", "supreme_vip", "vip", "senior", "regular"]
RHYTHMS = ["", "single", "monthly", "quarterly", "half_yearly", "yearly"]
CATEGORIES = {
    "apple": APPLES,
    "rfm_segment": SEGMENTS,
    "r_stage": STAGES,
    "membership": MEMBERSHIPS,
    "rhythm": RHYTHMS,
}


def cents(amount: Decimal) -> int:
    """An amount in cents, rounded up (a threshold of 0.001 more than a cent needs the next cent)."""
    return int((Decimal(amount) * 100).to_integral_value(rounding=ROUND_CEILING))


def _day_numbers(values: pd.Series) -> np.ndarray:
    """Dates as integer day numbers (float NaN where missing)."""
    days = pd.to_datetime(values).to_numpy(dtype="datetime64[D]")
    out = (days - _EPOCH).astype("int64").astype("float64")
    out[np.isnat(days)] = np.nan
    return out


def _is_high(values: np.ndarray, *, greater: bool) -> np.ndarray:
    """value · n > Σ value (or < when not `greater`) over the population, exactly."""
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=bool)
    peak = int(np.abs(values).max())
    if peak * n < 2**62:
        total = int(values.sum())
        scaled = values * n
    else:  # Python integers never overflow; only reached with absurd sums
        values = values.astype(object)
        total = sum(values)
        scaled = values * n
    return np.asarray(scaled > total if greater else scaled < total, dtype=bool)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def classify(inputs: pd.DataFrame, *, as_of: date, red_min_spend: Decimal) -> pd.DataFrame:
    """Every computed label of every fan in `inputs` for `as_of` (SPEC §3).

    Returns OUTPUT_COLUMNS in the input's row order; the label columns are Categoricals over
    CATEGORIES ('' means "no label"); missing metrics are <NA>/NaT. The population P of the RFM means and the membership ranks is every row with a
    sale on or before `as_of`, so pass all fans of the brand even when writing only some.
    """
    frame = inputs  # read by position (to_numpy): no copy of the whole frame
    count = len(frame)
    as_of_day = int((np.datetime64(as_of, "D") - _EPOCH).astype("int64"))

    ids = frame["customer_id"].to_numpy(dtype="int64")
    leader = frame["is_opinion_leader"].fillna(False).to_numpy(dtype=bool)
    lifetime = frame["lifetime_sales"].fillna(0).to_numpy(dtype="int64")
    frequency = frame["frequency"].fillna(0).to_numpy(dtype="int64")
    sales = frame["window_sales_cents"].fillna(0).to_numpy(dtype="int64")
    refunds = frame["window_refund_cents"].fillna(0).to_numpy(dtype="int64")
    last_day = _day_numbers(frame["last_sale"])
    win_first = _day_numbers(frame["window_first_sale"])
    win_last = _day_numbers(frame["window_last_sale"])

    buyer = lifetime > 0  # P
    monetary = np.maximum(sales - refunds, 0)
    recency = np.where(buyer, as_of_day - np.nan_to_num(last_day, nan=as_of_day), 0).astype("int64")

    # Integer codes into the category lists (0 = '' = no label), turned into Categoricals at the
    # end: comparisons on small ints instead of strings, and the writer can stage the codes.
    segment = np.zeros(count, dtype="int8")
    stage = np.zeros(count, dtype="int8")
    membership = np.zeros(count, dtype="int8")
    rhythm = np.zeros(count, dtype="int8")
    p_index = np.flatnonzero(buyer)
    n = len(p_index)
    if n:
        r_high = _is_high(recency[p_index], greater=False)
        f_high = _is_high(frequency[p_index], greater=True)
        m_high = _is_high(monetary[p_index], greater=True)
        segment[p_index] = 1 + r_high * 4 + f_high * 2 + m_high * 1

        r = recency[p_index]
        stage[p_index] = 1 + (r > 90).astype("int8") + (r > 180) + (r > 365)

        # Membership: rank by monetary desc, then id asc; position i is 1-based.
        order = np.lexsort((ids[p_index], -monetary[p_index]))
        position = np.empty(n, dtype="int64")
        position[order] = np.arange(1, n + 1)
        membership[p_index] = (
            1
            + (position > _ceil_div(n, 10)).astype("int8")
            + (position > _ceil_div(n, 4))
            + (position > _ceil_div(n, 2))
        )

        # Rhythm: mean gap (last − first)/(k − 1) ≤ limit ⇔ (last − first) ≤ limit·(k − 1).
        k = frequency[p_index]
        span = np.nan_to_num(win_last[p_index] - win_first[p_index], nan=0).astype("int64")
        steps = np.maximum(k - 1, 1)
        rhythm[p_index] = np.where(
            k < 2,
            1,
            2 + (span > 31 * steps).astype("int8") + (span > 92 * steps) + (span > 183 * steps),
        )

    red_floor = cents(red_min_spend)
    apple = np.select(
        [leader, ~buyer, (frequency >= 2) & (monetary >= red_floor), frequency >= 2],
        [4, 0, 3, 2],
        default=1,
    ).astype("int8")

    return pd.DataFrame(
        {
            "customer_id": ids,
            "recency_days": pd.arrays.IntegerArray(recency, ~buyer),
            "frequency": frequency,
            "monetary_cents": monetary,
            "lifetime_sales": lifetime,
            "first_sale": pd.to_datetime(frame["first_sale"]).dt.normalize().to_numpy(),
            "last_sale": pd.to_datetime(frame["last_sale"]).dt.normalize().to_numpy(),
            "apple": pd.Categorical.from_codes(apple, categories=APPLES),
            "rfm_segment": pd.Categorical.from_codes(segment, categories=SEGMENTS),
            "r_stage": pd.Categorical.from_codes(stage, categories=STAGES),
            "membership": pd.Categorical.from_codes(membership, categories=MEMBERSHIPS),
            "rhythm": pd.Categorical.from_codes(rhythm, categories=RHYTHMS),
        },
        copy=False,
    )
