"""Benchmark: :func:`segmentation.segment_customers` on 1 million synthetic customers.

Not a test. Builds ``--customers`` rows with :func:`segmentation.synthetic.synthetic_customers`
(features, clv and churn probability already joined; four behavioural groups), then times the
pure segmentation function with the ``segmentation`` section of params.yaml (mini-batch
k-means above ``minibatch_above`` rows, silhouette on ``silhouette_sample`` rows). Run a second
time with the first run's cluster model, as the stage does on every rerun.

    .venv/bin/python bench/bench_segmentation.py [--customers 1000000]

Prints a Markdown table (paste it into bench/results/segmentation.md). Goal: under 60 s on
2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from kequn.config import load_params
from segmentation import segment_customers
from segmentation.synthetic import synthetic_customers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    params = load_params(args.params)
    settings = params["segmentation"]

    start = time.perf_counter()
    frame = synthetic_customers(args.customers, seed=1)
    build = time.perf_counter() - start

    load_before = os.getloadavg()[0]
    cpu = time.process_time()
    start = time.perf_counter()
    first = segment_customers(frame, settings, seed=params["seed"])
    fresh = time.perf_counter() - start
    fresh_cpu = time.process_time() - cpu

    cpu = time.process_time()
    start = time.perf_counter()
    again = segment_customers(frame, settings, seed=params["seed"], previous_model=first.model)
    rerun = time.perf_counter() - start
    rerun_cpu = time.process_time() - cpu
    kept = (again.segments["cluster_id"] == first.segments["cluster_id"]).mean()

    clusters = first.metrics["clusters"]
    print(f"| machine | {platform.processor() or platform.machine()}, {os.cpu_count()} cores |")
    print("| --- | --- |")
    print(f"| customers | {args.customers:,} |")
    print(f"| build synthetic table | {build:.1f} s |")
    print(f"| load average (1 min) before the first run | {load_before:.1f} |")
    print(f"| segment_customers, first run | {fresh:.1f} s wall, {fresh_cpu:.1f} s CPU |")
    print(
        "| segment_customers, rerun with saved clusters | "
        f"{rerun:.1f} s wall, {rerun_cpu:.1f} s CPU |"
    )
    print(f"| silhouette by k | {clusters['silhouette_by_k']} |")
    print(f"| chosen k | {clusters['chosen_k']} |")
    print(f"| cluster ids kept on rerun | {kept:.4f} |")
    print(
        "| customers making 80 % of value | "
        f"{first.metrics['concentration']['customer_share_for_80pct_value']:.4f} |"
    )


if __name__ == "__main__":
    main()
