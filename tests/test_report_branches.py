"""The report's branch part of the target lists: the list x branch table, and the note when
the client master has no branch column (everyone in "unassigned") or some clients lack one."""

from __future__ import annotations

import html
import json
import re

from reporting.summary import branch_table
from targeting import build_target_lists
from test_report import _visible_text, no_chart_drawing  # noqa: F401 (fixture)
from test_report_fixtures import make_run, run_report
from test_targeting import CONTEXT, customer_table, settings


def test_branch_table_on_a_hand_example():
    records = [
        {
            "campaign": "growth",
            "branch": "B2",
            "branch_name": "East",
            "contacts": 5,
            "expected_value": 50.0,
        },
        {
            "campaign": "vip_care",
            "branch": "B2",
            "branch_name": "East",
            "contacts": 1,
            "expected_value": 100.0,
        },
        {
            "campaign": "growth",
            "branch": "B1",
            "branch_name": "West",
            "contacts": 6,
            "expected_value": 10.0,
        },
        {
            "campaign": "growth",
            "branch": "B3",
            "branch_name": "North",
            "contacts": 2,
            "expected_value": 4.0,
        },
        {
            "campaign": "vip_care",
            "branch": "B4",
            "branch_name": "South",
            "contacts": 1,
            "expected_value": 7.0,
        },
    ]
    table = branch_table({"by_branch": records}, top=2)
    assert list(table.columns) == [
        "branch",
        "branch_name",
        "vip_care",
        "growth",
        "contacts",
        "expected_value",
    ]
    # B1 and B2 both have 6 contacts: the code breaks the tie; B3 and B4 are summed
    assert table["branch"].tolist() == ["B1", "B2", None]
    assert table["contacts"].tolist() == [6, 6, 3]
    assert table["vip_care"].tolist() == [0, 1, 1] and table["growth"].tolist() == [6, 5, 2]
    assert table["expected_value"].tolist() == [10.0, 150.0, 11.0]
    assert table["branch_name"].iloc[-1] == 2  # the number of branches summed
    assert branch_table({}).empty


def _report_with(tmp_path, metrics: dict, language: str = "en") -> str:
    root = make_run(tmp_path, language)
    path = root / "reports/metrics/targets.json"
    targets = json.loads(path.read_text(encoding="utf-8"))
    targets.update(
        {k: metrics[k] for k in ("branch_columns", "branches", "unassigned_clients", "by_branch")}
    )
    path.write_text(json.dumps(targets), encoding="utf-8")
    return html.unescape(_visible_text(run_report(root, language)))


def test_a_master_without_branch_columns_is_said_in_the_report(tmp_path, no_chart_drawing):  # noqa: F811
    _, metrics = build_target_lists(customer_table(400), settings(retention={}), CONTEXT)
    assert metrics["branch_columns"] is False and metrics["branches"] == 1
    text = _report_with(tmp_path, metrics)
    assert "The client master has no branch column" in text and "'unassigned'" in text
    assert "Contacts per branch" not in text  # no branch table for one bucket


def test_branches_get_a_table_and_clients_without_one_a_note(tmp_path, no_chart_drawing):  # noqa: F811
    table = customer_table(600)
    table["branch"] = [("" if i % 10 == 0 else f"B{i % 3}") for i in range(len(table))]
    table["branch_name"] = table["branch"].map(
        {"B0": "天河支行", "B1": "越秀支行", "B2": "海珠支行"}
    )
    _, metrics = build_target_lists(table, settings(retention={}), CONTEXT)
    text = _report_with(tmp_path, metrics, "zh")
    assert f"{metrics['unassigned_clients']}位客户没有网点记录" in text
    assert "共4个网点" in text
    contacts = sum(r["contacts"] for r in metrics["by_branch"] if r["branch"] == "B1")
    assert re.search(rf"B1\s+越秀支行\s+{contacts}\s+{contacts}\s", text)
