"""Benchmark: the whole pipeline (`dvc repro`) on a synthetic bank extract of N customers.

Not a test. Clones this repository into ``--workdir``, replaces the bundled sample with a
larger extract from the same generator (:mod:`kequn.synthetic`: GB18030 monthly files,
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
import platform
import re
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
STAGE_LINE = re.compile(r"stage (\w+) finished in ([0-9.]+) s")


def cpu_model() -> str:
    """The CPU's model name (Linux), else the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def measured(command: list[str], cwd: Path, env: dict[str, str]) -> dict:
    """Run ``command``; wall time, CPU time and peak RSS of its process tree, its stderr."""
    peak = 0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    root = psutil.Process(process.pid)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                rss = 0
                for p in tree:
                    try:
                        rss += p.memory_info().rss
                    except psutil.NoSuchProcess:
                        pass
                peak = max(peak, rss)
            except psutil.NoSuchProcess:
                pass
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = process.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # every waited-for descendant
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if process.returncode != 0:
        sys.stderr.write(output[-4000:])
        raise SystemExit(f"{' '.join(command)} failed with exit code {process.returncode}")
    return {"wall_s": wall, "cpu_s": cpu, "peak_gb": peak / 1e9, "log": output}


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

    generate = [sys.executable, "-m", "kequn.synthetic", "--out", "data/sample"]
    generate += ["--customers", str(args.customers), "--start", args.start]
    generated = measured(generate, workdir, env)
    lines = sum(
        f.read_bytes().count(b"\n") for f in (workdir / "data/sample").glob("transactions_*.csv")
    )
    load_before = os.getloadavg()
    repro = measured(["dvc", "repro"], workdir, env)
    load_after = os.getloadavg()
    stages = dict(STAGE_LINE.findall(repro["log"]))

    machine = f"{cpu_model()}, {psutil.cpu_count()} cores, "
    machine += f"{psutil.virtual_memory().total / 2**30:.0f} GiB"
    rows = [
        f"\n### dvc repro, {args.customers:,} customers from {args.start}, "
        f"{lines:,} extract lines "
        f"({time.strftime('%Y-%m-%d %H:%M')})\n",
        f"Machine: {machine}; load average {load_before[0]:.2f} before, "
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
