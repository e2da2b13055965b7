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
    out = {}
    for name, cls, key in [("bgnbd", BetaGeoFitter, "bg"), ("pareto_nbd", ParetoNBDFitter, "pa")]:
        x, t_x, T = data[key + "_x"], data[key + "_tx"], data[key + "_T"]
        start = time.perf_counter()
        fitter = cls(penalizer_coef=0.0).fit(x, t_x, T)
        out[name] = {"seconds": time.perf_counter() - start,
                     "params": {k: float(v) for k, v in fitter.params_.items()}}
        print(name, out[name], file=sys.stderr, flush=True)
    print(json.dumps(out))
    """
)


def timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--pareto-customers", type=int, default=1_000_000)
    parser.add_argument("--lifetimes-python", default="/tmp/lifetimes-venv/bin/python")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    bg_data = simulate_bgnbd(args.customers, rng)
    pa_data = simulate_pareto(args.pareto_customers, rng)
    ours = {}
    bg, ours["bgnbd"] = timed(lambda: BetaGeoModel().fit(*bg_data))
    pa, ours["pareto_nbd"] = timed(lambda: ParetoNBDModel().fit(*pa_data))
    print("ours bgnbd", bg.params_, f"{ours['bgnbd']:.2f}s", file=sys.stderr, flush=True)
    print("ours pareto", pa.params_, f"{ours['pareto_nbd']:.2f}s", file=sys.stderr, flush=True)

    # spend for the CLV scoring: Gamma-Gamma draws for repeat customers
    x = bg_data[0]
    nu = rng.gamma(3.7, 1 / 15.4, len(x))
    mean_spend = np.where(
        x > 0, rng.gamma(6.25 * np.maximum(x, 1), 1 / (nu * np.maximum(x, 1))), 0.0
    )
    spend_model = GammaGammaModel().fit(x[x > 0], mean_spend[x > 0])
    clv, ours["clv"] = timed(
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
        )
    )
    print(f"ours clv {ours['clv']:.2f}s", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.npz"
        np.savez(
            path,
            bg_x=bg_data[0],
            bg_tx=bg_data[1],
            bg_T=bg_data[2],
            pa_x=pa_data[0],
            pa_tx=pa_data[1],
            pa_T=pa_data[2],
        )
        script = Path(tmp) / "run_lifetimes.py"
        script.write_text(LIFETIMES_SCRIPT)
        done = subprocess.run(
            [args.lifetimes_python, str(script), str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
    theirs = json.loads(done.stdout)

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in subprocess.run(
                ["lscpu"], capture_output=True, text=True
            ).stdout.splitlines()
            if line.startswith("Model name")
        )
    except (OSError, StopIteration):
        pass
    print(f"CPU: {cpu}; customers: BG/NBD {args.customers:,}, Pareto/NBD {args.pareto_customers:,}")
    print()
    print("| task | ours (s) | lifetimes 0.11.3 (s) | speed-up | max relative parameter gap |")
    print("| --- | --- | --- | --- | --- |")
    for name, model in [("bgnbd", bg), ("pareto_nbd", pa)]:
        theirs_params = theirs[name]["params"]
        gap = max(abs(model.params_[k] - v) / abs(v) for k, v in theirs_params.items())
        speed = theirs[name]["seconds"] / ours[name]
        print(
            f"| {name} fit | {ours[name]:.2f} | {theirs[name]['seconds']:.1f} | {speed:.0f}x "
            f"| {gap:.1e} |"
        )
    print(f"| CLV 12 months, 200 draws, P10-P90 | {ours['clv']:.2f} | - | - | - |")
    print()
    for name, model in [("bgnbd", bg), ("pareto_nbd", pa)]:
        print(f"- {name}: ours {model.params_}, lifetimes {theirs[name]['params']}")
    print(
        f"- CLV mean {clv['clv'].mean():.3f}, mean interval width "
        f"{(clv['clv_high'] - clv['clv_low']).mean():.4f}"
    )


if __name__ == "__main__":
    main()
