"""DVC stage ``ltv``: backtest the candidates, choose one, score CLV as of ``as_of``.

Inputs: ``data/interim/transactions.parquet``, ``data/processed/customers.parquet``,
params (``as_of``, ``seed``, ``features``, ``ltv``). Outputs (atomic):
``data/processed/ltv.parquet``, ``models/transaction_model.json`` (the best probabilistic
model, always), ``models/spend_model.json`` (Gamma-Gamma), ``reports/metrics/ltv.json`` and
the plot tables ``reports/plots/ltv_{calibration,deciles,gain}.csv``.

Model choice (``ltv.model: auto``): a rolling-origin backtest (:mod:`ltv.rolling`): every
candidate is fitted as of ``e - ltv.holdout_days`` and scored on the holdout ending ``e``,
for ``e = as_of, as_of - ltv.origin_step_days, ...`` (``ltv.backtest_origins`` of them, see
:mod:`ltv.backtest`); the one with the lowest mean per-customer MAE of holdout value over
the cut-offs wins (ties: smaller mean aggregate value error); it is then refitted as of
``as_of``. ltv.json reports each candidate's spread over the cut-offs, the refusals per
cut-off and whether the choice beats the naive past-spend baseline. A named model is used
as named; the backtest still runs so the metrics compare it with the others.

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
import functools
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from features import CutoffTables
from kequn import catalogue, config
from kequn.chunks import (
    ChunkedParquetWriter,
    count_rows,
    iter_chunks,
    read_scale,
    sample_customer_ids,
    transactions_of,
)
from kequn.context import read_context
from kequn.errors import UserError
from kequn.io import write_bytes, write_csv, write_json
from kequn.log import get_logger, progress, timed
from kequn.rules import DAYS_PER_MONTH, customer_margin
from kequn.settings import settings_from
from kequn.sql_text import parquet_source
from ltv import rolling as rolling_origin
from ltv.backtest import (
    CANDIDATES,
    SEASON_MONTHS,
    TRANSACTION_MODELS,
    BacktestResult,
    calibration_by_frequency,
    decile_table,
    fit_separating,
    fit_summary,
    gain_curve,
    season_check,
    spend_mask,
)
from ltv.gbm import Window
from ltv.rolling import RollingResult
from ltv.scale import RANK_KEY, ROW, count_histories, write_ranked
from ltv.scoring import (
    fit_spend,
    fit_transaction_model,
    score_gbm,
    score_probabilistic,
    train_gbm,
)
from ltv.stacked import train_stacked

TRANSACTIONS = catalogue.TRANSACTIONS.path
CUSTOMERS = catalogue.CUSTOMERS.path
LTV_TABLE = catalogue.LTV.path
TRANSACTION_MODEL = catalogue.TRANSACTION_MODEL.path
SPEND_MODEL = catalogue.SPEND_MODEL.path
METRICS = catalogue.LTV_METRICS.path
PLOT_CALIBRATION = catalogue.LTV_PLOTS[0].path
PLOT_DECILES = catalogue.LTV_PLOTS[1].path
PLOT_GAIN = catalogue.LTV_PLOTS[2].path

#: how ltv.model: auto chooses (ltv.rolling.choose)
CRITERION = (
    "lowest mean per-customer MAE of holdout value over the rolling backtest cut-offs; "
    "ties: smaller mean |aggregate value error|"
)
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
    "margin",
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


def read_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``ltv`` settings (plus unit, trend window and seed) from :mod:`kequn.settings`
    (validated there: a bad value is a one-line UserError naming the key)."""
    settings = settings_from(params)
    ltv = settings.ltv
    margin = dict(ltv.margin) if isinstance(ltv.margin, Mapping) else ltv.margin
    return {
        "model": ltv.model,
        "holdout_days": ltv.holdout_days,
        "backtest_origins": ltv.backtest_origins,
        "origin_step_days": ltv.origin_step_days,
        "horizon_months": ltv.horizon_months,
        "discount_rate": ltv.discount_rate,
        "margin": margin,
        "service_cost_per_transaction": ltv.service_cost_per_transaction,
        "acquisition_cost": ltv.acquisition_cost,
        "penalizer": ltv.penalizer,
        "interval": ltv.interval,
        "interval_draws": ltv.interval_draws,
        "unit_days": settings.features.time_unit_days,
        "trend_window_days": settings.features.trend_window_days,
        "seed": settings.seed,
    }


# ------------------------------------------------------------------ pure steps


def value_percentile(clv: Any) -> np.ndarray:
    """Percentile of each CLV among all customers, 0-100: 100 * (rank - 1) / (n - 1),
    ties sharing their lowest rank (one customer: 100)."""
    clv = pd.Series(np.asarray(clv, dtype=float))
    n = len(clv)
    if n <= 1:
        return np.full(n, 100.0)
    return ((clv.rank(method="min") - 1) / (n - 1) * 100.0).to_numpy()


def choose(settings: Mapping[str, Any], rolling: RollingResult) -> dict[str, Any]:
    """The scoring model and the best probabilistic transaction model, with the reasons,
    chosen on the mean over the comparable cut-offs (:func:`ltv.rolling.comparable`)."""
    requested = settings["model"]
    used = rolling_origin.comparable(rolling)
    summary = rolling_origin.summarise(rolling, used)
    latest = rolling.latest.metrics
    probabilistic = [k for k in TRANSACTION_MODELS if k in latest]
    if probabilistic:
        best_probabilistic, prob_reason = rolling_origin.choose(summary, probabilistic)
    else:
        best_probabilistic = DEFAULT_TRANSACTION_MODEL
        prob_reason = f"no probabilistic backtest possible: default {DEFAULT_TRANSACTION_MODEL}"
    candidates = [k for k in CANDIDATES if k in latest]
    if requested != "auto":
        model, reason = requested, f"ltv.model={requested} set in params.yaml"
    elif candidates:
        model, reason = rolling_origin.choose(summary, candidates)
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
        "cutoffs": [rolling.origins[i].cutoff.isoformat() for i in used],
    }
    baseline = summary.get(rolling_origin.BASELINE, {}).get("mae_value", {}).get("mean")
    chosen = summary.get(model, {}).get("mae_value", {}).get("mean")
    if baseline is not None and chosen is not None:
        choice["beats_past_value_repeats"] = bool(chosen < baseline)
        if not choice["beats_past_value_repeats"]:
            log.warning("chosen model %s does not beat 'past value repeats' on the backtest", model)
    return choice


def seasonal_forecast(season: Mapping[str, Any], totals: Mapping[str, float]) -> dict[str, Any]:
    """The aggregate forecast of the CLV horizon, stationary and seasonally corrected.

    The BTYD models forecast a stationary rate; with a month-of-year index (learnt from at
    least ``SEASON_MONTHS`` complete months, :func:`ltv.backtest.seasonal_index`) the
    corrected total is the stationary total times the horizon's day-weighted index level
    (``season["horizon_index"]``). Without one, ``corrected_expected_transactions`` is None
    and ``correction`` says why.
    """
    total = float(totals.get("total_expected_transactions", 0.0))
    index = season.get("horizon_index")
    if index is None:
        return {
            "expected_transactions": total,
            "corrected_expected_transactions": None,
            "correction": (
                f"cannot be learnt: a month-of-year index needs {SEASON_MONTHS} complete "
                "months of history (an earlier year for every month)"
            ),
        }
    return {
        "expected_transactions": total,
        "corrected_expected_transactions": total * float(index),
        "correction": f"stationary forecast x the horizon's month-of-year index {index}",
    }


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
    as_of = read_context().as_of
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
    ids, sample = _fit_sample(scale, settings["seed"])
    with timed(log, "reading the sample's transactions"):
        transactions = _read_transactions(ids, tx_columns, as_of)
    if transactions.empty:
        raise UserError(f"{TRANSACTIONS}: no transactions on or before as_of {as_of}")
    log.info(
        "%d customers, %d in the fit sample (%d transactions), as_of %s",
        sample["customers"],
        sample["sampled_customers"],
        len(transactions),
        as_of,
    )
    tables = CutoffTables(
        transactions,
        unit_days=settings["unit_days"],
        trend_window_days=settings["trend_window_days"],
    )
    rolling, season = _backtest(tables, as_of, settings)
    result = rolling.latest
    sample["backtest_customers"] = int(len(result.holdout))
    choice = choose(settings, rolling)
    log.info("model %s (%s)", choice["model"], choice["reason"])
    booster = gbm_info = None
    if choice["model"] == "gbm":
        with timed(log, "training gbm"):
            booster, gbm_info = train_gbm(tables, as_of, settings)
    elif choice["model"] == "gbm_stacked":
        with timed(log, "training gbm_stacked"):
            booster, gbm_info = _train_stacked(tables, as_of, settings)
    del transactions, tables
    transaction_model, spend_model = _fit_scoring_models(choice, settings, scale, ids, sample)
    if choice["model"] == "gbm_stacked":  # scored on the BTYD outputs as of as_of
        booster.use(transaction_model, spend_model)
    written, totals = _score(
        customer_columns,
        (transaction_model, spend_model, booster),
        choice,
        settings,
        scale,
        memory_limit,
        params,
    )
    scoring_fits = {
        choice["transaction_model"]: fit_summary(transaction_model),
        "gamma_gamma": fit_summary(spend_model),
        **({"gbm": gbm_info} if gbm_info else {}),
    }
    metrics = build_metrics(
        as_of, settings, choice, rolling, season, sample, scoring_fits, written, totals
    )
    plots = plot_tables(result, choice)
    if f"{choice['model']}_value" in result.holdout:
        metrics["deciles"] = {
            str(int(row.decile)): {"actual": float(row.actual), "predicted": float(row.predicted)}
            for row in plots[PLOT_DECILES].itertuples()
        }
    with timed(log, "writing models, metrics and plots"):
        write_bytes(TRANSACTION_MODEL, transaction_model.to_json().encode("utf-8"))
        write_bytes(SPEND_MODEL, spend_model.to_json().encode("utf-8"))
        write_json(METRICS, metrics)
        for path, frame in plots.items():
            write_csv(path, frame)
    log.info(
        "%d customers scored with %s; total CLV %.2f", written, choice["model"], totals["total_clv"]
    )


def _fit_sample(scale: Any, seed: int) -> tuple[pd.Series | None, dict[str, Any]]:
    """The seeded fit sample's customer ids (None: everyone) and its sizes for the metrics."""
    n_customers = count_rows(CUSTOMERS)
    with timed(log, "choosing the fit sample"):
        ids = sample_customer_ids(CUSTOMERS, scale.fit_customers, seed)
    sample = {
        "fit_customers": scale.fit_customers,
        "customers": n_customers,
        "sampled_customers": n_customers if ids is None else int(len(ids)),
        "everyone": ids is None,
    }
    return ids, sample


def _train_stacked(
    tables: CutoffTables, as_of: dt.date, settings: Mapping[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """gbm_stacked trained on features as of ``as_of - H`` (BTYD fitted there) against
    ``(as_of - H, as_of]``; a UserError when it cannot be."""
    h = settings["holdout_days"]
    window = Window(as_of - dt.timedelta(days=h), as_of)
    model, why = train_stacked(
        tables,
        window,
        h / settings["unit_days"],
        settings["penalizer"],
        interval=settings["interval"],
        random_state=settings["seed"],
    )
    if model is None:
        raise UserError(f"params.yaml: ltv.model=gbm_stacked cannot be trained: {why}")
    info = {
        "train_features_as_of": window.features_as_of.isoformat(),
        "train_target_end": window.target_end.isoformat(),
        "train_customers": int(model.n_customers_),
        "stacked_on": "the scoring transaction and spend models",
    }
    return model, info


def _backtest(
    tables: CutoffTables, as_of: dt.date, settings: Mapping[str, Any]
) -> tuple[RollingResult, dict[str, Any]]:
    """Run the rolling backtest and the season check; log refused and far-off candidates."""
    transactions = tables.transactions
    n = settings["backtest_origins"]
    with timed(log, f"rolling backtest, {n} cut-off(s)"):
        rolling = rolling_origin.run_rolling(
            transactions,
            as_of,
            holdout_days=settings["holdout_days"],
            origins=n,
            step_days=settings["origin_step_days"],
            unit_days=settings["unit_days"],
            trend_window_days=settings["trend_window_days"],
            penalizer=settings["penalizer"],
            seed=settings["seed"],
            tables=tables,
        )
    result = rolling.latest
    horizon_days = round(settings["horizon_months"] * DAYS_PER_MONTH)
    season = season_check(transactions, result.cutoff, as_of, horizon_days)
    for name, by_cutoff in rolling.refused.items():
        for cutoff, reason in by_cutoff.items():
            log.warning("candidate %s refused at %s: %s", name, cutoff, reason)
    for name, m in result.metrics.items():
        error = m.get("transactions_error")
        if error is not None and abs(error) > 1:
            log.warning(
                "candidate %s is off by %+.3g x the actual holdout transactions: check its fit",
                name,
                error,
            )
    if season["mismatch"]:
        log.warning(
            "season: the backtest holdout (months %s) and the CLV horizon (months %s) cover "
            "different seasons; seasonal correction of the aggregate forecast: %s",
            season["holdout_months"],
            season["horizon_months"],
            season["seasonal_correction"] or "none (fewer than two years of data)",
        )
    return rolling, season


def _fit_scoring_models(
    choice: dict[str, Any],
    settings: Mapping[str, Any],
    scale: Any,
    ids: pd.Series | None,
    sample: dict[str, Any],
) -> tuple[Any, Any]:
    """Fit the chosen transaction model on every customer's distinct history and the
    Gamma-Gamma spend model on the sample's repeat customers; record sizes in ``sample``
    and a degenerate-fit fallback in ``choice``."""
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
    sample["distinct_histories"] = int(len(histories.weights))
    log.info(
        "%d distinct histories of %d customers; Gamma-Gamma on %d repeat customers",
        sample["distinct_histories"],
        histories.customers,
        sample["spend_customers"],
    )
    return transaction_model, spend_model


def _score(
    customer_columns: list[str],
    models: tuple[Any, Any, Any],
    choice: Mapping[str, Any],
    settings: Mapping[str, Any],
    scale: Any,
    memory_limit: str,
    params: Mapping[str, Any] | None = None,
) -> tuple[int, dict[str, float]]:
    """Score customers.parquet chunk by chunk into a scratch file, then rank clv and write
    ltv.parquet; returns the rows written and the column totals of :data:`TOTALS`.

    ``models`` is (transaction model, Gamma-Gamma model, gbm booster or None); with
    ``engine: spark`` in ``params`` the chunks are scored on Spark (:mod:`ltv.spark_scoring`).
    """
    booster = models[2]
    read_columns = [c for c in customer_columns if c in SCORING_COLUMNS] + [
        c for c in customer_columns if c.startswith("share_product_")
    ]
    if booster is not None:
        read_columns = list(customer_columns)
    totals = dict.fromkeys(TOTALS, 0.0)
    scored_columns = [c for c in OUTPUT_COLUMNS if c not in ("value_percentile", "model")]
    with tempfile.TemporaryDirectory(prefix=".ltv-", dir=_parent(LTV_TABLE)) as scratch:
        scored_path = Path(scratch) / "scored.parquet"
        with (
            timed(log, f"scoring in chunks of {scale.chunk_customers} customers"),
            ChunkedParquetWriter(scored_path) as scored,
        ):
            first_row = 0
            for part in progress(
                _scored_chunks(read_columns, models, settings, scale, params),
                log,
                "ltv scoring",
                total=count_rows(CUSTOMERS),
                size=len,
            ):
                part = part[scored_columns].copy()  # a frame of its own, not a view
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
                empty=_empty_output(),
            )
    return written, totals


def _scored_chunks(
    read_columns: list[str],
    models: tuple[Any, Any, Any],
    settings: Mapping[str, Any],
    scale: Any,
    params: Mapping[str, Any] | None,
) -> Iterator[pd.DataFrame]:
    """Every chunk of customers.parquet scored by :func:`_score_chunk`, in file order: on
    this machine, or on Spark with ``engine: spark``."""
    transaction_model, spend_model, booster = models
    if params is not None and settings_from(params).engine == "spark":
        from ltv.spark_scoring import scored_chunks

        score = functools.partial(
            _score_chunk,
            transaction_model=transaction_model,
            spend_model=spend_model,
            booster=booster,
            settings=settings,
            quiet=True,
        )
        chunk_rows = scale.chunk_customers
        yield from scored_chunks(
            CUSTOMERS, read_columns, score, settings["margin"], chunk_rows, dict(params)
        )
        return
    for number, chunk in enumerate(iter_chunks(CUSTOMERS, scale.chunk_customers, read_columns)):
        yield _score_chunk(chunk, transaction_model, spend_model, booster, settings, number > 0)


def _score_chunk(
    chunk: pd.DataFrame,
    transaction_model: Any,
    spend_model: Any,
    booster: Any,
    settings: Mapping[str, Any],
    quiet: bool,
) -> pd.DataFrame:
    """One chunk's scores: the probabilistic columns, overwritten by gbm's when it is chosen."""
    margin = customer_margin(chunk, settings["margin"], quiet=quiet)
    scores = score_probabilistic(chunk, transaction_model, spend_model, settings, margin)
    if booster is not None:
        gbm_scores = score_gbm(booster, chunk, settings, margin)
        for column in gbm_scores.columns:
            scores[column] = gbm_scores[column].to_numpy()
    return scores.assign(customer_id=chunk["customer_id"].to_numpy(), margin=margin)


def _empty_output() -> pd.DataFrame:
    """ltv.parquet's schema with no rows (written when there are no customers)."""
    empty = pd.DataFrame({c: pd.Series(dtype=float) for c in OUTPUT_COLUMNS})
    return empty.astype({"customer_id": object, "model": object})


def build_metrics(
    as_of: dt.date,
    settings: Mapping[str, Any],
    choice: dict[str, Any],
    rolling: RollingResult,
    season: dict[str, Any],
    sample: dict[str, Any],
    scoring_fits: dict[str, Any],
    written: int,
    totals: dict[str, float],
) -> dict[str, Any]:
    """reports/metrics/ltv.json: the choice, the backtest against its baselines, the fits.

    Parameters
    ----------
    as_of : datetime.date
        Scoring date.
    settings : Mapping
        :func:`read_settings`'s dict.
    choice : dict
        :func:`choose`'s result.
    rolling : ltv.rolling.RollingResult
        The rolling backtest; its latest cut-off gives ``backtest`` and the plots.
    season : dict
        :func:`ltv.backtest.season_check`'s result.
    sample : dict
        Fit-sample sizes.
    scoring_fits : dict
        Fit summaries of the models scored as of ``as_of``.
    written : int
        Customers scored.
    totals : dict
        Sums over all customers (:data:`TOTALS`).

    Returns
    -------
    dict
        The metrics, JSON-ready.
    """
    result = rolling.latest
    used = rolling_origin.comparable(rolling)
    return {
        "as_of": as_of.isoformat(),
        "backtest_cutoff": result.cutoff.isoformat(),
        "backtest_cutoffs": [r.cutoff.isoformat() for r in rolling.origins],
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
        "rolling": rolling_origin.summarise(rolling, used),
        "refused": rolling.refused,
        "backtest_fits": result.fits,
        "season": {**season, **seasonal_forecast(season, totals)},
        "skipped": result.skipped,
        "sample": sample,
        "scoring_fits": scoring_fits,
        "scores": {"customers": written, **totals},
    }


def _parent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.parent
