"""Next-best-product backtest on a pipeline run (the bundled sample after ``dvc repro``):
per line, both candidates (gradient-boosted trees, logistic regression) against the
popularity, lead-line and activity baselines, averaged over the rolling cut-offs, with the
wall time of the backtest.

    PYTHONPATH=src python bench/bench_products.py
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from churn.fitting import clients_from_customers  # noqa: E402
from kequn.context import read_context  # noqa: E402
from kequn.settings import load_settings  # noqa: E402
from products.backtest import (  # noqa: E402
    TakeUpTables,
    backtest_cutoffs,
    rolling_backtest,
    summarise,
)
from products.model import CANDIDATES  # noqa: E402
from products.stage import read_transactions  # noqa: E402

METRICS = ("auc", "lift_at_10", "baseline_auc", "baseline_lift_at_10")
METRICS += ("lead_line_auc", "lead_line_lift_at_10", "activity_auc", "activity_lift_at_10")
METRICS += ("pr_auc", "take_up_rate", "top_decile_take_up_rate")


def main() -> None:
    logging.disable(logging.WARNING)
    s = load_settings()
    p = s.products
    as_of = read_context().as_of
    tx = read_transactions(as_of)
    customers = pd.read_parquet("data/processed/customers.parquet")
    args = {
        "unit_days": s.features.time_unit_days,
        "trend_window_days": s.features.trend_window_days,
        "clients": clients_from_customers(customers),
    }
    start = time.perf_counter()
    tables = TakeUpTables(tx, s.segmentation.product_lines, p.horizon_days, args)
    first = tx["date"].min().date()
    cutoffs = backtest_cutoffs(as_of, p.horizon_days, p.backtest_origins, p.origin_step_days, first)
    results = rolling_backtest(tables, cutoffs, s.seed)
    wall = time.perf_counter() - start
    print(f"as_of {as_of}, cut-offs {[c.isoformat() for c in cutoffs]}, backtest {wall:.1f} s")
    print("| model | line | " + " | ".join(METRICS) + " |")
    print("| --- | --- |" + " ---: |" * len(METRICS))
    for model in CANDIDATES:
        out = summarise(results, model, tables.lines)
        for line, m in {**out["lines"], "mean": out["mean"]}.items():
            print(f"| {model} | {line} | " + " | ".join(f"{m[k]:.3f}" for k in METRICS) + " |")


if __name__ == "__main__":
    main()
