"""Benchmark: CSV -> ingest -> features, Parquet -> features (DuckDB), Parquet -> pandas reference.

Not a test. Generates (once; cached under ``--workdir``) about ``--rows`` million synthetic
transactions for about ``--rows / 10`` million customers as UTF-8 CSV, with a client
master, using :func:`bench_engines.generate` (acquisition from 2025-06-01: about 10 rows per
customer). Then, in one invocation, runs each case in a child process:

- ``a``: the ingest stage (CSV + client master -> transactions.parquet, clients.parquet)
  followed by the features stage entry point (-> customers.parquet), as ``dvc repro`` runs
  them;
- ``b``: :func:`features.duckdb_engine.write_customer_features` (what the stage runs) on
  the Parquet written by ``a``: DuckDB reads the files, joins the client master and writes
  customers.parquet;
- ``c``: the same from pandas: ``pd.read_parquet`` (the five columns the features use,
  as DuckDB reads only those) + :func:`features.reference.customer_features_pandas`,
  client master joined, customers.parquet written.

For each case: wall time, CPU time (user + system of the child and every thread and
descendant, from ``os.wait4``), peak resident memory of the child's process tree (psutil,
sampled every 0.1 s) and the 1-minute load average before and after. On a shared machine
compare rows of the same run, and prefer CPU time. ``b`` and ``c`` are checked to give the
same table. Example::

    .venv/bin/python bench/bench_features.py --rows 10 --out bench/results/features.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engines import generate  # noqa: E402
from measure import machine, run_measured  # noqa: E402

AS_OF = dt.date(2025, 12, 31)
START = "2025-06-01"
ROWS_PER_CUSTOMER = 10.0
CASES = {
    "a": "CSV -> ingest -> features (DuckDB)",
    "b": "Parquet -> features (DuckDB)",
    "c": "Parquet -> features (pandas reference)",
}


def write_mappings(data_dir: Path, workdir: Path) -> None:
    """Mappings of the generated files (canonical column names, UTF-8, ISO dates)."""
    transactions = {
        "files": [str(data_dir / "part_*.csv")],
        "format": "csv",
        "encoding": "utf-8",
        "header": True,
        "columns": {name: name for name in ("customer_id", "date", "amount", "product", "channel")}
        | {"txn_id": "txn_id"},
        "date_format": "%Y-%m-%d",
        "filter": {"column": "status", "keep": ["正常"]},
        "extract_date": AS_OF.isoformat(),
    }
    clients = {
        "files": [str(data_dir / "clients_*.csv")],
        "format": "csv",
        "encoding": "utf-8",
        "header": True,
        "columns": {
            name: name
            for name in (
                "customer_id",
                "client_type",
                "industry",
                "region",
                "open_date",
                "asset_balance",
            )
        },
        "date_format": "%Y-%m-%d",
    }
    for name, mapping in (("mapping.yaml", transactions), ("clients.yaml", clients)):
        (workdir / name).write_text(yaml.safe_dump(mapping, allow_unicode=True), "utf-8")


def params(workdir: Path) -> dict:
    return {
        "as_of": AS_OF.isoformat(),
        "engine": "duckdb",
        "ingest": {
            "mapping": str(workdir / "mapping.yaml"),
            "clients_mapping": str(workdir / "clients.yaml"),
            "max_reject_rate": 1,
        },
        "features": {"time_unit_days": 7, "trend_window_days": 90},
    }


def run_case(case: str, workdir: Path) -> dict:
    """Child process: run ``case`` in ``workdir/<case>``; phase timings (wall and CPU)."""
    run_dir = workdir / case
    interim = workdir / "a" / "data" / "interim"
    run_dir.mkdir(parents=True, exist_ok=True)
    os.chdir(run_dir)
    timings: dict = {}

    def phase(name: str, started: tuple[float, float]) -> None:
        timings[f"{name}_s"] = time.perf_counter() - started[0]
        timings[f"{name}_cpu_s"] = time.process_time() - started[1]

    def now() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    if case == "a":
        from features import stage as features_stage
        from ingest import stage as ingest_stage

        t = now()
        ingest_stage.run(params(workdir))
        phase("ingest", t)
        t = now()
        features_stage.run(params(workdir))
        phase("features", t)
        rows = json.loads(Path("reports/metrics/ingest.json").read_text("utf-8"))["rows_accepted"]
        timings["rows"] = rows
    elif case == "b":
        from features.duckdb_engine import write_customer_features

        t = now()
        written = write_customer_features(
            "data/processed/customers.parquet",
            interim / "transactions.parquet",
            AS_OF,
            unit_days=7,
            trend_window_days=90,
            clients=interim / "clients.parquet",
        )
        phase("features", t)
        timings["customers"] = written["customers"]
        return timings
    else:
        import pandas as pd

        from features.reference import customer_features_pandas

        t = now()
        columns = ["customer_id", "date", "amount", "product", "channel"]  # what it uses
        transactions = pd.read_parquet(interim / "transactions.parquet", columns=columns)
        clients = pd.read_parquet(interim / "clients.parquet")
        phase("read", t)
        t = now()
        customers = customer_features_pandas(
            transactions, AS_OF, unit_days=7, trend_window_days=90, clients=clients
        )
        from kequn.io import write_parquet

        write_parquet("data/processed/customers.parquet", customers)
        phase("features", t)
    import pyarrow.parquet as pq

    timings["customers"] = pq.read_metadata("data/processed/customers.parquet").num_rows
    return timings


def measure(case: str, workdir: Path) -> dict:
    """Run :func:`run_case` in a child: wall, CPU (user + sys, ``wait4``) and peak RSS."""
    shutil.rmtree(workdir / case / "data" / "processed", ignore_errors=True)
    result_file = workdir / f"{case}.json"
    result_file.unlink(missing_ok=True)
    command = [sys.executable, __file__, "--run-case", case, "--workdir", str(workdir)]
    run = run_measured(command, interval=0.1)
    if run.returncode != 0:
        raise SystemExit(f"case {case} failed with exit code {run.returncode}")
    result = json.loads(result_file.read_text("utf-8"))
    result.update(
        case=case,
        wall_s=run.wall_s,
        cpu_s=run.cpu_s,
        peak_rss_gb=run.peak_rss_gb,
        load_before=run.load_before,
        load_after=run.load_after,
    )
    return result


def same_tables(workdir: Path) -> str:
    """Do ``b`` (DuckDB) and ``c`` (pandas) give the same customers.parquet?"""
    import pandas as pd

    b = pd.read_parquet(workdir / "b/data/processed/customers.parquet")
    c = pd.read_parquet(workdir / "c/data/processed/customers.parquet")
    try:
        pd.testing.assert_frame_equal(b, c, check_exact=False, rtol=1e-9, atol=1e-9)
    except AssertionError as exc:
        return f"no ({str(exc).splitlines()[0]})"
    return "yes"


def table(results: list[dict], rows: int, customers: int, note: str) -> str:
    header = (
        "| case | wall s | CPU s | features wall s | features CPU s | peak RSS GB "
        "| load 1-min before / after |\n| --- | ---: | ---: | ---: | ---: | ---: | --- |"
    )
    lines = [
        f"| {r['case']}: {CASES[r['case']]} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} "
        f"| {r['features_s']:.1f} | {r['features_cpu_s']:.1f} | {r['peak_rss_gb']:.2f} "
        f"| {r['load_before']:.2f} / {r['load_after']:.2f} |"
        for r in results
    ]
    by_case = {r["case"]: r for r in results}
    ratio = ""
    if "b" in by_case and "c" in by_case:
        b, c = by_case["b"], by_case["c"]
        ratio = (
            f"\npandas / DuckDB (c / b): {c['wall_s'] / b['wall_s']:.1f}x wall, "
            f"{c['cpu_s'] / b['cpu_s']:.1f}x CPU. {note}\n"
        )
    stamp = f"{dt.datetime.now():%Y-%m-%d %H:%M}"
    return (
        f"\n### Run {stamp}: {rows:,} transactions, {customers:,} customers\n\n"
        f"Machine: {machine()}.\n\n{header}\n" + "\n".join(lines) + "\n" + ratio
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=10, help="millions of rows")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/kequn-bench-features"))
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--out", type=Path, help="append the Markdown table to this file")
    parser.add_argument("--run-case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_case:  # in the child, --workdir is the size's directory
        result = run_case(args.run_case, args.workdir)
        (args.workdir / f"{args.run_case}.json").write_text(json.dumps(result), "utf-8")
        return 0
    base = args.workdir / f"{args.rows:g}M"

    data = base / "data"
    if not (data / ".complete").exists():
        shutil.rmtree(data, ignore_errors=True)
        t = time.perf_counter()
        rows, chunks = generate(
            args.rows, data, start=START, rows_per_customer=ROWS_PER_CUSTOMER, clients=True
        )
        (data / ".complete").write_text(f"{rows}\n", "utf-8")
        print(f"generated {rows:,} rows in {chunks} files in {time.perf_counter() - t:.0f} s")
    write_mappings(data, base)
    if "a" not in args.cases and not (base / "a/data/interim/transactions.parquet").exists():
        raise SystemExit("cases b and c read the Parquet written by case a: run a first")
    results = []
    for case in args.cases:
        result = measure(case, base)
        print(json.dumps(result), flush=True)
        results.append(result)
    customers = max(r["customers"] for r in results)
    ingest = base / "a/reports/metrics/ingest.json"
    rows = json.loads(ingest.read_text("utf-8"))["rows_accepted"]
    note = ""
    if {"b", "c"} <= set(args.cases):
        note = f"Same table from b and c: {same_tables(base)}."
    text = table(results, rows, customers, note)
    print(text)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as handle:
            handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
