"""Branch allocation: unassigned bucket, manager and branch quotas, top share per branch,
control groups within each branch, per-branch files."""

from __future__ import annotations

import pandas as pd

from targeting import build_target_lists
from targeting.allocation import allocate, top_share_in_branch
from targeting.export import write_branch_csvs
from test_targeting import CONTEXT, customer_table, settings


def with_managers(n: int) -> pd.DataFrame:
    table = customer_table(n)
    table["branch"] = ["B1" if i % 4 else "B2" for i in range(n)]
    table["relationship_manager"] = [f"RM{i % 3}" for i in range(n)]
    table.loc[table.index % 10 == 0, "relationship_manager"] = ""
    return table


def test_a_master_without_branch_columns_lists_everyone_under_unassigned():
    table = customer_table(500)
    lists, metrics = build_target_lists(table, settings(retention={}), CONTEXT)
    assert metrics["branch_columns"] is False and metrics["branches"] == 1
    got = lists["retention"]
    assert len(got) == metrics["campaigns"]["retention"]["eligible"]
    assert set(got["branch"]) == {"unassigned"} == set(got["relationship_manager"])


def test_no_manager_exceeds_the_quota_where_a_naive_cut_would():
    ranked = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(10)],
            "branch": ["B1"] * 8 + ["B2"] * 2,
            "relationship_manager": ["A"] * 6 + ["B"] * 2 + ["C"] * 2,
        }
    )
    # a naive top-5 gives manager A five clients
    kept = allocate(ranked, {"capacity": 5, "per_manager": 2, "per_branch": 3})
    assert kept["customer_id"].tolist() == ["c0", "c1", "c6", "c8", "c9"]


def test_quotas_hold_on_a_full_build_and_blank_branch_cells_are_kept():
    table = with_managers(3000)
    table.loc[table.index % 7 == 0, "branch"] = ""
    lists, metrics = build_target_lists(
        table, settings(retention={"per_manager": 20, "per_branch": 50}), CONTEXT
    )
    got = lists["retention"]
    named = got[got["relationship_manager"] != "unassigned"]
    assert named.groupby(["branch", "relationship_manager"]).size().max() <= 20
    assert got.groupby("branch").size().max() <= 50
    assert "unassigned" in set(got["branch"])
    summary = pd.DataFrame(metrics["by_branch"])
    assert summary["rows"].sum() == len(got)


def test_top_share_is_taken_within_each_branch_not_nationally():
    table = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(20)],
            "branch": ["rich"] * 10 + ["poor"] * 10,
            "total_value": [1000.0 + i for i in range(10)] + [float(i) for i in range(10)],
        }
    )
    top = top_share_in_branch(table, 0.2)
    assert table.loc[top, "customer_id"].tolist() == ["c8", "c9", "c18", "c19"]


def test_control_is_drawn_within_each_branch_and_files_are_per_branch(tmp_path):
    table = with_managers(4000)
    lists, _ = build_target_lists(table, settings(retention={}), CONTEXT, seed=5)
    got = lists["retention"]
    for _, group in got.groupby("branch"):
        assert group["control"].sum() == round(0.1 * len(group))
    again, _ = build_target_lists(table, settings(retention={}), CONTEXT, seed=5)
    assert again["retention"]["control"].tolist() == got["control"].tolist()
    written = write_branch_csvs(lists, tmp_path)
    assert sorted(p.stem for p in written) == ["B1", "B2"]
    back = pd.read_csv(tmp_path / "B2.csv", dtype=str, encoding="utf-8-sig")
    assert set(back["branch"]) == {"B2"} and len(back) == (got["branch"] == "B2").sum()
