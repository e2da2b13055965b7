"""Rolling-origin ltv backtest, the stacked candidate and the seasonal correction."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features import CutoffTables
from ltv import rolling
from ltv.backtest import seasonal_index
from ltv.stage import seasonal_forecast
from test_ltv_backtest import simulate_bgnbd_transactions

START, AS_OF = dt.date(2021, 1, 1), dt.date(2023, 12, 31)
CANDIDATES = ("bgnbd", "gbm", "gbm_stacked")


def _rolling(tx: pd.DataFrame, origins: int = 3) -> rolling.RollingResult:
    return rolling.run_rolling(
        tx,
        AS_OF,
        holdout_days=182,
        origins=origins,
        step_days=91,
        tables=CutoffTables(tx),
        candidates=CANDIDATES,
        seed=3,
    )


@pytest.fixture(scope="module")
def stationary():
    return simulate_bgnbd_transactions(3000, start=START, birth_weeks=100, end=AS_OF, seed=21)


def test_cutoffs_step_back_and_stay_inside_the_history():
    ends = rolling.origin_ends(AS_OF, 182, 5, 91, START)
    assert ends == [AS_OF - dt.timedelta(days=91 * k) for k in range(5)]
    # a cut-off on or before the first date is dropped; as_of itself always stays
    assert rolling.origin_ends(dt.date(2021, 8, 1), 182, 3, 91, START) == [dt.date(2021, 8, 1)]


def test_every_cutoff_scored_and_the_choice_is_on_the_mean(stationary):
    result = _rolling(stationary)
    cutoffs = [r.cutoff for r in result.origins]
    assert cutoffs == [AS_OF - dt.timedelta(days=182 + 91 * k) for k in range(3)]
    summary = rolling.summarise(result)
    by_cut = [m["mae_value"] for m in summary["bgnbd"]["by_cutoff"].values()]
    assert summary["bgnbd"]["origins"] == 3
    assert summary["bgnbd"]["mae_value"]["mean"] == pytest.approx(np.mean(by_cut))
    assert summary["bgnbd"]["mae_value"]["std"] == pytest.approx(np.std(by_cut))
    assert len(set(by_cut)) == 3  # different cohorts, different errors
    chosen, why = rolling.choose(summary, list(CANDIDATES))
    means = {n: summary[n]["mae_value"]["mean"] for n in CANDIDATES}
    assert chosen == min(means, key=means.get)
    assert "over 3 cut-off(s)" in why
    # the past-spend baseline is summarised too, to grade the choice against
    assert summary["past_value_repeats"]["origins"] == 3


def test_refusals_are_recorded_per_cutoff():
    tx = simulate_bgnbd_transactions(800, start=dt.date(2023, 1, 1), birth_weeks=20, end=AS_OF)
    result = rolling.run_rolling(
        tx,
        AS_OF,
        holdout_days=120,
        origins=3,
        step_days=91,
        tables=CutoffTables(tx),
        candidates=CANDIDATES,
    )
    oldest = result.origins[-1].cutoff.isoformat()
    # two windows before the oldest holdout end reach before the data: refused there only
    assert "two windows" in result.refused["gbm"][oldest]
    assert result.origins[0].cutoff.isoformat() not in result.refused.get("gbm", {})
    # the comparison leaves out the cut-off where a candidate that scores now was refused
    used = rolling.comparable(result)
    assert 0 in used and len(result.origins) - 1 not in used


def test_stacked_does_not_beat_btyd_beyond_noise_where_none_is_planted(stationary):
    summary = rolling.summarise(_rolling(stationary))
    stacked, btyd = (summary[n]["mae_value"]["mean"] for n in ("gbm_stacked", "bgnbd"))
    assert stacked > 0.97 * btyd


def _monthly_series(index: np.ndarray, years: int, seed: int = 0) -> pd.DataFrame:
    """Daily transactions of 2000 customers for ``years`` years: each customer buys on a day
    with probability 0.02 x the month's planted index."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2020-01-01", periods=365 * years, freq="D")
    p = 0.02 * index[days.month.to_numpy() - 1]
    hits = rng.random((2000, len(days))) < p
    who, when = np.nonzero(hits)
    return pd.DataFrame({"customer_id": who.astype(str), "date": days[when].date, "amount": 10.0})


def test_seasonal_index_recovers_a_planted_month_pattern():
    planted = 1 + 0.4 * np.sin(np.arange(12) / 12 * 2 * np.pi)
    planted = planted / planted.mean()
    tx = _monthly_series(planted, 3)
    index = seasonal_index(tx, dt.date(2022, 12, 31))
    assert index is not None
    assert np.abs(index.to_numpy() - planted).max() < 0.06


def test_seasonal_index_is_flat_on_a_flat_series_and_absent_on_18_months():
    tx = _monthly_series(np.ones(12), 3, seed=1)
    index = seasonal_index(tx, dt.date(2022, 12, 31))
    assert np.abs(index.to_numpy() - 1).max() < 0.06
    assert seasonal_index(tx, dt.date(2021, 6, 30)) is None


def test_the_aggregate_forecast_offers_the_corrected_figure_or_says_why_not():
    totals = {"total_expected_transactions": 1000.0}
    corrected = seasonal_forecast({"horizon_index": 1.2}, totals)
    assert corrected["corrected_expected_transactions"] == pytest.approx(1200.0)
    missing = seasonal_forecast({"horizon_index": None}, totals)
    assert missing["corrected_expected_transactions"] is None
    assert "cannot be learnt" in missing["correction"]
