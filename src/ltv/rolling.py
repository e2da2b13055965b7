"""Rolling-origin backtest of the lifetime-value candidates.

Holdout ends ``e_k = as_of - k * step`` (``k = 0 .. n - 1``) with cut-offs
``c_k = e_k - H`` inside the history: at each, :func:`ltv.backtest.run_backtest` fits every
candidate on features strictly as of ``c_k`` and scores the holdout ``(c_k, e_k]`` (the
supervised candidates trained one window earlier). Older cut-offs see younger cohorts and
other months of the year. The choice is made on the mean over the cut-offs (Tashman 2000,
"Out-of-sample tests of forecasting accuracy"), and each candidate's spread is reported; a
candidate refused at a cut-off (fit not converged, a parameter at a bound, P(alive)
constant, nothing to train on) is recorded there with the reason.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features import CutoffTables
from ltv.backtest import CANDIDATES, BacktestResult, run_backtest

#: the naive baseline every choice is graded against (past spend of the last window repeats)
BASELINE = "past_value_repeats"
#: metrics summarised over the cut-offs
SUMMARISED = ("mae_value", "gini", "value_error", "transactions_error", "spearman")


@dataclass
class RollingResult:
    """The backtests, most recent first (``origins[0]`` is the classic single backtest),
    and what was refused where: ``refused[candidate][cutoff] = reason``."""

    origins: list[BacktestResult]
    refused: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def latest(self) -> BacktestResult:
        """The most recent backtest (cut-off ``as_of - H``)."""
        return self.origins[0]


def origin_ends(as_of: dt.date, holdout_days: int, n: int, step_days: int, first: dt.date):
    """``as_of - k * step`` for ``k < n`` whose cut-off ``end - holdout_days`` is after
    ``first`` (the first transaction date); always at least ``as_of`` itself."""
    ends = [as_of - dt.timedelta(days=k * step_days) for k in range(n)]
    kept = [e for e in ends if e - dt.timedelta(days=holdout_days) > first]
    return kept or [as_of]


def run_rolling(
    transactions: pd.DataFrame,
    as_of: dt.date,
    *,
    holdout_days: int,
    origins: int,
    step_days: int,
    tables: CutoffTables,
    candidates: tuple[str, ...] = CANDIDATES,
    **backtest_args: Any,
) -> RollingResult:
    """:func:`ltv.backtest.run_backtest` at every end of :func:`origin_ends`, sharing the
    cut-off feature tables; ``backtest_args``: its unit_days, trend_window_days, penalizer,
    seed. ``transactions`` must hold nothing after ``as_of``."""
    first = pd.to_datetime(transactions["date"]).min().date()
    results = []
    refused: dict[str, dict[str, str]] = {}
    for end in origin_ends(as_of, holdout_days, origins, step_days, first):
        result = run_backtest(
            transactions,
            end,
            holdout_days=holdout_days,
            candidates=candidates,
            tables=tables,
            **backtest_args,
        )
        for name, reason in result.skipped.items():
            refused.setdefault(name, {})[result.cutoff.isoformat()] = reason
        results.append(result)
    return RollingResult(results, refused)


def _spread(values: list[float]) -> dict[str, float | None]:
    finite = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if finite.size == 0:
        return {"mean": None, "std": None, "min": None, "max": None}
    return {
        "mean": float(finite.mean()),
        "std": float(finite.std(ddof=0)),
        "min": float(finite.min()),
        "max": float(finite.max()),
    }


def comparable(rolling: RollingResult) -> list[int]:
    """Indices of the backtests the choice is made on: those where every candidate scored
    on the most recent cut-off (the ones that can score now) was scored too."""
    names = [n for n in rolling.latest.metrics if n in CANDIDATES]
    return [i for i, r in enumerate(rolling.origins) if all(n in r.metrics for n in names)]


def summarise(rolling: RollingResult, used: list[int] | None = None) -> dict[str, dict[str, Any]]:
    """Per candidate and for the baseline: over the backtests ``used`` (default all) that
    scored it, mean / std / min / max of :data:`SUMMARISED`, the cut-offs it was scored on
    (``origins``) and per cut-off its MAE, Gini and aggregate value error."""
    used = list(range(len(rolling.origins))) if used is None else used
    names = [n for n in (*CANDIDATES, BASELINE) if any(n in r.metrics for r in rolling.origins)]
    summary = {}
    for name in names:
        rows = [(rolling.origins[i].cutoff, rolling.origins[i].metrics.get(name)) for i in used]
        rows = [(c, m) for c, m in rows if m]
        entry: dict[str, Any] = {"origins": len(rows)}
        for metric in SUMMARISED:
            entry[metric] = _spread([m.get(metric) for _, m in rows])
        entry["by_cutoff"] = {
            c.isoformat(): {k: m.get(k) for k in ("mae_value", "gini", "value_error")}
            for c, m in rows
        }
        summary[name] = entry
    return summary


def choose(summary: dict[str, dict[str, Any]], names: list[str]) -> tuple[str, str]:
    """Among ``names``, the lowest mean per-customer MAE of holdout value over the
    cut-offs (ties to 9 significant digits: smaller mean |aggregate value error|, then
    name). Raises ValueError when none has a mean."""
    scored = [n for n in names if n in summary and summary[n]["mae_value"]["mean"] is not None]
    if not scored:
        raise ValueError("no candidate has backtest metrics to choose from")

    def key(name: str) -> tuple[float, float, str]:
        m = summary[name]
        error = m["value_error"]["mean"]
        return (
            float(f"{m['mae_value']['mean']:.9g}"),
            abs(error) if error is not None else math.inf,
            name,
        )

    ranked = sorted(scored, key=key)
    best = summary[ranked[0]]
    why = (
        f"lowest mean per-customer MAE of holdout value over {best['origins']} cut-off(s) "
        f"({best['mae_value']['mean']:.4g} ± {best['mae_value']['std']:.2g})"
    )
    if len(ranked) > 1:
        why += f"; next {ranked[1]} ({summary[ranked[1]]['mae_value']['mean']:.4g})"
    return ranked[0], why
