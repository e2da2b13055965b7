"""Churn benchmark on the real CDNOW master data (tests/data/CDNOW_master.txt).

Scenario of the brief: scoring date 1997-09-30, outcome = any purchase from 1997-10-01 to
1998-06-30 (horizon 273 days). The churn stage's chosen score is compared by ROC AUC with
BG/NBD expected transactions on the same split (reference 0.763 with lifetimes 0.11.3):
our ltv BG/NBD always, lifetimes' BetaGeoFitter too when an interpreter that has it is
given (lifetimes needs numpy<2; see bench/requirements-lifetimes.txt)::

    .venv/bin/python bench/bench_churn_cdnow.py --lifetimes-python /tmp/lifetimes-venv/bin/python

A second scenario (scoring 1998-03-31, horizon 90 days) has enough history for the full
backtest, the classifier and calibration. Prints Markdown (``--write`` puts it in
bench/results/churn.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from churn.calibration import expected_calibration_error
from churn.scoring import score_churn
from features import split_at
from ltv import BetaGeoModel

ROOT = Path(__file__).resolve().parents[1]
MASTER = ROOT / "tests" / "data" / "CDNOW_master.txt"
RESULTS = ROOT / "bench" / "results" / "churn.md"
UNIT_DAYS = 7
REFERENCE_AUC = 0.763


def load_cdnow(path: Path = MASTER) -> pd.DataFrame:
    """CDNOW master rows as pipeline transactions (customer_id, date, amount)."""
    raw = pd.read_csv(path, sep=r"\s+", dtype={"customer_id": str, "date": str})
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"],
            "date": pd.to_datetime(raw["date"], format="%Y%m%d").dt.date,
            "amount": raw["dollar_value"].astype(float),
        }
    )


def lifetimes_expected(python: str, rfm: pd.DataFrame, t: float) -> np.ndarray:
    """lifetimes BetaGeoFitter expected purchases in t units, run in another interpreter."""
    code = textwrap.dedent(
        """
        import sys, json, pandas as pd
        from lifetimes import BetaGeoFitter
        d = pd.read_csv(sys.argv[1])
        m = BetaGeoFitter().fit(d["frequency"], d["recency"], d["T"])
        e = m.conditional_expected_number_of_purchases_up_to_time(
            float(sys.argv[2]), d["frequency"], d["recency"], d["T"])
        json.dump(list(map(float, e)), open(sys.argv[3], "w"))
        """
    )
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "rfm.csv", Path(tmp) / "out.json"
        rfm.to_csv(data, index=False)
        subprocess.run([python, "-c", code, str(data), str(t), str(out)], check=True)
        return np.asarray(json.loads(out.read_text()), dtype=float)


def scenario(
    transactions: pd.DataFrame, as_of: dt.date, horizon: int, lifetimes_python: str | None
) -> dict:
    end = as_of + dt.timedelta(days=horizon)
    customers, holdout = split_at(
        transactions, as_of, end, unit_days=UNIT_DAYS, trend_window_days=90
    )
    churned = (holdout["holdout_transactions"].to_numpy() == 0).astype(int)
    rfm = customers[["frequency", "recency", "T"]].astype(float)
    bgnbd = BetaGeoModel().fit(rfm["frequency"], rfm["recency"], rfm["T"])
    expected = bgnbd.expected_transactions(horizon / UNIT_DAYS, *(rfm[c] for c in rfm))
    params = {
        "seed": 20261123,
        "features": {"time_unit_days": UNIT_DAYS, "trend_window_days": 90},
        "churn": {"horizon_days": horizon, "model": "auto", "calibration": "isotonic"},
    }
    start = time.perf_counter()
    past = transactions[pd.to_datetime(transactions["date"]) <= pd.Timestamp(as_of)]
    result = score_churn(past, customers, None, as_of, params, bgnbd)
    seconds = time.perf_counter() - start
    p = result.table["churn_probability"].to_numpy()
    row = {
        "as_of": as_of.isoformat(),
        "horizon_days": horizon,
        "customers": len(customers),
        "churn_rate": float(churned.mean()),
        "chosen": result.metrics["chosen"],
        "why": result.metrics["why"],
        "degraded": result.metrics["degraded"],
        "chosen_auc": float(roc_auc_score(churned, p)),
        "chosen_raw_auc": float(roc_auc_score(churned, result.table["raw_score"])),
        "chosen_brier": float(np.mean((p - churned) ** 2)),
        "chosen_ece": expected_calibration_error(p, churned),
        "bgnbd_expected_auc": float(roc_auc_score(churned, -expected)),
        "bgnbd_no_purchase_auc": float(
            roc_auc_score(
                churned,
                bgnbd.probability_no_transactions(horizon / UNIT_DAYS, *(rfm[c] for c in rfm)),
            )
        ),
        "backtest": result.metrics["backtest"],
        "seconds": seconds,
    }
    if lifetimes_python:
        reference = lifetimes_expected(lifetimes_python, rfm, horizon / UNIT_DAYS)
        row["lifetimes_expected_auc"] = float(roc_auc_score(churned, -reference))
    return row


def markdown(rows: list[dict]) -> str:
    lines = [
        "# Churn benchmark: CDNOW master (23,570 customers, 1997-01-01 .. 1998-06-30)",
        "",
        "`.venv/bin/python bench/bench_churn_cdnow.py "
        "--lifetimes-python /tmp/lifetimes-venv/bin/python --write`",
        f"({platform.python_version()}, {platform.machine()}; shared 2-core machine).",
        "Outcome: churned = no purchase in (as_of, as_of + horizon]. ROC AUC of P(churn) on",
        "the real outcome; BG/NBD expected transactions ranked in reverse (fewer = churn).",
        "",
        "| as_of | horizon | churn rate | chosen | chosen AUC | BG/NBD E[X] AUC (ours) | "
        "lifetimes E[X] AUC | BG/NBD P(no purchase) AUC | Brier | ECE | seconds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lifetimes = f"{r['lifetimes_expected_auc']:.4f}" if "lifetimes_expected_auc" in r else "-"
        lines.append(
            f"| {r['as_of']} | {r['horizon_days']} d | {r['churn_rate']:.3f} | {r['chosen']} | "
            f"{r['chosen_auc']:.4f} | {r['bgnbd_expected_auc']:.4f} | {lifetimes} | "
            f"{r['bgnbd_no_purchase_auc']:.4f} | {r['chosen_brier']:.4f} | "
            f"{r['chosen_ece']:.4f} | {r['seconds']:.1f} |"
        )
    lines += [
        "",
        "Floor of the brief: chosen AUC >= 0.763 (lifetimes BG/NBD E[X]) in the first row.",
        "",
    ]
    for r in rows:
        lines.append(f"## as_of {r['as_of']}, horizon {r['horizon_days']} days")
        lines.append(f"- choice: {r['chosen']} - {r['why']}")
        lines.append(f"- degraded: {'; '.join(r['degraded']) or 'none'}")
        lines.append("")
        lines.append(
            "| candidate | backtest ROC AUC | PR AUC | Brier | Brier calibrated | ECE calibrated |"
        )
        lines.append("| --- | --- | --- | --- | --- | --- |")
        for name, m in r["backtest"].items():
            lines.append(
                f"| {name} | {m['raw']['roc_auc']:.4f} | {m['raw']['pr_auc']:.4f} | "
                f"{m['raw']['brier']:.4f} | {m['calibrated']['brier']:.4f} | "
                f"{m['calibrated']['ece']:.4f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lifetimes-python", default=None, help="interpreter with lifetimes")
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS}")
    args = parser.parse_args()
    transactions = load_cdnow()
    rows = [
        scenario(transactions, dt.date(1997, 9, 30), 273, args.lifetimes_python),
        scenario(transactions, dt.date(1998, 3, 31), 90, args.lifetimes_python),
    ]
    text = markdown(rows)
    print(text)
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
