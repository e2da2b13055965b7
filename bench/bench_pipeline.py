"""Benchmark: the whole pipeline (`dvc repro`) on a synthetic bank extract of N customers.

Not a test. Clones this repository into ``--workdir``, replaces the bundled sample with a
larger extract from the same generator (:mod:`synthetic.bank`: GB18030 monthly files,
Chinese headers, dirty rows, client master, do-not-contact list), then runs ``dvc repro``
with this checkout's virtual environment and records the wall time, the CPU time and the
peak resident memory of the whole process tree, and each stage's time from its log line
``stage <name> finished in <s> s``. Example::

    .venv/bin/python bench/bench_pipeline.py --customers 1000000 --out bench/results/pipeline.md

On a shared machine, the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from measure import machine, run_measured

REPO = Path(__file__).resolve().parents[1]
STAGE_LINE = re.compile(r"stage (\w+) finished in ([0-9.]+) s")


def measured(command: list[str], cwd: Path, env: dict[str, str]) -> dict:
    """Run ``command``; wall time, CPU time and peak RSS of its process tree, its output."""
    run = run_measured(command, cwd=cwd, env=env, capture=True, merge_stderr=True)
    if run.returncode != 0:
        sys.stderr.write(run.output[-4000:])
        raise SystemExit(f"{' '.join(command)} failed with exit code {run.returncode}")
    return {"wall_s": run.wall_s, "cpu_s": run.cpu_s, "peak_gb": run.peak_rss_gb, "log": run.output}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument(
        "--start",
        default="2025-01-01",
        help="first acquisition date (the generator holds the whole extract in memory, about "
        "1 GB per million rows: a one-year extract keeps 1M customers near 12M rows)",
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/kequn-bench-pipeline"))
    parser.add_argument("--out", type=Path, help="append the Markdown rows to this file")
    args = parser.parse_args()

    workdir = args.workdir
    if workdir.exists():
        subprocess.run(["rm", "-rf", str(workdir)], check=True)
    subprocess.run(["git", "clone", "-q", str(REPO), str(workdir)], check=True)
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env["PYTHONHASHSEED"] = "0"

    generate = [sys.executable, "-m", "synthetic.bank", "--out", "data/sample"]
    generate += ["--customers", str(args.customers), "--start", args.start]
    generated = measured(generate, workdir, env)
    lines = sum(
        f.read_bytes().count(b"\n") for f in (workdir / "data/sample").glob("transactions_*.csv")
    )
    load_before = os.getloadavg()
    repro = measured(["dvc", "repro"], workdir, env)
    load_after = os.getloadavg()
    stages = dict(STAGE_LINE.findall(repro["log"]))

    rows = [
        f"\n### dvc repro, {args.customers:,} customers from {args.start}, "
        f"{lines:,} extract lines "
        f"({time.strftime('%Y-%m-%d %H:%M')})\n",
        f"Machine: {machine()}; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after.\n",
        f"Generating the extract: {generated['wall_s']:.0f} s, "
        f"peak {generated['peak_gb']:.1f} GB (not part of the pipeline).\n",
        "| what | wall s | CPU s | peak RSS GB |",
        "| --- | ---: | ---: | ---: |",
        f"| dvc repro (all stages) | {repro['wall_s']:.1f} | {repro['cpu_s']:.1f} "
        f"| {repro['peak_gb']:.2f} |",
        *[f"| stage {name} | {float(s):.1f} | | |" for name, s in stages.items()],
        "",
    ]
    text = "\n".join(rows)
    print(text)
    if args.out:
        with args.out.open("a", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
