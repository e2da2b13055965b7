"""Benchmark of the ltv models against lifetimes 0.11.3 on the same simulated customers.

Not a test. Simulates customers at daily resolution (weeks as the time unit, a 78-week
acquisition window, CDNOW-like parameters), fits our BG/NBD and Pareto/NBD, scores CLV with
intervals, then fits lifetimes' BetaGeoFitter / ParetoNBDFitter on the very same rows in a
separate interpreter (lifetimes needs numpy<2; see bench/requirements-lifetimes.txt):

    python3.11 -m venv /tmp/lifetimes-venv
    /tmp/lifetimes-venv/bin/pip install -r bench/requirements-lifetimes.txt
    .venv/bin/python bench/bench_ltv.py --lifetimes-python /tmp/lifetimes-venv/bin/python

Prints a Markdown table (paste it into bench/results/ltv.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

from ltv import BetaGeoModel, GammaGammaModel, ParetoNBDModel, customer_lifetime_value

BG_TRUE = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
PARETO_TRUE = {"r": 0.55, "alpha": 10.5, "s": 0.6, "beta": 11.7}


def _daily(weeks: np.ndarray) -> np.ndarray:
    return np.floor(weeks * 7) / 7


def simulate_bgnbd(n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """BG/NBD histories: Poisson purchases, dropout with probability p after each repeat."""
    p = BG_TRUE
    big_t = rng.integers(7, 7 * 78, n) / 7
    lam = rng.gamma(p["r"], 1 / p["alpha"], n)
    drop = rng.beta(p["a"], p["b"], n)
    purchases_before_drop = rng.geometric(drop)  # last purchase after which they leave
    in_window = rng.poisson(lam * big_t)
    x = np.minimum(in_window, purchases_before_drop)
    # x-th of `in_window` uniform arrival times on [0, T]
    t_x = np.where(x > 0, big_t * rng.beta(np.maximum(x, 1), in_window - x + 1), 0.0)
    return x.astype(float), _daily(t_x), big_t


def simulate_pareto(n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Pareto/NBD histories: Poisson purchases until an exponential lifetime ends."""
    p = PARETO_TRUE
    big_t = rng.integers(7, 7 * 78, n) / 7
    lam = rng.gamma(p["r"], 1 / p["alpha"], n)
    mu = rng.gamma(p["s"], 1 / p["beta"], n)
    active = np.minimum(rng.exponential(1 / mu), big_t)
    x = rng.poisson(lam * active)
    t_x = np.where(x > 0, active * rng.beta(np.maximum(x, 1), 1), 0.0)
    return x.astype(float), _daily(t_x), big_t


LIFETIMES_SCRIPT = textwrap.dedent(
    """
    import json, sys, time, warnings
    import numpy as np
    warnings.filterwarnings("ignore")
    from lifetimes import BetaGeoFitter, ParetoNBDFitter
    data = np.load(sys.argv[1])
    cls = {"bgnbd": BetaGeoFitter, "pareto_nbd": ParetoNBDFitter}[sys.argv[2]]
    x, t_x, T = data["x"], data["tx"], data["T"]
    start = time.perf_counter()
    fitter = cls(penalizer_coef=0.0).fit(x, t_x, T)
    out = {"seconds": time.perf_counter() - start, "customers": len(x),
           "params": {k: float(v) for k, v in fitter.params_.items()}}
    print(sys.argv[2], out, file=sys.stderr, flush=True)
    print(json.dumps(out))
    """
)


def run_lifetimes(python: str, name: str, data: tuple[np.ndarray, ...]) -> dict:
    """Fit lifetimes' fitter for ``name`` on ``data`` in the lifetimes interpreter."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.npz"
        np.savez(path, x=data[0], tx=data[1], T=data[2])
        script = Path(tmp) / "run_lifetimes.py"
        script.write_text(LIFETIMES_SCRIPT)
        done = subprocess.run(
            [python, str(script), str(path), name], capture_output=True, text=True, check=True
        )
    return json.loads(done.stdout)


def bracketed(function, repeats: int, python: str, name: str, data) -> tuple:
    """Time ours ``repeats`` times right before and right after lifetimes on the same data
    (the machine's load drifts; this keeps both measurements in the same window)."""
    _, before = timed(function, repeats)
    theirs = run_lifetimes(python, name, data)
    model, after = timed(function, repeats)
    return model, float(np.median([before, after])), theirs


def timed(function, repeats: int = 1):
    """(value, median wall time over ``repeats`` runs)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - start)
    return value, float(np.median(times))


def cpu_name() -> str:
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
        name = next(line for line in lines if line.startswith("Model name"))
        return name.split(":", 1)[1].strip()
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def gap(ours: dict, theirs: dict) -> float:
    return max(abs(ours[k] - v) / abs(v) for k, v in theirs.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000, help="ours, and CLV")
    parser.add_argument("--lifetimes-bg-customers", type=int, default=1_000_000)
    parser.add_argument("--lifetimes-pareto-customers", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3, help="our timings: median of this many")
    parser.add_argument("--lifetimes-python", default="/tmp/lifetimes-venv/bin/python")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    n, n_bg_l, n_pa_l = args.customers, args.lifetimes_bg_customers, args.lifetimes_pareto_customers

    bg_data = simulate_bgnbd(n, rng)
    pa_data = simulate_pareto(n, rng)
    load_before = os.getloadavg()
    bg_l = tuple(c[:n_bg_l] for c in bg_data)
    pa_l = tuple(c[:n_pa_l] for c in pa_data)
    ours, theirs = {}, {}
    bg_model, bg_seconds, theirs["bgnbd"] = bracketed(
        lambda: BetaGeoModel().fit(*bg_l), args.repeats, args.lifetimes_python, "bgnbd", bg_l
    )
    ours["bg_l"] = (bg_model, bg_seconds)
    pa_model, pa_seconds, theirs["pareto_nbd"] = bracketed(
        lambda: ParetoNBDModel().fit(*pa_l),
        args.repeats,
        args.lifetimes_python,
        "pareto_nbd",
        pa_l,
    )
    ours["pa_l"] = (pa_model, pa_seconds)
    ours["bg_full"] = timed(lambda: BetaGeoModel().fit(*bg_data), args.repeats)
    ours["pa_full"] = timed(lambda: ParetoNBDModel().fit(*pa_data), args.repeats)
    for key, (model, seconds) in ours.items():
        print(f"ours {key}", model.params_, f"{seconds:.2f}s", file=sys.stderr, flush=True)
    bg = ours["bg_full"][0]

    # spend for the CLV scoring: Gamma-Gamma draws for repeat customers
    x = bg_data[0]
    nu = rng.gamma(3.7, 1 / 15.4, len(x))
    mean_spend = np.where(
        x > 0, rng.gamma(6.25 * np.maximum(x, 1), 1 / (nu * np.maximum(x, 1))), 0.0
    )
    spend_model = GammaGammaModel().fit(x[x > 0], mean_spend[x > 0])
    clv, clv_seconds = timed(
        lambda: customer_lifetime_value(
            bg,
            spend_model,
            *bg_data,
            mean_spend,
            horizon_months=12,
            discount_rate=0.008,
            margin=0.3,
            service_cost_per_transaction=0.5,
            n_draws=200,
            seed=0,
        ),
        args.repeats,
    )
    print(f"ours clv {clv_seconds:.2f}s", file=sys.stderr, flush=True)

    load_after = os.getloadavg()

    print(
        f"CPU: {cpu_name()}, {os.cpu_count()} cores; load average (1 min) {load_before[0]:.1f} "
        f"before, {load_after[0]:.1f} after; ours: median of {args.repeats} runs (fits: of the "
        f"medians just before and just after lifetimes), lifetimes: 1 run"
    )
    print()
    print("| task | customers | ours (s) | lifetimes 0.11.3 (s) | speed-up | max rel. param. gap |")
    print("| --- | --- | --- | --- | --- | --- |")
    rows = [
        ("BG/NBD fit", "bgnbd", n_bg_l, ours["bg_l"]),
        ("Pareto/NBD fit", "pareto_nbd", n_pa_l, ours["pa_l"]),
    ]
    for label, name, size, (model, seconds) in rows:
        t = theirs[name]
        print(
            f"| {label} | {size:,} | {seconds:.2f} | {t['seconds']:.1f} | "
            f"{t['seconds'] / seconds:.0f}x | {gap(model.params_, t['params']):.1e} |"
        )
    if n != n_bg_l:
        print(f"| BG/NBD fit | {n:,} | {ours['bg_full'][1]:.2f} | - | - | - |")
    if n != n_pa_l:
        print(f"| Pareto/NBD fit | {n:,} | {ours['pa_full'][1]:.2f} | - | - | - |")
    print(f"| CLV 12 months, 200 draws, P10-P90 | {n:,} | {clv_seconds:.2f} | - | - | - |")
    print()
    for label, name, _, (model, _) in rows:
        print(f"- {label}: ours {model.params_}, lifetimes {theirs[name]['params']}")
    print(
        f"- CLV mean {clv['clv'].mean():.3f}, mean interval width "
        f"{(clv['clv_high'] - clv['clv_low']).mean():.4f}"
    )


if __name__ == "__main__":
    main()
