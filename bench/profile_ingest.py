"""In-process profile of the ingest on one extract: the time of each phase and DuckDB's
operator profile of the cleaning query.

Not a test. Reads ``--files`` with ``mappings/sample_transactions.yaml`` (only files and
encoding changed) the way the stage does, then times, each on its own:

- ``read_extract`` (line scan, per-file ``read_csv``, the view over them);
- the ``extract`` view materialised into a table (what the cleaning query scans);
- the cleaning query into a table (as :func:`ingest.clean.clean_transactions` runs it);
- the accepted rows sorted and written to Parquet, and the same rows unsorted.

With ``--explain FILE`` the cleaning query is run once more under DuckDB's JSON profiler
and the operators with their CPU time are written to ``FILE`` (largest first)::

    .venv/bin/python bench/profile_ingest.py --files "/tmp/big-utf8/*.csv" \\
        --encoding utf-8 --explain /tmp/clean-profile.txt
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import duckdb
import yaml

from ingest import sql
from ingest.clean import TRANSACTION_ROLES, cleaning_sql, output_columns
from ingest.mapping import load_mapping
from ingest.read import read_extract

REPO = Path(__file__).resolve().parents[1]


def timed(label: str, run) -> float:
    started = time.perf_counter()
    run()
    took = time.perf_counter() - started
    print(f"{label}: {took:.2f} s (load {os.getloadavg()[0]:.1f})", flush=True)
    return took


def operators(node: dict, depth: int = 0):
    """(depth, name, extra info, CPU s, rows) of every operator of a JSON profile."""
    name = node.get("type") or node.get("operator_type") or ""
    info = node.get("extra_info") or {}
    detail = "; ".join(f"{k}={str(v)[:160]}" for k, v in info.items()) if info else ""
    cpu = node.get("timing", node.get("operator_timing", 0.0))
    rows = node.get("intermediate_rows", node.get("operator_cardinality", 0))
    yield depth, name.strip(), detail, cpu, rows
    for child in node.get("children", []):
        yield from operators(child, depth + 1)


def explain(con: duckdb.DuckDBPyConnection, query: str, out: Path) -> None:
    """Run ``query`` into a table under the JSON profiler; write its operators to ``out``."""
    profile = Path(tempfile.mkstemp(suffix=".json")[1])
    con.execute("PRAGMA enable_profiling = 'json'")
    con.execute(f"PRAGMA profiling_output = '{profile}'")
    con.execute(f"CREATE OR REPLACE TEMP TABLE profiled AS {query}")
    con.execute("PRAGMA disable_profiling")
    tree = json.loads(profile.read_text("utf-8"))
    roots = tree.get("operator", tree.get("children", []))
    rows = [r for root in roots for r in operators(root)]
    total = sum(r[3] for r in rows)
    lines = [f"operator CPU time {total:.2f} s (load {os.getloadavg()[0]:.1f})"]
    for depth, name, detail, cpu, card in rows:
        lines.append(f"{'  ' * depth}{name} {cpu:.2f} s, {card:,} rows  {detail}")
    out.write_text("\n".join(lines) + "\n", "utf-8")
    print(f"cleaning query operator CPU time {total:.2f} s -> {out}")
    profile.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", required=True, help="glob of the extract files (absolute)")
    parser.add_argument("--encoding", default="utf-8")
    parser.add_argument("--explain", type=Path, help="write the cleaning query's profile here")
    args = parser.parse_args()
    raw = yaml.safe_load((REPO / "mappings/sample_transactions.yaml").read_text("utf-8"))
    raw.update(files=[args.files], encoding=args.encoding)
    with tempfile.TemporaryDirectory(prefix="profile-ingest-") as tmp:
        path = Path(tmp) / "mapping.yaml"
        path.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
        mapping = load_mapping(path, "transactions")
        con = duckdb.connect(config={"memory_limit": "2GB", "temp_directory": tmp})
        print(f"load before {os.getloadavg()}")
        timed("read_extract", lambda: read_extract(mapping, con, TRANSACTION_ROLES))
        timed(
            "extract view materialised",
            lambda: con.execute("CREATE TEMP TABLE extract_t AS SELECT * FROM extract"),
        )
        query = cleaning_sql(mapping, "transactions", "extract_t", mapping.extract_date)
        timed(
            "cleaning query into a table",
            lambda: con.execute(f"CREATE TEMP TABLE cleaned AS {query}"),
        )
        accepted = sql.accepted_sql("cleaned", output_columns(mapping, "transactions"))
        unsorted = accepted.split(" ORDER BY ")[0]
        for label, q in (("sorted", accepted), ("unsorted", unsorted)):
            target = Path(tmp) / f"{label}.parquet"
            timed(
                f"accepted rows {label} to Parquet",
                lambda q=q, target=target: con.execute(
                    f"COPY ({q}) TO '{target}' (FORMAT parquet)"
                ),
            )
        if args.explain:
            explain(con, query, args.explain)


if __name__ == "__main__":
    main()
