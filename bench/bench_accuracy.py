"""Temporal accuracy benchmark on the real CDNOW master data (tests/data/CDNOW_master.txt).

Not a test. For each scoring date ``as_of`` (default: four dates between 1997-06-30 and
1997-12-31) only the purchases up to ``as_of`` are given to the models; the outcomes are
what really happened after it:

- churn: no purchase in ``(as_of, as_of + 90 days]`` (the churn stage's horizon);
- value and transactions: the holdout ``(as_of, 1998-06-30]`` (the end of the data).

Margin 1 and no costs (retail revenue). Scores compared:

- ``chosen``: the churn stage's calibrated probability (rolling-origin choice) and the ltv
  transaction model the ltv backtest picks (with Gamma-Gamma spend);
- each churn candidate (``btyd``, ``btyd_expected``, ``survival``, ``gbm`` stacked on
  BTYD, ``blend``), raw;
- ``lifetimes_bgnbd``: lifetimes 0.11.3 BetaGeoFitter (in its own interpreter, numpy<2);
- ``past_spend``: total value so far; ``recency``: days since the last purchase.

Metrics: churn ROC AUC, PR AUC, Brier score (probabilities only), normalized Gini of the
holdout value, and the aggregate holdout transactions error (predicted / actual - 1).
``make bench-accuracy`` runs it (about two minutes per date on a busy 2-core machine)::

    .venv/bin/python bench/bench_accuracy.py --lifetimes-python .bench-venv/bin/python
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_churn_cdnow import load_cdnow  # noqa: E402
from churn.candidates import (  # noqa: E402
    blend_score,
    btyd_expected_score,
    btyd_features,
    btyd_no_transaction,
)
from churn.model import candidate_score, model_scores  # noqa: E402
from churn.scoring import fit_churn, score_customers  # noqa: E402
from features import split_at  # noqa: E402
from ltv.backtest import (  # noqa: E402
    TRANSACTION_MODELS,
    choose_model,
    expected_spend,
    fit_spend_model,
    normalized_gini,
    past_value_repeats,
    run_backtest,
)
from ltv.stage import DEFAULT_TRANSACTION_MODEL  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "accuracy.md"
END = dt.date(1998, 6, 30)
UNIT_DAYS = 7
HORIZON = 90
DATES = ["1997-06-30", "1997-08-31", "1997-10-31", "1997-12-31"]
TARGETS = {"roc_auc": 0.78, "gini": 0.72, "aggregate_error": 0.05}

LIFETIMES_SCRIPT = textwrap.dedent(
    """
    import sys, json, warnings, pandas as pd
    warnings.filterwarnings("ignore")
    from lifetimes import BetaGeoFitter
    d = pd.read_csv(sys.argv[1])
    m = BetaGeoFitter().fit(d["frequency"], d["recency"], d["T"])
    f, r, T = d["frequency"], d["recency"], d["T"]
    out = {
        "end": list(map(float, m.conditional_expected_number_of_purchases_up_to_time(
            float(sys.argv[2]), f, r, T))),
        "p0": list(map(float, m.conditional_probability_of_n_purchases_up_to_time(
            0, float(sys.argv[3]), f, r, T))) if hasattr(
            m, "conditional_probability_of_n_purchases_up_to_time") else None,
        "h": list(map(float, m.conditional_expected_number_of_purchases_up_to_time(
            float(sys.argv[3]), f, r, T))),
    }
    json.dump(out, open(sys.argv[4], "w"))
    """
)


def lifetimes_bgnbd(python: str, rfm: pd.DataFrame, t_end: float, t_h: float) -> dict:
    """lifetimes BG/NBD: expected purchases to the end and in the horizon (another venv)."""
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "rfm.csv", Path(tmp) / "out.json"
        rfm.to_csv(data, index=False)
        subprocess.run(
            [python, "-c", LIFETIMES_SCRIPT, str(data), str(t_end), str(t_h), str(out)],
            check=True,
        )
        return {
            k: None if v is None else np.asarray(v) for k, v in json.loads(out.read_text()).items()
        }


def churn_row(churned, score, probability: bool) -> dict:
    row = {
        "roc_auc": float(roc_auc_score(churned, score)),
        "pr_auc": float(average_precision_score(churned, score)),
    }
    if probability:
        row["brier"] = float(brier_score_loss(churned, np.clip(score, 0, 1)))
    return row


def ltv_choice(past: pd.DataFrame, as_of: dt.date) -> tuple[str, str]:
    """The ltv stage's transaction-model choice (probabilistic candidates, default holdout)."""
    result = run_backtest(past, as_of, holdout_days=182, candidates=tuple(TRANSACTION_MODELS))
    probabilistic = {k: v for k, v in result.metrics.items() if k in TRANSACTION_MODELS}
    if not probabilistic:  # as the ltv stage does: its default model, with the reason
        return DEFAULT_TRANSACTION_MODEL, f"default (no ltv backtest: {result.skipped})"
    return choose_model(probabilistic)


def blend_now(fit, customers: pd.DataFrame, survival_now: np.ndarray) -> np.ndarray | None:
    """The blend's raw score as of ``as_of`` (its members' maps from the latest cut-off),
    whichever candidate the stage chose."""
    if fit.blend is None or fit.stack_model is None and "btyd" in fit.blend:
        return None
    members = {n: candidate_score(fit, n, customers, survival_now, None) for n in fit.blend}
    return blend_score(fit.blend, members)


def evaluate(transactions: pd.DataFrame, as_of: dt.date, lifetimes_python: str | None) -> dict:
    start = time.perf_counter()
    past = transactions[pd.to_datetime(transactions["date"]) <= pd.Timestamp(as_of)]
    customers, holdout = split_at(transactions, as_of, END, unit_days=UNIT_DAYS)
    _, churn_holdout = split_at(
        transactions, as_of, as_of + dt.timedelta(days=HORIZON), unit_days=UNIT_DAYS
    )
    churned = (churn_holdout["holdout_transactions"].to_numpy() == 0).astype(int)
    actual_tx = holdout["holdout_transactions"].to_numpy(float)
    actual_value = holdout["holdout_value"].to_numpy(float)
    rfm = customers[["frequency", "recency", "T"]].astype(float)
    f, r, big_t, m = (
        customers[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value")
    )
    t_end = (END - as_of).days / UNIT_DAYS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ltv_name, ltv_why = ltv_choice(past, as_of)
        model = TRANSACTION_MODELS[ltv_name]().fit(f, r, big_t)
        spend = expected_spend(fit_spend_model(f, m), f, m)
    params = {
        "seed": 20261123,
        "features": {"time_unit_days": UNIT_DAYS, "trend_window_days": 90},
        "churn": {"horizon_days": HORIZON},
    }
    fit = fit_churn(past, customers, None, as_of, params, model)
    chosen_p = score_customers(fit, customers).table["churn_probability"].to_numpy()
    survival_now, _, _, _ = model_scores(fit, customers, btyd=False)
    rows: dict[str, dict] = {"chosen": churn_row(churned, chosen_p, True)}
    expected_end = np.asarray(model.expected_transactions(t_end, f, r, big_t), float)
    rows["chosen"]["gini"] = normalized_gini(actual_value, expected_end * spend)
    rows["chosen"]["aggregate_error"] = float(expected_end.sum() / actual_tx.sum() - 1)
    if fit.stack_model is not None:
        rows["btyd"] = churn_row(
            churned, btyd_no_transaction(fit.stack_model, customers, HORIZON, UNIT_DAYS), True
        )
        rows["btyd_expected"] = churn_row(
            churned, btyd_expected_score(fit.stack_model, customers, HORIZON, UNIT_DAYS), True
        )
    rows["survival"] = churn_row(churned, survival_now, True)
    if fit.classifier is not None:
        stacked = btyd_features(fit.stack_model, customers, HORIZON, UNIT_DAYS)
        rows["gbm"] = churn_row(churned, fit.classifier.predict_proba(stacked), True)
    blend = blend_now(fit, customers, survival_now)
    if blend is not None:
        rows["blend"] = churn_row(churned, blend, True)
    if lifetimes_python:
        ref = lifetimes_bgnbd(lifetimes_python, rfm, t_end, HORIZON / UNIT_DAYS)
        p0 = ref["p0"] if ref["p0"] is not None else None
        rows["lifetimes_bgnbd"] = (
            churn_row(churned, p0, True) if p0 is not None else churn_row(churned, -ref["h"], False)
        )
        rows["lifetimes_bgnbd"]["gini"] = normalized_gini(actual_value, ref["end"] * spend)
        rows["lifetimes_bgnbd"]["aggregate_error"] = float(ref["end"].sum() / actual_tx.sum() - 1)
    total = customers["total_value"].to_numpy(float)
    rows["past_spend"] = churn_row(churned, -total, False)
    rows["past_spend"]["gini"] = normalized_gini(actual_value, total)
    repeats = past_value_repeats(past, as_of, (END - as_of).days, customers["customer_id"])
    rows["past_spend"]["aggregate_error"] = float(
        repeats["predicted_transactions"].sum() / actual_tx.sum() - 1
    )
    silence = customers["days_since_last"].to_numpy(float)
    rows["recency"] = churn_row(churned, silence, False)
    rows["recency"]["gini"] = normalized_gini(actual_value, -silence)
    return {
        "as_of": as_of.isoformat(),
        "customers": int(len(customers)),
        "churn_rate": float(churned.mean()),
        "chosen_churn": fit.chosen,
        "why": fit.metrics["why"],
        "ltv_model": ltv_name,
        "ltv_why": ltv_why,
        "refused": fit.metrics["refused"],
        "degraded": fit.degraded,
        "backtest_summary": fit.metrics["rolling_backtest"]["summary"],
        "rows": rows,
        "seconds": time.perf_counter() - start,
    }


def _cell(row: dict, key: str, digits: int = 3) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    if key == "aggregate_error":
        return f"{value:+.1%}"
    return f"{value:.{digits}f}"


def markdown(results: list[dict]) -> str:
    lines = [
        "# Accuracy benchmark: CDNOW master, strictly temporal",
        "",
        f"Churn: no purchase in (as_of, as_of + {HORIZON} d]; value and transactions: "
        f"(as_of, {END}]. Margin 1, no costs. Targets: churn AUC >= {TARGETS['roc_auc']}, "
        f"Gini >= {TARGETS['gini']}, |aggregate error| <= {TARGETS['aggregate_error']:.0%}.",
        "",
        "| as_of | score | churn AUC | PR AUC | Brier | CLV Gini | aggregate tx error |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for res in results:
        for name, row in res["rows"].items():
            label = (
                f"chosen ({res['chosen_churn']} / {res['ltv_model']})" if name == "chosen" else name
            )
            lines.append(
                f"| {res['as_of']} | {label} | {_cell(row, 'roc_auc')} | {_cell(row, 'pr_auc')} "
                f"| {_cell(row, 'brier', 4)} | {_cell(row, 'gini')} | "
                f"{_cell(row, 'aggregate_error')} |"
            )
    lines.append("")
    for res in results:
        lines.append(
            f"- {res['as_of']}: {res['customers']} customers, churn rate {res['churn_rate']:.3f}, "
            f"{res['seconds']:.0f} s; churn choice: {res['why']}; ltv: {res['ltv_why']}"
        )
        for name, reasons in res["refused"].items():
            lines.append(f"  - refused {name}: {'; '.join(reasons)}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lifetimes-python", default=None, help="interpreter with lifetimes")
    parser.add_argument("--dates", nargs="+", default=DATES, help="scoring dates (ISO)")
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS}")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw figures")
    args = parser.parse_args()
    transactions = load_cdnow()
    results = []
    for text in args.dates:
        results.append(evaluate(transactions, dt.date.fromisoformat(text), args.lifetimes_python))
        print(f"{text} done in {results[-1]['seconds']:.0f} s", file=sys.stderr, flush=True)
    report = markdown(results)
    print(report)
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(report, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float), encoding="utf-8")


if __name__ == "__main__":
    main()
