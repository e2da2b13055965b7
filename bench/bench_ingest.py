"""Benchmark of ``python -m kequn ingest`` on a bank extract (wall time, CPU time, peak RSS).

Not a test. Runs the ingest stage in a fresh working directory on the files matched by
``--files`` (read with ``mappings/sample_transactions.yaml``, only files and encoding
changed), in a child process, and prints one Markdown row. Examples::

    # the bundled sample (GB18030, 36 monthly files, 502,602 rows)
    .venv/bin/python bench/bench_ingest.py --files "$PWD/data/sample/transactions_*.csv"

    # 10 million rows: generate them once (GB18030), optionally a UTF-8 copy
    .venv/bin/python -m synthetic --out /tmp/big --customers 400000
    .venv/bin/python bench/bench_ingest.py --files "/tmp/big/transactions_*.csv"
    .venv/bin/python bench/bench_ingest.py --to-utf8 /tmp/big-utf8 --files "/tmp/big/t*.csv"
    .venv/bin/python bench/bench_ingest.py --files "/tmp/big-utf8/*.csv" --encoding utf-8

CPU time is user + system time of the child (all its threads): on a shared, loaded machine
it is a steadier figure than wall time.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def to_utf8(pattern: str, out_dir: Path) -> None:
    """Transcode every GB18030 file matched by ``pattern`` to UTF-8 in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in sorted(glob.glob(pattern)):
        with open(name, encoding="gb18030", newline="") as src:
            with open(out_dir / Path(name).name, "w", encoding="utf-8", newline="") as dst:
                shutil.copyfileobj(src, dst, 16 * 1024 * 1024)


def run_once(files: str, encoding: str, workdir: Path) -> dict:
    mapping = yaml.safe_load((REPO / "mappings/sample_transactions.yaml").read_text("utf-8"))
    mapping.update(files=[files], encoding=encoding)
    (workdir / "mapping.yaml").write_text(yaml.safe_dump(mapping, allow_unicode=True), "utf-8")
    roots = sorted({str(Path(f).parent) for f in glob.glob(files)})
    params = {
        "ingest": {
            "mapping": "mapping.yaml",
            "clients_mapping": "",
            "max_reject_rate": 1,
            "allowed_roots": roots,  # the extract is outside the benchmark's working directory
        }
    }
    (workdir / "params.yaml").write_text(yaml.safe_dump(params), "utf-8")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "kequn", "ingest"], cwd=workdir, check=True, env=dict(os.environ)
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    metrics = json.loads((workdir / "reports/metrics/ingest.json").read_text("utf-8"))
    return {
        "wall_s": wall,
        "cpu_s": after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime,
        "peak_rss_mb": after.ru_maxrss / 1024,  # the largest child so far (Linux: KiB)
        "rows_read": metrics["rows_read"],
        "rows_accepted": metrics["rows_accepted"],
        "rows_rejected": metrics["rows_rejected"],
        "load": os.getloadavg()[0],
    }


BARE_READ = """
import duckdb, sys
con = duckdb.connect(config={"memory_limit": "2GB"})
con.execute(
    "COPY (SELECT * FROM read_csv(?, header=true, all_varchar=true, encoding=?, "
    "ignore_errors=true)) TO '" + sys.argv[3] + "' (FORMAT parquet)",
    [sys.argv[1], sys.argv[2]],
)
"""


def bare_read(files: str, encoding: str, workdir: Path) -> dict:
    """The baseline: DuckDB's own ``read_csv`` of the same files straight to Parquet (every
    field as text, no rules), in a child process like the stage."""
    encoding = {"utf-8": "utf-8", "utf8": "utf-8"}.get(encoding.lower(), encoding)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", BARE_READ, files, encoding, str(workdir / "bare.parquet")],
        check=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "wall_s": wall,
        "cpu_s": after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", required=True, help="glob of the extract files (absolute)")
    parser.add_argument("--encoding", default="gb18030")
    parser.add_argument("--to-utf8", type=Path, help="only transcode --files into this dir")
    args = parser.parse_args()
    if args.to_utf8:
        to_utf8(args.files, args.to_utf8)
        return
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        result = run_once(args.files, args.encoding, Path(tmp))
        bare = (
            bare_read(args.files, args.encoding, Path(tmp)) if args.encoding != "gb18030" else None
        )
    print(
        "| files | encoding | rows read | wall s | CPU s | peak RSS MB | load "
        "| bare read_csv wall s | ratio |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    bare_wall = f"{bare['wall_s']:.1f}" if bare else "n/a (GB18030)"
    ratio = f"{result['wall_s'] / bare['wall_s']:.2f}" if bare else "n/a"
    print(
        f"| {args.files} | {args.encoding} | {result['rows_read']:,} | {result['wall_s']:.1f} "
        f"| {result['cpu_s']:.1f} | {result['peak_rss_mb']:.0f} | {result['load']:.1f} "
        f"| {bare_wall} | {ratio} |"
    )


if __name__ == "__main__":
    main()
