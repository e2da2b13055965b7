"""DVC stage ``products``: next best product (产品适配 / 交叉销售).

Inputs: ``data/interim/transactions.parquet``, ``data/processed/customers.parquet`` (the
features as of ``as_of``), the run context, params (``as_of``, ``seed``, ``features``,
``products``, ``segmentation.product_lines``, ``ltv.margin``). Outputs (atomic):

- ``data/processed/products.parquet``: one row per customer of customers.parquet:
  ``customer_id``, ``product`` (the recommended line not held; null when every line is
  held), ``product_probability``, ``product_value`` and ``p_<line>`` per line;
- ``reports/metrics/products.json``: the rolling backtest per line against the baselines
  (:mod:`products.backtest`), the model choice and each line's take-up value.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from churn.fitting import clients_from_customers
from kequn import catalogue
from kequn.context import read_context
from kequn.errors import UserError
from kequn.io import write_json, write_parquet
from kequn.log import get_logger, timed
from kequn.settings import settings_from
from products.backtest import (
    TakeUpTables,
    backtest_cutoffs,
    choose_model,
    rolling_backtest,
    summarise,
)
from products.scoring import fit_lines, line_values, probabilities, recommend

log = get_logger("products")

TRANSACTIONS = catalogue.TRANSACTIONS.path
CUSTOMERS = catalogue.CUSTOMERS.path
OUTPUT = catalogue.PRODUCTS.path
METRICS = catalogue.PRODUCT_METRICS.path
TRANSACTION_COLUMNS = ["customer_id", "date", "amount", "product"]


def read_transactions(as_of: dt.date) -> pd.DataFrame:
    """The transactions dated on or before ``as_of`` (the columns the stage needs)."""
    if not TRANSACTIONS.exists():
        raise UserError(f"{TRANSACTIONS}: not found; run the earlier stages first (dvc repro)")
    names = set(pq.read_schema(TRANSACTIONS).names)
    if "product" not in names:
        raise UserError(
            f"{TRANSACTIONS}: no product column; the products stage needs the extract's "
            "product category (ingest mapping columns.product)"
        )
    table = pq.read_table(TRANSACTIONS, columns=TRANSACTION_COLUMNS)
    tx = table.to_pandas()
    tx["date"] = pd.to_datetime(tx["date"])
    return tx.loc[tx["date"] <= pd.Timestamp(as_of)].reset_index(drop=True)


def products_stage(
    tx: pd.DataFrame, customers: pd.DataFrame, as_of: dt.date, params: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The stage's work on frames: backtest, choose, fit at ``as_of - h``, score at ``as_of``.

    Returns
    -------
    tuple
        ``(products, metrics)``: the rows of products.parquet (in customers' order) and
        products.json.
    """
    s = settings_from(params)
    p = s.products
    feature_args = {
        "unit_days": s.features.time_unit_days,
        "trend_window_days": s.features.trend_window_days,
        "clients": clients_from_customers(customers),
    }
    tables = TakeUpTables(tx, s.segmentation.product_lines, p.horizon_days, feature_args)
    first = pd.Timestamp(tx["date"].min()).date()
    cutoffs = backtest_cutoffs(as_of, p.horizon_days, p.backtest_origins, p.origin_step_days, first)
    if not cutoffs:
        raise UserError(
            f"params.yaml: products.horizon_days={p.horizon_days}: the history from {first} to "
            f"{as_of} is too short for a training and a test window"
        )
    results = rolling_backtest(tables, cutoffs, s.seed)
    chosen, why = choose_model(results) if p.model == "auto" else (p.model, "named in params")
    log.info("take-up model %s (%s)", chosen, why)
    train_cut = as_of - dt.timedelta(days=p.horizon_days)
    with timed(log, f"fitting {chosen} per line at {train_cut}"):
        models = fit_lines(tables.at(train_cut), tables.lines, chosen, s.seed)
    values = line_values(tables, train_cut, s.ltv.margin)
    scored = tables.table_of(customers, as_of)
    prob = probabilities(models, scored)
    best = recommend(prob, {line: v["value"] for line, v in values.items()})
    out = pd.concat([pd.DataFrame({"customer_id": scored.ids}), best, prob], axis=1)
    summary = summarise(results, chosen, tables.lines)
    metrics = {
        "as_of": as_of.isoformat(),
        "horizon_days": p.horizon_days,
        "model": chosen,
        "model_reason": why,
        "lines": summary["lines"],
        "mean": summary["mean"],
        "take_up_value": values,
        "fitted": {line: m.kind for line, m in models.items()},
        "recommended": {str(k): int(v) for k, v in out["product"].value_counts().items()},
        "holds_every_line": int(out["product"].isna().sum()),
    }
    return out, metrics


def run(params: dict) -> None:
    as_of = read_context().as_of
    if not CUSTOMERS.exists():
        raise UserError(f"{CUSTOMERS}: not found; run the features stage first (dvc repro)")
    with timed(log, "reading transactions and customers"):
        tx = read_transactions(as_of)
        customers = pd.read_parquet(CUSTOMERS)
    out, metrics = products_stage(tx, customers, as_of, params)
    schema = pa.Schema.from_pandas(out, preserve_index=False)
    catalogue.PRODUCTS.check_schema(schema)
    write_parquet(OUTPUT, out)
    write_json(METRICS, metrics)
    for line, m in metrics["lines"].items():
        log.info(
            "%s: AUC %.3f (popularity %.3f), lift@10%% %.2f (popularity %.2f), take-up %.3f",
            line,
            m["auc"],
            m["baseline_auc"],
            m["lift_at_10"],
            m["baseline_lift_at_10"],
            m["take_up_rate"],
        )
