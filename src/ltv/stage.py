"""DVC stage ``ltv``: backtest the candidates, choose one, score CLV as of ``as_of``.

Inputs: ``data/interim/transactions.parquet``, ``data/processed/customers.parquet``,
params (``as_of``, ``seed``, ``features``, ``ltv``). Outputs (atomic):
``data/processed/ltv.parquet``, ``models/transaction_model.json`` (the best probabilistic
model, always), ``models/spend_model.json`` (Gamma-Gamma), ``reports/metrics/ltv.json`` and
the plot tables ``reports/plots/ltv_{calibration,deciles,gain}.csv``.

Model choice (``ltv.model: auto``): every candidate is fitted as of ``as_of -
ltv.holdout_days`` and scored on the holdout (see :mod:`ltv.backtest`); the one with the
lowest per-customer MAE of holdout value wins (ties: smaller aggregate value error); it is
then refitted as of ``as_of``. A named model is used as named; the backtest still runs so
the metrics compare it with the others.

Bank scale (``scale`` in params.yaml, :mod:`kequn.chunks`), memory one chunk plus the fits:

- the backtest and the gbm training read the transactions of a seeded hash sample of about
  ``scale.fit_customers`` customers (everyone when there are no more customers than that, or
  with 0); ``metrics["sample"]`` records the sizes;
- the chosen BTYD model is fitted on ALL customers through the counts of their distinct
  histories (x, t_x, T), accumulated over chunks of customers.parquet (:mod:`ltv.scale`);
- the Gamma-Gamma spend model's (x, mean spend) rows are continuous, so it is fitted on the
  repeat customers (x > 0, positive spend) of the same sample: all repeat customers when the
  sample is everyone;
- customers are scored ``scale.chunk_customers`` rows at a time into a scratch Parquet file;
  value_percentile (the rank of clv among all customers) is then added by DuckDB within
  ``KEQUN_LTV_MEMORY_LIMIT`` (default 512MB; it spills to disk beyond) while ltv.parquet is
  written in customer_id order.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from kequn import config
from kequn.chunks import (
    ChunkedParquetWriter,
    count_rows,
    iter_chunks,
    last_transaction_date,
    read_scale,
    sample_customer_ids,
    transactions_of,
)
from kequn.config import resolve_as_of, section
from kequn.errors import UserError
from kequn.io import write_bytes, write_csv, write_json
from kequn.log import get_logger, timed
from kequn.sql_text import parquet_source
from ltv import customer_lifetime_value
from ltv.backtest import (
    CANDIDATES,
    TRANSACTION_MODELS,
    BacktestResult,
    calibration_by_frequency,
    choose_model,
    decile_table,
    fit_separating,
    fit_spend_model,
    fit_summary,
    gain_curve,
    run_backtest,
    season_check,
    spend_inputs,
    spend_mask,
)
from ltv.gbm import (
    GradientBoostingValueModel,
    cannot_train,
    horizon_scale,
    lifetime_value,
    scoring_windows,
    training_table,
)
from ltv.scale import RANK_KEY, ROW, HistoryCounts, count_histories, write_ranked

TRANSACTIONS = Path("data/interim/transactions.parquet")
CUSTOMERS = Path("data/processed/customers.parquet")
LTV_TABLE = Path("data/processed/ltv.parquet")
TRANSACTION_MODEL = Path("models/transaction_model.json")
SPEND_MODEL = Path("models/spend_model.json")
METRICS = Path("reports/metrics/ltv.json")
PLOT_CALIBRATION = Path("reports/plots/ltv_calibration.csv")
PLOT_DECILES = Path("reports/plots/ltv_deciles.csv")
PLOT_GAIN = Path("reports/plots/ltv_gain.csv")

#: how ltv.model: auto chooses (ltv.backtest.choose_model)
CRITERION = "lowest per-customer MAE of holdout value; ties: smaller |aggregate value error|"
#: default probabilistic model when no backtest can choose one
DEFAULT_TRANSACTION_MODEL = "bgnbd"
#: ltv.parquet columns in order (docs/outputs.md)
OUTPUT_COLUMNS = [
    "customer_id",
    "expected_transactions",
    "probability_alive",
    "expected_value_per_transaction",
    "clv",
    "clv_low",
    "clv_high",
    "revenue_contribution",
    "profit_contribution",
    "value_percentile",
    "model",
]
#: customers.parquet columns every scoring needs
SCORING_COLUMNS = ["customer_id", "frequency", "recency", "T", "monetary_value"]
#: transactions.parquet columns the backtest and gbm read (when present)
TRANSACTION_COLUMNS = ["customer_id", "date", "amount", "product", "channel"]
#: metrics["scores"] key -> ltv.parquet column summed over all customers
TOTALS = {
    "total_clv": "clv",
    "total_revenue_contribution": "revenue_contribution",
    "total_profit_contribution": "profit_contribution",
    "total_expected_transactions": "expected_transactions",
}
#: DuckDB's memory budget for ranking clv (it spills beyond); env KEQUN_LTV_MEMORY_LIMIT
DEFAULT_MEMORY_LIMIT = "512MB"

log = get_logger("ltv")


# ------------------------------------------------------------------ parameters


def _number(settings: Mapping[str, Any], key: str, default: Any, *, minimum: float = 0.0) -> float:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= minimum:
        raise UserError(f"params.yaml: ltv.{key}={value!r} must be a number >= {minimum:g}")
    return float(value)


def _positive_int(settings: Mapping[str, Any], key: str, default: int) -> int:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"params.yaml: ltv.{key}={value!r} must be a whole number >= 1")
    return value


def read_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """The validated ``ltv`` settings (plus unit, trend window and seed) with defaults."""
    ltv = section(dict(params), "ltv")
    features = section(dict(params), "features")
    model = ltv.get("model", "auto")
    if model not in ("auto", *CANDIDATES):
        choices = " | ".join(("auto", *CANDIDATES))
        raise UserError(f"params.yaml: ltv.model={model!r} must be one of {choices}")
    margin = ltv.get("margin", 0.02)
    if isinstance(margin, Mapping):
        if not margin:
            raise UserError("params.yaml: ltv.margin mapping is empty")
        for line, value in margin.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise UserError(f"params.yaml: ltv.margin.{line}={value!r} must be a number")
        margin = {str(k): float(v) for k, v in margin.items()}
    elif isinstance(margin, bool) or not isinstance(margin, int | float):
        raise UserError(f"params.yaml: ltv.margin={margin!r} must be a number or a mapping")
    else:
        margin = float(margin)
    interval = ltv.get("interval", [0.1, 0.9])
    if (
        not isinstance(interval, list | tuple)
        or len(interval) != 2
        or not all(isinstance(q, int | float) and not isinstance(q, bool) for q in interval)
        or not 0 < interval[0] < interval[1] < 1
    ):
        raise UserError(
            f"params.yaml: ltv.interval={interval!r} must be [low, high], 0 < low < high < 1"
        )
    seed = params.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UserError(f"params.yaml: seed={seed!r} must be a whole number")
    return {
        "model": model,
        "holdout_days": _positive_int(ltv, "holdout_days", 182),
        "horizon_months": _positive_int(ltv, "horizon_months", 12),
        "discount_rate": _number(ltv, "discount_rate", 0.008),
        "margin": margin,
        "service_cost_per_transaction": _number(ltv, "service_cost_per_transaction", 0.0),
        "acquisition_cost": _number(ltv, "acquisition_cost", 0.0),
        "penalizer": _number(ltv, "penalizer", 0.0),
        "interval": (float(interval[0]), float(interval[1])),
        "interval_draws": _positive_int(ltv, "interval_draws", 200),
        "unit_days": _positive_int(features, "time_unit_days", 7),
        "trend_window_days": _positive_int(features, "trend_window_days", 90),
        "seed": seed,
    }


# ------------------------------------------------------------------ pure steps


def customer_margin(
    customers: pd.DataFrame, margin: float | Mapping[str, float], *, quiet: bool = False
) -> np.ndarray:
    """Each customer's margin on transaction value.

    A scalar applies to everyone. A mapping product line -> margin gives
    margin_i = sum_c share_product_<c>_i * margin_c over the product shares of the customer's
    value; a product line in the data without a margin in the mapping counts at the mean of
    the mapping's margins, and a customer without any product share gets that mean
    (logged as a warning unless ``quiet``: the stage warns on its first chunk only).
    """
    n = len(customers)
    if not isinstance(margin, Mapping):
        return np.full(n, float(margin))
    mean_margin = float(np.mean(list(margin.values())))
    share_columns = [c for c in customers.columns if c.startswith("share_product_")]
    if not share_columns:
        return np.full(n, mean_margin)
    lines = [c.removeprefix("share_product_") for c in share_columns]
    unmapped = [line for line in lines if line not in margin]
    if unmapped and not quiet:
        log.warning(
            "ltv.margin has no margin for product line(s) %s: using the mean %.4g",
            ", ".join(unmapped),
            mean_margin,
        )
    rates = np.array([margin.get(line, mean_margin) for line in lines])
    shares = customers[share_columns].to_numpy(dtype=float)
    shares = np.nan_to_num(shares, nan=0.0)
    has_share = np.abs(shares).sum(axis=1) > 0
    return np.where(has_share, shares @ rates, mean_margin)


def value_percentile(clv: Any) -> np.ndarray:
    """Percentile of each CLV among all customers, 0-100: 100 * (rank - 1) / (n - 1),
    ties sharing their lowest rank (one customer: 100)."""
    clv = pd.Series(np.asarray(clv, dtype=float))
    n = len(clv)
    if n <= 1:
        return np.full(n, 100.0)
    return ((clv.rank(method="min") - 1) / (n - 1) * 100.0).to_numpy()


def choose(settings: Mapping[str, Any], result: BacktestResult) -> dict[str, Any]:
    """The scoring model and the best probabilistic transaction model, with the reasons."""
    requested = settings["model"]
    probabilistic = {k: v for k, v in result.metrics.items() if k in TRANSACTION_MODELS}
    if probabilistic:
        best_probabilistic, prob_reason = choose_model(probabilistic)
    else:
        best_probabilistic = DEFAULT_TRANSACTION_MODEL
        prob_reason = f"no probabilistic backtest possible: default {DEFAULT_TRANSACTION_MODEL}"
    candidates = {k: v for k, v in result.metrics.items() if k in CANDIDATES}
    if requested != "auto":
        model, reason = requested, f"ltv.model={requested} set in params.yaml"
    elif candidates:
        model, reason = choose_model(candidates)
    else:
        model, reason = best_probabilistic, prob_reason
    transaction_model = requested if requested in TRANSACTION_MODELS else best_probabilistic
    choice = {
        "requested": requested,
        "model": model,
        "transaction_model": transaction_model,
        "criterion": CRITERION,
        "reason": reason,
        "transaction_model_reason": prob_reason,
    }
    baseline = result.metrics.get("past_value_repeats")
    chosen = result.metrics.get(model)
    if baseline and chosen and baseline["mae_value"] is not None:
        choice["beats_past_value_repeats"] = bool(chosen["mae_value"] < baseline["mae_value"])
        if not choice["beats_past_value_repeats"]:
            log.warning("chosen model %s does not beat 'past value repeats' on the backtest", model)
    return choice


def plot_tables(result: BacktestResult, choice: Mapping[str, Any]) -> dict[Path, pd.DataFrame]:
    """The three DVC plot tables from the backtest (empty with headers when none ran)."""
    table = result.holdout
    tm, model = choice["transaction_model"], choice["model"]
    if f"{tm}_transactions" in table:
        calibration = calibration_by_frequency(
            table["frequency"], table["actual_transactions"], table[f"{tm}_transactions"]
        )[["frequency", "actual", "predicted"]]
    else:
        calibration = pd.DataFrame(columns=["frequency", "actual", "predicted"])
    if f"{model}_value" in table:
        deciles = decile_table(table["actual_value"], table[f"{model}_value"])
        gain = gain_curve(table["actual_value"], table[f"{model}_value"])
    else:
        deciles = pd.DataFrame(columns=["decile", "customers", "actual", "predicted"])
        gain = pd.DataFrame(columns=["share_of_customers", "model", "random"])
    return {
        PLOT_CALIBRATION: calibration,
        PLOT_DECILES: deciles[["decile", "actual", "predicted"]],
        PLOT_GAIN: gain,
    }


def fit_transaction_model(name: str, histories: HistoryCounts, penalizer: float) -> Any:
    """The BTYD model ``name`` fitted on every customer through the distinct-history counts
    (the same fit as on the per-customer rows: see :mod:`ltv.scale`)."""
    return TRANSACTION_MODELS[name](penalizer=penalizer).fit(
        histories.x, histories.t_x, histories.T, weights=histories.weights
    )


def fit_spend(frequency: Any, monetary_value: Any, penalizer: float) -> Any:
    """Gamma-Gamma on the repeat customers among the rows given (UserError when impossible)."""
    try:
        return fit_spend_model(frequency, monetary_value, penalizer)
    except ValueError as exc:
        raise UserError(f"{CUSTOMERS}: cannot fit the Gamma-Gamma spend model: {exc}") from None


def score_probabilistic(
    customers: pd.DataFrame,
    transaction_model: Any,
    spend_model: Any,
    settings: Mapping[str, Any],
    margin: np.ndarray,
) -> pd.DataFrame:
    """CLV columns and probability_alive of ``customers`` (any chunk of them) under fitted
    models. Every row depends only on its own customer, so chunks score as the whole does."""
    f, r, big_t, m = (
        customers[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T", "monetary_value")
    )
    try:
        monetary = spend_inputs(spend_model, f, m)
    except ValueError as exc:
        raise UserError(f"{CUSTOMERS}: cannot use the Gamma-Gamma spend model: {exc}") from None
    scores = customer_lifetime_value(
        transaction_model,
        spend_model,
        f,
        r,
        big_t,
        monetary,
        horizon_months=settings["horizon_months"],
        unit_days=settings["unit_days"],
        discount_rate=settings["discount_rate"],
        margin=margin,
        service_cost_per_transaction=settings["service_cost_per_transaction"],
        acquisition_cost=settings["acquisition_cost"],
        interval=settings["interval"],
        n_draws=settings["interval_draws"],
        seed=settings["seed"],
    ).reset_index(drop=True)
    scores["probability_alive"] = np.asarray(transaction_model.probability_alive(f, r, big_t))
    return scores


def train_gbm(
    transactions: pd.DataFrame, as_of: dt.date, settings: Mapping[str, Any]
) -> tuple[GradientBoostingValueModel, dict[str, Any]]:
    """Train on features as of ``as_of - H`` -> (as_of - H, as_of] (``transactions``: all
    customers or the fit sample)."""
    train, scored = scoring_windows(as_of, settings["holdout_days"])
    first_date = pd.to_datetime(transactions["date"]).min().date()
    if train.features_as_of <= first_date:
        raise UserError(
            f"params.yaml: ltv.model=gbm needs history before as_of - ltv.holdout_days "
            f"({train.features_as_of}) to train on; the data start {first_date}"
        )
    features, target = training_table(
        transactions,
        train,
        unit_days=settings["unit_days"],
        trend_window_days=settings["trend_window_days"],
    )
    problem = cannot_train(target, train)
    if problem:
        raise UserError(f"params.yaml: ltv.model=gbm cannot be trained: {problem}")
    booster = GradientBoostingValueModel(
        interval=settings["interval"], random_state=settings["seed"]
    )
    booster.fit(features, target["holdout_value"], target["holdout_transactions"])
    info = {
        "train_features_as_of": train.features_as_of.isoformat(),
        "train_target_end": train.target_end.isoformat(),
        "scored_features_as_of": scored.features_as_of.isoformat(),
        "train_customers": int(booster.n_customers_),
        "horizon_scale": horizon_scale(settings["holdout_days"], settings["horizon_months"]),
    }
    return booster, info


def score_gbm(
    booster: GradientBoostingValueModel,
    customers: pd.DataFrame,
    settings: Mapping[str, Any],
    margin: np.ndarray,
) -> pd.DataFrame:
    """Apply the trained booster to ``customers`` (features as of ``as_of``; any chunk) and
    scale the window prediction to the CLV horizon."""
    return lifetime_value(
        booster.predict(customers),
        scale=horizon_scale(settings["holdout_days"], settings["horizon_months"]),
        horizon_months=settings["horizon_months"],
        discount_rate=settings["discount_rate"],
        margin=margin,
        service_cost_per_transaction=settings["service_cost_per_transaction"],
        acquisition_cost=settings["acquisition_cost"],
    )


# ------------------------------------------------------------------ stage


def _missing(path: Path, names: list[str], required: set[str]) -> None:
    missing = required - set(names)
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(sorted(missing))}")


def _check_inputs(params: Mapping[str, Any]) -> tuple[dt.date, list[str], list[str]]:
    """as_of and the column names of both inputs, without reading their rows."""
    for path in (TRANSACTIONS, CUSTOMERS):
        if not path.exists():
            raise UserError(f"{path}: not found; run the earlier stages first (dvc repro)")
    tx_columns = pq.read_schema(TRANSACTIONS).names
    _missing(TRANSACTIONS, tx_columns, {"customer_id", "date", "amount"})
    as_of = resolve_as_of(dict(params), last_transaction_date(TRANSACTIONS))
    customer_columns = pq.read_schema(CUSTOMERS).names
    _missing(CUSTOMERS, customer_columns, set(SCORING_COLUMNS))
    if count_rows(CUSTOMERS) == 0:
        raise UserError(f"{CUSTOMERS}: no customers")
    return as_of, tx_columns, customer_columns


def _read_transactions(ids: pd.Series | None, tx_columns: list[str], as_of: dt.date):
    """The transactions (on or before as_of) of the fit sample, or of everyone (ids None)."""
    columns = [c for c in TRANSACTION_COLUMNS if c in tx_columns]
    transactions = transactions_of(TRANSACTIONS, ids, columns=columns)
    dates = pd.to_datetime(transactions["date"])
    return transactions.loc[dates <= pd.Timestamp(as_of)].reset_index(drop=True)


def _spend_rows(ids: pd.Series | None, chunk_rows: int) -> pd.DataFrame:
    """frequency, monetary_value of the repeat customers (positive spend) of the fit sample,
    or of everyone (ids None), without reading the other customers' rows."""
    if ids is None:
        parts = [
            chunk.loc[spend_mask(chunk["frequency"], chunk["monetary_value"])]
            for chunk in iter_chunks(CUSTOMERS, chunk_rows, ["frequency", "monetary_value"])
        ]
        return pd.concat(parts, ignore_index=True)
    with duckdb.connect() as con:
        con.register("chosen", pd.DataFrame({"customer_id": ids.astype(str).to_numpy()}))
        return con.sql(
            f"SELECT frequency, monetary_value FROM {parquet_source(CUSTOMERS)} "
            "WHERE customer_id IN (SELECT customer_id FROM chosen) "
            "AND frequency > 0 AND monetary_value > 0"
        ).df()


def run(params: dict) -> None:
    """Backtest (on the fit sample), choose, fit on all customers, score in chunks, write.

    Memory: the fit sample's transactions for the backtest (and gbm), the distinct
    histories, the Gamma-Gamma sample, and one chunk of ``scale.chunk_customers`` rows.
    """
    settings = read_settings(params)
    scale = read_scale(params)
    memory_limit = config.memory_limit("KEQUN_LTV_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)
    as_of, tx_columns, customer_columns = _check_inputs(params)
    n_customers = count_rows(CUSTOMERS)
    with timed(log, "choosing the fit sample"):
        ids = sample_customer_ids(CUSTOMERS, scale.fit_customers, settings["seed"])
    sample = {
        "fit_customers": scale.fit_customers,
        "customers": n_customers,
        "sampled_customers": n_customers if ids is None else int(len(ids)),
        "everyone": ids is None,
    }
    with timed(log, "reading the sample's transactions"):
        transactions = _read_transactions(ids, tx_columns, as_of)
    if transactions.empty:
        raise UserError(f"{TRANSACTIONS}: no transactions on or before as_of {as_of}")
    log.info(
        "%d customers, %d in the fit sample (%d transactions), as_of %s",
        n_customers,
        sample["sampled_customers"],
        len(transactions),
        as_of,
    )

    with timed(log, f"backtest as of {as_of - dt.timedelta(days=settings['holdout_days'])}"):
        result = run_backtest(
            transactions,
            as_of,
            holdout_days=settings["holdout_days"],
            unit_days=settings["unit_days"],
            trend_window_days=settings["trend_window_days"],
            penalizer=settings["penalizer"],
            seed=settings["seed"],
        )
    season = season_check(
        transactions, result.cutoff, as_of, round(settings["horizon_months"] * 30.4375)
    )
    sample["backtest_customers"] = int(len(result.holdout))
    for name, reason in result.skipped.items():
        log.warning("candidate %s skipped: %s", name, reason)
    for name, m in result.metrics.items():
        error = m.get("transactions_error")
        if error is not None and abs(error) > 1:
            log.warning(
                "candidate %s is off by %+.3g x the actual holdout transactions: check its fit",
                name,
                error,
            )
    choice = choose(settings, result)
    log.info("model %s (%s)", choice["model"], choice["reason"])

    booster = gbm_info = None
    if choice["model"] == "gbm":
        with timed(log, "training gbm"):
            booster, gbm_info = train_gbm(transactions, as_of, settings)
    del transactions

    tm = choice["transaction_model"]
    with timed(log, f"fitting {tm} on the distinct histories of all customers"):
        columns = ["frequency", "recency", "T"]
        try:
            histories = count_histories(iter_chunks(CUSTOMERS, scale.chunk_customers, columns))
        except ValueError as exc:
            raise UserError(f"{CUSTOMERS}: {exc}") from None
        transaction_model, tm, fallback = fit_separating(
            tm, histories, settings["penalizer"], fit_transaction_model
        )
    if fallback:
        log.warning("degenerate transaction model: %s", fallback)
        choice["transaction_model"], choice["transaction_model_fallback"] = tm, fallback
    with timed(log, "fitting Gamma-Gamma"):
        spend_rows = _spend_rows(ids, scale.chunk_customers)
        spend_model = fit_spend(
            spend_rows["frequency"], spend_rows["monetary_value"], settings["penalizer"]
        )
        sample["spend_customers"] = int(len(spend_rows))
        del spend_rows
    sample["distinct_histories"] = int(len(histories.weights))
    log.info(
        "%d distinct histories of %d customers; Gamma-Gamma on %d repeat customers",
        sample["distinct_histories"],
        histories.customers,
        sample["spend_customers"],
    )

    read_columns = [c for c in customer_columns if c in SCORING_COLUMNS] + [
        c for c in customer_columns if c.startswith("share_product_")
    ]
    if booster is not None:
        read_columns = list(customer_columns)
    totals = dict.fromkeys(TOTALS, 0.0)
    scored_columns = [c for c in OUTPUT_COLUMNS if c not in ("value_percentile", "model")]
    empty = pd.DataFrame({c: pd.Series(dtype=float) for c in OUTPUT_COLUMNS}).astype(
        {"customer_id": object, "model": object}
    )
    with tempfile.TemporaryDirectory(prefix=".ltv-", dir=_parent(LTV_TABLE)) as scratch:
        scored_path = Path(scratch) / "scored.parquet"
        with (
            timed(log, f"scoring in chunks of {scale.chunk_customers} customers"),
            ChunkedParquetWriter(scored_path) as scored,
        ):
            first_row = 0
            for number, chunk in enumerate(
                iter_chunks(CUSTOMERS, scale.chunk_customers, read_columns)
            ):
                margin = customer_margin(chunk, settings["margin"], quiet=number > 0)
                scores = score_probabilistic(
                    chunk, transaction_model, spend_model, settings, margin
                )
                if booster is not None:
                    gbm_scores = score_gbm(booster, chunk, settings, margin)
                    for column in gbm_scores.columns:
                        scores[column] = gbm_scores[column].to_numpy()
                part = scores.assign(customer_id=chunk["customer_id"].to_numpy())[scored_columns]
                for key, column in TOTALS.items():
                    totals[key] += float(part[column].sum())
                part[ROW] = np.arange(first_row, first_row + len(part), dtype=np.int64)
                part[RANK_KEY] = part["clv"].to_numpy() + 0.0
                scored.write(part)
                first_row += len(part)
        with timed(log, "ranking clv and writing ltv.parquet"):
            written = write_ranked(
                scored_path,
                LTV_TABLE,
                columns=scored_columns,
                n=first_row,
                model=choice["model"],
                chunk_rows=scale.chunk_customers,
                memory_limit=memory_limit,
                temp_directory=Path(scratch),
                empty=empty,
            )

    metrics = {
        "as_of": as_of.isoformat(),
        "backtest_cutoff": result.cutoff.isoformat(),
        "holdout_days": settings["holdout_days"],
        "model": choice["model"],
        "choice": choice,
        "backtest": {k: v for k, v in result.metrics.items() if k in CANDIDATES},
        "baselines": {
            "past_value_repeats": result.metrics.get("past_value_repeats"),
            "best_probabilistic": {
                "model": choice["transaction_model"],
                **(result.metrics.get(choice["transaction_model"]) or {}),
            },
        },
        "backtest_fits": result.fits,
        "season": season,
        "skipped": result.skipped,
        "sample": sample,
        "scoring_fits": {
            choice["transaction_model"]: fit_summary(transaction_model),
            "gamma_gamma": fit_summary(spend_model),
            **({"gbm": gbm_info} if gbm_info else {}),
        },
        "scores": {"customers": written, **totals},
    }
    if metrics["season"]["mismatch"]:
        log.warning(
            "season: the backtest holdout (months %s) and the CLV horizon (months %s) cover "
            "different seasons; seasonal correction of the aggregate forecast: %s",
            metrics["season"]["holdout_months"],
            metrics["season"]["horizon_months"],
            metrics["season"]["seasonal_correction"] or "none (fewer than two years of data)",
        )
    plots = plot_tables(result, choice)
    if f"{choice['model']}_value" in result.holdout:
        deciles = plots[PLOT_DECILES]
        metrics["deciles"] = {
            str(int(row.decile)): {"actual": float(row.actual), "predicted": float(row.predicted)}
            for row in deciles.itertuples()
        }

    with timed(log, "writing models, metrics and plots"):
        write_bytes(TRANSACTION_MODEL, transaction_model.to_json().encode("utf-8"))
        write_bytes(SPEND_MODEL, spend_model.to_json().encode("utf-8"))
        write_json(METRICS, metrics)
        for path, frame in plots.items():
            write_csv(path, frame)
    log.info(
        "%d customers scored with %s; total CLV %.2f",
        written,
        choice["model"],
        metrics["scores"]["total_clv"],
    )


def _parent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.parent
