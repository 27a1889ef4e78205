"""BG/NBD and Gamma-Gamma (`segmentation.predictions`) on the CDNOW purchase log.

The log ships with `lifetimes` (a development dependency, also the second implementation the
fit and the predictions are checked against). Calibration through 1997-09-30, purchases counted
per day, in weeks, as Fader, Hardie & Lee (2005) did.
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import lifetimes  # a development dependency: missing, these tests fail rather than skip
import numpy as np
import pandas as pd
import pytest

from segmentation.predictions import (
    BgNbd,
    FitError,
    GammaGamma,
    _bgnbd_log_likelihood,
    _distinct,
    _Factored,
    _gamma_gamma_log_likelihood,
    fit_bgnbd,
    fit_gamma_gamma,
)

CALIBRATION_END = pd.Timestamp("1997-09-30")
HOLDOUT_END = pd.Timestamp("1998-06-30")  # 39 weeks later
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # FHL 2005
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}  # FHL 2005b


def cdnow() -> pd.DataFrame:
    """The 2,357-customer CDNOW sample: per customer the calibration summary (x, t_x, T in
    weeks, m = mean value of the repeat purchase days) and the holdout's purchase days."""
    path = Path(lifetimes.__file__).parent / "datasets" / "CDNOW_sample.txt"
    log = pd.read_csv(path, sep=r"\s+", header=None, names=["id", "id2", "date", "cds", "amount"])
    log["day"] = pd.to_datetime(log["date"].astype(str), format="%Y%m%d")
    days = log.groupby(["id", "day"], as_index=False)["amount"].sum().sort_values(["id", "day"])
    calibration = days[days["day"] <= CALIBRATION_END]
    by_fan = calibration.groupby("id")
    first, last = by_fan["day"].min(), by_fan["day"].max()
    repeat_total = by_fan["amount"].sum() - by_fan["amount"].first()
    x = by_fan["day"].count() - 1
    holdout = days[(days["day"] > CALIBRATION_END) & (days["day"] <= HOLDOUT_END)]
    return pd.DataFrame(
        {
            "x": x,
            "t_x": (last - first).dt.days / 7,
            "T": (CALIBRATION_END - first).dt.days / 7,
            "m": (repeat_total / x).where(x > 0),
            "holdout": holdout.groupby("id")["day"].count().reindex(x.index, fill_value=0),
        }
    )


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return cdnow()


@pytest.fixture(scope="module")
def bgnbd(data) -> BgNbd:
    return fit_bgnbd(data["x"], data["t_x"], data["T"])


def test_the_sample_has_the_published_shape(data):
    assert len(data) == 2357
    assert int(data["x"].sum()) == 2457  # repeat purchase days in the calibration period


@pytest.mark.parametrize("name", list(PUBLISHED_BGNBD))
def test_the_bgnbd_fit_is_within_1_percent_of_the_published_parameters(bgnbd, name):
    assert getattr(bgnbd, name) == pytest.approx(PUBLISHED_BGNBD[name], rel=0.01)


@pytest.mark.parametrize("name", list(PUBLISHED_GAMMA_GAMMA))
def test_the_gamma_gamma_fit_is_within_1_percent_of_the_published_parameters(data, name):
    model = fit_gamma_gamma(data["x"], data["m"])
    assert getattr(model, name) == pytest.approx(PUBLISHED_GAMMA_GAMMA[name], rel=0.01)


def test_the_bgnbd_fit_agrees_with_lifetimes(data, bgnbd):
    reference = lifetimes.BetaGeoFitter().fit(data["x"], data["t_x"], data["T"])
    for name, value in reference.params_.items():
        assert getattr(bgnbd, name) == pytest.approx(value, rel=1e-3)


def test_the_predictions_agree_with_lifetimes_for_the_same_parameters(data, bgnbd):
    reference = lifetimes.BetaGeoFitter()
    reference.params_ = pd.Series(bgnbd.as_dict())
    x, t_x, T = data["x"], data["t_x"], data["T"]
    np.testing.assert_allclose(
        bgnbd.p_alive(x, t_x, T), reference.conditional_probability_alive(x, t_x, T), rtol=1e-9
    )
    np.testing.assert_allclose(
        bgnbd.expected_purchases(39.0, x, t_x, T),
        reference.conditional_expected_number_of_purchases_up_to_time(39.0, x, t_x, T),
        rtol=1e-9,
    )


def test_the_expected_spend_agrees_with_lifetimes(data):
    model = fit_gamma_gamma(data["x"], data["m"])
    repeat = data[data["x"] > 0]
    reference = lifetimes.GammaGammaFitter()
    reference.params_ = pd.Series(model.as_dict())
    np.testing.assert_allclose(
        model.expected_spend(repeat["x"], repeat["m"]),
        reference.conditional_expected_average_profit(repeat["x"], repeat["m"]),
        rtol=1e-9,
    )


def test_a_fan_without_repeat_purchases_is_alive_for_sure_and_spends_the_population_mean():
    model, spend = BgNbd(r=0.24, alpha=4.4, a=0.79, b=2.4), GammaGamma(p=6.25, q=3.74, v=15.44)
    assert model.p_alive([0], [0], [30]) == pytest.approx([1.0])
    assert spend.expected_spend([0], [np.nan]) == pytest.approx([6.25 * 15.44 / 2.74])


def test_a_long_silence_lowers_p_alive(bgnbd):
    recent, silent = bgnbd.p_alive([3, 3], [37, 10], [38, 38])
    assert recent > 0.8 > 0.2 > silent


def test_holdout_predictions_per_calibration_frequency(data, bgnbd):
    """The table of docs/predictions.md: predicted vs actual repeat purchase days in the 39-week
    holdout, per calibration frequency 0…7+. BG/NBD under-predicts this holdout (its total is
    12 % low on these data; docs/predictions.md): the rows pin what the model gives."""
    predicted = bgnbd.expected_purchases(39.0, data["x"], data["t_x"], data["T"])
    groups = np.minimum(data["x"].to_numpy(), 7)
    table = pd.DataFrame({"group": groups, "actual": data["holdout"], "predicted": predicted})
    sums = table.groupby("group")[["actual", "predicted"]].sum()
    assert sums["actual"].tolist() == [334, 306, 298, 156, 157, 112, 112, 407]
    assert sums["predicted"].round(1).tolist() == pytest.approx(
        [317.6, 229.7, 223.4, 152.0, 134.2, 100.8, 101.6, 394.0], abs=0.2
    )
    assert sums["actual"].sum() == 1882
    assert sums["predicted"].sum() == pytest.approx(1653.4, abs=0.5)


def test_a_fit_that_does_not_converge_is_an_error(data):
    failed = mock.Mock(success=False, x=np.zeros(4), fun=1.0, message="ITERATIONS REACHED LIMIT")
    with (
        mock.patch("segmentation.predictions.minimize", return_value=failed),
        pytest.raises(FitError, match="ITERATIONS REACHED LIMIT"),
    ):
        fit_bgnbd(data["x"], data["t_x"], data["T"])


def test_a_stalled_line_search_that_gains_nothing_when_restarted_is_a_maximum(data):
    def stalled(fun):
        return mock.Mock(success=False, x=np.zeros(4), fun=fun, message="ABNORMAL: ")

    with mock.patch("segmentation.predictions.minimize", side_effect=[stalled(1.0), stalled(1.0)]):
        assert fit_bgnbd(data["x"], data["t_x"], data["T"]) == BgNbd(1.0, 1.0, 1.0, 1.0)
    gaining = [stalled(1.0), stalled(0.9), stalled(0.8)]  # still gaining after two restarts
    with (
        mock.patch("segmentation.predictions.minimize", side_effect=gaining),
        pytest.raises(FitError, match="ABNORMAL"),
    ):
        fit_bgnbd(data["x"], data["t_x"], data["T"])


def test_the_fits_factored_likelihood_equals_the_plain_one():
    rng = np.random.default_rng(3)
    T = rng.integers(1, 700, 2000).astype(float)
    t_x = np.floor(T * rng.random(2000))
    x = np.where(t_x > 0, rng.integers(1, 30, 2000), 0).astype(float)
    model = BgNbd(r=0.24, alpha=4.4, a=0.79, b=2.4)
    factored = [_Factored.of(column) for column in (x, t_x, T)]
    np.testing.assert_allclose(
        _bgnbd_log_likelihood(model, *factored), model.log_likelihood(x, t_x, T), rtol=1e-12
    )


def test_distinct_rows_of_whole_days_and_of_fractions_agree():
    rng = np.random.default_rng(5)
    days = [rng.integers(0, 50, 3000).astype(float) for _ in range(3)]
    packed, packed_counts = _distinct(*days)
    plain, plain_counts = _distinct(*(d + 0.5 for d in days))  # not whole: the row sort
    for a, b in zip(packed, plain, strict=True):
        np.testing.assert_array_equal(a + 0.5, b)
    np.testing.assert_array_equal(packed_counts, plain_counts)
    assert packed_counts.sum() == 3000


def test_the_spend_fits_factored_likelihood_equals_the_plain_one():
    rng = np.random.default_rng(4)
    x = rng.integers(1, 20, 2000).astype(float)
    m = rng.gamma(2.0, 50.0, 2000)
    model = GammaGamma(p=6.25, q=3.74, v=15.44)
    np.testing.assert_allclose(
        _gamma_gamma_log_likelihood(model, _Factored.of(x), m, np.log(m)),
        model.log_likelihood(x, m),
        rtol=1e-12,
    )
