"""Purchase forecasts in the nightly job (issue 14): the purchase-day summary the night moves on,
the forecast codes at their boundaries, a failed fit, and where the forecasts are shown."""

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from django.conf import settings
from django.db import transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from customers.models import CustomerPrediction, Order
from followups.models import FollowUp
from followups.services import generate_follow_ups
from segmentation import forecasts
from segmentation.models import LabelChange, PurchaseSummary, RelabelRun
from segmentation.predictions import BgNbd, FitError, GammaGamma
from segmentation.services import relabel
from tests.factories import make_customer, make_order, make_staff, make_store

TZ = ZoneInfo(settings.TIME_ZONE)
EPOCH = date(1970, 1, 1)
AS_OF = date(2026, 6, 30)


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TZ)


def day_number(day: date) -> int:
    return (day - EPOCH).days


def expected_summary(as_of: date) -> dict[int, tuple]:
    """The summary straight from the orders, in Python: sales up to `as_of`, per local day."""
    days: dict[int, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for order in Order.objects.filter(kind=Order.Kind.SALE):
        day = order.paid_at.astimezone(TZ).date()
        if day <= as_of:
            days[order.customer_id][day] += int(order.amount * 100)
    out = {}
    for fan, cents in days.items():
        first, last = min(cents), max(cents)
        out[fan] = (len(cents), day_number(first), day_number(last), cents[first],
                    sum(cents.values()))  # fmt: skip
    return out


def stored_summary() -> dict[int, tuple]:
    return {
        row[0]: row[1:]
        for row in PurchaseSummary.objects.values_list(
            "customer_id", "sale_days", "first_day", "last_day", "first_day_cents", "sale_cents"
        )
    }


def buyers(n: int, *, store=None, seed: int = 1):
    """`n` fans with 1–6 sales at random gaps and amounts before AS_OF (a fit needs variety)."""
    rng = np.random.default_rng(seed)
    store = store or make_store()
    fans = []
    for _ in range(n):
        fan = make_customer(store=store)
        day = AS_OF - timedelta(days=int(rng.integers(0, 200)))
        for _ in range(int(rng.integers(1, 7))):
            make_order(customer=fan, paid_at=at(day), amount=Decimal(int(rng.integers(99, 2000))))
            day -= timedelta(days=int(rng.integers(5, 120)))
        fans.append(fan)
    return fans


# --- the purchase-day summary ---------------------------------------------------------------


def test_two_sales_of_one_local_day_are_one_purchase_day(db):
    fan = make_customer()
    make_order(customer=fan, paid_at=at(date(2026, 5, 1), 0, 0), amount="100.00")
    make_order(customer=fan, paid_at=at(date(2026, 5, 1), 23, 59), amount="50.00")
    make_order(customer=fan, paid_at=at(date(2026, 5, 2), 0, 0), amount="70.00")
    relabel(as_of=AS_OF)
    row = PurchaseSummary.objects.get(customer=fan)
    assert (row.sale_days, row.first_day_cents, row.sale_cents) == (2, 15000, 22000)
    assert (row.first_day, row.last_day) == (
        day_number(date(2026, 5, 1)),
        day_number(date(2026, 5, 2)),
    )


def test_refunds_and_sales_after_as_of_are_not_purchases(db):
    fan = make_customer()
    make_order(customer=fan, paid_at=at(date(2026, 5, 1)), amount="100.00")
    make_order(customer=fan, paid_at=at(date(2026, 5, 3)), amount="100.00", kind=Order.Kind.REFUND)
    make_order(customer=fan, paid_at=at(AS_OF + timedelta(days=1), 0, 0), amount="80.00")
    relabel(as_of=AS_OF)
    assert stored_summary() == {fan.pk: (1, day_number(date(2026, 5, 1)),
                                         day_number(date(2026, 5, 1)), 10000, 10000)}  # fmt: skip


day_offsets = st.integers(min_value=-40, max_value=3)  # 3: dated ahead of the night
an_order = st.tuples(
    st.integers(0, 4),  # fan
    day_offsets,
    st.sampled_from([0, 12, 23]),  # hour: the first and last hour of a local day
    st.integers(1, 900),  # yuan
    st.booleans(),  # a refund
)


@hypothesis_settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(nights=st.lists(st.lists(an_order, max_size=6), min_size=2, max_size=4))
def test_each_night_the_moved_on_summary_equals_one_from_every_order(db, nights):
    with transaction.atomic():
        store = make_store()
        fans = [make_customer(store=store) for _ in range(5)]
        for night, orders in enumerate(nights):
            as_of = AS_OF + timedelta(days=night)
            for fan, offset, hour, yuan, refund in orders:
                make_order(
                    customer=fans[fan],
                    paid_at=at(as_of + timedelta(days=offset), hour),
                    amount=Decimal(yuan),
                    kind=Order.Kind.REFUND if refund else Order.Kind.SALE,
                )
            run = relabel(as_of=as_of)
            assert run.status == RelabelRun.Status.SUCCEEDED, run.error
            assert run.predictions["summary"]["mode"] == ("full" if night == 0 else "incremental")
            assert stored_summary() == expected_summary(as_of)
        transaction.set_rollback(True)


def test_a_full_run_rebuilds_the_summary_and_counts_the_drift(db):
    fans = buyers(3)
    relabel(as_of=AS_OF)
    PurchaseSummary.objects.filter(customer=fans[0]).update(sale_days=99)  # around the job
    run = relabel(as_of=AS_OF + timedelta(days=1), full=True)
    assert run.predictions["summary"] == {"mode": "full", "fans": 3, "drift": 1}
    assert stored_summary() == expected_summary(AS_OF + timedelta(days=1))


# --- forecast codes -------------------------------------------------------------------------

MODELS = forecasts.Models(BgNbd(r=0.5, alpha=10.0, a=0.5, b=5.0), GammaGamma(p=6, q=4, v=15))


def summary_of(*rows) -> pd.DataFrame:
    """(sale_days, first day, last day) rows as days before AS_OF; 100 yuan per day."""
    today = day_number(AS_OF)
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, len(rows) + 1),
            "sale_days": [r[0] for r in rows],
            "first_day": [today - r[1] for r in rows],
            "last_day": [today - r[2] for r in rows],
            "first_day_cents": [10000] * len(rows),
            "sale_cents": [10000 * r[0] for r in rows],
        }
    )


def test_due_soon_when_the_next_purchase_falls_within_30_days_not_31():
    # Every 40 days: the next purchase is 40 days after the last.
    scored = forecasts.score(summary_of((3, 90, 10), (3, 89, 9)), as_of=AS_OF, models=MODELS)
    assert list(scored["next_purchase_on"].dt.date) == [AS_OF + timedelta(days=30),
                                                        AS_OF + timedelta(days=31)]  # fmt: skip
    assert list(scored["forecast"]) == ["due_soon", ""]


def test_due_soon_needs_p_alive_at_least_the_setting(settings):
    summary = summary_of((3, 90, 10))
    p_alive = MODELS.bgnbd.p_alive(*np.array([[2.0], [80.0], [90.0]]))[0]
    settings.FORECAST_DUE_SOON_P_ALIVE = p_alive
    assert forecasts.score(summary, as_of=AS_OF, models=MODELS)["forecast"][0] == "due_soon"
    settings.FORECAST_DUE_SOON_P_ALIVE = p_alive + 1e-6
    assert forecasts.score(summary, as_of=AS_OF, models=MODELS)["forecast"][0] == ""


def test_at_risk_below_the_p_alive_setting_with_two_sale_days_not_one(settings):
    # Long silent after frequent buying: p_alive is low.
    summary = summary_of((2, 400, 390), (1, 400, 400))
    scored = forecasts.score(summary, as_of=AS_OF, models=MODELS)
    assert scored["p_alive"][0] < settings.FORECAST_AT_RISK_P_ALIVE
    assert list(scored["forecast"]) == ["at_risk", ""]  # a single buyer is alive by the model
    settings.FORECAST_AT_RISK_P_ALIVE = MODELS.bgnbd.p_alive(*np.array([[1.0], [10.0], [400.0]]))[
        0
    ]  # not below it
    assert forecasts.score(summary, as_of=AS_OF, models=MODELS)["forecast"][0] == ""


def test_a_single_buyer_has_no_cycle_and_the_population_spend():
    scored = forecasts.score(summary_of((1, 20, 20)), as_of=AS_OF, models=MODELS)
    assert pd.isna(scored["cycle_days"][0]) and pd.isna(scored["next_purchase_on"][0])
    assert scored["expected_spend"][0] == pytest.approx(6 * 15 / 3, abs=0.01)
    assert scored["clv_12m"][0] == pytest.approx(
        scored["expected_purchases_365d"][0] * 30, abs=0.01
    )


# --- the night ------------------------------------------------------------------------------


def test_the_night_writes_every_buyers_forecast_and_records_the_models(db):
    fans = buyers(40)
    nobody = make_customer(store=fans[0].store)
    run = relabel(as_of=AS_OF)
    assert run.predictions["buyers"] == 40
    assert set(run.predictions["models"]) == {"bgnbd", "gamma_gamma"}
    assert {"summary", "fit", "score", "predictions"} <= set(run.timings)
    rows = CustomerPrediction.objects.all()
    assert {p.customer_id for p in rows} == {f.pk for f in fans}
    assert not CustomerPrediction.objects.filter(customer=nobody).exists()
    assert all(p.model_as_of == AS_OF and 0 < p.p_alive <= 1 for p in rows)


def test_a_failed_fit_keeps_yesterdays_forecasts_and_says_why(db):
    buyers(40)
    relabel(as_of=AS_OF)
    before = list(CustomerPrediction.objects.values().order_by("customer_id"))
    with mock.patch.object(forecasts, "fit_bgnbd", side_effect=FitError("did not converge")):
        run = relabel(as_of=AS_OF + timedelta(days=1))
    assert run.status == RelabelRun.Status.SUCCEEDED  # the labels switch as usual
    assert run.predictions["error"] == "did not converge"
    assert list(CustomerPrediction.objects.values().order_by("customer_id")) == before


def test_a_forecast_move_is_a_label_change_and_makes_a_due_soon_follow_up(db):
    store = make_store()
    guide = make_staff(store=store)
    fan = make_customer(store=store, guide=guide)
    buyers(40, store=store)
    make_order(customer=fan, paid_at=at(AS_OF - timedelta(days=60)), amount="500.00")
    relabel(as_of=AS_OF - timedelta(days=40))  # one purchase day: no cycle, no forecast
    # A second one 40 days later: her next is expected 40 days after it, 20 days after AS_OF.
    make_order(customer=fan, paid_at=at(AS_OF - timedelta(days=20)), amount="500.00")
    run = relabel(as_of=AS_OF)
    assert run.predictions.get("error") is None
    prediction = CustomerPrediction.objects.get(customer=fan)
    assert (prediction.next_purchase_on, prediction.p_alive >= 0.5) == (
        AS_OF + timedelta(days=20),
        True,
    )
    assert prediction.forecast == "due_soon"
    change = LabelChange.objects.get(run=run, customer=fan, group="forecast")
    assert (change.from_code, change.to_code) == ("", "due_soon")
    generate_follow_ups(as_of=AS_OF, now=at(AS_OF + timedelta(days=1), 2))
    assert FollowUp.objects.filter(customer=fan, reason="due_soon").count() == 1
