"""DVC stage ``products``: next best product (产品适配 / 交叉销售).

Inputs: ``data/interim/transactions.parquet``, ``data/processed/customers.parquet`` (the
features as of ``as_of``), the run context, params (``as_of``, ``seed``, ``features``,
``products``, ``segmentation.product_lines``, ``ltv.margin``). Outputs (atomic):

- ``data/processed/products.parquet``: one row per customer of customers.parquet:
  ``customer_id``, ``product`` (the recommended line not held; null when every line is
  held), ``product_probability``, ``product_value`` and ``p_<line>`` per line;
- ``reports/metrics/products.json``: the rolling backtest per line against the baselines
  (:mod:`products.backtest`), the model choice and each line's take-up value.

Bank scale (``scale``, :mod:`kequn.chunks`): the backtest and the production fit read the
transactions of a seeded hash sample of about ``scale.fit_customers`` customers (everyone
when there are no more; ``metrics["sample"]`` records the sizes); customers.parquet is then
scored ``scale.chunk_customers`` rows at a time, each chunk with its own customers'
transactions, appended to products.parquet (atomic). Memory: the fit sample plus one chunk.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from churn.fitting import clients_from_customers
from kequn import catalogue
from kequn.chunks import (
    ChunkedParquetWriter,
    count_rows,
    iter_chunks,
    sample_customer_ids,
    transactions_of,
)
from kequn.context import read_context
from kequn.errors import UserError
from kequn.io import write_json
from kequn.log import get_logger, progress, timed
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


def read_transactions(as_of: dt.date, ids: pd.Series | None = None) -> pd.DataFrame:
    """The transactions of ``ids`` (everyone when None) dated on or before ``as_of``, with
    the columns the stage needs."""
    if not TRANSACTIONS.exists():
        raise UserError(f"{TRANSACTIONS}: not found; run the earlier stages first (dvc repro)")
    names = set(pq.read_schema(TRANSACTIONS).names)
    if "product" not in names:
        raise UserError(
            f"{TRANSACTIONS}: no product column; the products stage needs the extract's "
            "product category (ingest mapping columns.product)"
        )
    if ids is None:
        tx = pq.read_table(TRANSACTIONS, columns=TRANSACTION_COLUMNS).to_pandas()
    else:
        # Arrow-backed from DuckDB: no Python string per row on the way
        tx = transactions_of(TRANSACTIONS, ids, TRANSACTION_COLUMNS, arrow_backed=True)
    tx["date"] = pd.to_datetime(tx["date"])
    tx = tx.loc[tx["date"] <= pd.Timestamp(as_of)].reset_index(drop=True)
    # Arrow-backed columns: DuckDB scans them without converting Python objects
    return pa.Table.from_pandas(tx, preserve_index=False).to_pandas(types_mapper=pd.ArrowDtype)


def fit_products(
    tx: pd.DataFrame, customers: pd.DataFrame, as_of: dt.date, params: dict[str, Any]
) -> tuple[dict, dict[str, float], dict[str, Any]]:
    """Backtest, choose, fit each line at ``as_of - h`` and value a take-up.

    Parameters
    ----------
    tx, customers
        The fit sample's transactions (on or before ``as_of``) and customers.parquet rows.

    Returns
    -------
    tuple
        ``(models, values, metrics)``: ``{line: TakeUpModel}``, ``V_l`` per line
        (:func:`products.scoring.line_values`) and products.json without the scoring counts.
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
    with timed(log, f"take-up value of each line at {train_cut}"):
        values = line_values(tables, train_cut, s.ltv.margin)
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
    }
    return models, {line: v["value"] for line, v in values.items()}, metrics


def score_products(
    models: dict,
    values: dict[str, float],
    tx: pd.DataFrame,
    customers: pd.DataFrame,
    as_of: dt.date,
    params: dict[str, Any],
) -> pd.DataFrame:
    """The rows of products.parquet for ``customers`` (customers.parquet rows, features as
    of ``as_of``), in their order; ``tx``: at least those customers' transactions."""
    s = settings_from(params)
    tables = TakeUpTables(tx, s.segmentation.product_lines, s.products.horizon_days, {})
    with timed(log, f"take-up inputs of {len(customers)} customers as of {as_of}"):
        scored = tables.table_of(customers, as_of)
    with timed(log, f"take-up probabilities of {len(customers)} customers"):
        prob = probabilities(models, scored)
        best = recommend(prob, values)
    return pd.concat([pd.DataFrame({"customer_id": scored.ids}), best, prob], axis=1)


def products_stage(
    tx: pd.DataFrame, customers: pd.DataFrame, as_of: dt.date, params: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """:func:`fit_products` then :func:`score_products` on frames (everyone in one piece).

    Returns
    -------
    tuple
        ``(products, metrics)``: the rows of products.parquet and products.json.
    """
    models, values, metrics = fit_products(tx, customers, as_of, params)
    out = score_products(models, values, tx, customers, as_of, params)
    metrics["recommended"] = {str(k): int(v) for k, v in out["product"].value_counts().items()}
    metrics["holds_every_line"] = int(out["product"].isna().sum())
    return out, metrics


def _fit_sample(as_of: dt.date, params: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The fit sample's transactions and customers.parquet rows (everyone when small)."""
    s = settings_from(params)
    ids = sample_customer_ids(CUSTOMERS, s.scale.fit_customers, s.seed)
    tx = read_transactions(as_of, ids)
    if ids is None:
        return tx, pd.read_parquet(CUSTOMERS)
    chosen = set(ids.astype(str))
    # chunk by chunk: the whole customer table is never held, only the sample's rows
    parts = [
        chunk.loc[chunk["customer_id"].astype(str).isin(chosen).to_numpy()]
        for chunk in iter_chunks(CUSTOMERS, s.scale.chunk_customers)
    ]
    return tx, pd.concat(parts, ignore_index=True)


def run(params: dict) -> None:
    as_of = read_context().as_of
    if not CUSTOMERS.exists():
        raise UserError(f"{CUSTOMERS}: not found; run the features stage first (dvc repro)")
    s = settings_from(params)
    with timed(log, "reading the fit sample"):
        tx, sample = _fit_sample(as_of, params)
    models, values, metrics = fit_products(tx, sample, as_of, params)
    n = count_rows(CUSTOMERS)
    metrics["sample"] = {"customers": n, "fit_customers": int(len(sample))}
    whole = len(sample) == n
    recommended: dict[str, int] = {}
    chunks = iter_chunks(CUSTOMERS, s.scale.chunk_customers)
    with ChunkedParquetWriter(OUTPUT) as writer:
        for chunk in progress(chunks, log, "products scoring", n, size=len):
            if whole:
                chunk_tx = tx
            else:
                with timed(log, f"reading the transactions of {len(chunk)} customers"):
                    chunk_tx = read_transactions(as_of, chunk["customer_id"])
            out = score_products(models, values, chunk_tx, chunk, as_of, params)
            for line, count in out["product"].value_counts().items():
                recommended[str(line)] = recommended.get(str(line), 0) + int(count)
            out["product"] = out["product"].astype("string")
            catalogue.PRODUCTS.check_schema(pa.Schema.from_pandas(out, preserve_index=False))
            writer.write(out)
    metrics["recommended"] = dict(sorted(recommended.items()))
    metrics["holds_every_line"] = int(n - sum(recommended.values()))
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
