"""Value tiers, 80/20, asset tiers, RFM, preference types, migration: hand-built examples."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from kequn.errors import UserError
from segmentation.asset_tiers import NOT_MAPPED, assign_asset_tiers
from segmentation.migration import latest_previous_run, tier_migration
from segmentation.preference import NO_PRODUCT, assign_preference_types
from segmentation.rfm import RFM_SEGMENTS, SEGMENT_GRID, rfm_scores, rfm_segment, tie_aware_scores
from segmentation.value_tiers import (
    assign_value_tiers,
    concentration,
    pareto_curve,
    tier_summary,
    value_share_of_top,
)

SHARES = {"strategic": 0.5, "value": 0.3}
LINES = {"存款": "deposit", "贷款": "loan", "理财": "fee", "中间业务": "fee"}


# --- value tiers -----------------------------------------------------------------------


def test_tiers_follow_cumulative_share_on_hand_example():
    # total 100; value before each: 0, 50, 80, 90, 90 -> 50 alone makes the top half,
    # 30 makes the next 30 %, the rest is basic
    tiers = assign_value_tiers([50, 30, 10, 5, 5], SHARES)
    assert list(tiers) == ["strategic", "value", "basic", "basic", "basic"]


def test_tiers_do_not_depend_on_row_order():
    tiers = assign_value_tiers([5, 10, 50, 5, 30], SHARES)
    assert list(tiers) == ["basic", "basic", "strategic", "basic", "value"]


def test_crossing_customer_joins_the_higher_tier_and_ties_share_a_tier():
    # 60 crosses 50 % -> strategic; 40 has 60 % before it (< 80 %) -> value
    assert list(assign_value_tiers([60, 40], SHARES)) == ["strategic", "value"]
    # 40 then two customers of 30: 40 % lies before both 30s, so both are strategic
    assert list(assign_value_tiers([40, 30, 30], SHARES)) == ["strategic"] * 3
    # a tie group straddling the value/basic line: 50, then four of 12.5 (50 % before each)
    assert list(assign_value_tiers([50, 12.5, 12.5, 12.5, 12.5], SHARES)) == [
        "strategic",
        "value",
        "value",
        "value",
        "value",
    ]


def test_zero_negative_and_missing_values_are_basic_and_do_not_shift_cuts():
    tiers = assign_value_tiers([50, 30, 10, 5, 5, 0, -20, np.nan], SHARES)
    assert list(tiers) == ["strategic", "value"] + ["basic"] * 6
    assert list(assign_value_tiers([0, -1, 0], SHARES)) == ["basic"] * 3


def test_other_tier_shares_from_params():
    # 10 equal-ish customers 10, 9, ..., 1 (total 55); strategic share 0.2: before 10 is 0,
    # before 9 is 10/55 = 0.18 < 0.2 -> strategic; before 8 is 19/55 = 0.345 -> value
    # (value share 0.2 -> up to 0.4); before 7 is 27/55 = 0.49 -> basic
    tiers = assign_value_tiers(np.arange(10, 0, -1), {"strategic": 0.2, "value": 0.2})
    assert list(tiers[:4]) == ["strategic", "strategic", "value", "basic"]


def test_bad_tier_shares_are_user_errors():
    with pytest.raises(UserError, match="tier_shares"):
        assign_value_tiers([1, 2], {"strategic": 0.7, "value": 0.5})
    with pytest.raises(UserError, match="tier_shares"):
        assign_value_tiers([1, 2], {"strategic": 0.5})


def test_eighty_twenty_on_hand_examples():
    assert concentration([50, 30, 10, 5, 5], 0.8) == pytest.approx(2 / 5)
    # the five customers with no value still count as customers: 2 of 10
    assert concentration([50, 30, 10, 5, 5, 0, 0, 0, -3, np.nan], 0.8) == pytest.approx(0.2)
    # equal values: 80 % of value needs 80 % of customers
    assert concentration([1] * 10, 0.8) == pytest.approx(0.8)
    # 81 % of value needs one more customer than 80 %
    assert concentration([50, 30, 10, 5, 5], 0.81) == pytest.approx(3 / 5)
    assert np.isnan(concentration([0, 0], 0.8))
    # top 20 % of 10 customers = the top 2 = 80 of 100
    assert value_share_of_top([50, 30, 10, 5, 5, 0, 0, 0, 0, 0], 0.2) == pytest.approx(0.8)


def test_pareto_curve_points_and_downsampling():
    curve = pareto_curve([5, 50, 10, 30, 5])
    assert curve["share_of_customers"].tolist() == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1])
    assert curve["share_of_value"].tolist() == pytest.approx([0, 0.5, 0.8, 0.9, 0.95, 1])
    big = pareto_curve(np.random.default_rng(0).lognormal(size=100_000))
    assert len(big) <= 500
    assert big.iloc[0].tolist() == [0.0, 0.0]
    assert big.iloc[-1].tolist() == pytest.approx([1.0, 1.0])
    assert (np.diff(big["share_of_value"]) >= 0).all()
    assert (np.diff(big["share_of_customers"]) > 0).all()


def test_tier_summary_shares():
    values = [50, 30, 10, 5, 5]
    summary = tier_summary(assign_value_tiers(values, SHARES), values)
    assert summary["strategic"]["value_share"] == pytest.approx(0.5)
    assert summary["value"]["value_share"] == pytest.approx(0.3)
    assert summary["basic"] == {
        "customers": 3,
        "customer_share": pytest.approx(0.6),
        "value": 20.0,
        "value_share": pytest.approx(0.2),
    }


# --- asset tiers -----------------------------------------------------------------------


def test_asset_tiers_by_quantile_and_amount():
    balances = pd.Series([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], dtype="float64")
    tiers, reason = assign_asset_tiers(
        balances, {"method": "quantile", "large": 0.9, "medium": 0.6}
    )
    assert reason is None
    # 9 of 10 are strictly below 10 -> large; 6, 7, 8 of 10 below 7, 8, 9 -> medium
    assert list(tiers) == ["small"] * 6 + ["medium"] * 3 + ["large"]
    tiers, _ = assign_asset_tiers(balances, {"method": "amount", "large": 9, "medium": 5})
    assert list(tiers) == ["small"] * 4 + ["medium"] * 4 + ["large"] * 2


def test_asset_tiers_ties_missing_and_unmapped():
    spec = {"method": "quantile", "large": 0.9, "medium": 0.6}
    tiers, reason = assign_asset_tiers(pd.Series([0.0] * 8 + [5.0, np.nan]), spec)
    # eight equal zeros share one tier (nobody is below them); 5 is above 8 of 9 known (0.89)
    assert list(tiers) == ["small"] * 8 + ["medium", "unknown"]
    assert reason is None
    tiers, reason = assign_asset_tiers(None, spec)
    assert reason == NOT_MAPPED
    tiers, reason = assign_asset_tiers(pd.Series([np.nan, np.nan]), spec)
    assert list(tiers) == ["unknown", "unknown"] and "empty" in reason
    with pytest.raises(UserError, match="asset_tiers"):
        assign_asset_tiers(None, {"method": "size", "large": 1, "medium": 0})


# --- RFM -------------------------------------------------------------------------------


def test_rfm_scores_with_heavy_ties_use_all_five_bins():
    # 60 customers with frequency 0, then 15, 10, 6, 4, 3, 2 with 1..6
    values = np.repeat([0, 1, 2, 3, 4, 5, 6], [60, 15, 10, 6, 4, 3, 2])
    scores = tie_aware_scores(values)
    assert sorted(set(scores)) == [1, 2, 3, 4, 5]
    # equal values share a score and order is kept
    for v in np.unique(values):
        assert len(set(scores[values == v])) == 1
    assert (np.diff(scores[np.argsort(values, kind="stable")]) >= 0).all()
    # by hand (greedy to n/bins): {0} -> 1, {1} -> 2, {2} -> 3, {3} -> 4, {4, 5, 6} -> 5
    expected = {0: 1, 1: 2, 2: 3, 3: 4, 4: 5, 5: 5, 6: 5}
    assert [expected[v] for v in values] == scores.tolist()
    # pd.qcut would refuse these bins
    with pytest.raises(ValueError):
        pd.qcut(values, 5, labels=False)


def test_rfm_scores_equal_bins_without_ties_and_few_distinct_values():
    scores = tie_aware_scores(np.arange(100.0)[::-1])
    assert np.bincount(scores).tolist() == [0, 20, 20, 20, 20, 20]
    assert scores[0] == 5 and scores[-1] == 1
    # two values, 70 % and 30 %: mid-ranks 0.35 and 0.85 -> quintiles 2 and 5
    scores = tie_aware_scores([0] * 70 + [1] * 30)
    assert (scores[:70] == 2).all() and (scores[70:] == 5).all()
    # three values 10/10/80 %: mid-ranks 0.05, 0.15, 0.6 -> 1, 1, 3, pushed apart to 1, 2, 3
    scores = tie_aware_scores([0] * 10 + [1] * 10 + [2] * 80)
    assert [scores[0], scores[10], scores[20]] == [1, 2, 3]
    # one value only: everyone in the middle quintile
    assert set(tie_aware_scores([7.0] * 9)) == {3}


def test_recency_score_rewards_recent_customers():
    customers = pd.DataFrame(
        {
            "days_since_last": [1, 10, 100, 200, 400],
            "frequency": [9, 7, 5, 3, 1],
            "total_value": [10, 20, 30, 40, 50],
        }
    )
    scores = rfm_scores(customers)
    assert scores["r_score"].tolist() == [5, 4, 3, 2, 1]
    assert scores["f_score"].tolist() == [5, 4, 3, 2, 1]
    assert scores["m_score"].tolist() == [1, 2, 3, 4, 5]


def test_rfm_segment_map_on_hand_examples():
    cases = {
        (5, 5): "champions",
        (5, 4): "champions",
        (4, 5): "loyal",
        (3, 4): "loyal",
        (5, 2): "potential_loyalists",
        (4, 3): "potential_loyalists",
        (5, 1): "new",
        (4, 1): "promising",
        (3, 3): "need_attention",
        (3, 1): "about_to_sleep",
        (3, 2): "about_to_sleep",
        (2, 3): "at_risk",
        (1, 4): "at_risk",
        (1, 5): "cant_lose_them",
        (2, 5): "cant_lose_them",
        (2, 1): "hibernating",
        (2, 2): "hibernating",
        (1, 1): "lost",
        (1, 2): "lost",
    }
    r, f = np.array(list(cases)).T
    assert rfm_segment(r, f).tolist() == list(cases.values())
    assert set(SEGMENT_GRID.ravel()) == set(RFM_SEGMENTS)


# --- preference types ------------------------------------------------------------------


def _shares(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows).fillna(0.0).add_prefix("share_product_")


def test_preference_rules_on_hand_examples():
    frame = _shares(
        [
            {"存款": 0.7, "贷款": 0.2, "理财": 0.1},  # deposit 0.7 -> deposit_led
            {"存款": 0.4, "贷款": 0.6},  # loan exactly at the threshold -> loan_led
            {"存款": 0.35, "理财": 0.3, "中间业务": 0.35},  # fee 0.65 from two categories
            {"存款": 0.5, "贷款": 0.5},  # nobody reaches 0.6 -> balanced
            {"存款": 0.5, "其他": 0.5},  # unmapped category counts in the denominator
            {"存款": 1.5, "贷款": -0.5},  # negative share clipped: deposit 1.5 / 1.5
            {},  # no value at all -> unknown
        ]
    )
    types, reason, info = assign_preference_types(frame, LINES, 0.6)
    assert reason is None
    assert types.tolist() == [
        "deposit_led",
        "loan_led",
        "fee_led",
        "balanced",
        "balanced",
        "deposit_led",
        "unknown",
    ]
    assert info["unmapped_categories"] == ["其他"]


def test_preference_unknown_with_reason_when_product_missing_or_unmapped():
    frame = pd.DataFrame({"customer_id": ["a", "b"], "total_value": [1.0, 2.0]})
    types, reason, _ = assign_preference_types(frame, LINES, 0.6)
    assert types.tolist() == ["unknown", "unknown"] and reason == NO_PRODUCT
    frame = _shares([{"A类": 1.0}, {"B类": 1.0}])
    types, reason, _ = assign_preference_types(frame, LINES, 0.6)
    assert types.tolist() == ["unknown", "unknown"] and "A类" in reason
    with pytest.raises(UserError, match="preference_threshold"):
        assign_preference_types(frame, LINES, 1.5)
    with pytest.raises(UserError, match="product_lines"):
        assign_preference_types(frame, {"存款": "savings"}, 0.6)


# --- migration -------------------------------------------------------------------------


def test_migration_matrix_and_changes_on_hand_example():
    previous = pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D", "F"],
            "value_tier": ["strategic", "value", "basic", "basic", "value"],
        }
    )
    current = pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "E", "F"],
            "value_tier": ["value", "strategic", "basic", "strategic", "basic"],
        }
    )
    changes, matrix, counts = tier_migration(current, previous)
    assert changes["tier_change"].tolist() == ["downgrade", "upgrade", "same", "new", "downgrade"]
    assert changes["previous_value_tier"].tolist()[:3] == ["strategic", "value", "basic"]
    assert pd.isna(changes["previous_value_tier"].iloc[3])
    assert counts == {"upgrade": 1, "downgrade": 2, "same": 1, "new": 1, "departed": 1}
    expected = pd.DataFrame(
        [[0, 1, 0], [1, 0, 1], [0, 0, 1], [1, 0, 0]],
        index=["strategic", "value", "basic", "new"],
        columns=["strategic", "value", "basic"],
    )
    assert (matrix.to_numpy() == expected.to_numpy()).all()
    assert list(matrix.index) == list(expected.index)


def test_latest_previous_run_picks_latest_earlier_date(tmp_path):
    for name in ["2024-01-31", "2024-03-31", "2024-06-30", "notes"]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "segments.parquet").write_bytes(b"x")
    (tmp_path / "2024-05-31").mkdir()  # no file: ignored
    found = latest_previous_run(tmp_path, dt.date(2024, 6, 30))
    assert found == (dt.date(2024, 3, 31), tmp_path / "2024-03-31" / "segments.parquet")
    assert latest_previous_run(tmp_path, dt.date(2024, 1, 31)) is None
    assert latest_previous_run(tmp_path / "missing", dt.date(2024, 1, 31)) is None
