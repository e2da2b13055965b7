"""The campaign review on the bundled sample, after every stage has run (``sample_run``)."""

from __future__ import annotations

import json

import pandas as pd


def test_sample_run_reviews_the_past_campaign_and_ranks_retention_by_uplift(sample_run):
    metrics = json.loads((sample_run / "reports/metrics/campaigns.json").read_text("utf-8"))
    truth = pd.read_parquet(sample_run / "data/sample/true_campaign.parquet")
    (entry,) = metrics["campaigns"]
    assert entry["campaign"] == "retention_2025q3" and entry["source"] == "responses"
    assert entry["treated"] + entry["control"] == len(truth)
    responded = entry["outcomes"]["responded"]
    assert responded["ci_low"] < truth["true_uplift"].mean() < responded["ci_high"]
    assert metrics["uplift"]["chosen"] == "uplift"
    assert metrics["uplift"]["qini_uplift"] > metrics["uplift"]["qini_risk"]
    # the list the uplift model won for is ranked by it, with the measured response rate
    retention = pd.read_csv(sample_run / "reports/targets/retention.csv", encoding="utf-8-sig")
    assert "uplift" in retention.columns and (retention["uplift"] > 0).all()
    targets = json.loads((sample_run / "reports/metrics/targets.json").read_text("utf-8"))
    assert targets["review"]["retention"]["ranking"] == "uplift"
    assert (
        targets["review"]["retention"]["response_rate"]
        == metrics["expected_response"]["retention"]["used"]
    )
    # the run archived what it issued, for a later run to evaluate
    archive = pd.read_parquet(sample_run / "data/history/lists/2025-12-31.parquet")
    assert len(archive) == targets["rows_total"]
    assert set(archive["control"]) == {0, 1}
    html = (sample_run / "reports/report.html").read_text("utf-8")
    assert 'id="review"' in html and "retention_2025q3" in html
