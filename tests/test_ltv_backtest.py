"""Backtest metrics on hand-computed cases, gbm windows, and model choice on simulated data."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features import CutoffTables, cutoffs
from ltv import backtest, gbm
from ltv.backtest import (
    aggregate_error,
    calibration_by_frequency,
    choose_model,
    decile_table,
    evaluate,
    gain_curve,
    normalized_gini,
    past_value_repeats,
    run_backtest,
    window_totals,
)
from ltv.gbm import backtest_windows, feature_matrix, horizon_scale, scoring_windows
from ltv.scoring import train_gbm


def simulate_bgnbd_transactions(
    n_customers: int,
    *,
    start: dt.date,
    birth_weeks: int,
    end: dt.date,
    r: float = 0.6,
    alpha: float = 4.0,
    a: float = 0.8,
    b: float = 4.0,
    seed: int = 0,
    max_repeats: int = 200,
) -> pd.DataFrame:
    """Transactions drawn from the BG/NBD generative story (Fader, Hardie & Lee 2005).

    Each customer: first purchase at a uniform birth week, rate lambda ~ Gamma(r, 1/alpha)
    per week, repeat gaps ~ Exp(lambda), dropout after each repeat with p ~ Beta(a, b)
    (so the number of repeats before dropping out is Geometric(p) on 1, 2, ...); spend per
    transaction ~ Gamma(shape 4, mean m_i) with m_i ~ lognormal. Dates are whole days.
    """
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n_customers)
    p = rng.beta(a, b, n_customers)
    birth = rng.uniform(0, birth_weeks, n_customers)
    last_repeat = rng.geometric(p)
    gaps = rng.exponential(1.0, (n_customers, max_repeats)) / lam[:, None]
    times = np.concatenate([birth[:, None], birth[:, None] + np.cumsum(gaps, axis=1)], axis=1)
    index = np.arange(max_repeats + 1)
    horizon_weeks = (end - start).days / 7
    keep = (index[None, :] <= last_repeat[:, None]) & (times <= horizon_weeks)
    customer, j = np.nonzero(keep)
    days = np.floor(times[customer, j] * 7).astype(int)
    mean_spend = rng.lognormal(3.0, 0.5, n_customers)
    amount = rng.gamma(4.0, mean_spend[customer] / 4.0)
    dates = pd.Timestamp(start) + pd.to_timedelta(days, unit="D")
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in customer],
            "date": dates.date,
            "amount": np.round(amount, 2),
            "product": np.where(customer % 3 == 0, "loan", "deposit"),
            "channel": np.where(customer % 2 == 0, "app", "branch"),
        }
    ).sort_values(["customer_id", "date"], ignore_index=True)


# ---------------------------------------------------------------- normalized Gini


def test_gini_perfect_reversed_and_hand_computed():
    actual = [1.0, 2.0, 3.0, 4.0]
    assert normalized_gini(actual, actual) == pytest.approx(1.0)
    assert normalized_gini(actual, [4, 3, 2, 1]) == pytest.approx(-1.0)
    # by predicted [2,1,4,3] the actual order is 3,4,1,2: cumulative 3,7,8,10 of 10,
    # G = (0.3+0.7+0.8+1.0)/4 - 5/8 = 0.075; perfect order 4,3,2,1: 3.0/4 - 5/8 = 0.125
    assert normalized_gini(actual, [2, 1, 4, 3]) == pytest.approx(0.075 / 0.125)


def test_gini_constant_prediction_is_zero_and_random_is_near_zero():
    rng = np.random.default_rng(1)
    actual = rng.gamma(1.0, 10.0, 20_000)
    assert normalized_gini(actual, np.ones_like(actual)) == pytest.approx(0.0, abs=1e-12)
    assert abs(normalized_gini(actual, rng.random(actual.size))) < 0.03
    # undefined when there is nothing to rank
    assert np.isnan(normalized_gini([0.0, 0.0], [1.0, 2.0]))


# ---------------------------------------------------------------- deciles, gain, calibration


def test_decile_table_orders_by_prediction_and_sums_to_totals():
    rng = np.random.default_rng(2)
    actual = rng.gamma(1.0, 5.0, 25)
    predicted = actual + rng.normal(0, 1, 25)
    table = decile_table(actual, predicted)
    assert table["decile"].tolist() == list(range(1, 11))
    assert table["customers"].sum() == 25
    assert table["actual"].sum() == pytest.approx(actual.sum())
    assert table["predicted"].sum() == pytest.approx(predicted.sum())
    # positions 0..24 * 10 // 25: deciles of 3,2,3,2,... customers; decile 1 holds the top 3
    assert table["customers"].tolist() == [3, 2, 3, 2, 3, 2, 3, 2, 3, 2]
    top3 = np.sort(predicted)[-3:]
    assert table.loc[0, "predicted"] == pytest.approx(top3.sum())


def test_gain_curve_hand_computed():
    gain = gain_curve([0.0, 0.0, 0.0, 10.0], [1.0, 2.0, 3.0, 4.0], n_points=5)
    assert gain["share_of_customers"].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert gain["model"].tolist() == [0.0, 1.0, 1.0, 1.0, 1.0]
    assert gain["random"].tolist() == gain["share_of_customers"].tolist()
    # a constant prediction captures value exactly like a random order
    flat = gain_curve([0.0, 0.0, 0.0, 10.0], [5.0, 5.0, 5.0, 5.0], n_points=5)
    assert flat["model"].tolist() == pytest.approx(flat["random"].tolist())


def test_calibration_by_frequency_groups_seven_or_more():
    table = calibration_by_frequency(
        frequency=[0, 0, 1, 7, 12],
        actual=[0.0, 1.0, 2.0, 4.0, 6.0],
        predicted=[0.5, 0.5, 1.5, 5.0, 7.0],
    )
    assert table["frequency"].tolist() == list(range(8))
    assert table.loc[0, ["actual", "predicted"]].tolist() == [0.5, 0.5]
    assert table.loc[1, ["actual", "predicted"]].tolist() == [2.0, 1.5]
    assert table.loc[7, ["actual", "predicted"]].tolist() == [5.0, 6.0]  # x = 7 and 12
    assert table["customers"].tolist() == [2, 1, 0, 0, 0, 0, 0, 2]


def test_evaluate_and_aggregate_error_hand_computed():
    assert aggregate_error([10.0, 10.0], [15.0, 10.0]) == pytest.approx(0.25)
    assert aggregate_error([-10.0, 0.0], [-5.0, 0.0]) == pytest.approx(0.5)
    m = evaluate([1, 0, 2], [1.0, 1.0, 1.0], [10.0, 0.0, 30.0], [20.0, 0.0, 30.0])
    assert m["transactions_error"] == pytest.approx(0.0)
    assert m["mae_transactions"] == pytest.approx(2 / 3)
    assert m["value_error"] == pytest.approx(0.25)
    assert m["mae_value"] == pytest.approx(10 / 3)
    assert m["gini"] == pytest.approx(1.0)
    assert m["spearman"] == pytest.approx(1.0)
    # undefined metrics are JSON null, not NaN
    assert evaluate([0, 0], [0.0, 0.0], [0.0, 0.0], [1.0, 1.0])["value_error"] is None


def test_choose_model_lowest_mae_then_aggregate_error():
    metrics = {
        "a": {"mae_value": 5.0, "value_error": 0.01},
        "b": {"mae_value": 4.0, "value_error": -0.30},
        "c": {"mae_value": 4.0000000000001, "value_error": 0.10},
        "skipped": {},
    }
    name, reason = choose_model(metrics)
    assert name == "c"  # ties with b on MAE to 9 digits, smaller |aggregate error|
    assert "MAE" in reason
    with pytest.raises(ValueError):
        choose_model({"x": {}})


def test_window_totals_and_past_value_repeats_use_half_open_windows():
    tx = pd.DataFrame(
        {
            "customer_id": ["A", "A", "A", "A", "B"],
            "date": [
                dt.date(2024, 1, 1),
                dt.date(2024, 1, 2),
                dt.date(2024, 1, 2),
                dt.date(2024, 1, 11),
                dt.date(2024, 1, 5),
            ],
            "amount": [100.0, 1.0, 2.0, 50.0, 7.0],
        }
    )
    totals = window_totals(tx, dt.date(2024, 1, 1), dt.date(2024, 1, 10), ["A", "B", "C"])
    # (Jan 1, Jan 10]: A has Jan 2 twice (one day, value 3), B Jan 5, C nothing
    assert totals["transactions"].tolist() == [1, 1, 0]
    assert totals["value"].tolist() == [3.0, 7.0, 0.0]
    baseline = past_value_repeats(tx, dt.date(2024, 1, 11), 10, ["A", "B"])
    # (Jan 1, Jan 11]: A on Jan 2 and Jan 11 -> 2 days, value 53
    assert baseline["predicted_transactions"].tolist() == [2.0, 1.0]
    assert baseline["predicted_value"].tolist() == [53.0, 7.0]


# ---------------------------------------------------------------- gbm windows and features


def test_gbm_windows_never_overlap_the_evaluated_window():
    as_of, h = dt.date(2024, 12, 31), 182
    train, evaluated = backtest_windows(as_of, h)
    assert evaluated == backtest_windows(as_of, h)[1]
    assert (evaluated.features_as_of, evaluated.target_end) == (as_of - dt.timedelta(h), as_of)
    assert train.features_as_of == as_of - dt.timedelta(2 * h)
    assert train.target_end <= evaluated.features_as_of  # training target ends where eval starts
    train, scored = scoring_windows(as_of, h)
    assert train.target_end == as_of and scored.features_as_of == as_of
    assert scored.target_end == as_of + dt.timedelta(h)
    assert horizon_scale(182, 12) == pytest.approx(12 * 30.4375 / 182)


def test_gbm_backtest_trains_on_dates_before_the_evaluated_window(monkeypatch):
    start, as_of = dt.date(2023, 1, 1), dt.date(2024, 6, 30)
    tx = simulate_bgnbd_transactions(300, start=start, birth_weeks=20, end=as_of, seed=3)
    calls = []
    real_split = cutoffs.split_at

    def recording_split(transactions, cutoff, end, **kwargs):
        calls.append((cutoff, end, pd.to_datetime(transactions["date"]).max().date()))
        return real_split(transactions, cutoff, end, **kwargs)

    monkeypatch.setattr(cutoffs, "split_at", recording_split)
    result = run_backtest(tx, as_of, holdout_days=120, candidates=("gbm",))
    cutoff = as_of - dt.timedelta(days=120)
    assert (cutoff, as_of) in [(c, e) for c, e, _ in calls]  # the evaluated window
    training = [(c, e) for c, e, _ in calls if (c, e) != (cutoff, as_of)]
    assert training == [(cutoff - dt.timedelta(days=120), cutoff)]
    assert "gbm" in result.metrics and "gbm" not in result.skipped


def test_scoring_gbm_reuses_the_backtest_calibration_table(monkeypatch):
    """The scoring gbm trains on (as_of - H, as_of], the backtest's own calibration window:
    with the run's shared tables it is built once, and the booster is the one a fresh table
    gives."""
    start, as_of = dt.date(2023, 1, 1), dt.date(2024, 6, 30)
    tx = simulate_bgnbd_transactions(300, start=start, birth_weeks=20, end=as_of, seed=3)
    settings = {"holdout_days": 120, "unit_days": 7, "trend_window_days": 90}
    settings |= {"interval": (0.1, 0.9), "seed": 0, "horizon_months": 12}
    tables = CutoffTables(tx, unit_days=7, trend_window_days=90)
    run_backtest(tx, as_of, holdout_days=120, candidates=("gbm",), tables=tables)
    assert tables.built == 2  # (as_of - 2H, as_of - H] and (as_of - H, as_of]
    shared, _ = train_gbm(tables, as_of, settings)
    assert tables.built == 2
    fresh, _ = train_gbm(CutoffTables(tx, unit_days=7, trend_window_days=90), as_of, settings)
    scored = tables.split(as_of - dt.timedelta(days=120), as_of)[0]
    pd.testing.assert_frame_equal(shared.predict(scored), fresh.predict(scored))


def test_feature_matrix_aligns_scoring_columns_to_training():
    train = pd.DataFrame(
        {
            "customer_id": ["a"],
            "frequency": [2],
            "recency": [3.0],
            "share_product_loan": [1.0],
            "main_channel": ["app"],
        }
    )
    columns = feature_matrix(train).columns.tolist()
    assert columns == ["frequency", "recency", "share_product_loan"]  # strings dropped
    score = pd.DataFrame({"customer_id": ["b"], "frequency": [1], "share_product_fee": [1.0]})
    matrix = feature_matrix(score, columns)
    assert matrix.columns.tolist() == columns
    assert matrix.loc[0, "share_product_loan"] == 0.0  # absent category: share 0
    assert np.isnan(matrix.loc[0, "recency"])  # absent measure: missing


# ---------------------------------------------------------------- backtest on simulated data


@pytest.fixture(scope="module")
def simulated_backtest():
    start, as_of = dt.date(2022, 1, 1), dt.date(2023, 12, 31)
    tx = simulate_bgnbd_transactions(2000, start=start, birth_weeks=26, end=as_of, seed=11)
    return run_backtest(tx, as_of, holdout_days=182, seed=5)


def test_every_candidate_is_backtested_on_simulated_data(simulated_backtest):
    result = simulated_backtest
    assert set(result.metrics) == {
        "bgnbd",
        "pareto_nbd",
        "mbgnbd",
        "gbm",
        "gbm_stacked",
        "past_value_repeats",
    }
    assert not result.skipped
    for name in ("bgnbd", "pareto_nbd", "mbgnbd", "gamma_gamma"):
        fit = result.fits[name]
        assert fit["log_likelihood"] < 0
        # AIC = 2k - 2LL with k = 3 (Gamma-Gamma) or 4 parameters
        k = len(fit["params"])
        assert fit["aic"] == pytest.approx(2 * k - 2 * fit["log_likelihood"])


def test_choice_beats_past_value_repeats_on_bgnbd_data(simulated_backtest):
    metrics = simulated_backtest.metrics
    candidates = {k: v for k, v in metrics.items() if k != "past_value_repeats"}
    chosen, _ = choose_model(candidates)
    assert metrics[chosen]["mae_value"] < metrics["past_value_repeats"]["mae_value"]
    # the generating model forecasts the holdout total within 10 %
    assert abs(metrics["bgnbd"]["transactions_error"]) < 0.10
    assert metrics["bgnbd"]["gini"] > metrics["past_value_repeats"]["gini"] - 0.05


def test_short_history_skips_candidates_with_reason():
    start, as_of = dt.date(2024, 1, 1), dt.date(2024, 6, 30)
    tx = simulate_bgnbd_transactions(200, start=start, birth_weeks=4, end=as_of, seed=4)
    result = run_backtest(tx, as_of, holdout_days=120)
    # one window fits (cutoff 2024-03-02 after the start), two do not
    assert "gbm" in result.skipped and "two windows" in result.skipped["gbm"]
    assert "two windows" in result.skipped["gbm_stacked"]
    assert "bgnbd" in result.metrics
    result = run_backtest(tx, as_of, holdout_days=400)
    assert set(result.skipped) == {"bgnbd", "pareto_nbd", "mbgnbd", "gbm", "gbm_stacked"}
    assert all("holdout_days=400" in reason for reason in result.skipped.values())


def test_gbm_refuses_a_training_window_without_transactions():
    window = backtest_windows(dt.date(2024, 12, 31), 30)[0]
    quiet = pd.DataFrame(
        {"customer_id": ["a", "b"], "holdout_transactions": [0, 0], "holdout_value": [0.0, 0.0]}
    )
    assert "no transactions in (2024-11-01, 2024-12-01]" in gbm.cannot_train(quiet, window)
    assert gbm.cannot_train(quiet.iloc[:0], window).startswith("no customers")
    assert gbm.cannot_train(quiet.assign(holdout_transactions=[0, 1]), window) is None


def _seasonal_transactions(start: str, end: str, december: float, seed: int = 0):
    """300 customers buying on random days, ``december`` times as often in December."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(start, end, freq="D")
    weight = np.where(days.month == 12, december, 1.0)
    picks = rng.choice(len(days), size=40_000, p=weight / weight.sum())
    return pd.DataFrame(
        {
            "customer_id": rng.integers(0, 300, len(picks)).astype(str),
            "date": days[picks].date,
            "amount": 10.0,
        }
    )


def test_season_check_finds_a_planted_december_and_nothing_where_none_is():
    from ltv.backtest import season_check

    as_of = dt.date(2024, 10, 31)
    # holdout May..Oct, horizon Nov..Apr: different seasons whatever the data
    seasonal = _seasonal_transactions("2021-01-01", "2024-10-31", december=3.0)
    check = season_check(seasonal, dt.date(2024, 4, 30), as_of, 182)
    assert check["mismatch"] and check["overlap"] < 0.1
    assert 12 in check["horizon_months"] and 12 not in check["holdout_months"]
    # December 3x: index(Dec) = 3 / (14 / 12) ~ 2.57; the horizon holds 31 of 182 days of it
    assert check["index"][12] == pytest.approx(36 / 14, rel=0.1)
    # holdout without December: 12 / 14 ~ 0.86; horizon: (31 x 2.57 + 151 x 0.86) / 182 ~ 1.15
    assert check["holdout_index"] == pytest.approx(12 / 14, rel=0.05)
    assert check["horizon_index"] == pytest.approx((31 * 36 / 14 + 151 * 12 / 14) / 182, rel=0.05)
    assert check["seasonal_correction"] == check["horizon_index"]
    flat = season_check(
        _seasonal_transactions("2021-01-01", "2024-10-31", december=1.0),
        dt.date(2024, 4, 30),
        as_of,
        182,
    )
    assert abs(flat["horizon_index"] - 1) < 0.05 and abs(flat["holdout_index"] - 1) < 0.05
    assert not flat["mismatch"]  # other months, but no season to speak of
    # same months in both windows: no mismatch; one year of data: no index to learn
    short = _seasonal_transactions("2024-01-01", "2024-10-31", december=1.0)
    same = season_check(short, dt.date(2023, 10, 31), as_of, 365)
    assert not same["mismatch"] and same["seasonal_correction"] is None


def test_a_candidate_that_did_not_converge_is_refused_with_the_reason(monkeypatch):
    from ltv import BetaGeoModel

    class NeverConverges(BetaGeoModel):
        def fit(self, *args, **kwargs):
            super().fit(*args, **kwargs)
            self.converged_ = False
            return self

    from test_churn import btyd_population  # Pareto/NBD-like purchases with dropout

    monkeypatch.setitem(backtest.TRANSACTION_MODELS, "bgnbd", NeverConverges)
    as_of = dt.date(2025, 6, 30)
    result = backtest.run_backtest(
        btyd_population(1500, as_of, seed=5),
        as_of,
        holdout_days=90,
        candidates=("bgnbd", "pareto_nbd"),
    )
    assert "did not converge" in result.skipped["bgnbd"]
    assert "bgnbd" not in result.metrics and "pareto_nbd" in result.metrics


def test_degenerate_scoring_model_falls_back_to_one_that_separates_clients():
    from features import customer_features
    from ltv.scale import HistoryCounts
    from ltv.scoring import fit_transaction_model
    from test_churn import btyd_population  # purchases with a planted exponential dropout

    as_of = dt.date(2025, 6, 30)
    customers = customer_features(btyd_population(1500, as_of, seed=8), as_of, unit_days=7)
    histories = HistoryCounts.of(customers["frequency"], customers["recency"], customers["T"])
    model, name, note = backtest.fit_separating("bgnbd", histories, 0.0, fit_transaction_model)
    assert name == "bgnbd" and note is None  # the planted dropout is found: nothing to fix

    def no_dropout_bgnbd(name, histories, penalizer):
        fitted = fit_transaction_model(name, histories, penalizer)
        if name == "bgnbd":  # as on the online retailer's extract: dropout near zero
            fitted.params_ = {**fitted.params_, "a": 1e-4, "b": 1e2}
        return fitted

    model, name, note = backtest.fit_separating("bgnbd", histories, 0.0, no_dropout_bgnbd)
    assert name != "bgnbd" and "P(alive) nearly constant" in note
    args = (histories.x, histories.t_x, histories.T, histories.weights)
    assert backtest.degenerate_reason(model, *args) is None
