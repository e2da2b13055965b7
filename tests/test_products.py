"""Next best product: take-up labels, the ranking metrics, the rolling backtest (planted
signal recovered, none found where none was planted), the recommendation, the growth list
and the bundled sample."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features import customer_features
from products.backtest import TakeUpTables, backtest_cutoffs, rolling_backtest, summarise
from products.model import lift_at
from products.scoring import recommend
from products.stage import fit_products, products_stage, score_products
from products.takeup import first_use, held_and_taken, line_activity, line_rows
from targeting import build_target_lists
from test_targeting import CONTEXT, customer_table, settings

LINES = {"存款": "deposit", "贷款": "loan", "理财": "fee"}
START, AS_OF = dt.date(2023, 1, 1), dt.date(2024, 12, 31)
FEATURES = {"unit_days": 7, "trend_window_days": 90, "clients": None}


def planted(n: int, seed: int, signal: bool) -> tuple[pd.DataFrame, np.ndarray]:
    """Transactions of ``n`` customers and each one's planted wealth ``w ~ U(0, 1)``.

    Each customer starts in the first half of 2023 with one lead line (存款 or 理财) and
    transacts in it every Exp(20) days, amounts ``1000 * exp(2 w)`` times a log-normal
    noise. Every other line is first used at an exponential time after the start with daily
    hazard ``0.0004 + 0.006 w^2`` when ``signal`` (the rich take up more), else a constant
    ``0.002`` (memoryless: nothing about the customer tells when); it is then used again
    with the lead line's rhythm.
    """
    rng = np.random.default_rng(seed)
    w = rng.uniform(0, 1, n)
    span = (AS_OF - START).days
    rows = []
    for i in range(n):
        begin = int(rng.integers(0, 180))
        lead = "存款" if rng.uniform() < 0.5 else "理财"
        used = {lead: begin}
        for category in LINES:
            if category != lead:
                hazard = 0.0004 + 0.006 * w[i] ** 2 if signal else 0.002
                used[category] = begin + int(rng.exponential(1 / hazard))
        for category, first in used.items():
            day = first
            while day <= span:
                amount = 1000 * np.exp(2 * w[i]) * rng.lognormal(0, 0.3)
                rows.append((f"C{i:05d}", START + dt.timedelta(days=day), amount, category))
                day += 1 + int(rng.exponential(20))
    tx = pd.DataFrame(rows, columns=["customer_id", "date", "amount", "product"])
    tx["amount"] = tx["amount"].round(2)
    return tx, w


def backtest(tx: pd.DataFrame) -> dict:
    tables = TakeUpTables(tx, LINES, 90, FEATURES)
    cutoffs = backtest_cutoffs(AS_OF, 90, 3, 91, START)
    return summarise(rolling_backtest(tables, cutoffs, seed=1), "hgb", tables.lines)["lines"]


def test_held_and_taken_follow_the_first_use_by_hand():
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "b", "c"],
            "date": pd.to_datetime(
                ["2024-01-01", "2024-03-01", "2024-06-01", "2024-01-05", "2024-02-01", "2024-01-01"]
            ),
            "amount": 1.0,
            "product": ["存款", "贷款", "理财", "存款", "其他", "贷款"],
        }
    )
    ids = pd.Series(["a", "b", "c"])
    rows = line_rows(tx, LINES)
    lines = ("deposit", "loan", "fee")
    held, taken = held_and_taken(first_use(rows, lines, ids), ids, dt.date(2024, 2, 1), 60)
    # a: deposit held; loan first used 2024-03-01 (in (02-01, 04-01]); fee 06-01 is too late
    assert held.loc[0].tolist() == [True, False, False]
    assert taken.loc[0].tolist() == [False, True, False]
    # b: the unmapped category is no line; c holds only the loan
    assert held.loc[1].tolist() == [True, False, False] and not taken.loc[1].any()
    assert held.loc[2].tolist() == [False, True, False] and not taken.loc[2].any()
    activity = line_activity(rows, lines, ids, dt.date(2024, 2, 1))
    # a has one mapped row before the cut-off (the deposit), 31 days earlier; b's 其他 row
    # does not count towards the shares
    assert activity.loc[0, "count_share_deposit"] == 1.0
    assert activity.loc[0, "days_since_deposit"] == 31
    assert np.isnan(activity.loc[0, "days_since_loan"])
    assert activity.loc[1, "count_share_deposit"] == 1.0


def test_lift_counts_ties_by_the_share_that_fits():
    y = np.array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0])
    # the top 10% is the first customer (a take-up): rate 1 over 0.2
    assert lift_at(np.arange(10, 0, -1), y, 0.1) == pytest.approx(5.0)
    # a constant score: the top decile's expected take-up is the overall rate
    assert lift_at(np.ones(10), y, 0.1) == pytest.approx(1.0)
    # top 20% = a tie of two customers, one a take-up, plus nothing else
    assert lift_at(np.array([2, 2, 1, 1, 1, 1, 1, 1, 1, 1]), y, 0.2) == pytest.approx(2.5)


def test_the_backtest_recovers_a_planted_take_up_signal():
    tx, _ = planted(2500, seed=3, signal=True)
    lines = backtest(tx)
    assert set(lines) == {"deposit", "loan", "fee"}
    for line, m in lines.items():
        assert m["auc"] > 0.6, (line, m)
        assert m["lift_at_10"] > 1.3, (line, m)
        assert m["baseline_auc"] == pytest.approx(0.5)
        assert m["baseline_lift_at_10"] == pytest.approx(1.0)
        assert len(m["cutoffs"]) == 3


def test_the_backtest_finds_nothing_where_take_up_is_random():
    tx, _ = planted(2500, seed=4, signal=False)
    lines = backtest(tx)
    for line, m in lines.items():
        assert 0.42 < m["auc"] < 0.58, (line, m)
        assert m["lift_at_10"] < 1.3, (line, m)


def test_a_client_holding_every_line_gets_no_product():
    p = pd.DataFrame(
        {
            "p_deposit": [np.nan, 0.30, np.nan],
            "p_loan": [np.nan, 0.10, 0.05],
            "p_fee": [np.nan, 0.20, np.nan],
        }
    )
    got = recommend(p, {"deposit": 10.0, "loan": 100.0, "fee": 10.0})
    assert got.loc[0, "product"] is None and np.isnan(got.loc[0, "product_value"])
    # expected values 3, 10, 2: the loan wins on value though the deposit is likelier
    assert got.loc[1, "product"] == "loan"
    assert got.loc[1, "product_probability"] == pytest.approx(0.10)
    assert got.loc[1, "product_value"] == pytest.approx(10.0)
    assert got.loc[2, "product"] == "loan"


def test_the_stage_scores_non_holders_and_leaves_full_holders_without_a_product():
    tx, w = planted(1500, seed=5, signal=True)
    customers = customer_features(tx, AS_OF)
    params = {"seed": 1, "segmentation": {"product_lines": LINES}, "ltv": {"margin": 0.02}}
    out, metrics = products_stage(tx, customers, AS_OF, params)
    assert len(out) == len(customers)
    first = first_use(line_rows(tx, LINES), ("deposit", "loan", "fee"), tx["customer_id"])
    held, _ = held_and_taken(first, out["customer_id"], AS_OF, 90)
    full = held.all(axis=1).to_numpy()
    assert full.any() and (~full).any()
    assert out.loc[full, "product"].isna().all()
    assert out.loc[~full, "product"].notna().all()
    # the recommended line is never one the client holds, and p is NaN for held lines
    for line in ("deposit", "loan", "fee"):
        assert out.loc[held[line].to_numpy(), f"p_{line}"].isna().all()
        assert not (out["product"] == line)[held[line].to_numpy()].any()
    # the planted signal: the richer half has the higher predicted loan take-up
    rich = w[out["customer_id"].str[1:].astype(int)] > 0.5
    p_loan = out["p_loan"].to_numpy()
    assert np.nanmean(p_loan[rich]) > 1.5 * np.nanmean(p_loan[~rich])
    assert metrics["mean"]["auc"] > 0.6
    assert metrics["holds_every_line"] == int(full.sum())


def test_every_growth_row_names_a_product_and_full_holders_are_not_on_it():
    table = customer_table(2000)
    table["product"] = np.where(table.index % 3 == 0, None, "loan")
    table["product_probability"] = np.where(table["product"].isna(), np.nan, 0.2)
    table["product_value"] = table["product_probability"] * 100.0
    lists, _ = build_target_lists(table, settings(growth={}), CONTEXT)
    growth = lists["growth"]
    assert len(growth) > 0
    assert growth["product"].notna().all() and (growth["product"] == "loan").all()
    assert {"product_probability", "product_value"} <= set(growth.columns)
    full_holders = set(table.loc[table["product"].isna(), "customer_id"])
    assert not full_holders & set(growth["customer_id"])
    # without the product columns the growth list would have taken full holders
    bare, _ = build_target_lists(
        table.drop(columns=["product", "product_probability", "product_value"]),
        settings(growth={}),
        CONTEXT,
    )
    assert full_holders & set(bare["growth"]["customer_id"])


def test_on_the_bundled_sample_the_backtest_beats_popularity(sample_run):
    import json

    metrics = json.loads((sample_run / "reports/metrics/products.json").read_text("utf-8"))
    assert set(metrics["lines"]) == {"deposit", "loan", "fee"}
    for line, m in metrics["lines"].items():
        assert m["auc"] > m["baseline_auc"] + 0.1, (line, m)
        assert m["lift_at_10"] > 1.3 * m["baseline_lift_at_10"], (line, m)
        assert m["lift_at_10"] > m["lead_line_lift_at_10"], (line, m)
        # more than busy clients alone: the activity ranking is beaten too
        assert m["auc"] > m["activity_auc"] and m["lift_at_10"] > m["activity_lift_at_10"]
    growth = pd.read_csv(
        sample_run / "reports/targets/growth.csv", encoding="utf-8-sig", dtype={"customer_id": str}
    )
    assert len(growth) > 0 and growth["product"].notna().all()
    products = pd.read_parquet(sample_run / "data/processed/products.parquet")
    named = products.set_index("customer_id").loc[growth["customer_id"].astype(str), "product"]
    assert (named.to_numpy() == growth["product"].to_numpy()).all()


def test_bad_product_lines_are_one_clear_error():
    from kequn.errors import UserError

    tx, _ = planted(20, seed=6, signal=False)
    with pytest.raises(UserError, match="segmentation.product_lines values must be one of"):
        line_rows(tx, {"存款": "savings"})
    with pytest.raises(UserError, match=r"no product category in the data \(存款, 理财, 贷款\)"):
        line_rows(tx, {"定期": "deposit"})
    with pytest.raises(UserError, match="no product column"):
        line_rows(tx.drop(columns="product"), LINES)


@pytest.mark.parametrize("chunk", [97, 640])
def test_scoring_in_chunks_gives_the_one_shot_rows(chunk):
    # the stage scores customers.parquet chunk by chunk, each chunk with only its own
    # customers' transactions: the rows must be those of scoring everyone at once
    tx, _ = planted(1500, seed=5, signal=True)
    customers = customer_features(tx, AS_OF)
    params = {"seed": 1, "segmentation": {"product_lines": LINES}, "ltv": {"margin": 0.02}}
    models, values, _ = fit_products(tx, customers, AS_OF, params)
    whole = score_products(models, values, tx, customers, AS_OF, params)
    parts = []
    for start in range(0, len(customers), chunk):
        part = customers.iloc[start : start + chunk].reset_index(drop=True)
        own = tx.loc[tx["customer_id"].isin(set(part["customer_id"]))]
        parts.append(score_products(models, values, own, part, AS_OF, params))
    chunked = pd.concat(parts, ignore_index=True)
    assert len(parts) == -(-len(customers) // chunk) > 1
    assert whole["product"].notna().any() and whole["p_loan"].notna().any()
    # same products; probabilities equal up to the last bits of the logistic model's
    # matrix products, whose blocking depends on the number of rows
    assert chunked["product"].equals(whole["product"])
    pd.testing.assert_frame_equal(chunked, whole, check_exact=False, rtol=1e-12, atol=0)
