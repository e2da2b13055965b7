"""``python -m kequn segment``: every customer's tiers, RFM segment, preference type, cluster.

Reads ``data/processed/customers.parquet``, ``ltv.parquet`` (customer_id, clv),
``churn.parquet`` (customer_id, churn_probability) -- the same customers in the same order,
checked chunk by chunk -- ``data/interim/transactions.parquet`` (for ``as_of`` and the
migration baseline) and ``models/clusters.json`` (last run's clusters, when present). Writes
``data/processed/segments.parquet`` chunk by chunk, ``reports/metrics/segments.json``,
``reports/plots/pareto.csv``, ``reports/plots/cluster_profiles.csv``,
``reports/plots/aum_trend.csv`` (AUM by month and value tier, from
``data/interim/balances.parquet``; header only without snapshots),
``models/clusters.json`` and a copy of the segments under ``data/history/<as_of>/`` for the
next run's migration.

With ``engine: spark`` the assignment runs on Spark (:mod:`segmentation.spark_assign`);
the fit, the migration lookups and the counts stay on the driver.

Scale (``scale`` in params.yaml, :mod:`kequn.chunks`): cut-offs and RFM bins are computed
exactly by DuckDB over the Parquet files (memory limit ``KEQUN_SEGMENT_MEMORY_LIMIT``,
spilling to a temporary folder beside the output); the clusters are fitted on a seeded
sample of ``scale.fit_customers`` customers; everything else reads ``scale.chunk_customers``
rows at a time. Memory: a chunk, the cluster-fit sample and the fitted parameters.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from features.signals import aum_trend
from kequn import catalogue
from kequn.chunks import (
    ChunkedParquetWriter,
    count_rows,
    iter_chunks,
    sample_customer_ids,
)
from kequn.context import read_context
from kequn.errors import UserError
from kequn.io import atomic_path, read_json, write_csv, write_json
from kequn.log import get_logger, progress, timed
from kequn.settings import settings_from
from kequn.sql_text import parquet_source
from segmentation.clusters import previous_model_or_none
from segmentation.migration import latest_previous_run, write_review_baseline
from segmentation.population import connect
from segmentation.segment import (
    SEGMENT_COLUMNS,
    Baseline,
    Population,
    assign_chunks,
    fit_population,
)
from segmentation.value_tiers import check_tier_shares

TRANSACTIONS = catalogue.TRANSACTIONS.path
CUSTOMERS = catalogue.CUSTOMERS.path
LTV = catalogue.LTV.path
CHURN = catalogue.CHURN.path
SEGMENTS = catalogue.SEGMENTS.path
HISTORY = Path("data/history")
MODEL = catalogue.CLUSTER_MODEL.path
BALANCES = catalogue.BALANCES.path
AUM_TREND = catalogue.BY_NAME["aum_trend"].path
METRICS = catalogue.SEGMENT_METRICS.path
PARETO = catalogue.SEGMENT_PLOTS[0].path
PROFILES = catalogue.SEGMENT_PLOTS[1].path

#: joined file -> the column it adds to the customers
JOINED = {LTV: "clv", CHURN: "churn_probability"}

log = get_logger("segment")


def _columns(path: Path) -> list[str]:
    if not path.exists():
        raise UserError(f"{path}: not found (run the earlier stages first: dvc repro)")
    try:
        return list(pq.read_schema(path).names)
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read ({exc})") from None


def fixed_chunks(frames: Iterator[pd.DataFrame], rows: int) -> Iterator[pd.DataFrame]:
    """Re-cut ``frames`` into chunks of exactly ``rows`` rows (the last may be shorter), so
    that files with different row groups line up chunk for chunk."""
    buffer: list[pd.DataFrame] = []
    held = 0
    for frame in frames:
        buffer.append(frame)
        held += len(frame)
        while held >= rows:
            joined = pd.concat(buffer, ignore_index=True) if len(buffer) > 1 else buffer[0]
            yield joined.iloc[:rows].reset_index(drop=True)
            rest = joined.iloc[rows:]
            buffer, held = ([rest] if len(rest) else []), len(rest)
    if held:
        yield pd.concat(buffer, ignore_index=True)


def joined_chunks(
    columns: list[str], chunk_rows: int, joined: dict[Path, str] | None = None
) -> Iterator[pd.DataFrame]:
    """``columns`` of customers.parquet with clv / churn_probability from the joined files,
    ``chunk_rows`` rows at a time. The files must list the same customer_id in the same
    order; the first chunk where they do not -> :class:`UserError` naming the file."""
    joined = JOINED if joined is None else joined
    extra = {path: col for path, col in joined.items() if col in columns}
    own = [c for c in columns if c not in extra.values()]
    readers = {
        path: fixed_chunks(iter_chunks(path, chunk_rows, ["customer_id", col]), chunk_rows)
        for path, col in extra.items()
    }
    start = 0
    for chunk in fixed_chunks(iter_chunks(CUSTOMERS, chunk_rows, own), chunk_rows):
        for path, col in extra.items():
            part = next(readers[path], None)
            ids = chunk["customer_id"].to_numpy()
            if (
                part is None
                or len(part) != len(chunk)
                or (part["customer_id"].to_numpy() != ids).any()
            ):
                raise UserError(
                    f"{path}: customer_id does not match {CUSTOMERS} row for row in rows "
                    f"{start + 1}-{start + len(chunk)} (rerun the stage that writes it)"
                )
            chunk[col] = part[col].to_numpy()
        start += len(chunk)
        yield chunk[columns]
    for path in extra:
        if next(readers[path], None) is not None:
            raise UserError(
                f"{path}: more rows than {CUSTOMERS} ({start}); rerun the stage that writes it"
            )


def _empty_segments() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="string") for c in SEGMENT_COLUMNS})


def _spark_assigned(params: dict, model, columns: list[str], n: int) -> Iterator[pd.DataFrame]:
    """The assigned chunks computed on Spark (:mod:`segmentation.spark_assign`)."""
    from segmentation.spark_assign import assigned_chunks

    chunk_rows = settings_from(params).scale.chunk_customers
    chunks = assigned_chunks(model, CUSTOMERS, JOINED, columns, chunk_rows, params)
    return progress(chunks, log, "segment assignment on Spark", total=n, size=len)


def run(params: dict) -> None:
    typed = settings_from(params)
    settings = typed.segmentation.as_dict()  # plain data for the fitting functions
    scale = typed.scale
    seed = typed.seed
    as_of = read_context().as_of
    columns = _columns(CUSTOMERS)
    for path, col in JOINED.items():
        if path.exists():
            if col not in _columns(path) or "customer_id" not in _columns(path):
                raise UserError(f"{path}: missing column customer_id or {col}")
            columns.append(col)
    basis_file = LTV if typed.segmentation.value_basis == "clv" else CUSTOMERS
    previous_model = previous_model_or_none(read_json(MODEL)) if MODEL.exists() else None
    if MODEL.exists() and previous_model is None:
        log.warning("%s is not a usable cluster model; cluster ids start afresh", MODEL)
    n = count_rows(CUSTOMERS)
    SEGMENTS.parent.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix=".segment-", dir=SEGMENTS.parent) as tmp,
        connect(tmp) as con,
    ):
        fit_ids = sample_customer_ids(CUSTOMERS, scale.fit_customers, seed)
        population = Population(
            chunks=lambda cols: progress(
                joined_chunks(cols, scale.chunk_customers),
                log,
                "segment pass over customers",
                total=n,
                size=len,
            ),
            columns=columns,
            n=n,
            con=con,
            customers=parquet_source(CUSTOMERS),
            values=parquet_source(basis_file),
            fit_ids=fit_ids,
        )
        previous = latest_previous_run(HISTORY, as_of)
        with timed(log, "migration baseline"):
            if previous is not None:
                date, path = previous
                baseline = Baseline(parquet_source(path), f"previous run: {path} (as_of {date})")
            else:
                months = typed.segmentation.review_months
                date = (pd.Timestamp(as_of) - pd.DateOffset(months=months)).date()
                target = Path(tmp) / "review_baseline.parquet"
                shares = check_tier_shares(settings["tier_shares"])
                write_review_baseline(con, TRANSACTIONS, date, shares, target)
                baseline = Baseline(
                    parquet_source(target),
                    f"review: tiers as of {date} ({months} months earlier), historic value basis",
                )
        log.info("migration baseline: %s", baseline.description)
        with timed(log, f"fitting on {n} customers (clusters on the fit sample)"):
            model = fit_population(population, settings, seed=seed, previous_model=previous_model)
        log.info("clusters fitted on %d customers", model.n_fit)
        with timed(log, f"assigning {n} customers, {scale.chunk_customers} at a time"):
            assigned = (
                _spark_assigned(params, model, columns, n) if typed.engine == "spark" else None
            )
            with ChunkedParquetWriter(SEGMENTS, empty=_empty_segments()) as writer:
                metrics = assign_chunks(population, model, baseline, writer.write, assigned)
    metrics = {"as_of": as_of.isoformat(), **metrics}
    with atomic_path(HISTORY / as_of.isoformat() / "segments.parquet") as tmp_copy:
        shutil.copyfile(SEGMENTS, tmp_copy)
    write_json(METRICS, metrics)
    write_json(MODEL, model.clusters.to_dict())
    write_csv(PARETO, model.values.pareto.round(6))
    write_csv(PROFILES, model.profile.round(6))
    with timed(log, "AUM trend by value tier"):
        write_csv(AUM_TREND, aum_trend(BALANCES, SEGMENTS, "value_tier", as_of).round(2))
    tiers = metrics["value_tiers"]["tiers"]
    log.info(
        "tiers %s; %.1f%% of customers make 80%% of value; k=%d",
        {t: v["customers"] for t, v in tiers.items()},
        100 * (metrics["concentration"]["customer_share_for_80pct_value"] or 0),
        metrics["clusters"]["chosen_k"],
    )
