"""The assets and service section (资产与服务): hand-made inputs whose every figure is known."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from reporting.assets import assets_section, complaint_rows, largest_outflows, mask_id
from reporting.build import ReportSettings, _Builder
from reporting.fonts import configure_matplotlib
from reporting.inputs import RunOutputs


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["0100000013", "0100000027", "0100000031", "0100000045"],
            "value_tier": ["strategic", "value", "value", "basic"],
            "branch": ["B01", "B01", "B02", None],
            # 0013: 60,000 now after a 40% fall: lost 40,000; 0027: 90,000 after 10%: 10,000;
            # 0031: red but no AUM change figures; 0045: no warning
            "aum_latest": [60_000.0, 90_000.0, 5_000.0, 1_000.0],
            "outflow_drop": [0.4, 0.1, 0.9, np.nan],
            "outflow_window_months": [3, 1, 6, 0],
            "outflow_warning": ["orange", "yellow", "red", "none"],
            "complaints_365d": [2, 0, 5, 1],
            "unresolved_complaints": [1, 0, 2, 0],
            "complaint_warning": ["orange", "none", "red", "none"],
        }
    )


def test_ids_are_masked_in_the_middle():
    assert mask_id("0100000013") == "0100****13"
    assert mask_id("ABCDEFG") == "ABCD*FG"
    assert mask_id("ABC") == "A**"


def test_largest_outflows_rank_by_assets_lost():
    top = largest_outflows(_frame())
    # lost = A_now d / (1 - d): 0031 45,000, 0013 40,000, 0027 10,000; 0045 has no warning
    assert top["customer_id"].tolist() == ["0100000031", "0100000013", "0100000027"]
    assert np.allclose(top["lost"], [45_000.0, 40_000.0, 10_000.0])


def test_complaints_by_tier_and_branch():
    by_tier = complaint_rows(_frame(), "value_tier").set_index("group")
    assert by_tier.loc["value"].tolist() == [2, 5, 2, 1]  # clients, complaints, unresolved, warned
    assert by_tier.loc["strategic"].tolist() == [1, 2, 1, 1]
    by_branch = complaint_rows(_frame(), "branch")
    assert by_branch["group"].tolist() == ["B02", "B01", ""]  # most complaints first


def test_section_in_chinese_shows_counts_rules_gain_and_masked_ids(tmp_path: Path):
    churn = {
        "warning_levels": {"red": 5, "orange": 4, "yellow": 3, "none": 88},
        "outflow_warnings": {"red": 1, "orange": 1, "yellow": 1, "none": 97},
        "complaint_warnings": {"red": 1, "orange": 1, "yellow": 0, "none": 98},
        "alert_levels": {"red": 6, "orange": 5, "yellow": 3, "none": 86},
        "warning_rules": {
            "outflow": {
                "red": {"drop": 0.5, "months": 2},
                "orange": {"drop": 0.3, "months": 2},
                "yellow": {"drop": 0.2, "months": 0},
                "min_aum": 10000,
            },
            "complaint": {
                "red": {"unresolved": 2, "recent": 3},
                "orange": {"unresolved": 1, "recent": 2},
                "yellow": {"unresolved": 1, "recent": 1},
            },
        },
        "signals_backtest": {
            "cutoffs": [{}, {}, {}],
            "roc_auc_with": 0.9762,
            "roc_auc_without": 0.9538,
            "gain": 0.0224,
        },
    }
    trend = pd.DataFrame(
        {
            "month": ["2025-11-01", "2025-12-01"] * 3,
            "group": ["strategic"] * 2 + ["value"] * 2 + ["basic"] * 2,
            "aum": [9e6, 8e6, 3e6, 3e6, 1e6, 1.1e6],
            "customers": 10,
        }
    )
    outputs = RunOutputs(root=tmp_path, metrics={"churn": churn}, plots={"aum_trend": trend})
    configure_matplotlib("zh")
    b = _Builder(outputs, ReportSettings(language="zh"))
    page = assets_section(b, _frame())
    text = re.sub(r"<[^>]+>", " ", page)
    assert "资产与服务" in text and "资产流失预警" in text and "投诉预警" in text
    assert "0100****31" in text and "0100000031" not in page
    assert "0.976" in text and "0.954" in text and "+0.022" in text
    assert "≥50%" in text and "未解决 ≥2 笔" in text
    assert len(b.figures) == 1  # the AUM trend chart
    # without signals the section says so and draws nothing
    bare = _frame().drop(columns=["aum_latest", "complaints_365d"])
    b2 = _Builder(outputs, ReportSettings(language="en"))
    assert "No balance snapshots" in assets_section(b2, bare) and not b2.figures
