"""Benchmark: every pipeline stage at scale, one child process per stage, DuckDB or Spark.

Not a test. Given a prepared run directory (a clone of this repository whose
``data/sample`` holds a larger extract, e.g. made with ``python -m synthetic.bank --out
data/sample --customers 100000 --start 2025-01-01``), runs each stage of the run
directory's ``dvc.yaml`` in file order, exactly as its ``cmd`` (``python -m kequn <stage>``),
with the run directory's ``src`` first on ``PYTHONPATH`` and ``PYTHONHASHSEED=0`` as for
``dvc repro``. The engine is chosen the way the project chooses it: the top-level
``engine:`` key of the run directory's ``params.yaml`` is set for the run and restored
afterwards. Each stage is measured with :func:`measure.run_measured` (wall, CPU of the
process tree including the JVM, peak RSS of the tree, load average before and after); its
log is kept in ``<run>/bench_logs/<engine>-<stage>.log`` (the stages log their phases).

Baselines, in the same session, each in its own child process (``--baselines``):

- bare read: DuckDB ``read_csv`` of every file the ingest mappings list (transactions,
  client master, balances, events), all fields as text, no rules, copied to Parquet.
  DuckDB cannot decode GB18030, so GB18030 / GBK files are read as ``latin-1``: the same
  bytes, the same rows and fields (no ASCII byte occurs inside a multi-byte character of
  these encodings), without the decoding to Chinese;
- bare scan: DuckDB over ``data/interim/transactions.parquet`` grouped by customer
  (``count(*)``, ``sum(amount)``, ``min/max(date)``, ``count(DISTINCT date)``) copied to
  Parquet, the features stage's baseline.

Ratios: ingest / bare read and features / bare scan (wall and CPU). Example::

    .venv/bin/python bench/bench_scale.py --run /tmp/run100k --engine duckdb --baselines \\
        --out bench/results/scale.md

``--profile STAGE`` runs that stage under cProfile (``python -m cProfile -o ... -m kequn
STAGE``) and appends its ten largest cumulative entries.
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import math
import os
import pstats
import re
import shlex
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from measure import Measured, machine, run_measured

SINGLE_BYTE_FOR = {"gb18030": "latin-1", "gbk": "latin-1", "gb2312": "latin-1"}

BARE_READ = """
import duckdb, json, sys
con = duckdb.connect(config={"memory_limit": "2GB"})
for i, (files, encoding, delimiter, header) in enumerate(json.loads(sys.argv[1])):
    con.execute(
        "COPY (SELECT * FROM read_csv(?, header=?, delim=?, all_varchar=true, encoding=?, "
        "ignore_errors=true)) TO '" + sys.argv[2] + f"/bare_{i}.parquet' (FORMAT parquet)",
        [files, header, delimiter, encoding],
    )
"""

BARE_SCAN = """
import duckdb, sys
con = duckdb.connect(config={"memory_limit": "2GB"})
con.execute(
    "COPY (SELECT customer_id, count(*) AS n, sum(amount) AS total, min(date) AS first, "
    "max(date) AS last, count(DISTINCT date) AS days FROM read_parquet(?) "
    "GROUP BY customer_id) TO '" + sys.argv[2] + "' (FORMAT parquet)",
    [sys.argv[1]],
)
"""


def stage_commands(dvc_yaml: Path) -> list[tuple[str, str]]:
    """``(stage, cmd)`` for every stage of ``dvc.yaml``, in file order."""
    stages = yaml.safe_load(dvc_yaml.read_text("utf-8"))["stages"]
    return [(name, spec["cmd"]) for name, spec in stages.items()]


def with_setting(params_text: str, dotted: str, value: str) -> str:
    """``params.yaml``'s text with ``section.key`` (or a top-level ``key``) set to ``value``.

    Only the value on that key's line changes (comments and every other line are kept); a
    key that is not in the file stops the run, as the settings schema would.
    """
    section, _, key = dotted.rpartition(".")
    start = 0
    if section:
        found = re.search(rf"^{re.escape(section)}:[^\n]*\n", params_text, re.MULTILINE)
        if not found:
            raise SystemExit(f"params.yaml: no section {section!r}")
        start = found.end()
    indent = r"[ \t]+" if section else ""
    line = re.compile(rf"^({indent}{re.escape(key)}:[ \t]*)([^#\n]*?)([ \t]*(#[^\n]*)?)$", re.M)
    found = line.search(params_text, start)
    next_section = re.compile(r"^\S", re.MULTILINE).search(params_text, start)
    if not found or (section and next_section and next_section.start() < found.start()):
        raise SystemExit(f"params.yaml: no key {dotted!r}")
    return params_text[: found.start(2)] + value + params_text[found.end(2) :]


def fitted_exponent(n1: float, y1: float, n2: float, y2: float) -> float:
    """Scaling exponent ``b`` of ``y = a n^b`` through two points (log-log slope)."""
    return math.log(y2 / y1) / math.log(n2 / n1)


def project(n1: float, y1: float, n2: float, y2: float, n3: float) -> tuple[float, float]:
    """``(b, y3)``: the fitted exponent and ``y`` at ``n3`` extrapolated from the later point."""
    b = fitted_exponent(n1, y1, n2, y2)
    return b, y2 * (n3 / n2) ** b


#: stages that score customers.parquet in chunks of ``scale.chunk_customers`` and fit on a
#: sample of at most ``scale.fit_customers``: their memory does not grow past the larger run's
BOUNDED = ("ltv", "churn", "segment", "products")


def section_rows(markdown: str, heading: str) -> dict[str, tuple[float, ...]]:
    """``stage -> (customers, wall s, CPU s, peak GB)`` of the last section whose ``###``
    heading contains ``heading`` in a results file written by this script."""
    sections = [
        part for part in markdown.split("\n### ") if part.split("\n", 1)[0].find(heading) >= 0
    ]
    if not sections:
        raise SystemExit(f"no section with {heading!r}")
    rows = {}
    for line in sections[-1].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 8 and cells[1].replace(",", "").isdigit():
            customers = float(cells[1].replace(",", ""))
            rows[cells[0]] = (customers, float(cells[4]), float(cells[5]), float(cells[6]))
    return rows


def projected_rows(small: dict, large: dict, target: float, engine: str) -> list[str]:
    """Markdown rows projected to ``target`` customers through the two runs (log-log).

    Time (wall, CPU): ``y = a n^b`` through the two points, ``b`` shown. Peak memory: the
    same fit, except for the :data:`BOUNDED` stages, whose peak is the larger run's (a
    chunk and the fixed fit sample, not the table); never below the larger run's.
    """
    out = []
    for stage, (n2, wall2, cpu2, peak2) in large.items():
        if stage not in small or stage.startswith("bare"):
            continue
        n1, wall1, cpu1, peak1 = small[stage]
        b, wall = project(n1, wall1, n2, wall2, target)
        _, cpu = project(n1, cpu1, n2, cpu2, target)
        bounded = stage in BOUNDED
        peak = peak2 if bounded else max(peak2, project(n1, peak1, n2, peak2, target)[1])
        out.append(
            f"| {stage} | {target:,.0f} (projected) | {engine} | {wall:.0f} | {cpu:.0f} "
            f"| {b:.2f} | {peak:.2f}{' (bounded)' if bounded else ''} |"
        )
    return out


def stage_env(run: Path) -> dict[str, str]:
    """The environment of ``dvc repro`` in the run directory (its ``src`` first)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{run / 'src'}:{env.get('PYTHONPATH', '')}".rstrip(":")
    env["PYTHONHASHSEED"] = "0"
    return env


def extract_files(run: Path) -> list[tuple[str, str, str, bool]]:
    """``(pattern, encoding, delimiter, header)`` of every mapping ingest reads."""
    params = yaml.safe_load((run / "params.yaml").read_text("utf-8"))["ingest"]
    keys = ("mapping", "clients_mapping", "balances_mapping", "events_mapping")
    out = []
    for key in keys:
        if not params.get(key):
            continue
        mapping = yaml.safe_load((run / params[key]).read_text("utf-8"))
        encoding = str(mapping.get("encoding", "utf-8")).lower()
        for pattern in mapping["files"]:
            files = sorted(glob.glob(str(run / pattern)))
            if files:
                out.append(
                    (
                        files,
                        SINGLE_BYTE_FOR.get(encoding, encoding),
                        mapping.get("delimiter", ","),
                        bool(mapping.get("header", True)),
                    )
                )
    return out


def checked(command: list[str], run: Path, env: dict[str, str], log: Path) -> Measured:
    """Run ``command`` in ``run`` measured; keep its output in ``log``; stop on failure."""
    measured = run_measured(command, cwd=run, env=env, capture=True, merge_stderr=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(measured.output, "utf-8")
    if measured.returncode != 0:
        sys.stderr.write(measured.output[-4000:])
        raise SystemExit(f"{' '.join(command)} failed with exit code {measured.returncode}")
    return measured


def baselines(run: Path, env: dict[str, str]) -> dict[str, Measured]:
    """The bare read of the extract and the bare scan of transactions.parquet."""
    scratch = run / "bench_logs" / "bare"
    scratch.mkdir(parents=True, exist_ok=True)
    files = json.dumps(extract_files(run))
    read = checked(
        [sys.executable, "-c", BARE_READ, files, str(scratch)],
        run,
        env,
        run / "bench_logs" / "bare_read.log",
    )
    scan = checked(
        [
            sys.executable,
            "-c",
            BARE_SCAN,
            str(run / "data/interim/transactions.parquet"),
            str(scratch / "scan.parquet"),
        ],
        run,
        env,
        run / "bench_logs" / "bare_scan.log",
    )
    return {
        "bare read (DuckDB read_csv -> Parquet)": read,
        "bare scan (transactions.parquet by customer)": scan,
    }


def sizes(run: Path) -> tuple[int | None, int | None]:
    """Customers in customers.parquet and transaction lines read (ingest.json), if present."""
    customers = run / "data/processed/customers.parquet"
    metrics = run / "reports/metrics/ingest.json"
    n_customers = pq.ParquetFile(customers).metadata.num_rows if customers.exists() else None
    n_read = json.loads(metrics.read_text("utf-8"))["rows_read"] if metrics.exists() else None
    return n_customers, n_read


PHASE_LINE = re.compile(r"INFO (.+?) done in ([0-9.]+) s$", re.MULTILINE)
VARYING = re.compile(r"\d{4}-\d{2}-\d{2}|\d+")


def phases(log: str) -> list[tuple[str, int, float]]:
    """``(phase, count, total s)`` from a stage log's ``<phase> done in <s> s`` lines.

    Phases that differ only in dates or numbers (one per cut-off, per chunk) are added up
    under one name with ``#`` in their place; largest total first. Nested phases are listed
    apart (a fit's total includes the feature tables it built).
    """
    totals: dict[str, list[float]] = {}
    for name, seconds in PHASE_LINE.findall(log):
        entry = totals.setdefault(VARYING.sub("#", name), [0, 0.0])
        entry[0] += 1
        entry[1] += float(seconds)
    return sorted(((k, int(n), t) for k, (n, t) in totals.items()), key=lambda r: -r[2])


def profile_top(stats_file: Path, top: int = 10) -> str:
    """The ``top`` largest cumulative-time entries of a cProfile file, as text."""
    text = io.StringIO()
    stats = pstats.Stats(str(stats_file), stream=text)
    stats.strip_dirs().sort_stats("cumulative").print_stats(top)
    return text.getvalue()


def row(name: str, engine: str, run: Path, measured: Measured) -> str:
    """One Markdown row of the scale table."""
    customers, read = (f"{n:,}" if n is not None else "" for n in sizes(run))
    return (
        f"| {name} | {customers} | {read} | {engine} | {measured.wall_s:.1f} "
        f"| {measured.cpu_s:.1f} | {measured.peak_rss_gb:.2f} "
        f"| {measured.load_before:.2f} / {measured.load_after:.2f} |"
    )


def run_stages(run: Path, engine: str, only: list[str], profile: str | None) -> list:
    """Run the stages (all, or ``only``) with ``engine``; ``[(stage, Measured)]``."""
    env = stage_env(run)
    done = []
    for name, cmd in stage_commands(run / "dvc.yaml"):
        if only and name not in only:
            continue
        command = shlex.split(cmd)
        if name == profile:
            stats = run / "bench_logs" / f"{engine}-{name}.prof"
            stats.parent.mkdir(parents=True, exist_ok=True)  # cProfile writes it first
            command = [command[0], "-m", "cProfile", "-o", str(stats), *command[1:]]
        measured = checked(command, run, env, run / "bench_logs" / f"{engine}-{name}.log")
        print(f"{name}: {measured.wall_s:.1f} s, {measured.peak_rss_gb:.2f} GB", flush=True)
        done.append((name, measured))
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="prepared run directory")
    parser.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb")
    parser.add_argument("--stages", default="", help="comma-separated subset (default: all)")
    parser.add_argument("--baselines", action="store_true", help="also run the two baselines")
    parser.add_argument("--profile", help="run this stage under cProfile")
    parser.add_argument("--out", type=Path, help="append the Markdown rows to this file")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a params.yaml key for the run (e.g. ingest.balances_mapping='\"\"')",
    )
    parser.add_argument(
        "--project",
        nargs=2,
        metavar=("SMALL", "LARGE"),
        help="instead of running: project --out's two sections whose headings contain "
        "SMALL and LARGE to --target customers",
    )
    parser.add_argument("--target", type=float, default=10_000_000)
    args = parser.parse_args()
    if args.project:
        return project_section(args)
    run = args.run.resolve()
    params_file = run / "params.yaml"
    original = params_file.read_text("utf-8")
    changed = with_setting(original, "engine", args.engine)
    for item in args.set:
        key, _, value = item.partition("=")
        changed = with_setting(changed, key, value)
    params_file.write_text(changed, "utf-8")
    started = time.strftime("%Y-%m-%d %H:%M")
    try:
        done = run_stages(run, args.engine, [s for s in args.stages.split(",") if s], args.profile)
        base = baselines(run, stage_env(run)) if args.baselines else {}  # the same files
    finally:
        params_file.write_text(original, "utf-8")
    lines = [
        f"\n### {args.engine}, {run} ({started} UTC)\n",
        f"Machine: {machine()}. One child process per stage, as dvc.yaml's cmd; "
        f"params.yaml set: engine={args.engine}"
        + "".join(f", {item}" for item in args.set)
        + ".\n",
        "| stage | customers | transactions read | engine | wall s | CPU s | peak RSS GB "
        "| load before / after |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | --- |",
        *[row(name, args.engine, run, m) for name, m in done],
        *[row(name, "duckdb", run, m) for name, m in base.items()],
    ]
    lines += ratio_lines(dict(done), base)
    if done:
        slowest, measured = max(done, key=lambda item: item[1].wall_s)
        log = (run / "bench_logs" / f"{args.engine}-{slowest}.log").read_text("utf-8")
        lines += [
            "",
            f"Phases of the slowest stage, {slowest} ({measured.wall_s:.1f} s), from its log:",
            "",
            "| phase | count | s |",
            "| --- | ---: | ---: |",
        ]
        lines += [f"| {name} | {n} | {t:.1f} |" for name, n, t in phases(log)[:10]]
    if args.profile:
        lines += [
            "",
            f"cProfile of {args.profile}, top 10 by cumulative time:",
            "```",
            profile_top(run / "bench_logs" / f"{args.engine}-{args.profile}.prof"),
            "```",
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with args.out.open("a", encoding="utf-8") as handle:
            handle.write(text)
    return 0


def project_section(args) -> int:
    """Append the projected table (``--project SMALL LARGE``) to ``--out``."""
    markdown = args.out.read_text("utf-8")
    small, large = (section_rows(markdown, heading) for heading in args.project)
    lines = [
        f"\n### projected to {args.target:,.0f} customers from '{args.project[0]}' and "
        f"'{args.project[1]}' ({time.strftime('%Y-%m-%d %H:%M')} UTC)\n",
        "Not measured. Time: y = a n^b through the two runs (b = log-log slope), from the "
        "larger run; peak: the same fit, except chunked stages (bounded: the larger run's).\n",
        "| stage | customers | engine | wall s | CPU s | exponent b (wall) | peak RSS GB |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
        *projected_rows(small, large, args.target, args.engine),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    with args.out.open("a", encoding="utf-8") as handle:
        handle.write(text)
    return 0


def ratio_lines(stages: dict[str, Measured], base: dict[str, Measured]) -> list[str]:
    """``ingest / bare read`` and ``features / bare scan`` (wall and CPU), when both ran."""
    out = [""]
    reads = [m for k, m in base.items() if k.startswith("bare read")]
    scans = [m for k, m in base.items() if k.startswith("bare scan")]
    for stage, bare, label in (("ingest", reads, "bare read"), ("features", scans, "bare scan")):
        if stage in stages and bare:
            a, b = stages[stage], bare[0]
            out.append(
                f"Ratio {stage} / {label}: {a.wall_s / b.wall_s:.1f}x wall, "
                f"{a.cpu_s / b.cpu_s:.1f}x CPU."
            )
    total = sum(m.wall_s for m in stages.values())
    if stages:
        peak = max(m.peak_rss_gb for m in stages.values())
        out.append(
            f"Stages run: {len(stages)}; sum of wall {total:.1f} s; largest peak {peak:.2f} GB."
        )
    return out


if __name__ == "__main__":
    raise SystemExit(main())
