"""Behavioural clusters (generative truth, stable ids, names) and the full label table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score, silhouette_score

from kequn.errors import UserError
from segmentation.asset_tiers import ASSET_TIERS, NOT_MAPPED
from segmentation.clusters import (
    BehaviourClusters,
    behaviour_matrix,
    match_cluster_ids,
    mean_silhouettes,
    name_clusters,
    previous_model_or_none,
)
from segmentation.preference import NO_PRODUCT, PREFERENCE_TYPES
from segmentation.rfm import RFM_SEGMENTS
from segmentation.segment import segment_customers
from segmentation.synthetic import synthetic_customers

SETTINGS = {
    "value_basis": "clv",
    "tier_shares": {"strategic": 0.5, "value": 0.3},
    "asset_tiers": {"method": "quantile", "large": 0.9, "medium": 0.6},
    "product_lines": {"存款": "deposit", "贷款": "loan", "理财": "fee", "中间业务": "fee"},
    "preference_threshold": 0.6,
    "k_range": [3, 6],
    "silhouette_sample": 1000,
    "minibatch_above": 100_000,
}


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    return synthetic_customers(2000, seed=7)


def _fit(frame: pd.DataFrame, seed: int, previous: dict | None = None) -> BehaviourClusters:
    return BehaviourClusters(
        k_range=(3, 6), silhouette_sample=1000, seed=seed, previous=previous
    ).fit(behaviour_matrix(frame))


def test_clusters_recover_the_generating_groups(customers):
    model = _fit(customers, seed=1)
    assert model.k_ == 4  # four generating groups; silhouette must pick 4 within 3..6
    assert adjusted_rand_score(customers["true_group"], model.labels_) > 0.95
    assert set(model.silhouette_by_k_) == {3, 4, 5, 6}
    assert max(model.silhouette_by_k_, key=model.silhouette_by_k_.get) == 4
    # predict() reproduces the fitted labels
    assert (model.predict(behaviour_matrix(customers)) == model.labels_).mean() > 0.99


def test_minibatch_path_beyond_threshold_recovers_the_groups(customers):
    model = BehaviourClusters(
        k_range=(3, 5), silhouette_sample=800, minibatch_above=500, seed=2
    ).fit(behaviour_matrix(customers))
    assert model.k_ == 4
    assert adjusted_rand_score(customers["true_group"], model.labels_) > 0.95


def test_match_cluster_ids_undoes_a_permutation():
    previous = {
        "features": ["a", "b"],
        "mean": [10.0, 0.0],
        "scale": [2.0, 1.0],
        "ids": [5, 8, 2],
        "centroids": [[0.0, 0.0], [3.0, 3.0], [-3.0, 1.0]],
    }
    # the same centroids in raw units (x = z * scale + mean), in another order, nudged,
    # with an extra feature "c" the previous run did not have
    raw = np.array([[4.0 + 0.2, 1.0, 9.0], [16.0, 3.1, 9.0], [10.1, -0.1, 9.0]])
    ids, distances = match_cluster_ids(raw, ["a", "b", "c"], previous)
    assert ids.tolist() == [2, 8, 5]
    assert distances == pytest.approx([0.1, 0.1, np.hypot(0.05, 0.1)])
    # one more cluster than before: the far one stays unmatched (-1)
    raw4 = np.vstack([raw, [[100.0, 50.0, 9.0]]])
    ids, _ = match_cluster_ids(raw4, ["a", "b", "c"], previous)
    assert ids.tolist() == [2, 8, 5, -1]


def test_mean_silhouettes_on_hand_example_and_against_scikit_learn():
    # points 0, 1, 10, 11, 30 on a line; s = (b - a) / max(a, b), a lone point scores 0
    points = np.array([[0.0], [1.0], [10.0], [11.0], [30.0]])
    three = [0, 0, 1, 1, 2]  # a = 1 everywhere; b = 10.5, 9.5, 9.5, 10.5; 30 is alone
    two = [0, 0, 0, 1, 1]  # hand-computed a, b per point below
    expected_three = (2 * 9.5 / 10.5 + 2 * 8.5 / 9.5 + 0.0) / 5
    expected_two = (
        (20.5 - 5.5) / 20.5
        + (19.5 - 5.0) / 19.5
        + (10.5 - 9.5) / 10.5
        + (22 / 3 - 19) / 19
        + (79 / 3 - 19) / (79 / 3)
    ) / 5
    got = mean_silhouettes(points, [np.array(three), np.array(two)])
    assert got == pytest.approx([expected_three, expected_two], rel=1e-12)
    # several labellings at once, in small blocks, match scikit-learn's one-at-a-time score,
    # with duplicated points, a lone point and labels that are not 0..k-1
    rng = np.random.default_rng(3)
    X = rng.normal(size=(700, 5))
    X[:40] = X[0]
    labelings = [rng.integers(0, k, 700) * 7 + 3 for k in (2, 4, 7)]
    labelings.append(np.where(np.arange(700) == 5, 1, 0))
    got = mean_silhouettes(X, labelings, block_rows=128)
    want = [silhouette_score(X, labels) for labels in labelings]
    assert got == pytest.approx(want, abs=1e-12)
    with pytest.raises(ValueError):
        mean_silhouettes(X, [np.zeros(700)])


def test_cluster_ids_stay_on_perturbed_rerun_even_when_kmeans_relabels(customers):
    first = _fit(customers, seed=1)
    saved = json.loads(json.dumps(first.to_dict()))
    # give the saved clusters arbitrary ids, so that a fresh run (ids by value order,
    # 1..k) would number them differently: only matching can bring these ids back
    relabel = dict(zip(saved["ids"], [40, 10, 30, 20], strict=True))
    saved["ids"] = [relabel[i] for i in saved["ids"]]
    before = pd.Series(first.labels_).map(relabel).to_numpy()
    # slightly changed data: 2 % noise on amounts and days, a new seed for k-means
    rng = np.random.default_rng(99)
    perturbed = customers.copy()
    for column in ["total_value", "clv", "days_since_last", "tenure_days"]:
        perturbed[column] = perturbed[column] * rng.normal(1, 0.02, len(perturbed))
    fresh = _fit(perturbed, seed=12345)
    again = _fit(perturbed, seed=12345, previous=previous_model_or_none(saved))
    assert again.matched_previous_
    assert (fresh.labels_ == before).mean() < 0.5  # without matching the ids would change
    assert (again.labels_ == before).mean() > 0.95
    assert sorted(again.ids_.tolist()) == [10, 20, 30, 40]


def test_unusable_saved_model_is_ignored():
    assert previous_model_or_none({"version": 1, "features": ["a"], "mean": [0.0]}) is None
    assert previous_model_or_none([1, 2]) is None


def test_cluster_names_from_profile():
    profile = pd.DataFrame(
        {
            "cluster": [1, 2, 3, 4],
            "size_share": [0.1, 0.4, 0.25, 0.25],
            "value_share": [0.7, 0.2, 0.05, 0.05],
            "z_log_frequency": [1.2, -0.9, 0.0, 0.1],
            "z_log_days_since_last": [-1.0, 0.1, 0.3, 0.2],
            "z_log_tenure_days": [0.4, 0.2, 0.0, 0.0],
            "z_churn_probability": [-0.8, 0.2, 1.5, 1.1],
            "mean_share_channel_手机银行": [0.8, 0.2, 0.3, 0.3],
            "mean_share_channel_柜面": [0.2, 0.7, 0.3, 0.3],
            "mean_share_channel_网上银行": [0.0, 0.1, 0.4, 0.4],
            "mean_share_product_存款": [0.5, 0.6, 0.7, 0.1],
            "mean_share_product_贷款": [0.5, 0.4, 0.3, 0.9],
        }
    )
    names = name_clusters(profile)
    assert names["cluster"].tolist() == [1, 2, 3, 4]
    assert names["cluster_name"].tolist() == [
        "high-value, mobile-first, loyal",  # value 7x its size, 80 % mobile, most frequent
        "low-value, counter-first, occasional",  # value 0.5x its size, 70 % counter
        # 3 and 4 would both be "low-value, multi-channel, at-risk": main product added
        "low-value, multi-channel, deposit-heavy, at-risk",
        "low-value, multi-channel, loan-heavy, at-risk",
    ]
    assert names["cluster_name_zh"].tolist() == [
        "高价值·手机银行为主·忠诚",
        "低价值·柜面为主·低频",
        "低价值·多渠道·偏存款·流失风险",
        "低价值·多渠道·偏贷款·流失风险",
    ]


def test_every_customer_gets_every_label(customers):
    result = segment_customers(customers, SETTINGS, seed=3)
    seg = result.segments
    assert len(seg) == len(customers) and seg["customer_id"].is_unique
    label_columns = [
        "value_tier",
        "asset_tier",
        "r_score",
        "f_score",
        "m_score",
        "rfm_segment",
        "preference_type",
        "cluster_id",
        "cluster_name",
        "cluster_name_zh",
        "tier_change",
    ]
    assert not seg[label_columns].isna().any().any()
    assert set(seg["value_tier"]) == {"strategic", "value", "basic"}
    assert set(seg["asset_tier"]) <= set(ASSET_TIERS) - {"unknown"}
    assert set(seg["rfm_segment"]) <= set(RFM_SEGMENTS)
    assert set(seg["preference_type"]) <= set(PREFERENCE_TYPES) - {"unknown"}
    for score in ["r_score", "f_score", "m_score"]:
        assert set(seg[score]) == {1, 2, 3, 4, 5}
    # the profile sizes add up to the customers and the value shares to 1
    profile = result.cluster_profiles
    assert profile["size"].sum() == len(customers)
    assert profile["value_share"].sum() == pytest.approx(1.0)
    assert len(result.pareto) <= 500
    # value shares by tier match the rule: strategic is the smallest top set reaching 50 %
    tiers = result.metrics["value_tiers"]["tiers"]
    strategic_min = seg.loc[seg["value_tier"] == "strategic", "tier_value"].min()
    above = customers["clv"][customers["clv"] > strategic_min].sum() / customers["clv"].sum()
    assert above < 0.5 <= tiers["strategic"]["value_share"]


def test_unknown_with_reason_when_assets_and_products_are_not_mapped(customers):
    bare = customers.drop(columns=[c for c in customers if c.startswith("share_product_")])
    bare = bare.drop(columns=["asset_balance"])
    result = segment_customers(bare, SETTINGS, seed=3)
    assert (result.segments["asset_tier"] == "unknown").all()
    assert (result.segments["preference_type"] == "unknown").all()
    assert result.metrics["asset_tiers"]["unknown_reason"] == NOT_MAPPED
    assert result.metrics["preference"]["unknown_reason"] == NO_PRODUCT
    assert not result.segments["rfm_segment"].isna().any()


def test_historic_basis_and_baseline_migration(customers):
    settings = {**SETTINGS, "value_basis": "historic"}
    baseline = pd.DataFrame({"customer_id": customers["customer_id"][:100], "value_tier": "basic"})
    result = segment_customers(customers, settings, seed=3, baseline=baseline, baseline_source="t")
    seg = result.segments
    assert (seg["tier_value"] == customers["total_value"]).all()
    moved = seg["tier_change"][:100]
    # everyone was basic: upgraded exactly when the current tier is not basic
    assert ((moved == "upgrade") == (seg["value_tier"][:100] != "basic")).all()
    assert (seg["tier_change"][100:] == "new").all()
    counts = result.metrics["migration"]["counts"]
    assert counts["new"] == len(customers) - 100 and counts["departed"] == 0


def test_tiny_and_empty_inputs(customers):
    tiny = segment_customers(customers.head(3), SETTINGS, seed=3)
    assert tiny.metrics["clusters"]["chosen_k"] == 1  # too few customers for k >= 3
    assert tiny.segments["cluster_id"].tolist() == [1, 1, 1]
    with pytest.raises(UserError, match="no customers"):
        segment_customers(customers.head(0), SETTINGS, seed=3)
    with pytest.raises(UserError, match="value_basis"):
        segment_customers(customers.drop(columns=["clv"]), SETTINGS, seed=3)


def test_asset_tiers_on_aum_when_balance_snapshots_exist(customers):
    # AUM is the reverse order of asset_balance, so the two bases give opposite tiers;
    # the first 200 customers have no snapshot
    frame = customers.copy()
    frame["aum_latest"] = -frame["asset_balance"]
    frame.loc[:199, "aum_latest"] = np.nan
    auto = segment_customers(frame, SETTINGS, seed=3)
    tiers = auto.segments["asset_tier"]
    assert auto.metrics["asset_tiers"]["basis"] == "aum_latest"
    assert (tiers[:200] == "unknown").all()
    top = frame["aum_latest"][200:].rank(method="min", pct=False)
    share_below = (top - 1) / top.notna().sum()
    assert ((tiers[200:] == "large") == (share_below >= 0.9)).all()
    assert "no balance snapshot" in auto.metrics["asset_tiers"]["unknown_reason"]
    settings = {**SETTINGS, "asset_tiers": {**SETTINGS["asset_tiers"], "basis": "asset_balance"}}
    master = segment_customers(frame, settings, seed=3)
    assert master.metrics["asset_tiers"]["basis"] == "asset_balance"
    assert not (master.segments["asset_tier"] == "unknown").any()
    # without snapshots, auto falls back to the client master's balance
    fallback = segment_customers(customers, SETTINGS, seed=3)
    assert fallback.metrics["asset_tiers"]["basis"] == "asset_balance"
