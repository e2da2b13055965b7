"""Benchmark: the ltv stage on millions of customers, chunked vs all in one chunk.

Not a test. For each N it builds, in a scratch directory, what the ltv stage reads:

- ``data/interim/transactions.parquet``: transactions of N customers drawn from the BG/NBD
  story (Fader, Hardie & Lee 2005) at daily resolution: first purchase on a uniform day of
  a 2-year acquisition window, rate lambda ~ Gamma(r, alpha) per week, Poisson arrivals, the
  customer leaves after the k-th repeat with k ~ Geometric(p), p ~ Beta(a, b); the repeats
  seen by the end are the first min(k, n) of the n arrivals in (birth, end] (their last one
  at T Beta(x, n - x + 1), the earlier x - 1 uniform before it); spend per transaction
  ~ Gamma(shape 4, mean m_i), m_i lognormal. Built in blocks of customers, sorted by
  customer_id and date as ingest writes it.
- ``data/processed/customers.parquet``: the features stage's own ``customer_features`` on it.

Then it runs ``python -m kequn ltv`` in a child process (``measure.run_measured``) with
``scale.fit_customers`` (the backtest / gbm sample) fixed and ``scale.chunk_customers`` =
250,000 and = N (one chunk), and records wall time and the child's peak RSS:

    .venv/bin/python bench/bench_ltv_scale.py --millions 2 5

Prints a Markdown table (paste it into bench/results/ltv_scale.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from features import customer_features
from measure import run_measured

REPO = Path(__file__).resolve().parents[1]
START = dt.date(2023, 1, 1)
AS_OF = dt.date(2025, 12, 31)
ACQUISITION_DAYS = 730
BGNBD = {"r": 0.6, "alpha": 4.0, "a": 0.8, "b": 4.0}
BLOCK = 500_000


def simulate_block(first_id: int, n: int, rng: np.random.Generator) -> pa.Table:
    """Transactions of customers first_id .. first_id + n - 1 (see the module docstring)."""
    span = (AS_OF - START).days
    birth = rng.integers(0, ACQUISITION_DAYS, n)
    t_days = span - birth
    lam = rng.gamma(BGNBD["r"], 1.0 / BGNBD["alpha"], n)
    k = rng.geometric(rng.beta(BGNBD["a"], BGNBD["b"], n))
    arrivals = rng.poisson(lam * t_days / 7)
    x = np.minimum(arrivals, k)
    last = np.where(x > 0, t_days * rng.beta(np.maximum(x, 1), arrivals - x + 1), 0.0)
    owner = np.repeat(np.arange(n), x)
    starts = np.repeat(np.cumsum(x) - x, x)
    is_last = (np.arange(len(owner)) - starts) == x[owner] - 1
    share = np.where(is_last, 1.0, rng.uniform(size=len(owner)))
    repeat_day = birth[owner] + np.maximum(np.ceil(share * last[owner]), 1).astype(np.int64)
    customer = np.concatenate([np.arange(n), owner])
    day = np.minimum(np.concatenate([birth, repeat_day]), span)
    order = np.lexsort((day, customer))
    customer, day = customer[order], day[order]
    mean_spend = rng.lognormal(3.0, 0.5, n)
    amount = np.round(rng.gamma(4.0, mean_spend[customer] / 4.0), 2)
    ids = pc.utf8_lpad(pa.array(customer + first_id).cast(pa.string()), 9, "0")
    ids = pc.binary_join_element_wise(pa.scalar("C"), ids, "")
    dates = pa.array(np.datetime64(START) + day.astype("timedelta64[D]")).cast(pa.date32())
    return pa.table({"customer_id": ids, "date": dates, "amount": pa.array(amount)})


def build_inputs(workdir: Path, n_customers: int, seed: int) -> dict:
    """transactions.parquet and customers.parquet of ``n_customers`` in ``workdir``."""
    rng = np.random.default_rng(seed)
    tx_path = workdir / "data/interim/transactions.parquet"
    tx_path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    writer = None
    for first in range(0, n_customers, BLOCK):
        table = simulate_block(first, min(BLOCK, n_customers - first), rng)
        writer = writer or pq.ParquetWriter(tx_path, table.schema)
        writer.write_table(table)
        rows += table.num_rows
    writer.close()
    customers = customer_features(tx_path, AS_OF, unit_days=7, trend_window_days=90)
    out = workdir / "data/processed/customers.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    customers.to_parquet(out, index=False)
    return {"transactions": rows, "customers": len(customers), "columns": customers.shape[1]}


def write_params(workdir: Path, chunk: int, fit: int) -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["as_of"] = AS_OF.isoformat()
    params["scale"] = {"chunk_customers": chunk, "fit_customers": fit}
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True))


def run_stage(workdir: Path) -> dict:
    """Wall time and peak RSS of ``python -m kequn ltv`` in a child process."""
    run = run_measured(
        [sys.executable, "-m", "kequn", "ltv", "--params", "params.yaml"],
        cwd=workdir,
        capture=True,
        merge_stderr=True,
    )
    if run.returncode != 0:
        raise SystemExit(f"ltv failed in {workdir}:\n{run.output[-3000:]}")
    model = re.search(r"scored with (\w+)", run.output)
    return {
        "wall_s": run.wall_s,
        "peak_rss_mb": run.peak_rss_gb * 1e9 / 2**20,
        "load_before": run.load_before,
        "model": model.group(1) if model else "?",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--millions", type=float, nargs="+", default=[2.0])
    parser.add_argument("--chunk", type=int, default=250_000)
    parser.add_argument("--fit", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_ltv_scale"))
    args = parser.parse_args()
    print(f"CPU cores: {os.cpu_count()}, load average at start: {os.getloadavg()}")
    print()
    print(
        "| customers | transactions | chunk_customers | fit_customers | model | wall s "
        "| peak RSS MB | load avg (1 min) before |"
    )
    print("| ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    for millions in args.millions:
        n = int(millions * 1_000_000)
        workdir = args.workdir / f"n{n}"
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        built = build_inputs(workdir, n, seed=20261123)
        for chunk in (args.chunk, n):
            write_params(workdir, chunk, args.fit)
            got = run_stage(workdir)
            print(
                f"| {built['customers']:,} | {built['transactions']:,} | {chunk:,} | "
                f"{args.fit:,} | {got['model']} | {got['wall_s']:.1f} | "
                f"{got['peak_rss_mb']:.0f} | {got['load_before']:.2f} |",
                flush=True,
            )
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
