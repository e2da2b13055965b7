"""The campaign review section: sentences follow the intervals, the chart has error bars."""

from __future__ import annotations

import pandas as pd

from reporting.review import findings, lift_chart, lift_rows, ranking_notes


def entry(name, lift, low, high, conclusive=True, note=None, roi=0.5):
    outcome = {
        "treated": 0.2 + lift,
        "control": 0.2,
        "lift": lift,
        "ci_low": low,
        "ci_high": high,
        "p_value": 0.01,
        "conclusive": conclusive,
        "note": note,
    }
    return {
        "campaign": name,
        "arm": "treatment",
        "source": "lists",
        "treated": 900,
        "control": 100,
        "outcomes": {"active": outcome},
        "roi": roi,
    }


METRICS = {
    "campaigns": [
        entry("up", 0.05, 0.02, 0.08),
        entry("harm", -0.05, -0.08, -0.02),
        entry(
            "small",
            0.10,
            -0.20,
            0.40,
            conclusive=False,
            note="control too small to conclude (40 < 100)",
        ),
        entry("loss", 0.05, 0.02, 0.08, roi=-0.4),
    ],
    "expected_response": {
        "retention": {"prior": 0.25, "used": 0.06, "basis": "measured"},
        "growth": {"prior": 0.1, "used": 0.1, "basis": "prior", "measured": None},
    },
    "uplift": {
        "used": True,
        "campaign": "up",
        "campaign_type": "retention",
        "qini_uplift": 0.02,
        "qini_risk": 0.01,
    },
}
PLOT = pd.DataFrame(
    {
        "campaign": ["up", "up"],
        "arm": "treatment",
        "segment": ["basic", "strategic"],
        "outcome": "active",
        "lift": [0.08, -0.1],
        "ci_low": [0.05, -0.15],
        "ci_high": [0.11, -0.05],
        "conclusive": [True, True],
    }
)


def test_sentences_follow_the_intervals():
    text = findings(METRICS, PLOT, "en")
    assert (
        text[0].startswith("up: active rose by 5.0 points")
        and "leave out the Strategic tier" in text[0]
    )
    assert "does harm" in text[1]
    assert "no conclusion" in text[2] and "control too small" in text[2]
    assert "loses money" in text[3]
    zh = findings(METRICS, PLOT, "zh")
    assert "建议继续" in zh[0] and "有害" in zh[1]


def test_notes_say_whether_measured_lift_or_prior_was_used():
    notes = ranking_notes(METRICS, "en")
    assert any("6.0%" in n and "measured lift" in n for n in notes)
    assert any("10.0%" in n and "nothing measured" in n for n in notes)
    assert any("ranked by predicted uplift" in n and "0.0200" in n for n in notes)
    no_history = ranking_notes({"uplift": {"used": False, "reason": "no past campaign"}}, "en")
    assert no_history == ["Lists keep the risk x value ranking: no past campaign."]


def test_lift_chart_has_one_bar_and_error_bar_per_row():
    rows = lift_rows(METRICS, PLOT, "en")
    assert len(rows) == 6  # four campaigns overall + two tiers of "up"
    fig = lift_chart(rows, "en")
    ax = fig.axes[0]
    assert len(ax.patches) == 6
    (caps_and_lines,) = [c for c in ax.containers if hasattr(c, "lines")]
    segments = caps_and_lines.lines[2][0].get_segments()
    assert [round(s[0][0], 6) for s in segments][:2] == [2.0, 5.0]  # ci_low in points
