"""In-process profile of the ingest on one extract: the time of each phase and DuckDB's
operator profile of the cleaning query.

Not a test. Reads ``--files`` with ``mappings/sample_transactions.yaml`` (only files and
encoding changed) the way the stage does (:func:`ingest.clean.read_clean_transactions`),
then times, each on its own:

- ``read_extract`` with the row-by-row rules run on the CSV parser's output as it streams
  (per-file ``read_csv`` + classification into one table per file, line scan, the view);
- the duplicate check over the classified rows into the cleaned table;
- the accepted rows sorted and written to Parquet, and the same rows unsorted.

With ``--explain FILE`` the largest file's streamed read + classification, and then the
duplicate check, are run once more under DuckDB's JSON profiler and their operators with
their CPU time are written to ``FILE`` (in plan order). With ``--parts`` the raw fields
are read into a table and the parts of the row rules are run over it on one DuckDB
thread, each timed in process CPU seconds: the 7 role columns copied, trimmed with the
blank set (``trim(x, BLANKS)``), stripped by :func:`ingest.sql.strip` (the same values,
trimming only a text with a blank at an end), with DuckDB's own ``trim(x)`` (a different set),
with ``pyarrow.compute.utf8_trim`` as an Arrow UDF (not used by the stage; checked to
give the same values), the dates, the amounts, and the whole row rules::

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

from ingest import read, sql
from ingest.clean import TRANSACTION_ROLES, cleaning_sql, output_columns, transaction_rows
from ingest.mapping import load_mapping

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


def explain(con: duckdb.DuckDBPyConnection, query: str, out: Path, label: str) -> None:
    """Run ``query`` into a table under the JSON profiler; append its operators to ``out``."""
    profile = Path(tempfile.mkstemp(suffix=".json")[1])
    con.execute("PRAGMA enable_profiling = 'json'")
    con.execute(f"PRAGMA profiling_output = '{profile}'")
    con.execute(f"CREATE OR REPLACE TEMP TABLE profiled AS {query}")
    con.execute("PRAGMA disable_profiling")
    tree = json.loads(profile.read_text("utf-8"))
    roots = tree.get("operator", tree.get("children", []))
    rows = [r for root in roots for r in operators(root)]
    total = sum(r[3] for r in rows)
    lines = [f"{label}: operator CPU time {total:.2f} s (load {os.getloadavg()[0]:.1f})"]
    for depth, name, detail, cpu, card in rows:
        lines.append(f"{'  ' * depth}{name} {cpu:.2f} s, {card:,} rows  {detail}")
    with out.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n\n")
    print(f"{label}: operator CPU time {total:.2f} s -> {out}")
    profile.unlink()


ROLES = ("txn_id", "customer_id", "date", "amount", "product", "channel", "filter_value")


def rule_parts(mapping, tmp: str) -> None:
    """Process CPU seconds of the row rules' parts over a table of the raw fields, on one
    DuckDB thread (best of two)."""
    import resource

    import pyarrow.compute as pc
    from duckdb.sqltypes import VARCHAR

    def cpu() -> float:
        used = resource.getrusage(resource.RUSAGE_SELF)
        return used.ru_utime + used.ru_stime

    con = duckdb.connect(config={"memory_limit": "2GB", "temp_directory": tmp, "threads": 1})
    read.read_extract(mapping, con, TRANSACTION_ROLES)
    con.execute("CREATE TEMP TABLE raw_fields AS SELECT * FROM extract")
    characters = " \t\n\r\u00a0\u3000"  # sql.BLANKS
    con.create_function(
        "arrow_strip",
        lambda values: pc.utf8_trim(values, characters=characters),
        [VARCHAR],
        VARCHAR,
        type="arrow",
        side_effects=False,
    )
    rules = transaction_rows(mapping, mapping.extract_date)("raw_fields", ())
    parts = {
        "7 columns copied": ", ".join(ROLES),
        "7 columns, trim(x, blank set)": ", ".join(f"trim({c}, {sql.BLANKS})" for c in ROLES),
        "7 columns, sql.strip (trim only with a blank at an end)": ", ".join(
            sql.strip(c) for c in ROLES
        ),
        "7 columns, DuckDB's trim(x)": ", ".join(f"trim({c})" for c in ROLES),
        "7 columns, Arrow UDF utf8_trim": ", ".join(f"arrow_strip({c})" for c in ROLES),
        "dates": sql.parse_date("date", mapping.date_format),
        "amounts": sql.parse_number("amount", mapping.thousands, mapping.decimal),
    }
    queries = {label: f"SELECT {e} FROM raw_fields" for label, e in parts.items()}
    queries["whole row rules"] = rules
    for label, query in queries.items():
        spent = []
        for _ in range(2):
            started = cpu()
            con.execute(f"CREATE OR REPLACE TEMP TABLE part AS {query}")
            spent.append(cpu() - started)
        print(f"{label}: {min(spent):.2f} CPU s (load {os.getloadavg()[0]:.1f})", flush=True)
    differ = " OR ".join(f"arrow_strip({c}) IS DISTINCT FROM {sql.strip(c)}" for c in ROLES)
    n = con.execute(f"SELECT count(*) FROM raw_fields WHERE {differ}").fetchone()[0]
    print(f"rows where the Arrow UDF and trim(x, blank set) differ: {n}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", required=True, help="glob of the extract files (absolute)")
    parser.add_argument("--encoding", default="utf-8")
    parser.add_argument("--explain", type=Path, help="write the cleaning query's profile here")
    parser.add_argument("--parts", action="store_true", help="CPU time of the row rules' parts")
    args = parser.parse_args()
    raw = yaml.safe_load((REPO / "mappings/sample_transactions.yaml").read_text("utf-8"))
    raw.update(files=[args.files], encoding=args.encoding)
    with tempfile.TemporaryDirectory(prefix="profile-ingest-") as tmp:
        path = Path(tmp) / "mapping.yaml"
        path.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
        mapping = load_mapping(path, "transactions")
        con = duckdb.connect(config={"memory_limit": "2GB", "temp_directory": tmp})
        print(f"load before {os.getloadavg()}")
        row_sql = transaction_rows(mapping, mapping.extract_date)
        timed(
            "read_extract + row rules (streamed)",
            lambda: read.read_extract(mapping, con, TRANSACTION_ROLES, row_sql=row_sql),
        )
        query = cleaning_sql(mapping, "transactions", "extract", mapping.extract_date, True)
        timed(
            "duplicate check into the cleaned table",
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
            args.explain.write_text("", "utf-8")
            largest = max(read.resolve_files(mapping), key=lambda f: f.stat().st_size)
            layout = read._layout(largest, largest, mapping, mapping.format)
            source = read.parsed_source(0, largest, layout, TRANSACTION_ROLES, "profile_rejects")
            explain(con, row_sql(source, ("all_blank",)), args.explain, f"read + rules, {largest}")
            explain(con, query, args.explain, "duplicate check")
        if args.parts:
            rule_parts(mapping, tmp)


if __name__ == "__main__":
    main()
