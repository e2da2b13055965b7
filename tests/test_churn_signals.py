"""Balance (AUM) and complaint signals in churn: the warnings' rules worked by hand, and the
backtest finding the generator's planted effect, and nothing where none was planted.

The planted truth (:mod:`synthetic.balances`, :mod:`synthetic.service`): a client who drops
out shows AUM falling for some months before and more unresolved complaints; with
``effect=False`` balances and events are drawn the same way for everyone.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from churn.fitting import fit_churn
from churn.signal_warnings import alert_level, complaint_warning, outflow_warning
from features import customer_features
from features.signals import add_signals
from kequn.settings import settings_from
from ltv import BetaGeoModel
from synthetic.balances import churn_day, plant_balances
from synthetic.bank import generate
from synthetic.service import plant_events

END = "2025-12-31"
AS_OF = dt.date(2025, 12, 31)
SEED = 11
#: the event types of mappings/sample_events.yaml's values, as ingest translates them
TYPES = {"投诉": "complaint", "服务请求": "service_request", "业务咨询": "service_request"}
TYPES["满意度调查"] = "survey"


def _rules():
    churn = settings_from({}).churn  # the defaults: red 50%/2 months, orange 30%/2, yellow 20%/0
    return churn.outflow_warning, churn.complaint_warning


# ------------------------------------------------------------------ the rules by hand
def test_outflow_levels_by_size_and_length_of_the_decline():
    outflow, _ = _rules()
    rows = pd.DataFrame(
        {
            # A: 100k -> 40k over 3 months, falling 3 months: -60% >= 50%, 3 >= 2: red
            # B: -60% in one month but flat since (0 months falling): only yellow (months 0)
            # C: -35% over 6 months, falling 2: orange; D: -15%: nothing
            # E: -60% but from 5k (< min_aum 10k): nothing; F: no snapshots: nothing
            "aum_latest": [40_000.0, 40_000.0, 65_000.0, 85_000.0, 2_000.0, np.nan],
            "aum_change_1m": [-0.2, 0.0, -0.05, -0.05, -0.6, np.nan],
            "aum_change_3m": [-0.6, -0.6, -0.1, -0.15, -0.6, np.nan],
            "aum_change_6m": [np.nan, -0.6, -0.35, -0.1, -0.6, np.nan],
            "aum_decline_months": [3, 0, 2, 4, 5, 0],
        }
    )
    out = outflow_warning(rows, outflow)
    assert out["outflow_warning"].tolist() == ["red", "yellow", "orange", "none", "none", "none"]
    assert out["outflow_window_months"].tolist() == [3, 3, 6, 0, 0, 0]
    assert out["outflow_drop"].iloc[0] == pytest.approx(0.6)
    assert np.isnan(out["outflow_drop"].iloc[3])
    assert out["outflow_rule"].iloc[0] == (
        "red: AUM down 60% in 3 months (>= 50%), falling 3 months in a row (>= 2)"
    )
    assert out["outflow_rule"].iloc[1] == "yellow: AUM down 60% in 3 months (>= 20%)"
    assert out["outflow_rule"].iloc[3] == ""


def test_complaint_levels_by_number_and_age_of_unresolved_complaints():
    _, complaints = _rules()
    rows = pd.DataFrame(
        {
            # A: 2 unresolved, latest 40 days ago: red; B: 1 unresolved: orange
            # C: 2 unresolved but the latest 400 days ago (> 365): only its recent count,
            # 0: nothing; D: no unresolved, 3 complaints in 90 days: red; E: 1 recent: yellow
            "unresolved_complaints": [2, 1, 2, 0, 0],
            "days_since_unresolved": [40.0, 10.0, 400.0, np.nan, np.nan],
            "complaints_90d": [0, 0, 0, 3, 1],
        }
    )
    out = complaint_warning(rows, complaints)
    assert out["complaint_warning"].tolist() == ["red", "orange", "none", "red", "yellow"]
    assert out["complaint_rule"].iloc[0] == (
        "red: 2 unresolved complaints (>= 2), the latest 40 days ago"
    )
    assert out["complaint_rule"].iloc[3] == "red: 3 complaints in 90 days (>= 3)"
    # without the columns (no events extract) nobody is warned
    none = complaint_warning(pd.DataFrame(index=range(3)), complaints)
    assert (none["complaint_warning"] == "none").all() and (none["complaint_rule"] == "").all()


def test_alert_level_is_the_highest_of_the_warnings():
    got = alert_level(
        np.array(["none", "yellow", "red", "none"]),
        np.array(["orange", "none", "yellow", "none"]),
        np.array(["none", "red", "none", "none"]),
    )
    assert got.tolist() == ["orange", "red", "red", "none"]


def test_a_partial_level_keeps_its_own_defaults_and_a_typo_names_the_key():
    outflow = settings_from({"churn": {"outflow_warning": {"red": {"drop": 0.6}}}}).churn
    assert outflow.outflow_warning.red.months == 2  # red's own default, not orange's
    with pytest.raises(Exception, match=r"outflow_warning\.red\.dorp.*did you mean"):
        settings_from({"churn": {"outflow_warning": {"red": {"dorp": 0.6}}}})
    with pytest.raises(Exception, match="yellow <= orange <= red"):
        settings_from({"churn": {"outflow_warning": {"yellow": {"drop": 0.9}}}})


# ------------------------------------------------------------------ the planted effect
@pytest.fixture(scope="module")
def extract():
    x = generate(3000, "2023-01-01", END, seed=SEED)
    tx = x.transactions.loc[
        x.transactions["status"] == "正常", ["customer_id", "date", "amount", "product", "channel"]
    ].copy()
    tx["date"] = pd.to_datetime(tx["date"]).dt.date
    return x, tx


def _signals(x, effect: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    balances = plant_balances(x.customers, END, SEED, effect)
    events = plant_events(x.customers, END, SEED, effect)
    events = events.assign(type=events["type"].map(TYPES))
    for frame, column in ((balances, "date"), (events, "date"), (events, "resolved_date")):
        frame[column] = frame[column].dt.date
    return balances, events


def _fit(extract, effect: bool):
    x, tx = extract
    balances, events = _signals(x, effect)
    customers = customer_features(tx, AS_OF, unit_days=7, trend_window_days=90)
    customers = add_signals(customers, AS_OF, balances, events)
    rfm = (customers[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    model = BetaGeoModel().fit(*rfm)
    params = {"seed": 7, "churn": {"horizon_days": 90}}
    return fit_churn(tx, customers, None, AS_OF, params, model, (balances, events))


def test_the_backtest_finds_the_planted_signal_effect(extract):
    effect = _fit(extract, effect=True).metrics["signals_backtest"]
    assert len(effect["cutoffs"]) == 3
    # measured 0.021 on this draw; every cut-off gains
    assert effect["gain"] > 0.01
    assert all(c["with"] > c["without"] + 0.005 for c in effect["cutoffs"])


def test_the_backtest_finds_nothing_where_nothing_was_planted(extract):
    effect = _fit(extract, effect=False).metrics["signals_backtest"]
    assert len(effect["cutoffs"]) == 3
    assert abs(effect["gain"]) < 0.005  # measured 0.00001


@pytest.mark.parametrize("effect", [True, False])
def test_outflow_warnings_fire_on_the_planted_leavers_only(extract, effect):
    x, tx = extract
    balances, _ = _signals(x, effect)
    ids = pd.DataFrame({"customer_id": x.customers["customer_id"].astype(str)})
    features = add_signals(ids, AS_OF, balances, None)
    warned = outflow_warning(features, _rules()[0])["outflow_warning"].to_numpy() != "none"
    gone = churn_day(x.customers)
    leaving = (gone > np.datetime64("2025-06-30")) & (gone <= np.datetime64(END))
    staying = x.customers["alive"].to_numpy(bool)
    rate_leaving, rate_staying = warned[leaving].mean(), warned[staying].mean()
    if effect:
        assert rate_leaving > 5 * rate_staying and rate_leaving > 0.4  # measured 0.55, 0.02
    else:
        assert abs(rate_leaving - rate_staying) < 0.05  # measured 0.024 against 0.020


def test_balances_starting_after_the_earliest_training_window_do_not_stop_the_backtest(extract):
    # The 1M benchmark extract's snapshots start in its first month: at the earliest cut-off
    # the stacked classifier's training window (cut-off - horizon) has no aum_share_* column
    # yet while the cut-off has them; retraining without the signal columns must not fail.
    x, tx = extract
    balances, events = _signals(x, effect=True)
    late = balances.loc[balances["date"] >= dt.date(2025, 2, 1)].reset_index(drop=True)
    customers = add_signals(
        customer_features(tx, AS_OF, unit_days=7, trend_window_days=90), AS_OF, late, events
    )
    model = BetaGeoModel().fit(
        *(customers[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    )
    params = {"seed": 7, "churn": {"horizon_days": 90}}
    fit = fit_churn(tx, customers, None, AS_OF, params, model, (late, events))
    cutoffs = fit.metrics["signals_backtest"]["cutoffs"]
    assert len(cutoffs) == 3
    assert all(0.5 < c["with"] < 1.0 and 0.5 < c["without"] < 1.0 for c in cutoffs)
