"""Benchmark: ingest + features on DuckDB and on Spark local mode (wall time, peak memory).

Not a test. Generates synthetic transactions with :mod:`synthetic.bank` (UTF-8 CSV,
canonical columns, ISO dates; reversal rows included, so the 正常 filter has work), in
chunks of customers with different seeds -- customer ids and serial numbers get a chunk
prefix, so chunks never collide -- one CSV file per chunk. Then, for each engine, runs
ingest (mapping -> transactions.parquet, rejects.csv, metrics) and features (customers
.parquet as of the extract date) in a child process, and samples the resident memory of
the child and all its descendants (the JVM for Spark) every 0.2 s. Both engines run in the
same invocation, one after the other, and the machine's load average is recorded with
each row: on a shared machine, compare rows of the same run. Example::

    .venv/bin/python bench/bench_engines.py --rows 10 --workdir /tmp/kequn-bench
    .venv/bin/python bench/bench_engines.py --rows 10 50 --out bench/results/engines.md

``--rows`` is in millions (approximate: customers are sized from a 10M-row pilot ratio).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import yaml

from measure import run_measured

REPO = Path(__file__).resolve().parents[1]
#: synthetic rows per customer over 2023-01-01..2025-12-31 (400,000 customers ~ 10M rows)
ROWS_PER_CUSTOMER = 25.0
#: customers per generated chunk (memory of the generator: ~4 GB per 10M rows)
CHUNK_CUSTOMERS = 400_000


def generate(
    rows_millions: float,
    out_dir: Path,
    seed: int = 20261123,
    *,
    start: str = "2023-01-01",
    rows_per_customer: float = ROWS_PER_CUSTOMER,
    clients: bool = False,
) -> tuple[int, int]:
    """UTF-8 CSV chunks ``part_<k>.csv`` with about ``rows_millions`` million rows.

    ``start``: first acquisition date (a later start means fewer rows per customer; pass
    the matching ``rows_per_customer`` -- 2025-06-01 gives about 10). ``clients``: also
    write each chunk's client master as ``clients_<k>.csv`` (canonical columns, ISO dates).
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    from synthetic.bank import TRANSACTION_COLUMNS
    from synthetic.bank import generate as synthesize

    out_dir.mkdir(parents=True, exist_ok=True)
    customers = int(rows_millions * 1e6 / rows_per_customer)
    rows, chunk = 0, 0
    while customers > 0:
        n = min(customers, CHUNK_CUSTOMERS)
        extract = synthesize(n, start, "2025-12-31", seed + chunk)
        frame = extract.transactions[TRANSACTION_COLUMNS].copy()
        prefix = f"{chunk + 1:02d}"
        frame["customer_id"] = prefix + frame["customer_id"].astype(str)
        frame["txn_id"] = prefix + frame["txn_id"].astype(str)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.set_column(
            table.schema.get_field_index("date"), "date", table["date"].cast(pa.date32())
        )
        # quotes only where needed, as bank exports usually are (pyarrow's default quotes
        # every string, which sends every line through the quote-aware regex split)
        options = pcsv.WriteOptions(quoting_style="needed")
        pcsv.write_csv(table, out_dir / f"part_{chunk:03d}.csv", write_options=options)
        if clients:
            master = extract.clients.copy()
            master["customer_id"] = prefix + master["customer_id"].astype(str)
            master_table = pa.Table.from_pandas(master, preserve_index=False)
            index = master_table.schema.get_field_index("open_date")
            master_table = master_table.set_column(
                index, "open_date", master_table["open_date"].cast(pa.date32())
            )
            pcsv.write_csv(master_table, out_dir / f"clients_{chunk:03d}.csv", options)
        rows += table.num_rows
        customers -= n
        chunk += 1
        del extract, frame, table
    return rows, chunk


def write_inputs(data_dir: Path, workdir: Path) -> None:
    mapping = {
        "files": [str(data_dir / "part_*.csv")],
        "format": "csv",
        "encoding": "utf-8",
        "header": True,
        "columns": {
            "customer_id": "customer_id",
            "date": "date",
            "amount": "amount",
            "product": "product",
            "channel": "channel",
            "txn_id": "txn_id",
        },
        "date_format": "%Y-%m-%d",
        "filter": {"column": "status", "keep": ["正常"]},
        "extract_date": "2025-12-31",
    }
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "mapping.yaml").write_text(yaml.safe_dump(mapping, allow_unicode=True), "utf-8")


def run_one(engine: str, workdir: Path, driver_memory: str) -> dict:
    """Child process: ingest + features with ``engine`` in ``workdir``; phase timings."""
    mapping_path = (workdir / "mapping.yaml").resolve()
    run_dir = workdir / engine
    run_dir.mkdir(parents=True, exist_ok=True)
    os.chdir(run_dir)  # outputs land where the stage writes them: data/interim, reports/...
    from features import customer_features
    from ingest.mapping import load_mapping
    from kequn.io import write_parquet

    timings = {}
    started = time.perf_counter()
    as_of = dt.date(2025, 12, 31)
    transactions = Path("data/interim/transactions.parquet")
    if engine == "duckdb":
        from ingest import stage

        t = time.perf_counter()
        params = {"mapping": str(mapping_path), "clients_mapping": "", "max_reject_rate": 1}
        stage.run({"ingest": params})
        timings["ingest_s"] = time.perf_counter() - t
        t = time.perf_counter()
        customers = customer_features(transactions, as_of)
        write_parquet("data/processed/customers.parquet", customers)
        timings["features_s"] = time.perf_counter() - t
    else:
        from features.spark_engine import customer_features as spark_features
        from ingest.spark_engine import run_ingest
        from kequn.spark import get_session

        t = time.perf_counter()
        spark = get_session({"spark": {"master": "local[2]", "driver_memory": driver_memory}})
        timings["session_s"] = time.perf_counter() - t
        t = time.perf_counter()
        run_ingest(
            load_mapping(mapping_path),
            None,
            1.0,
            spark,
            transactions_path=transactions,
            clients_path="data/interim/clients.parquet",
            rejects_path="data/interim/rejects.csv",
            metrics_path="reports/metrics/ingest.json",
        )
        timings["ingest_s"] = time.perf_counter() - t
        t = time.perf_counter()
        customers = spark_features(transactions, as_of, spark=spark)
        write_parquet("data/processed/customers.parquet", customers)
        timings["features_s"] = time.perf_counter() - t
        spark.stop()
    metrics = json.loads(Path("reports/metrics/ingest.json").read_text("utf-8"))
    timings.update(
        total_s=time.perf_counter() - started,
        rows_read=metrics["rows_read"],
        rows_accepted=metrics["rows_accepted"],
        customers=len(customers),
    )
    return timings


def measure(engine: str, workdir: Path, driver_memory: str) -> dict:
    """Run :func:`run_one` in a child: wall time and peak RSS of its process tree (JVM included;
    not CPU time: PySpark does not wait for its JVM, so the kernel does not count it)."""
    command = [
        sys.executable,
        __file__,
        "--run-one",
        engine,
        "--workdir",
        str(workdir),
        "--driver-memory",
        driver_memory,
    ]
    run = run_measured(command, capture=True)
    if run.returncode != 0:
        raise SystemExit(f"{engine} failed with exit code {run.returncode}")
    result = json.loads(run.output.strip().splitlines()[-1])
    result.update(
        engine=engine,
        wall_s=run.wall_s,
        peak_rss_gb=run.peak_rss_gb,
        load_before=run.load_before,
        load_after=run.load_after,
    )
    return result


def same_outputs(workdir: Path) -> bool:
    """Spark and DuckDB wrote the same transactions and customers (a cheap sanity check)."""
    import pandas as pd

    for name in ("interim/transactions.parquet", "processed/customers.parquet"):
        a = pd.read_parquet(workdir / "duckdb/data" / name)
        b = pd.read_parquet(workdir / "spark/data" / name)
        if a.shape != b.shape or not a["customer_id"].equals(b["customer_id"]):
            return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, nargs="+", default=[10], help="millions of rows")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/kequn-bench"))
    parser.add_argument("--engines", nargs="+", default=["duckdb", "spark"])
    parser.add_argument("--driver-memory", default="6g", help="spark.driver.memory")
    parser.add_argument("--out", type=Path, help="append the Markdown rows to this file")
    parser.add_argument("--keep", action="store_true", help="keep generated data")
    parser.add_argument("--run-one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_one:
        print(json.dumps(run_one(args.run_one, args.workdir, args.driver_memory)))
        return 0

    rows_out = []
    for size in args.rows:
        base = args.workdir / f"{size:g}M"
        data = base / "data"
        if not data.exists():
            t = time.perf_counter()
            rows, chunks = generate(size, data)
            print(f"generated {rows:,} rows in {chunks} files in {time.perf_counter() - t:.0f} s")
        write_inputs(data, base)
        for engine in args.engines:
            shutil.rmtree(base / engine, ignore_errors=True)
            result = measure(engine, base, args.driver_memory)
            print(json.dumps(result), flush=True)
            rows_out.append(result)
        if set(args.engines) == {"duckdb", "spark"}:
            print(f"{size:g}M: same outputs on both engines: {same_outputs(base)}")
        if not args.keep:
            for engine in args.engines:
                shutil.rmtree(base / engine, ignore_errors=True)

    header = (
        "| engine | rows read | customers | ingest s | features s | session s | wall s "
        "| peak RSS GB | load avg before/after |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    )
    lines = [
        f"| {r['engine']} | {r['rows_read']:,} | {r['customers']:,} | {r['ingest_s']:.0f} "
        f"| {r['features_s']:.0f} | {r.get('session_s', 0):.0f} | {r['wall_s']:.0f} "
        f"| {r['peak_rss_gb']:.1f} | {r['load_before']:.1f} / {r['load_after']:.1f} |"
        for r in rows_out
    ]
    stamp = f"{dt.datetime.now():%Y-%m-%d %H:%M}, {platform.node()}, {os.cpu_count()} cores"
    text = f"\nRun {stamp}:\n\n{header}\n" + "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as handle:
            handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
