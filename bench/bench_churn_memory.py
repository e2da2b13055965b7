"""Benchmark: the churn fit's own memory per sampled customer (GB per million).

Not a test. For each ``--sizes`` value, a child process (this script with ``--child``) runs,
in ``--run-dir`` (a run directory of the churn stage: data/interim/transactions, balances
and events, data/processed/customers, ltv and context, models/transaction_model.json,
params.yaml), what ``python -m kequn churn`` runs before scoring, with the same functions
and the settings of its params.yaml but ``scale.fit_customers`` set to the size:

1. the seeded sample (:func:`kequn.chunks.sample_customer_ids`), its feature rows, ltv rows
   and transactions, read as the stage reads them (:mod:`churn.stage`);
2. ``gc.collect()``, Arrow's unused pool memory and glibc's free heap handed back
   (``malloc_trim``), then the process's RSS (the baseline);
3. :func:`churn.scoring.fit_churn`, while a thread samples the RSS every 0.05 s (psutil).

The child reports the fit's peak RSS above the baseline, its wall and CPU seconds (one
JSON line); the parent fits a least-squares line through (sample size, fit peak) and
writes a Markdown table with the slope in GB per million sampled customers (``--out``).
``PYTHONPATH`` chooses whose ``src`` runs (``--src``: put that directory first).

    PYTHONPATH=$PWD/src .venv/bin/python bench/bench_churn_memory.py \
        --run-dir /work/scratch20k/run1m --sizes 100000 200000 300000 500000
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from measure import machine

GB = 1e9


def _peak_rss_during(work):
    """``(result, peak RSS in bytes while work ran, RSS just before)``, sampled by a thread."""
    import psutil

    process = psutil.Process()
    before = process.memory_info().rss
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = work()
    finally:
        done.set()
        sampler.join()
    peak = max(peak, process.memory_info().rss)
    return result, peak, before


def _release() -> None:
    """Hand freed memory back to the system (Python's, glibc's and Arrow's pools), so the
    baseline is what the fit's inputs hold, not what reading them left free in the heap."""
    import ctypes

    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def child(run_dir: Path, fit_customers: int) -> dict:
    """Read the stage's fit sample of ``fit_customers`` in ``run_dir`` and measure its fit."""
    os.chdir(run_dir)
    from churn import stage
    from churn.scoring import fit_churn
    from kequn.chunks import count_rows, read_scale, sample_customer_ids
    from kequn.config import load_params
    from kequn.context import read_context

    params = load_params("params.yaml")
    params["scale"] = {**params.get("scale", {}), "fit_customers": fit_customers}
    scale = read_scale(params)
    as_of = read_context().as_of
    value_columns = stage._present(stage.VALUE, stage.VALUE_COLUMNS)
    model = stage._load_transaction_model(stage.TRANSACTION_MODEL)
    ids = sample_customer_ids(stage.CUSTOMERS, scale.fit_customers, int(params.get("seed", 0)))
    customers = stage._rows_of(stage.CUSTOMERS, ids, scale.chunk_customers)
    value = stage._rows_of(stage.VALUE, ids, scale.chunk_customers, value_columns)
    transactions = stage._transactions(ids)
    signals = tuple(p if p.exists() else None for p in (stage.BALANCES, stage.EVENTS))
    del ids
    _release()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    fit, peak, before = _peak_rss_during(
        lambda: fit_churn(transactions, customers, value, as_of, params, model, signals)
    )
    return {
        "fit_customers": int(len(customers)),
        "customers": int(count_rows(stage.CUSTOMERS)),
        "transactions": int(len(transactions)),
        "chosen": fit.chosen,
        "rss_before_gb": before / GB,
        "fit_peak_above_gb": (peak - before) / GB,
        "wall_s": time.perf_counter() - wall0,
        "cpu_s": time.process_time() - cpu0,
    }


def _run_child(run_dir: Path, size: int, src: str | None) -> dict:
    env = dict(os.environ, PYTHONHASHSEED="0")
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    command = [sys.executable, __file__, "--child", "--run-dir", str(run_dir), "--fit", str(size)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"child for {size} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows: list[dict], src: str) -> str:
    """Markdown: one row per size, then the fitted line (GB per million sampled customers)."""
    n = np.array([r["fit_customers"] for r in rows], float) / 1e6
    peak = np.array([r["fit_peak_above_gb"] for r in rows], float)
    slope, intercept = np.polyfit(n, peak, 1) if len(rows) > 1 else (float("nan"), 0.0)
    lines = [
        f"src: `{src}`; {machine()}; load {os.getloadavg()[0]:.2f} at the end",
        "",
        "| fit sample | transactions | RSS before fit (GB) | fit peak above it (GB) "
        "| wall (s) | CPU (s) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['fit_customers']} | {r['transactions']} | {r['rss_before_gb']:.2f} "
            f"| {r['fit_peak_above_gb']:.2f} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} |"
        )
    lines += [
        "",
        f"Least-squares line: fit peak = {intercept:.2f} GB + {slope:.2f} GB per million "
        "sampled customers.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 200_000, 300_000])
    parser.add_argument("--src", default=None, help="a src directory to put first on the path")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fit", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    run_dir = args.run_dir.resolve()
    if args.child:
        print(json.dumps(child(run_dir, args.fit)))
        return
    rows = []
    for size in args.sizes:
        rows.append(_run_child(run_dir, size, args.src))
        print(json.dumps(rows[-1]), flush=True)
    text = table(rows, args.src or os.environ.get("PYTHONPATH", ""))
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
