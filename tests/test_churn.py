"""Churn risk: windows, labels, survival maths, calibration, levels, reasons, degradation.

Expected values are derived by hand or from a known generative truth (simulated data).
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from churn import (
    Calibrator,
    GapSurvivalModel,
    backtest_windows,
    churn_labels,
    expected_calibration_error,
    explain,
    inter_purchase_gaps,
    strategic_clients,
    warning_levels,
)
from churn.scoring import score_churn
from churn.survival import gaps_at, kaplan_meier
from features import customer_features

START = dt.date(2024, 1, 1)
THRESHOLDS = {"red": 0.7, "orange": 0.5, "yellow": 0.3}


# ---------------------------------------------------------------- simulated data
def regular_customers(
    n: int, first: dt.date, last: dt.date, every_days: int, prefix: str
) -> pd.DataFrame:
    """``n`` customers who each transact every ``every_days`` days from ``first`` to ``last``."""
    days = pd.date_range(first, last, freq=f"{every_days}D")
    ids = np.repeat([f"{prefix}{i:04d}" for i in range(n)], len(days))
    return pd.DataFrame({"customer_id": ids, "date": np.tile(days.date, n), "amount": 100.0})


def btyd_population(n: int, end: dt.date, seed: int) -> pd.DataFrame:
    """Poisson purchases at a gamma-distributed rate until an exponential dropout (Pareto/NBD).

    Rates: Gamma(shape 1.5, mean one every 20 days); lifetimes: exponential, mean 250 days;
    first purchase uniform over the 200 days after START.
    """
    rng = np.random.default_rng(seed)
    horizon = (end - START).days
    first = rng.integers(0, 200, n)
    rate = rng.gamma(1.5, 1 / (1.5 * 20), n)
    span = np.minimum(rng.exponential(250, n), horizon - first)
    counts = rng.poisson(rate * np.maximum(span, 0))
    owner = np.repeat(np.arange(n), counts)
    offsets = first[owner] + rng.uniform(0, 1, counts.sum()) * span[owner]
    day = np.concatenate([first, np.floor(offsets).astype(int)])
    who = np.concatenate([np.arange(n), owner])
    channels = np.array(["手机银行", "柜面", "网上银行"])
    products = np.array(["存款", "理财", "贷款"])
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in who],
            "date": (pd.Timestamp(START) + pd.to_timedelta(day, unit="D")).date,
            "amount": np.round(rng.gamma(2.0, 50.0, len(who)), 2),
            "product": products[rng.integers(0, 3, len(who))],
            "channel": channels[rng.integers(0, 3, len(who))],
        }
    )
    return frame.sort_values(["customer_id", "date"], kind="mergesort", ignore_index=True)


def params(horizon_days: int, **churn) -> dict:
    return {
        "seed": 7,
        "features": {"time_unit_days": 7, "trend_window_days": 90},
        "churn": {"horizon_days": horizon_days, "thresholds": THRESHOLDS, **churn},
    }


def run_scoring(transactions: pd.DataFrame, as_of: dt.date, horizon_days: int, **churn):
    from ltv import BetaGeoModel

    customers = customer_features(transactions, as_of, unit_days=7, trend_window_days=90)
    model = BetaGeoModel().fit(
        customers["frequency"].to_numpy(float),
        customers["recency"].to_numpy(float),
        customers["T"].to_numpy(float),
    )
    result = score_churn(transactions, customers, None, as_of, params(horizon_days, **churn), model)
    return customers, result


# ---------------------------------------------------------------- windows and labels
def test_backtest_windows_never_overlap():
    w = backtest_windows(dt.date(2025, 6, 30), 90)
    assert w.train_cutoff == dt.date(2025, 1, 1)  # 2 * 90 days before 2025-06-30
    assert w.eval_cutoff == dt.date(2025, 4, 1)
    train_start, train_end = w.train_label_window
    eval_start, eval_end = w.eval_label_window
    # half-open windows (start, end]: training labels end where the backtest's begin
    assert train_start == w.train_cutoff and train_end == w.eval_cutoff == eval_start
    assert eval_end == w.as_of
    # classifier features (<= train_cutoff) precede every label day it is trained or judged on
    assert w.train_cutoff < train_end <= eval_start < eval_end


def test_churn_labels_count_silence_and_contract_closing():
    cutoff = dt.date(2025, 1, 1)
    labels = churn_labels(
        pd.Series(["a", "b", "c", "d"]),
        pd.Series([0, 2, 1, 3]),
        cutoff,
        30,
        pd.Series(pd.to_datetime([None, "2025-01-31", "2025-02-01", "2024-12-01"])),
    )
    # a: silent; b: closes on the last day of the window; c: closes one day after; d: closed
    assert labels.tolist() == [1, 1, 0, 1]


def test_scoring_never_trains_on_the_window_it_evaluates():
    transactions = btyd_population(600, dt.date(2025, 6, 30), seed=3)
    _, result = run_scoring(transactions, dt.date(2025, 6, 30), 60)
    w = result.metrics["windows"]
    assert w["train_features_as_of"] == "2025-03-02"
    assert w["train_labels"] == ["2025-03-02", "2025-05-01"]
    assert w["backtest_labels"] == ["2025-05-01", "2025-06-30"]
    assert "gbm" in result.metrics["backtest"], result.metrics["degraded"]
    assert result.metrics["backtest"]["gbm"]["n_train"] > 0
    assert w["train_labels"][1] <= w["backtest_labels"][0]


# ---------------------------------------------------------------- survival maths
def test_gap_table_by_hand():
    transactions = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b"],
            "date": [dt.date(2025, 1, 1), dt.date(2025, 1, 1), dt.date(2025, 1, 11),
                     dt.date(2025, 1, 31), dt.date(2025, 1, 5)],
            "amount": 1.0,
        }
    )  # fmt: skip
    gaps = inter_purchase_gaps(transactions, dt.date(2025, 2, 10))
    # a: same-day rows merge; gaps 10, 20 (returns) and the open 10 days; b: open 36 days
    assert gaps["duration_days"].tolist() == [10, 20, 10, 36]
    assert gaps["event"].tolist() == [1, 1, 0, 0]


def test_gaps_at_an_earlier_cutoff_equal_the_gaps_recomputed_there():
    """Cutting the later gap table at a cut-off must give exactly the table computed from the
    transactions up to that cut-off (closed gaps that cross it become open, censored)."""
    rng = np.random.default_rng(5)
    n = 3000
    transactions = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 300, n).astype(str),
            "date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 400, n), "D"),
            "amount": 1.0,
        }
    )
    later = inter_purchase_gaps(transactions, dt.date(2025, 3, 1))
    for cutoff in (dt.date(2024, 6, 30), dt.date(2024, 1, 1), dt.date(2024, 11, 5)):
        direct = inter_purchase_gaps(transactions, cutoff)
        cut = gaps_at(later, cutoff)
        key = ["customer_id", "start"]
        direct = direct.sort_values(key).reset_index(drop=True)
        cut = cut.sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(cut[direct.columns], direct, check_dtype=False)


def test_kaplan_meier_matches_lifelines():
    from lifelines import KaplanMeierFitter

    rng = np.random.default_rng(2)
    durations = np.round(rng.exponential(30, 500))  # ties on purpose
    events = rng.random(500) < 0.7
    days = np.array([0.0, 1.0, 7.5, 30.0, 90.0, 400.0])
    expected = KaplanMeierFitter().fit(durations, events).survival_function_at_times(days)
    np.testing.assert_allclose(kaplan_meier(durations, events, days), expected.to_numpy())


def test_cox_recovers_exponential_hazards_and_churn_probability():
    """Exponential gaps, rate 1/20 per day for group 0 and 1/10 for group 1 (hazard ratio 2).

    Memoryless: P(no transaction in the next 30 days) = exp(-30 rate), whatever the silence.
    """
    rng = np.random.default_rng(11)
    n = 4000
    group = np.repeat([0.0, 1.0], n // 2)
    rate = np.where(group == 1, 1 / 10, 1 / 20)
    gap = rng.exponential(1 / rate)
    censor = rng.uniform(0, 80, n)
    gaps = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "duration_days": np.minimum(gap, censor),
            "event": (gap <= censor).astype(int),
        }
    )
    covariates = pd.DataFrame({"group": group}, index=np.arange(n))
    model = GapSurvivalModel(penalizer=0.0).fit(gaps, covariates)
    assert np.exp(model.coef_["group"]) == pytest.approx(2.0, rel=0.1)
    probe = pd.DataFrame({"group": [0.0, 1.0, 0.0]})
    p = model.churn_probability(np.array([5.0, 5.0, 25.0]), 30, probe)
    assert p == pytest.approx([np.exp(-1.5), np.exp(-3.0), np.exp(-1.5)], abs=0.03)
    # already silent for the horizon -> inactive now; a sure return-free spell -> h - d
    days = model.median_days_to_inactivity(np.array([40.0]), 30, probe.iloc[[0]], 3650)
    assert days.tolist() == [0.0]


def test_median_days_when_silence_is_likely_to_last():
    """Baseline only, no returns ever observed: S = 1, so inactivity comes after h - d days."""
    gaps = pd.DataFrame({"customer_id": [0, 1], "duration_days": [50.0, 70.0], "event": [0, 0]})
    model = GapSurvivalModel().fit(gaps, pd.DataFrame({"x": [0.0, 1.0]}, index=[0, 1]))
    covariates = pd.DataFrame({"x": [0.0, 0.0]})
    days = model.median_days_to_inactivity(np.array([10.0, 89.0]), 90, covariates, 3650)
    assert days.tolist() == [80.0, 1.0]
    assert model.churn_probability(np.array([10.0, 89.0]), 90, covariates).tolist() == [1.0, 1.0]


# ---------------------------------------------------------------- calibration
@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_calibration_on_held_out_simulated_scores(method):
    """True P(churn) = sigmoid(z); the raw score sigmoid(3 z) is badly over-confident.

    Bound: 10 equal bins of 2,000 held-out customers have a binomial standard error of at
    most sqrt(0.25 / 2000) = 0.011 per bin, so the expected |error| from noise alone is about
    0.009; 0.025 leaves room for the fitted map's own error (fitted on 20,000 others).
    """
    rng = np.random.default_rng(5)
    z = rng.normal(0, 1.5, 40_000)
    churned = (rng.uniform(size=z.size) < 1 / (1 + np.exp(-z))).astype(int)
    raw = 1 / (1 + np.exp(-3 * z))
    fit, held = slice(0, 20_000), slice(20_000, None)
    before = expected_calibration_error(raw[held], churned[held])
    calibrated = Calibrator(method).fit(raw[fit], churned[fit]).transform(raw[held])
    assert before > 0.05
    assert expected_calibration_error(calibrated, churned[held]) < 0.025


def test_quantile_map_keeps_the_order_and_takes_the_reference_levels():
    from churn.calibration import quantile_map

    assert quantile_map([0.3, 0.1, 0.2], [10.0, 30.0, 20.0]).tolist() == [30.0, 10.0, 20.0]
    # ties share the value at their average rank 2.5: halfway between 2 and 3
    assert quantile_map([0.5, 0.5, 0.1], [1.0, 2.0, 3.0]).tolist() == [2.5, 2.5, 1.0]


# ---------------------------------------------------------------- warning levels
def test_levels_follow_thresholds_and_value_weighting():
    p = np.array([0.1, 0.3, 0.49, 0.5, 0.69, 0.7, 0.95])
    assert warning_levels(p, THRESHOLDS).tolist() == [
        "none", "yellow", "yellow", "orange", "orange", "red", "red",
    ]  # fmt: skip
    raised = warning_levels(p, THRESHOLDS, strategic=np.ones(7, dtype=bool))
    assert raised.tolist() == ["none", "orange", "orange", "red", "red", "red", "red"]


def test_strategic_clients_hold_half_the_value():
    # ranked shares before each client: 0, 0.4, 0.7, 0.9 -> the first two reach 50%
    assert strategic_clients(pd.Series([30.0, 40.0, 10.0, 20.0])).tolist() == [
        True, True, False, False,
    ]  # fmt: skip
    # 100 of 200 is already half: the second client is not needed
    assert strategic_clients(pd.Series([100.0, 50.0, 30.0, 20.0])).tolist() == [
        True, False, False, False,
    ]  # fmt: skip
    # equal CLVs share the flag whatever their order: 40% is above each 30
    assert strategic_clients(pd.Series([30.0, 40.0, 30.0])).tolist() == [True, True, True]
    assert strategic_clients(pd.Series([30.0, 30.0, 40.0])).tolist() == [True, True, True]


# ---------------------------------------------------------------- reasons
def reason_population() -> tuple[pd.DataFrame, np.ndarray]:
    """40 customers whose churn probability rises with how overdue they are, plus probes."""
    rng = np.random.default_rng(2)
    n = 40
    gap = rng.uniform(10, 40, n)
    ratio = rng.uniform(0.2, 4.0, n)
    base = pd.DataFrame(
        {
            "customer_id": [f"p{i}" for i in range(n)],
            "days_since_last": np.round(gap * ratio),
            "gap_mean_days": gap,
            "frequency": 5,
            "recent_value": 100.0,
            "prior_value": rng.uniform(80, 400, n),
            "recent_n_products": 2,
            "prior_n_products": 2,
            "recent_n_days": 3,
            "prior_n_days": 3,
            "recent_main_channel": "手机银行",
            "prior_main_channel": "手机银行",
        }
    )
    drop = 1 - base["recent_value"] / base["prior_value"]
    logit = 1.2 * np.log(ratio) + 1.5 * drop - 0.5
    probes = pd.DataFrame(
        {
            "customer_id": ["silent", "shrinking", "steady"],
            "days_since_last": [84, 20, 5],
            "gap_mean_days": [27.0, 25.0, 30.0],
            "frequency": [5, 5, 5],
            "recent_value": [100.0, 400.0, 100.0],
            "prior_value": [100.0, 1000.0, 100.0],
            "recent_n_products": [2, 1, 2],
            "prior_n_products": [2, 3, 2],
            "recent_n_days": [3, 3, 3],
            "prior_n_days": [3, 3, 3],
            "recent_main_channel": ["手机银行", "柜面", "手机银行"],
            "prior_main_channel": ["手机银行", "手机银行", "手机银行"],
        }
    )
    frame = pd.concat([base, probes], ignore_index=True)
    p = np.concatenate([1 / (1 + np.exp(-logit)), [0.9, 0.8, 0.1]])
    return frame, p


def test_reasons_quote_the_customers_own_numbers():
    frame, p = reason_population()
    reasons = explain(
        frame, p, p >= 0.3, as_of=dt.date(2025, 6, 30), horizon_days=90, max_reasons=3
    ).set_index(frame["customer_id"])
    silent = reasons.loc["silent"]
    assert silent["reason_codes"].split(";")[0] == "long_gap"
    assert "no transaction for 84 days, 3.1× their usual gap" in silent["reasons_en"]
    assert "已84天无交易，是其平均间隔的3.1倍" in silent["reasons_zh"]
    shrinking = reasons.loc["shrinking"]
    codes = shrinking["reason_codes"].split(";")
    assert len(codes) <= 3 and "value_down" in codes
    assert "value down 60% against the previous quarter" in shrinking["reasons_en"]
    assert "交易金额较上一季度下降60%" in shrinking["reasons_zh"]
    # the only other applicable reasons: 3 product lines -> 1, main channel 手机银行 -> 柜面
    assert set(codes) == {"value_down", "fewer_products", "channel_shift"}
    assert "only one product line left" in shrinking["reasons_en"]
    assert "moved from mobile to counter" in shrinking["reasons_en"]
    assert "主要渠道从手机银行转为柜面" in shrinking["reasons_zh"]
    # 20 days silent against a 25-day usual gap is not overdue: never given as a reason
    assert "long_gap" not in codes
    assert reasons.loc["steady", "reason_codes"] == ""  # not at risk: no reasons


def test_reason_list_is_capped_and_bilingual():
    frame, p = reason_population()
    reasons = explain(
        frame, p, np.ones(len(p), bool), as_of=dt.date(2025, 6, 30), horizon_days=90,
        max_reasons=1,
    )  # fmt: skip
    shrinking = reasons.iloc[-2]
    assert ";" not in shrinking["reason_codes"] and shrinking["reason_codes"] != ""
    assert reasons["reason_codes"].str.count(";").max() == 0
    nonempty = reasons["reason_codes"] != ""
    assert (reasons.loc[nonempty, "reasons_zh"] != "").all()


# ---------------------------------------------------------------- degradation
def assert_valid(customers: pd.DataFrame, result) -> None:
    p = result.table["churn_probability"].to_numpy()
    assert len(p) == len(customers) and np.isfinite(p).all()
    assert ((p >= 0) & (p <= 1)).all()
    assert np.isfinite(result.table["median_days_to_inactivity"]).all()
    assert set(result.table["warning_level"]) <= {"red", "orange", "yellow", "none"}


@pytest.mark.filterwarnings("ignore:.*did not converge")  # BG/NBD on clockwork buyers
def test_single_class_degrades_without_nan():
    as_of = dt.date(2025, 6, 30)
    transactions = regular_customers(50, START, as_of, 7, "w")  # nobody ever churns
    customers, result = run_scoring(transactions, as_of, 30)
    assert_valid(customers, result)
    assert any(d.startswith("backtest_too_few_of_a_class") for d in result.metrics["degraded"])
    assert result.metrics["backtest"] == {} and result.metrics["calibration"] == "none"
    json.dumps(result.metrics, allow_nan=False)  # valid JSON: no NaN anywhere


@pytest.mark.filterwarnings("ignore:.*did not converge")  # BG/NBD on clockwork buyers
def test_too_few_churners_drops_the_classifier():
    as_of, h = dt.date(2025, 6, 30), 60
    train_cutoff, eval_cutoff = as_of - dt.timedelta(120), as_of - dt.timedelta(60)
    transactions = pd.concat(
        [
            regular_customers(200, START, as_of, 7, "stay"),
            # 15 leave before the training window: the classifier's only churners
            regular_customers(15, START, train_cutoff - dt.timedelta(30), 7, "early"),
            # 15 leave inside it: churners in the backtest window (30 in all)
            regular_customers(15, START, eval_cutoff - dt.timedelta(20), 7, "late"),
        ],
        ignore_index=True,
    )
    customers, result = run_scoring(transactions, as_of, h)
    assert_valid(customers, result)
    degraded = result.metrics["degraded"]
    assert any(d.startswith("gbm_too_few_churners: 15 churners") for d in degraded), degraded
    # BG/NBD on clockwork buyers sits at its bounds: refused, with the reason
    assert set(result.metrics["backtest"]) == {"survival"}
    assert any("at a bound" in r or "converge" in r for r in result.metrics["refused"]["btyd"])
    assert result.metrics["chosen"] == "survival"


def test_horizon_longer_than_history_degrades():
    as_of = dt.date(2025, 1, 20)
    transactions = btyd_population(300, as_of, seed=4)
    transactions = transactions[pd.to_datetime(transactions["date"]) >= "2024-09-01"]
    customers, result = run_scoring(transactions, as_of, 365)
    assert_valid(customers, result)
    degraded = result.metrics["degraded"]
    assert any(d.startswith("horizon_longer_than_history") for d in degraded)
    # ranked on a proxy horizon: no isotonic/sigmoid map, at most the rank-preserving one
    assert result.metrics["calibration"] in {"none", "quantile_map_to_btyd"}
    assert result.metrics["backtest_is_proxy"]
    assert "gbm" not in result.metrics["backtest"]


def test_requested_model_is_used_and_runs_are_identical():
    transactions = btyd_population(300, dt.date(2025, 6, 30), seed=9)
    _, first = run_scoring(transactions, dt.date(2025, 6, 30), 60, model="survival")
    _, second = run_scoring(transactions, dt.date(2025, 6, 30), 60, model="survival")
    assert first.metrics["chosen"] == "survival"
    pd.testing.assert_frame_equal(first.table, second.table)


def test_scheduled_closing_is_churn_and_the_first_reason():
    frame, p = reason_population()
    frame["close_date"] = pd.NaT
    frame.loc[frame["customer_id"] == "steady", "close_date"] = pd.Timestamp("2025-07-15")
    reasons = explain(
        frame, p, np.ones(len(p), bool), as_of=dt.date(2025, 6, 30), horizon_days=90
    ).set_index(frame["customer_id"])
    steady = reasons.loc["steady"]
    assert steady["reason_codes"].split(";")[0] == "account_closing"
    assert steady["reasons_en"].startswith("account closes on 2025-07-15")
    assert steady["reasons_zh"].startswith("账户将于2025-07-15销户")
    assert "account_closing" not in reasons.loc["silent", "reason_codes"]


def test_roc_plot_points_keep_the_area():
    from churn.calibration import roc_points

    # churners scored 0.9 and 0.7, actives 0.8 and 0.6: 3 of 4 pairs in order, AUC = 0.75
    curve = roc_points(np.array([0.9, 0.8, 0.7, 0.6]), np.array([1, 0, 1, 0]), "m")
    assert curve["false_positive_rate"].iloc[[0, -1]].tolist() == [0.0, 1.0]
    assert curve["true_positive_rate"].is_monotonic_increasing
    area = np.trapezoid(curve["true_positive_rate"], curve["false_positive_rate"])
    assert area == pytest.approx(0.75, abs=0.005)  # one 0.005-wide grid step at the jump


def test_at_risk_customer_gets_a_reason_even_when_below_average():
    frame, p = reason_population()
    probe = frame.iloc[[-1]].assign(
        customer_id="mild",
        days_since_last=30,
        gap_mean_days=25.0,  # 1.2x overdue only
    )
    frame = pd.concat([frame, probe], ignore_index=True)
    p = np.append(p, 0.35)
    reasons = explain(frame, p, p >= 0.3, as_of=dt.date(2025, 6, 30), horizon_days=90)
    mild = reasons.iloc[-1]
    # log(1.2) is below the population's mean log overdue ratio: the fallback gives it alone
    assert mild["reason_codes"] == "long_gap"
    assert mild["reasons_en"] == "no transaction for 30 days, 1.2× their usual gap"
    assert mild["reasons_zh"] == "已30天无交易，是其平均间隔的1.2倍"


def test_infrequent_reason_quotes_the_usual_gap():
    frame, p = reason_population()
    probe = frame.iloc[[-1]].assign(customer_id="rare", days_since_last=60, gap_mean_days=120.0)
    frame = pd.concat([frame, probe], ignore_index=True)
    p = np.append(p, 0.75)
    reasons = explain(frame, p, p >= 0.3, as_of=dt.date(2025, 6, 30), horizon_days=90)
    # usual gap 120 days > half the 90-day horizon; 60 days silent is not overdue
    assert reasons.iloc[-1]["reason_codes"] == "infrequent"
    assert reasons.iloc[-1]["reasons_en"] == "transacts only every 120 days on average"
    assert reasons.iloc[-1]["reasons_zh"] == "平均每120天才交易一次"


def test_lapsed_clients_are_kept_apart_from_the_active_at_risk():
    from churn.warning import lapsed_clients

    days = np.array([10.0, 89.0, 90.0, 91.0, 400.0, np.nan])
    lapsed = lapsed_clients(days, 90)
    assert lapsed.tolist() == [False, False, False, True, True, False]
    p = np.array([0.95, 0.6, 0.35, 0.99, 0.99, 0.1])
    levels = warning_levels(p, THRESHOLDS, lapsed=lapsed)
    assert levels.tolist() == ["red", "orange", "yellow", "none", "none", "none"]


def test_isotonic_calibration_keeps_the_order_of_distinct_scores():
    rng = np.random.default_rng(3)
    train = rng.uniform(0.2, 0.8, 2000)
    y = (rng.uniform(size=2000) < train).astype(int)
    calibrator = Calibrator("isotonic").fit(train, y)
    new = rng.uniform(0.0, 1.0, 500)  # also outside the fitted range
    p = calibrator.transform(new)
    order = np.argsort(new)
    step = np.diff(p[order])
    assert (step >= 0).all()
    interior = (p[order][1:] > 0) & (p[order][:-1] < 1)
    assert (step[interior] > 0).all()  # no ties inside (0, 1): the raw score's ranking
    # and still calibrated: the truth is p = score on the fitted range
    inside = (new > 0.25) & (new < 0.75)
    assert np.abs(p[inside] - new[inside]).mean() < 0.05


def test_gap_table_is_the_same_from_arrow_backed_ids():
    """The fit passes the ids as stored (Arrow strings): the gaps, customer order included,
    must equal those from plain Python strings, a missing id belonging to no one."""
    transactions = pd.DataFrame(
        {
            "customer_id": ["b", "a", None, "a", "c", "b", "a"],
            "date": pd.to_datetime(["2025-01-05", "2025-01-01", "2025-01-02", "2025-01-11",
                                    "2025-03-01", "2025-01-20", "2025-01-01"]),
        }
    )  # fmt: skip
    arrow = transactions.assign(
        customer_id=transactions["customer_id"].astype(pd.ArrowDtype(pa.string()))
    )
    cutoff = dt.date(2025, 2, 10)
    plain = inter_purchase_gaps(transactions, cutoff)
    assert plain["customer_id"].tolist() == ["a", "a", "b", "b"]  # c is after the cut-off
    assert plain["duration_days"].tolist() == [10, 30, 15, 21]
    pd.testing.assert_frame_equal(inter_purchase_gaps(arrow, cutoff), plain, check_exact=True)


def test_reason_surrogate_fitted_in_chunks_equals_one_pass(monkeypatch):
    """fit_reasons builds the signals a chunk of customers at a time: the surrogate must be
    exactly the one fitted on the whole sample's signals at once."""
    from churn import reasons

    frame, p = reason_population()
    frame = pd.concat([frame] * 7, ignore_index=True)
    p = np.tile(p, 7) * np.linspace(0.5, 1.0, len(frame))
    args = {"as_of": dt.date(2025, 6, 30), "horizon_days": 90, "trend_window_days": 90}
    signals = reasons._signals(frame, **args)[3]
    whole = reasons.fit_reason_surrogate(signals, p)
    monkeypatch.setattr(reasons, "SIGNAL_CHUNK_ROWS", 4)
    chunked = reasons.fit_reasons(frame, p, **args)
    assert len(frame) > 4 * 3 and np.abs(whole.beta).max() > 0
    for name in ("mean", "sd", "beta"):
        np.testing.assert_array_equal(getattr(chunked, name), getattr(whole, name))
