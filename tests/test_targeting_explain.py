"""An empty or short target list names the rule that cut it and how many each rule removed.

Counts planted by hand: 8 clients, 2 on the do-not-contact list, costs that only the
highest expected values pay.
"""

from __future__ import annotations

import pandas as pd

from targeting import build_target_lists
from targeting.explain import explain_lists
from test_targeting import CONTEXT, settings


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(8)],
            # value at risk = clv x p: 900, 800, 700, 600, 500, 400 (red); 300, 200 (none)
            "clv": [1000.0] * 8,
            "churn_probability": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2],
            "probability_alive": 0.5,
            "warning_level": ["red"] * 6 + ["none"] * 2,
            "value_tier": "value",
            "rfm_segment": "at_risk",
            "n_products": 1,
            "days_since_last": 10.0,
            "days_since_contact": 10.0,
            "tenure_days": 500.0,
            "total_value": 100.0,
        }
    )


def test_short_list_names_the_rule_and_the_counts_add_up():
    # response 0.1: expected values 90, 80, 70, 60, 50, 40; cost 10, floor 55 -> pays: >= 65
    retention = {"capacity": 5, "cost_per_contact": 10.0, "response_rate": 0.1}
    retention["min_expected_return"] = 55.0
    configured = settings(retention=retention)
    lists, metrics = build_target_lists(_table(), configured, CONTEXT, do_not_contact={"c0", "c7"})
    lines = explain_lists(metrics, 8, configured["campaigns"])
    m = metrics["campaigns"]["retention"]
    # c0: eligible but do-not-contact; c6, c7: warning none (c7's do-not-contact entry is
    # moot); c1..c5 eligible; net of the cost 70, 60, 50, 40, 30 -> c3, c4, c5 below 55
    assert m["removed_by"] == {
        "not_eligible": 2,
        "do_not_contact": 1,
        "min_expected_return": 3,
        "higher_priority_list": 0,
        "capacity_or_budget": 0,
    }
    assert lists["retention"]["customer_id"].tolist() == ["c1", "c2"]
    assert sum(m["removed_by"].values()) == 8 - len(lists["retention"])
    assert m["short_because"] == "min_expected_return"
    assert len(lines) == 1 and "retention" in lines[0] and "min_expected_return" in lines[0]


def test_full_list_is_not_explained():
    retention = {"capacity": 2, "cost_per_contact": 0.0, "response_rate": 0.1}
    configured = settings(retention=retention)
    _, metrics = build_target_lists(_table(), configured, CONTEXT)
    assert explain_lists(metrics, 8, configured["campaigns"]) == []
    m = metrics["campaigns"]["retention"]
    assert m["removed_by"]["capacity_or_budget"] == 4 and "short_because" not in m
