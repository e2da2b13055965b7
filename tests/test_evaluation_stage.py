"""The evaluate stage end to end on small files: archived lists evaluated once their window
has closed, settings checked, and the targets stage ranking by uplift."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from conftest import write_run_context
from evaluation import stage
from evaluation.archive import archive_frame, closed_lists, list_outcomes
from evaluation.settings import read_settings
from kequn.errors import UserError
from targeting import build_target_lists


def planted_history(n: int = 6000, seed: int = 5):
    """A list issued 2025-06-01 (30% control): treated clients come back within 60 days
    with probability 0.30, control clients with 0.10; a second list of 2025-12-01 is open."""
    rng = np.random.default_rng(seed)
    ids = [f"{i:08d}" for i in range(n)]
    control = (rng.random(n) < 0.3).astype(int)
    back = rng.random(n) < np.where(control == 1, 0.10, 0.30)
    day = pd.Timestamp("2025-06-01") + pd.to_timedelta(rng.integers(1, 61, n), unit="D")
    before = pd.DataFrame({"customer_id": ids, "date": pd.Timestamp("2025-03-01"), "amount": 50.0})
    after = pd.DataFrame({"customer_id": np.array(ids)[back], "date": day[back], "amount": 100.0})
    late = pd.DataFrame(
        {"customer_id": ids[:50], "date": pd.Timestamp("2025-09-15"), "amount": 1.0}
    )
    tx = pd.concat([before, after, late], ignore_index=True)
    listed = pd.DataFrame({"customer_id": ids, "rank": np.arange(1, n + 1), "control": control})
    archive = pd.concat(
        [
            archive_frame({"retention": listed}, dt.date(2025, 6, 1)),
            archive_frame({"retention": listed.head(300)}, dt.date(2025, 12, 1)),
            # this run's own lists, archived by an earlier run of the same month
            archive_frame({"retention": listed.head(200)}, dt.date(2025, 12, 31)),
        ]
    )
    return tx, archive


def test_archived_list_outcomes_cover_the_planted_lift():
    tx, archive = planted_history()
    closed, pending = closed_lists(archive, dt.date(2025, 12, 31), 60)
    assert pending == [
        {"campaign": "retention", "as_of": "2025-12-01", "window_closes": "2026-01-30"}
    ]
    rows = list_outcomes(closed, tx, 60)
    assert len(rows) == 6000  # every listed client, with or without a transaction
    # the 2025-09-15 transactions fall outside the 60-day window
    assert rows["value"].max() == 100.0
    from evaluation.campaigns import evaluate_campaigns

    (entry,) = evaluate_campaigns(
        rows,
        {"active": "rate", "value": "money"},
        {"retention_2025-06-01": 5.0},
        source="lists",
        seed=1,
        draws=300,
    )
    active = entry["outcomes"]["active"]
    assert active["ci_low"] < 0.20 < active["ci_high"]
    assert entry["outcomes"]["value"]["ci_low"] < 20.0 < entry["outcomes"]["value"]["ci_high"]
    assert entry["cost"] == 5.0 * entry["treated"]


def test_stage_writes_metrics_plots_and_scores(tmp_path, monkeypatch):
    tx, archive = planted_history()
    monkeypatch.chdir(tmp_path)
    for folder in ("data/interim", "data/processed", "data/history/lists"):
        (tmp_path / folder).mkdir(parents=True)
    tx.to_parquet("data/interim/transactions.parquet")
    tiers = pd.DataFrame({"customer_id": tx["customer_id"].unique()})
    tiers["value_tier"] = np.where(tiers.index % 2 == 0, "basic", "value")
    tiers["branch"] = np.where(tiers.index % 3 == 0, "北京分行", "上海分行")
    tiers.to_parquet("data/processed/segments.parquet")
    for as_of, frame in archive.groupby("as_of"):
        frame.to_parquet(f"data/history/lists/{as_of.date()}.parquet")
    params = {
        "as_of": "2025-12-31",
        "seed": 1,
        "evaluation": {"window_days": 60, "bootstrap_draws": 200},
        "targeting": {"campaigns": {"retention": {"cost_per_contact": 5.0, "response_rate": 0.05}}},
    }
    write_run_context(tmp_path, "2025-12-31")
    stage.run(params)
    metrics = json.loads((tmp_path / "reports/metrics/campaigns.json").read_text("utf-8"))
    (entry,) = metrics["campaigns"]
    assert entry["campaign"] == "retention_2025-06-01" and entry["source"] == "lists"
    assert entry["outcomes"]["active"]["ci_low"] < 0.2 < entry["outcomes"]["active"]["ci_high"]
    assert {"treated", "control", "lift", "ci_low", "ci_high", "p_value"} <= set(
        entry["outcomes"]["active"]
    )
    assert metrics["pending"][0]["as_of"] == "2025-12-01"
    # a narrow measured interval replaces the prior 0.05
    assert metrics["expected_response"]["retention"]["basis"] == "measured"
    assert abs(metrics["expected_response"]["retention"]["used"] - 0.2) < 0.03
    plot = pd.read_csv(tmp_path / "reports/plots/campaign_lift.csv")
    assert set(plot["segment_by"]) == {"value_tier", "branch"}
    assert set(plot.loc[plot["segment_by"] == "value_tier", "segment"]) == {"basic", "value"}
    assert set(plot.loc[plot["segment_by"] == "branch", "segment"]) == {"北京分行", "上海分行"}
    sizes = (plot["treated_n"] + plot["control_n"]).groupby([plot["segment_by"], plot["outcome"]])
    assert sizes.sum().eq(6000).all()  # every listed client in exactly one segment


def test_settings_are_checked():
    assert read_settings({}).window_days == 60
    with pytest.raises(UserError, match="evaluation.window"):
        read_settings({"evaluation": {"window": 30}})
    with pytest.raises(UserError, match="evaluation.window_days: "):
        read_settings({"evaluation": {"window_days": 0}})
    with pytest.raises(UserError, match="evaluation.test_share"):
        read_settings({"evaluation": {"test_share": "half"}})


def test_targets_rank_by_uplift_and_drop_negative_effects():
    table = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "clv": [1000.0, 1000.0, 1000.0],
            "churn_probability": [0.9, 0.8, 0.7],
            "warning_level": "red",
            "value_tier": "value",
            "rfm_segment": "at_risk",
            "uplift": [0.05, 0.30, -0.20],  # c is a do-not-disturb
        }
    )
    retention = {"cost_per_contact": 10.0, "response_rate": 0.5, "rank_by": "uplift"}
    context = {"horizon_days": 365.0, "margin": 0.1, "cadence_days": {"value": 90}}
    lists, _ = build_target_lists(
        table, {"control_share": 0.0, "campaigns": {"retention": retention}}, context
    )
    got = lists["retention"]
    # uplift x value at risk - cost: b 0.3*800-10 = 230, a 0.05*900-10 = 35, c negative
    assert got["customer_id"].tolist() == ["b", "a"]
    assert got["score"].tolist() == [230.0, 35.0]
    assert "uplift" in got.columns


def test_without_history_lists_keep_todays_ranking(tmp_path, monkeypatch):
    tx, _ = planted_history()
    monkeypatch.chdir(tmp_path)
    for folder in ("data/interim", "data/processed"):
        (tmp_path / folder).mkdir(parents=True)
    tx.to_parquet("data/interim/transactions.parquet")
    pd.DataFrame({"customer_id": ["x"], "value_tier": ["basic"]}).to_parquet(
        "data/processed/segments.parquet"
    )
    params = {"targeting": {"campaigns": {"retention": {"response_rate": 0.25}}}}
    write_run_context(tmp_path)
    stage.run(params)
    metrics = json.loads((tmp_path / "reports/metrics/campaigns.json").read_text("utf-8"))
    assert metrics["campaigns"] == []
    assert metrics["expected_response"]["retention"] == {
        "prior": 0.25,
        "measured": None,
        "used": 0.25,
        "basis": "prior",
    }
    assert metrics["uplift"]["used"] is False and "risk x value" in metrics["uplift"]["reason"]
    assert pd.read_parquet(tmp_path / "data/processed/uplift.parquet").empty


def test_bundled_sample_responses_cover_the_planted_truth():
    from pathlib import Path

    from evaluation.responses import load_response_mapping, read_responses

    root = Path(__file__).resolve().parents[1]
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.chdir(root)
    try:
        rows, rejects = read_responses(
            load_response_mapping("mappings/sample_responses.yaml"), dt.date(2025, 12, 31)
        )
    finally:
        monkeypatch.undo()
    truth = pd.read_parquet(root / "data/sample/true_campaign.parquet")
    assert len(rows) == len(truth) and rejects.empty
    from evaluation.campaigns import evaluate_campaigns

    (entry,) = evaluate_campaigns(
        rows, {"responded": "rate", "revenue": "money"}, {}, source="responses", seed=1, draws=300
    )
    responded = entry["outcomes"]["responded"]
    assert responded["ci_low"] < truth["true_uplift"].mean() < responded["ci_high"]
    assert responded["ci_low"] > 0
