"""Tests of ltv.customer_lifetime_value: discounting by hand, margins, intervals."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import cdnow_sample_summary
from ltv import BetaGeoModel, GammaGammaModel, customer_lifetime_value
from ltv._base import TransactionModel


class ConstantRateModel(TransactionModel):
    """Always alive, buys at a known constant rate lam per week (for hand computation)."""

    model_name = "constant"
    param_names = ("lam",)

    def __init__(self, lam: float):
        super().__init__()
        self.params_ = {"lam": lam}
        self.params_cov_ = np.zeros((1, 1))

    def _log_prob_alive(self, theta, x, t_x, T):
        return np.zeros(len(x))

    def _alive_mean(self, theta, t, x, T):
        return theta[0] * t * np.ones(len(x))


def _spend(p=6.0, q=4.0, v=15.0, cov=None):
    payload = {
        "model": "gamma_gamma",
        "params": {"p": p, "q": q, "v": v},
        "params_cov": (np.zeros((3, 3)) if cov is None else cov).tolist(),
        "log_likelihood": 0.0,
        "aic": 0.0,
        "bic": 0.0,
        "n_customers": 0,
        "converged": True,
        "penalizer": 0.0,
    }
    return GammaGammaModel.from_json(json.dumps(payload))


def test_discounting_by_hand_for_a_constant_rate_customer():
    lam, rate, margin, cost, acquisition = 0.5, 0.01, 0.2, 0.3, 2.0
    spend = _spend()  # x = 0 -> E[z] = p v / (q - 1) = 30
    out = customer_lifetime_value(
        ConstantRateModel(lam),
        spend,
        [0],
        [0],
        [10.0],
        [0.0],
        horizon_months=3,
        unit_days=7,
        discount_rate=rate,
        margin=margin,
        service_cost_per_transaction=cost,
        acquisition_cost=acquisition,
        n_draws=50,
    )
    per_month = lam * 30.4375 / 7  # transactions in each month
    discounted = per_month / 1.01 + per_month / 1.01**2 + per_month / 1.01**3
    row = out.iloc[0]
    assert row["expected_transactions"] == pytest.approx(3 * per_month)
    assert row["expected_value_per_transaction"] == pytest.approx(30.0)
    assert row["revenue_contribution"] == pytest.approx(discounted * 30.0)
    assert row["clv"] == pytest.approx(discounted * (0.2 * 30.0 - 0.3))
    assert row["profit_contribution"] == pytest.approx(row["clv"] - 2.0)
    # no parameter uncertainty -> a degenerate interval
    assert row["clv_low"] == pytest.approx(row["clv"]) and row["clv_high"] == pytest.approx(
        row["clv"]
    )
    assert list(out.columns) == [
        "expected_transactions",
        "expected_value_per_transaction",
        "revenue_contribution",
        "clv",
        "clv_low",
        "clv_high",
        "profit_contribution",
    ]


def test_days_as_unit_and_per_customer_margin():
    out = customer_lifetime_value(
        ConstantRateModel(0.1),
        _spend(),
        [0, 0],
        [0, 0],
        [70.0, 70.0],
        [0.0, 0.0],
        horizon_months=1,
        unit_days=1,
        discount_rate=0.0,
        margin=[0.1, 0.3],
        n_draws=0,
    )
    # rate 0.1 per day over 30.4375 days, E[z] = 30
    np.testing.assert_allclose(out["clv"], [0.1 * 30.4375 * 3.0, 0.1 * 30.4375 * 9.0])


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return cdnow_sample_summary().assign(m=lambda t: t["m"].fillna(0.0))


def _score(frame: pd.DataFrame, fit_on: pd.DataFrame) -> pd.DataFrame:
    bg = BetaGeoModel().fit(fit_on["x"], fit_on["t_x"], fit_on["T"])
    rep = fit_on[fit_on["x"] > 0]
    gg = GammaGammaModel().fit(rep["x"], rep["m"])
    return customer_lifetime_value(
        bg,
        gg,
        frame["x"],
        frame["t_x"],
        frame["T"],
        frame["m"],
        horizon_months=12,
        discount_rate=0.01,
        margin=0.3,
        service_cost_per_transaction=0.1,
        n_draws=300,
        seed=1,
        chunk_size=700,
    ), bg


def test_intervals_contain_the_estimate_and_widen_with_fewer_data(cdnow):
    full, bg = _score(cdnow, cdnow)
    small, _ = _score(cdnow, cdnow.sample(frac=0.2, random_state=3))
    assert (full["clv_low"] <= full["clv"]).all() and (full["clv"] <= full["clv_high"]).all()
    assert (small["clv_low"] <= small["clv"]).all() and (small["clv"] <= small["clv_high"]).all()
    width_full = ((full["clv_high"] - full["clv_low"]) / full["clv"]).median()
    width_small = ((small["clv_high"] - small["clv_low"]) / small["clv"]).median()
    assert width_full > 0
    assert width_small > 1.5 * width_full
    # the transaction column is the model's own conditional expectation over the horizon
    horizon = 12 * 30.4375 / 7
    np.testing.assert_allclose(
        full["expected_transactions"],
        bg.expected_transactions(horizon, cdnow["x"], cdnow["t_x"], cdnow["T"]),
    )
    # same seed -> identical output; chunking does not change results
    again, _ = _score(cdnow, cdnow)
    pd.testing.assert_frame_equal(full, again)


def test_interval_matches_exact_parameter_draws(cdnow):
    """The first-order propagation agrees with exact re-evaluation at sampled parameters."""
    few = cdnow.iloc[:40]
    bg = BetaGeoModel().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    gg = _spend(6.25, 3.74, 15.44)  # no spend uncertainty: isolate the transaction part
    out = customer_lifetime_value(
        bg,
        gg,
        few["x"],
        few["t_x"],
        few["T"],
        few["m"],
        horizon_months=6,
        discount_rate=0.0,
        margin=1.0,
        n_draws=2000,
        seed=4,
    )
    spend = gg.expected_value(few["x"], few["m"])
    exact = []
    for theta in bg.sample_params(2000, np.random.default_rng(9)):
        bg.params_ = dict(zip(bg.param_names, theta, strict=True))
        exact.append(bg.expected_transactions(6 * 30.4375 / 7, few["x"], few["t_x"], few["T"]))
    low, high = np.quantile(np.array(exact) * spend, [0.1, 0.9], axis=0)
    np.testing.assert_allclose(out["clv_low"], low, rtol=0.03)
    np.testing.assert_allclose(out["clv_high"], high, rtol=0.03)


def test_rejects_bad_options():
    with pytest.raises(ValueError, match="horizon_months"):
        customer_lifetime_value(
            ConstantRateModel(1.0),
            _spend(),
            [0],
            [0],
            [1.0],
            [0.0],
            horizon_months=0,
            discount_rate=0.0,
            margin=0.1,
        )
    with pytest.raises(ValueError, match="margin"):
        customer_lifetime_value(
            ConstantRateModel(1.0),
            _spend(),
            [0],
            [0],
            [1.0],
            [0.0],
            horizon_months=1,
            discount_rate=0.0,
            margin=[0.1, 0.2],
        )


def test_customers_scored_together_or_alone_get_the_same_interval(cdnow):
    """Scoring shares draws between customers with identical inputs (no repeat purchases,
    same history and margin); every customer's interval must equal scoring them alone."""
    bg = BetaGeoModel().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    rep = cdnow[cdnow["x"] > 0]
    gg = GammaGammaModel().fit(rep["x"], rep["m"])
    zero = cdnow[cdnow["x"] == 0].iloc[:3]
    frame = pd.concat([zero, zero, cdnow[cdnow["x"] > 0].iloc[:3]])  # duplicated histories
    margins = np.array([0.3, 0.3, 0.3, 0.5, 0.3, 0.3, 0.2, 0.3, -0.1])
    options = {
        "horizon_months": 6,
        "discount_rate": 0.01,
        "service_cost_per_transaction": 0.2,
        "n_draws": 150,
        "seed": 3,
    }
    together = customer_lifetime_value(
        bg, gg, frame["x"], frame["t_x"], frame["T"], frame["m"], margin=margins, **options
    )
    assert together["clv_high"].iloc[0] > together["clv_low"].iloc[0]
    # identical inputs -> identical intervals; a different margin -> a different interval
    assert together["clv_low"].iloc[0] == together["clv_low"].iloc[4]
    assert together["clv_low"].iloc[0] != together["clv_low"].iloc[3]
    # a negative margin (loss per transaction) turns the interval around zero's other side
    assert together["clv_high"].iloc[8] < 0
    for i in range(len(frame)):
        alone = customer_lifetime_value(
            bg,
            gg,
            frame["x"].iloc[[i]],
            frame["t_x"].iloc[[i]],
            frame["T"].iloc[[i]],
            frame["m"].iloc[[i]],
            margin=margins[i],
            **options,
        )
        for column in ("clv", "clv_low", "clv_high"):
            assert alone[column].iloc[0] == pytest.approx(together[column].iloc[i], rel=1e-6)
