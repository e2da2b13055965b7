"""Benchmark: the ``segment`` stage (``python -m kequn segment``) on 1 million customers.

Not a test. Writes, in a temporary folder, ``customers.parquet``, ``ltv.parquet`` and
``churn.parquet`` for ``--customers`` synthetic customers
(:func:`segmentation.synthetic.synthetic_customers`: four behavioural groups), a previous
run's ``data/history/<date>/segments.parquet`` (the migration baseline) and a one-row
``transactions.parquet`` (the stage reads only its last date there). Then runs the stage as a
subprocess (``measure.run_measured``) for each ``--chunks`` value (``scale.chunk_customers``),
with the ``segmentation`` section of params.yaml and ``scale.fit_customers`` from
``--fit``, and reports wall time, CPU time and peak RSS with the load average.

    .venv/bin/python bench/bench_segmentation.py [--customers 1000000]
        [--chunks 250000 1000000] [--fit 2000000 200000]

Prints a Markdown table (append it to bench/results/segmentation.md). Goal: 1M customers
within 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from measure import machine, run_measured
from segmentation.synthetic import synthetic_customers

REPO = Path(__file__).resolve().parents[1]


def write_inputs(workdir: Path, n: int) -> None:
    frame = synthetic_customers(n, seed=1)
    processed = workdir / "data/processed"
    processed.mkdir(parents=True)
    frame.drop(columns=["clv", "churn_probability", "true_group"]).to_parquet(
        processed / "customers.parquet", index=False
    )
    frame[["customer_id", "clv"]].to_parquet(processed / "ltv.parquet", index=False)
    frame[["customer_id", "churn_probability"]].to_parquet(processed / "churn.parquet", index=False)
    history = workdir / "data/history/2025-09-30"
    history.mkdir(parents=True)
    rng = np.random.default_rng(2)
    keep = np.sort(rng.choice(n, size=int(0.9 * n), replace=False))  # 10 % are new
    pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy()[keep].astype(object),
            "value_tier": rng.choice(
                ["strategic", "value", "basic"], len(keep), p=[0.02, 0.1, 0.88]
            ),
        }
    ).to_parquet(history / "segments.parquet", index=False)
    interim = workdir / "data/interim"
    interim.mkdir(parents=True)
    pd.DataFrame(
        {"customer_id": ["C0000000"], "date": [pd.Timestamp("2025-12-31").date()], "amount": [1.0]}
    ).to_parquet(interim / "transactions.parquet", index=False)


def run_stage(workdir: Path, params: dict) -> dict:
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True))
    for stale in ["models/clusters.json", "data/history/2025-12-31/segments.parquet"]:
        (workdir / stale).unlink(missing_ok=True)
    run = run_measured(
        [sys.executable, "-m", "kequn", "segment"], cwd=workdir, capture=True, merge_stderr=True
    )
    if run.returncode != 0:
        raise SystemExit(run.output[-3000:])
    return {
        "wall": run.wall_s,
        "cpu": run.cpu_s,
        "rss_mb": run.peak_rss_gb * 1e9 / 2**20,
        "load": run.load_before,
        "fit_log": re.search(r"clusters fitted on (\d+) customers", run.output).group(1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--chunks", type=int, nargs="+", default=[250_000, 1_000_000])
    parser.add_argument("--fit", type=int, nargs="+", default=[2_000_000])
    parser.add_argument("--params", default=str(REPO / "params.yaml"))
    args = parser.parse_args()
    params = yaml.safe_load(Path(args.params).read_text(encoding="utf-8"))
    params["as_of"] = "2025-12-31"
    with tempfile.TemporaryDirectory(prefix="bench-segment-") as tmp:
        workdir = Path(tmp)
        start = time.perf_counter()
        write_inputs(workdir, args.customers)
        build = time.perf_counter() - start
        print(
            f"machine: {machine()}; {args.customers:,} customers; inputs written in {build:.1f} s"
        )
        print()
        print(
            "| chunk_customers | fit_customers | clusters fitted on | wall | user+sys CPU "
            "| peak RSS | load avg (1 min) before |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for fit in args.fit:
            for chunk in args.chunks:
                params["scale"] = {"chunk_customers": chunk, "fit_customers": fit}
                r = run_stage(workdir, params)
                print(
                    f"| {chunk:,} | {fit:,} | {int(r['fit_log']):,} | {r['wall']:.1f} s "
                    f"| {r['cpu']:.1f} s | {r['rss_mb']:.0f} MB | {r['load']:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
