"""Temporal accuracy benchmark on the real CDNOW master data (tests/data/CDNOW_master.txt).

Not a test. For each scoring date ``as_of`` (default: four dates between 1997-06-30 and
1997-12-31) only the purchases up to ``as_of`` are given to the models; the outcomes are
what really happened after it:

- churn: no purchase in ``(as_of, as_of + churn.horizon_days]`` (90 days in params.yaml);
- value and transactions: the holdout ``(as_of, 1998-06-30]`` (the end of the data).

The stages' parameters are params.yaml's, with ``as_of`` set and margin 1 and no costs
(retail revenue). The choices are the stages' own:

- ltv: the rolling-origin backtest (:func:`ltv.rolling.run_rolling` through the ltv
  stage's ``_backtest``, ``ltv.backtest_origins`` cut-offs ``ltv.origin_step_days`` apart,
  holdout ``ltv.holdout_days``) and :func:`ltv.stage.choose` on its mean; the transaction
  model is refitted on every customer's distinct history with the stage's degenerate-fit
  fallback (:func:`ltv.backtest.fit_separating`), Gamma-Gamma on the repeat customers;
- churn: :func:`churn.fitting.fit_churn` (rolling backtest, choice, calibration) given
  that transaction model, as the churn stage is given models/transaction_model.json.

Scores compared, all as of ``as_of``:

- ``choice``: the churn stage's calibrated probability and the ltv stage's chosen CLV model;
- each churn candidate (``btyd``, ``btyd_expected``, ``survival``, ``gbm`` stacked on
  BTYD, ``blend``, ``stack``), raw;
  each ltv candidate (``bgnbd``, ``pareto_nbd``, ``mbgnbd``: expected
  transactions to the end of the data times the Gamma-Gamma spend; ``gbm`` and
  ``gbm_stacked``: trained on ``(as_of - H, as_of]``, their window prediction scaled to the
  holdout length);
- ``lifetimes_bgnbd``: lifetimes 0.11.3 BetaGeoFitter (in its own interpreter, numpy<2);
- ``past_spend``: total value so far (churn: its negative; transactions: the last holdout
  length's transaction days repeat); ``recency``: days since the last purchase.

Metrics: churn ROC AUC, PR AUC, Brier score (probabilities only), normalized Gini of the
holdout value, and the aggregate holdout transactions error (predicted / actual - 1).
``make bench-accuracy`` runs it (under a minute for the four dates on a busy 2-core machine)::

    .venv/bin/python bench/bench_accuracy.py --lifetimes-python .bench-venv/bin/python
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_churn_cdnow import load_cdnow  # noqa: E402
from churn import fitting as churn_fitting  # noqa: E402
from churn.candidates import blend_score  # noqa: E402
from churn.delong import auc_covariance  # noqa: E402
from churn.model import candidate_score, model_scores  # noqa: E402
from churn.scoring import score_customers  # noqa: E402
from churn.settings import BLEND_MEMBERS  # noqa: E402
from churn.stack import stack_score  # noqa: E402
from features import CutoffTables, split_at  # noqa: E402
from kequn.config import load_params  # noqa: E402
from ltv import stage as ltv_stage  # noqa: E402
from ltv.backtest import (  # noqa: E402
    TRANSACTION_MODELS,
    expected_spend,
    fit_separating,
    normalized_gini,
    past_value_repeats,
)
from ltv.scale import count_histories  # noqa: E402
from ltv.scoring import fit_spend, fit_transaction_model, train_gbm  # noqa: E402
from measure import machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "accuracy.md"
END = dt.date(1998, 6, 30)
DATES = ["1997-06-30", "1997-08-31", "1997-10-31", "1997-12-31"]
TARGETS = {"roc_auc": 0.78, "gini": 0.72, "aggregate_error": 0.05}
#: ltv.* overrides for retail revenue: margin 1, no costs
RETAIL = {"margin": 1.0, "service_cost_per_transaction": 0.0, "acquisition_cost": 0.0}

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


def bench_params(as_of: dt.date, path: Path = ROOT / "params.yaml") -> dict[str, Any]:
    """params.yaml as the stages read it, with ``as_of`` set and margin 1, no costs."""
    params = load_params(path)
    params["as_of"] = as_of.isoformat()
    params["ltv"] = {**params["ltv"], **RETAIL}
    return params


def churn_row(churned, score, probability: bool) -> dict:
    """ROC AUC and PR AUC of ``score`` for the churn labels (and Brier for probabilities)."""
    row = {
        "roc_auc": float(roc_auc_score(churned, score)),
        "pr_auc": float(average_precision_score(churned, score)),
    }
    if probability:
        row["brier"] = float(brier_score_loss(churned, np.clip(score, 0, 1)))
    return row


def auc_difference(y, a, b) -> tuple[float, float]:
    """ROC AUC of ``a`` minus that of ``b`` on the same labels, and its standard error:
    Var(AUC_a - AUC_b) = Var_a + Var_b - 2 Cov_ab, with DeLong's covariance
    (:func:`churn.delong.auc_covariance`; DeLong, DeLong & Clarke-Pearson 1988)."""
    auc, cov = auc_covariance(y, np.vstack([np.asarray(a, float), np.asarray(b, float)]))
    variance = cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1]
    return float(auc[0] - auc[1]), float(np.sqrt(max(variance, 0.0)))


@dataclass
class Outcomes:
    """What really happened after ``as_of``: churn labels, holdout transactions and value."""

    churned: np.ndarray
    transactions: np.ndarray
    value: np.ndarray

    def value_row(self, predicted_value, predicted_transactions=None) -> dict:
        """CLV normalized Gini and (when given) the aggregate transactions error."""
        row = {"gini": normalized_gini(self.value, predicted_value)}
        if predicted_transactions is not None:
            total = float(np.sum(predicted_transactions))
            row["aggregate_error"] = total / float(self.transactions.sum()) - 1
        return row


@dataclass
class LtvFit:
    """The ltv stage's choice as of ``as_of`` and every candidate's holdout prediction."""

    choice: dict[str, Any]
    refused: dict[str, dict[str, str]]
    transaction_model: Any
    spend_model: Any
    predictions: dict[str, tuple[np.ndarray, np.ndarray]]  # name -> (transactions, value)


def fit_ltv(past: pd.DataFrame, customers: pd.DataFrame, as_of: dt.date, params) -> LtvFit:
    """What the ltv stage does (rolling backtest, choice, scoring fits), then each
    candidate's predicted holdout transactions and value to :data:`END`."""
    settings = ltv_stage.read_settings(params)
    tables = CutoffTables(
        past, unit_days=settings["unit_days"], trend_window_days=settings["trend_window_days"]
    )
    rolling, _ = ltv_stage._backtest(tables, as_of, settings)
    choice = ltv_stage.choose(settings, rolling)
    histories = count_histories([customers[["frequency", "recency", "T"]]])
    penalizer = settings["penalizer"]
    model, name, fallback = fit_separating(
        choice["transaction_model"], histories, penalizer, fit_transaction_model
    )
    if fallback:
        choice["transaction_model"], choice["transaction_model_fallback"] = name, fallback
    f, r, big_t, m = (
        customers[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value")
    )
    spend_model = fit_spend(f, m, penalizer)
    spend = expected_spend(spend_model, f, m)
    t_end = (END - as_of).days / settings["unit_days"]
    predictions = {}
    for candidate in TRANSACTION_MODELS:
        fitted = (
            model if candidate == name else fit_transaction_model(candidate, histories, penalizer)
        )
        expected = np.asarray(fitted.expected_transactions(t_end, f, r, big_t), float)
        predictions[candidate] = (expected, expected * spend)
    scale = (END - as_of).days / settings["holdout_days"]
    boosters = {"gbm": lambda: train_gbm(tables, as_of, settings)[0]}
    boosters["gbm_stacked"] = lambda: ltv_stage._train_stacked(tables, as_of, settings)[0].use(
        model, spend_model
    )
    for candidate, train in boosters.items():
        try:
            predicted = train().predict(customers)
        except Exception as exc:  # the stage would refuse this candidate: say why
            rolling.refused.setdefault(candidate, {})[f"scoring as of {as_of}"] = str(exc)
            continue
        predictions[candidate] = (
            predicted["predicted_transactions"].to_numpy(float) * scale,
            predicted["predicted_value"].to_numpy(float),
        )
    return LtvFit(choice, rolling.refused, model, spend_model, predictions)


def churn_rows(fit, customers: pd.DataFrame, churned: np.ndarray) -> dict[str, dict]:
    """The churn stage's calibrated choice and every candidate's raw score as of ``as_of``,
    each with its ROC AUC minus the choice's and the DeLong standard error of that
    difference (``vs_choice``, ``vs_choice_se``)."""
    chosen = score_customers(fit, customers).table["churn_probability"].to_numpy()
    rows = {"choice": churn_row(churned, chosen, True)}
    scores = {}
    survival_now, btyd_now, _, _ = model_scores(fit, customers, btyd=fit.stack_model is not None)
    singles = {}
    for name in BLEND_MEMBERS:
        if name == "gbm" and fit.classifier is None:
            continue
        if name.startswith("btyd") and fit.stack_model is None:
            continue
        singles[name] = candidate_score(fit, name, customers, survival_now, btyd_now)
        scores[f"churn {name}"] = singles[name]
    if fit.blend is not None and all(n in singles for n in fit.blend):
        scores["churn blend"] = blend_score(fit.blend, {n: singles[n] for n in fit.blend})
    if fit.stack is not None and all(n in singles for n in fit.stack.calibrators):
        members = {n: singles[n] for n in fit.stack.calibrators}
        scores["churn stack"] = stack_score(fit.stack, members)
    for name, score in scores.items():
        rows[name] = churn_row(churned, score, True)
        difference, se = auc_difference(churned, score, chosen)
        rows[name].update(vs_choice=difference, vs_choice_se=se)
    return rows


def baseline_rows(past, customers, outcomes: Outcomes, as_of: dt.date) -> dict[str, dict]:
    """Past spend and recency: churn scores, CLV Gini and (past spend) aggregate error."""
    total = customers["total_value"].to_numpy(float)
    days = (END - as_of).days
    repeats = past_value_repeats(past, as_of, days, customers["customer_id"])
    silence = customers["days_since_last"].to_numpy(float)
    return {
        "past_spend": {
            **churn_row(outcomes.churned, -total, False),
            **outcomes.value_row(total, repeats["predicted_transactions"]),
        },
        "recency": {
            **churn_row(outcomes.churned, silence, False),
            **outcomes.value_row(-silence),
        },
    }


def lifetimes_row(python: str, customers, outcomes: Outcomes, spend, t_end, t_h) -> dict:
    """lifetimes' BG/NBD: P(no purchase in the horizon) (or minus the expected purchases)
    for churn, expected purchases to the end times the Gamma-Gamma spend for CLV."""
    rfm = customers[["frequency", "recency", "T"]].astype(float)
    ref = lifetimes_bgnbd(python, rfm, t_end, t_h)
    if ref["p0"] is not None:
        row = churn_row(outcomes.churned, ref["p0"], True)
    else:
        row = churn_row(outcomes.churned, -ref["h"], False)
    return {**row, **outcomes.value_row(ref["end"] * spend, ref["end"])}


@contextlib.contextmanager
def captured_origins():
    """The churn backtest's cut-offs (labels and raw scores) as ``fit_churn`` evaluates
    them, collected while the block runs."""
    origins = []
    original = churn_fitting.origin_metrics

    def capture(origin, settings):
        origins.append(origin)
        return original(origin, settings)

    churn_fitting.origin_metrics = capture
    try:
        yield origins
    finally:
        churn_fitting.origin_metrics = original


def backtest_differences(origins, fit, rows: dict[str, dict]) -> list[dict]:
    """On each backtest cut-off the choice was made on: the raw ROC AUC of the holdout's
    best churn candidate minus the chosen candidate's, with its DeLong standard error."""
    candidates = {k.removeprefix("churn "): v for k, v in rows.items() if k.startswith("churn ")}
    best = max(candidates, key=lambda k: candidates[k]["roc_auc"])
    used = set(fit.metrics["rolling_backtest"]["choice_cutoffs"])
    out = []
    for origin in origins:
        if origin.cutoff.isoformat() not in used or best == fit.chosen:
            continue
        a, b = origin.scores.get(best), origin.scores.get(fit.chosen)
        if a is None or b is None:
            continue
        ok = np.isfinite(a) & np.isfinite(b)
        difference, se = auc_difference(origin.y[ok], a[ok], b[ok])
        out.append(
            {"cutoff": origin.cutoff.isoformat(), "best": best, "difference": difference, "se": se}
        )
    return out


def evaluate(transactions: pd.DataFrame, as_of: dt.date, lifetimes_python: str | None) -> dict:
    """Every row of the benchmark at one scoring date."""
    start = time.perf_counter()
    params = bench_params(as_of)
    unit_days = float(params["features"]["time_unit_days"])
    horizon = int(params["churn"]["horizon_days"])
    past = transactions[pd.to_datetime(transactions["date"]) <= pd.Timestamp(as_of)]
    customers, holdout = split_at(transactions, as_of, END, unit_days=unit_days)
    _, churn_holdout = split_at(
        transactions, as_of, as_of + dt.timedelta(days=horizon), unit_days=unit_days
    )
    outcomes = Outcomes(
        (churn_holdout["holdout_transactions"].to_numpy() == 0).astype(int),
        holdout["holdout_transactions"].to_numpy(float),
        holdout["holdout_value"].to_numpy(float),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ltv = fit_ltv(past, customers, as_of, params)
    with captured_origins() as origins:
        fit = churn_fitting.fit_churn(past, customers, None, as_of, params, ltv.transaction_model)
    rows = churn_rows(fit, customers, outcomes.churned)
    ltv_model = ltv.choice["model"]
    chosen = ltv.choice["transaction_model"] if ltv_model in TRANSACTION_MODELS else ltv_model
    tx, value = ltv.predictions[chosen]
    rows["choice"].update(outcomes.value_row(value, tx))
    for name, (tx, value) in ltv.predictions.items():
        rows[f"ltv {name}"] = outcomes.value_row(value, tx)
    if lifetimes_python:
        f, m = (customers[c].to_numpy(float) for c in ("frequency", "monetary_value"))
        spend = expected_spend(ltv.spend_model, f, m)
        t_end = (END - as_of).days / unit_days
        rows["lifetimes_bgnbd"] = lifetimes_row(
            lifetimes_python, customers, outcomes, spend, t_end, horizon / unit_days
        )
    rows.update(baseline_rows(past, customers, outcomes, as_of))
    return {
        "as_of": as_of.isoformat(),
        "customers": int(len(customers)),
        "churn_rate": float(outcomes.churned.mean()),
        "horizon_days": horizon,
        "chosen_churn": fit.chosen,
        "why": fit.metrics["why"],
        "ltv_model": ltv_model,
        "ltv_transaction_model": ltv.choice["transaction_model"],
        "ltv_why": ltv.choice["reason"],
        "ltv_fallback": ltv.choice.get("transaction_model_fallback"),
        "ltv_refused": ltv.refused,
        "refused": fit.metrics["refused"],
        "degraded": fit.degraded,
        "rolling_backtest": fit.metrics["rolling_backtest"],
        "backtest_differences": backtest_differences(origins, fit, rows),
        "rows": rows,
        "seconds": time.perf_counter() - start,
    }


def churn_margin(res: dict) -> tuple[str, float, float]:
    """The best churn candidate on the holdout (ROC AUC), the choice's AUC minus its and
    the DeLong standard error of that difference."""
    candidates = {k: v for k, v in res["rows"].items() if k.startswith("churn ")}
    best = max(candidates, key=lambda k: candidates[k]["roc_auc"])
    return best, -candidates[best]["vs_choice"], candidates[best]["vs_choice_se"]


def backtest_auc(res: dict, name: str) -> str:
    """A churn candidate's backtest ROC AUC on the cut-offs the choice was made on (each,
    then their mean), as text."""
    backtest = res["rolling_backtest"]
    used = set(backtest["choice_cutoffs"])
    name = name.removeprefix("churn ")
    values = [
        c["roc_auc"][name]
        for c in backtest["cutoffs"]
        if c["features_as_of"] in used and c["roc_auc"].get(name) is not None
    ]
    if not values:
        return f"{name} not backtested"
    each = ", ".join(f"{v:.4f}" for v in values)
    return f"{name} {each} (mean {np.mean(values):.4f})"


def _cell(row: dict, key: str, digits: int = 3) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    if key == "aggregate_error":
        return f"{value:+.1%}"
    return f"{value:.{digits}f}"


def _versus(row: dict) -> str:
    if row.get("vs_choice") is None:
        return "-"
    return f"{row['vs_choice']:+.4f} ({row['vs_choice_se']:.4f})"


def _notes(res: dict) -> list[str]:
    best, margin, se = churn_margin(res)
    cutoffs = ", ".join(res["rolling_backtest"]["choice_cutoffs"])
    lines = [
        f"- {res['as_of']}: {res['customers']} customers, churn rate {res['churn_rate']:.3f}, "
        f"{res['seconds']:.0f} s. Churn choice {res['chosen_churn']} ({res['why']}); "
        f"holdout AUC minus the best candidate ({best}): {margin:+.4f} (DeLong SE {se:.4f}); "
        f"backtest AUC on the choice's cut-off(s) {cutoffs}: "
        f"{backtest_auc(res, res['chosen_churn'])} against {backtest_auc(res, best)}. "
        f"ltv choice {res['ltv_model']} ({res['ltv_why']}); transaction model "
        f"{res['ltv_transaction_model']}"
        + (f" ({res['ltv_fallback']})" if res["ltv_fallback"] else "")
    ]
    for d in res["backtest_differences"]:
        lines.append(
            f"  - backtest {d['cutoff']}: {d['best']} minus {res['chosen_churn']} "
            f"{d['difference']:+.4f} (DeLong SE {d['se']:.4f})"
        )
    for stage, refused in (("churn", res["refused"]), ("ltv", res["ltv_refused"])):
        for name, reasons in refused.items():
            text = (
                reasons if isinstance(reasons, list) else [f"{k}: {v}" for k, v in reasons.items()]
            )
            lines.append(f"  - {stage} refused {name}: {'; '.join(text)}")
    return lines


def markdown(results: list[dict], run: str = "") -> str:
    """The results as bench/results/accuracy.md; ``run``: when, where and under what load."""
    horizon = "/".join(sorted({str(res["horizon_days"]) for res in results}))
    lines = [
        "# Accuracy benchmark: CDNOW master, strictly temporal",
        "",
        "Command: `make bench-accuracy` (`python bench/bench_accuracy.py --lifetimes-python "
        ".bench-venv/bin/python --write`). " + run,
        "",
        f"Churn: no purchase in (as_of, as_of + {horizon} d]; value and transactions: "
        f"(as_of, {END}]. params.yaml with margin 1, no costs. Targets: churn AUC >= "
        f"{TARGETS['roc_auc']}, Gini >= {TARGETS['gini']}, |aggregate error| <= "
        f"{TARGETS['aggregate_error']:.0%}. Candidates' churn scores raw, the choice calibrated.",
        "",
        "| as_of | score | churn AUC | AUC - choice (DeLong SE) | PR AUC | Brier | CLV Gini "
        "| aggregate tx error |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for res in results:
        for name, row in res["rows"].items():
            label = (
                f"choice ({res['chosen_churn']} / {res['ltv_model']})" if name == "choice" else name
            )
            lines.append(
                f"| {res['as_of']} | {label} | {_cell(row, 'roc_auc')} | {_versus(row)} "
                f"| {_cell(row, 'pr_auc')} "
                f"| {_cell(row, 'brier', 4)} | {_cell(row, 'gini')} | "
                f"{_cell(row, 'aggregate_error')} |"
            )
    lines.append("")
    for res in results:
        lines.extend(_notes(res))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lifetimes-python", default=None, help="interpreter with lifetimes")
    parser.add_argument("--dates", nargs="+", default=DATES, help="scoring dates (ISO)")
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS}")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw figures")
    args = parser.parse_args()
    transactions = load_cdnow()
    started, load_before = dt.datetime.now(dt.UTC), os.getloadavg()[0]
    results = []
    for text in args.dates:
        results.append(evaluate(transactions, dt.date.fromisoformat(text), args.lifetimes_python))
        print(f"{text} done in {results[-1]['seconds']:.0f} s", file=sys.stderr, flush=True)
    run = (
        f"Run {started:%Y-%m-%d %H:%M} UTC on {machine()}; 1-minute load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after."
    )
    report = markdown(results, run)
    print(report)
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(report, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float), encoding="utf-8")


if __name__ == "__main__":
    main()
