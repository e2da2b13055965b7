"""Benchmark: :func:`features.signals.aum_trend` against another version of the module.

Not a test. Loads ``--old`` (a copy of ``src/features/signals.py`` from another commit,
e.g. ``git show 697bb8b:src/features/signals.py > /tmp/old_signals.py``) beside the
current module, runs both on the same balances and groups, alternated ``--repeat`` times,
prints wall and CPU seconds of each run and checks that the frames are equal. Example::

    PYTHONPATH=src .venv/bin/python bench/bench_aum_trend.py --old /tmp/old_signals.py \\
        --balances RUN/data/interim/balances.parquet \\
        --groups RUN/data/processed/segments.parquet --as-of 2025-12-31
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import os
import time

import pandas as pd

from features import signals


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--old", required=True)
    parser.add_argument("--balances", required=True)
    parser.add_argument("--groups", required=True)
    parser.add_argument("--column", default="value_tier")
    parser.add_argument("--as-of", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location("old_signals", args.old)
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    frames = {}
    for _ in range(args.repeat):
        for name, module in (("old", old), ("new", signals)):
            cpu, wall = time.process_time(), time.perf_counter()
            frames[name] = module.aum_trend(args.balances, args.groups, args.column, args.as_of)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(f"{name}: wall {wall:.2f} s, CPU {cpu:.2f} s, {len(frames[name])} rows")
    pd.testing.assert_frame_equal(frames["old"], frames["new"], check_exact=True)
    print(f"frames equal; load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
