"""The planted past campaign: measured lift covers the truth, uplift beats risk on Qini."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.lift import rate_lift
from evaluation.uplift import (
    backtest_uplift,
    pre_features,
    qini_coefficient,
    qini_curve,
    risk_value_score,
)
from synthetic.bank import generate
from synthetic.campaigns import RATES, plant_campaign


@pytest.fixture(scope="module")
def planted():
    extract = generate(20_000, seed=20261123)
    campaign = plant_campaign(extract.transactions, extract.customers)
    normal = extract.transactions[extract.transactions["status"] == "正常"]
    clients = extract.customers[["customer_id", "client_type"]]
    features = pre_features(
        normal, campaign["customer_id"], campaign["contact_date"].iloc[0], clients
    )
    return campaign, features


def arms(frame):
    t = frame["arm"] == "treatment"
    return frame.loc[t, "responded"].to_numpy(), frame.loc[~t, "responded"].to_numpy()


def test_measured_lift_covers_the_planted_effect(planted):
    campaign, _ = planted
    overall = rate_lift(*arms(campaign))
    assert overall.ci_low < campaign["true_uplift"].mean() < overall.ci_high
    for kind, (p0, p1) in RATES.items():
        lift = rate_lift(*arms(campaign[campaign["uplift_type"] == kind]))
        assert lift.ci_low < p1 - p0 < lift.ci_high, kind
    dnd = rate_lift(*arms(campaign[campaign["uplift_type"] == "do_not_disturb"]))
    assert dnd.ci_high < 0  # the negative effect is found, not just covered
    persuadable = rate_lift(*arms(campaign[campaign["uplift_type"] == "persuadable"]))
    assert persuadable.ci_low > 0


def test_qini_by_hand():
    # perfect ranking of 2 treated responders, then 2 controls without response
    score, treated, y = np.array([4, 3, 2, 1]), np.array([1, 1, 0, 0]), np.array([1, 1, 0, 0])
    assert list(qini_curve(score, treated, y)) == [0, 0, 0, 2, 2]
    # Q - random line = [0, -0.5, -1, 0.5, 0]; trapezoid area with dx 1/4 = -0.25; / 2 treated
    assert qini_coefficient(score, treated, y) == pytest.approx(-0.125)


def test_uplift_ranking_beats_risk_ranking(planted):
    campaign, features = planted
    treated = (campaign["arm"] == "treatment").to_numpy()
    result, _ = backtest_uplift(
        features.to_numpy(),
        treated,
        campaign["responded"].to_numpy(),
        risk_value_score(features),
        seed=1,
    )
    assert result.chosen == "uplift"
    assert result.qini_uplift > result.qini_risk + 0.01
    assert result.uplift_at_k_uplift > result.uplift_at_k_risk


def test_null_campaign_finds_no_uplift(planted):
    campaign, features = planted
    rng = np.random.default_rng(2)
    treated = (campaign["arm"] == "treatment").to_numpy()
    # the outcome no longer depends on the arm: each client responds with their control rate
    y = (rng.random(len(campaign)) < campaign["p0"].to_numpy()).astype(int)
    null = pd.DataFrame({"arm": campaign["arm"], "responded": y})
    lift = rate_lift(*arms(null))
    assert lift.ci_low < 0 < lift.ci_high
    result, model = backtest_uplift(
        features.to_numpy(), treated, y, risk_value_score(features), seed=1
    )
    assert abs(result.qini_uplift) < 0.01
    assert abs(np.mean(model.predict_uplift(features.to_numpy()))) < 0.02
