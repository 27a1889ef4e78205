"""Property: the SQL + pandas relabel agrees with a small, obviously-correct reading of SPEC §3."""

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from django.conf import settings
from django.db import transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from customers.models import CustomerLabels, Order
from segmentation.services import relabel
from tests.factories import aware_dt, make_customer, make_order

AS_OF = date(2026, 6, 30)
SEGMENTS = {
    (True, True, True): "important_value",
    (True, False, True): "important_development",
    (False, True, True): "important_retain",
    (False, False, True): "important_winback",
    (True, True, False): "general_value",
    (True, False, False): "general_development",
    (False, True, False): "general_retain",
    (False, False, False): "general_winback",
}


@dataclass
class Fan:
    leader: bool
    orders: list[tuple[str, int, int, Decimal]] = field(
        default_factory=list
    )  # kind, days before, hour, amount


def reference(fans: dict[int, Fan], as_of: date) -> dict[int, dict]:
    """SPEC §3 read literally, one fan at a time, in integers, Decimals and Fractions."""
    facts = {}
    for fan_id, fan in fans.items():
        sales = sorted(
            as_of - timedelta(days=d) for kind, d, _, _ in fan.orders if kind == "sale" and d >= 0
        )
        in_window = [s for s in sales if 0 <= (as_of - s).days <= 364]
        sale_sum = sum(
            (a for k, d, _, a in fan.orders if k == "sale" and 0 <= d <= 364), Decimal(0)
        )
        refund_sum = sum(
            (a for k, d, _, a in fan.orders if k == "refund" and 0 <= d <= 364), Decimal(0)
        )
        facts[fan_id] = {
            "buyer": bool(sales),
            "recency": (as_of - sales[-1]).days if sales else None,
            "frequency": len(in_window),
            "monetary": max(sale_sum - refund_sum, Decimal(0)),
            "window": in_window,
        }
    population = [i for i, f in facts.items() if f["buyer"]]
    n = len(population)
    sum_r = sum(facts[i]["recency"] for i in population)
    sum_f = sum(facts[i]["frequency"] for i in population)
    sum_m = sum((facts[i]["monetary"] for i in population), Decimal(0))
    ranked = sorted(population, key=lambda i: (-facts[i]["monetary"], i))
    expected = {}
    for fan_id, f in facts.items():
        labels = {"rfm_segment": "", "r_stage": "", "membership": "", "rhythm": ""}
        if fans[fan_id].leader:
            labels["apple"] = "golden"
        elif not f["buyer"]:
            labels["apple"] = "blossom"
        elif f["frequency"] >= 2 and f["monetary"] >= settings.APPLE_RED_MIN_SPEND:
            labels["apple"] = "red"
        elif f["frequency"] >= 2:
            labels["apple"] = "yellow"
        else:
            labels["apple"] = "green"
        if f["buyer"]:
            high = (f["recency"] * n < sum_r, f["frequency"] * n > sum_f, f["monetary"] * n > sum_m)
            labels["rfm_segment"] = SEGMENTS[high]
            r = f["recency"]
            labels["r_stage"] = (
                "active"
                if r <= 90
                else "sleeping"
                if r <= 180
                else "pre_churn"
                if r <= 365
                else "churned"
            )
            i = ranked.index(fan_id) + 1
            labels["membership"] = (
                "supreme_vip" if i <= math.ceil(Fraction(n, 10))
                else "vip" if i <= math.ceil(Fraction(n, 4))
                else "senior" if i <= math.ceil(Fraction(n, 2))
                else "regular"
            )  # fmt: skip
            k = len(f["window"])
            if k < 2:
                labels["rhythm"] = "single"
            else:
                gap = Fraction((f["window"][-1] - f["window"][0]).days, k - 1)
                labels["rhythm"] = (
                    "monthly"
                    if gap <= 31
                    else "quarterly"
                    if gap <= 92
                    else "half_yearly"
                    if gap <= 183
                    else "yearly"
                )
        labels["frequency"] = f["frequency"]
        labels["monetary"] = f["monetary"]
        labels["recency_days"] = f["recency"]
        expected[fan_id] = labels
    return expected


# Days cluster around the boundaries (0, 90/91, 180/181, 364/365/366) and after as_of (negative).
days = st.one_of(
    st.sampled_from([-1, 0, 1, 30, 31, 90, 91, 92, 180, 181, 183, 184, 364, 365, 366, 400]),
    st.integers(min_value=-3, max_value=420),
)
amounts = st.sampled_from(
    ["0.00", "0.01", "99.99", "599.00", "1500.00", "2999.99", "3000.00", "4200.50"]
)
order = st.tuples(
    st.sampled_from(["sale", "sale", "sale", "refund"]), days, st.sampled_from([0, 12, 23]), amounts
)
leader = st.integers(0, 9).map(lambda x: x == 0)  # one fan in ten is an opinion leader
# Two sales exactly at (or one day past) a rhythm limit: 31, 92 or 183 days apart.
rhythm_pair = st.tuples(
    st.integers(0, 150), st.sampled_from([31, 32, 92, 93, 183, 184]), amounts
).map(lambda t: [("sale", t[0], 12, t[2]), ("sale", t[0] + t[1], 12, t[2])])
orders = st.one_of(st.lists(order, max_size=5), rhythm_pair)
histories = st.lists(st.tuples(leader, orders), min_size=1, max_size=7)


@hypothesis_settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(histories=histories, earlier=st.sampled_from([None, 1, 91, 365]))
def test_sql_and_pandas_agree_with_the_plain_reading_of_spec_3(store, histories, earlier):
    """Also after a run `earlier` days before: the job then rewrites only the rows that moved."""
    with transaction.atomic():
        fans: dict[int, Fan] = {}
        for leader, orders in histories:
            customer = make_customer(store=store, is_opinion_leader=leader)
            fans[customer.pk] = Fan(
                leader=leader, orders=[(k, d, h, Decimal(a)) for k, d, h, a in orders]
            )
            for kind, d, hour, amount in orders:
                day = AS_OF - timedelta(days=d)
                make_order(
                    customer=customer,
                    kind=Order.Kind(kind),
                    paid_at=aware_dt(day.year, day.month, day.day, hour, 30 if hour == 23 else 5),
                    amount=amount,
                )
        if earlier is not None:
            relabel(as_of=AS_OF - timedelta(days=earlier))
        run = relabel(as_of=AS_OF)
        assert run.status == "succeeded", run.error
        got = {
            row.customer_id: {
                "apple": row.apple, "rfm_segment": row.rfm_segment, "r_stage": row.r_stage,
                "membership": row.membership, "rhythm": row.rhythm, "frequency": row.frequency,
                "monetary": row.monetary, "recency_days": row.recency_days,
            }
            for row in CustomerLabels.objects.filter(customer_id__in=fans).select_related(
                "customer__store__labelling"
            )
        }  # fmt: skip
        expected = reference(fans, AS_OF)
        for fan_id, labels in expected.items():
            assert {k: got[fan_id][k] for k in labels} == labels, fan_id
        transaction.set_rollback(True)
