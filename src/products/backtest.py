"""Rolling temporal backtest of the take-up models, the model choice and the per-line summary.

Cut-offs ``c_k = as_of - h - k * step`` (``k = 0 .. n - 1``, those after the first
transaction). At each: for every line, a model is fitted on the customers not holding it
at ``c_k - h`` with labels from ``(c_k - h, c_k]``, and scores the customers not holding it
at ``c_k``, graded on ``(c_k, c_k + h]``. No label window overlaps the features it is
scored with; every candidate and baseline sees the same rows (Tashman 2000, out-of-sample
tests on rolling origins). The production model is fitted the same way at ``as_of - h``
and scores as of ``as_of``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features import CutoffTables
from kequn.log import get_logger, timed
from products.model import BASELINES, CANDIDATES, TakeUpModel, ranking_metrics
from products.takeup import check_lines, first_use, held_and_taken, line_rows, takeup_features

log = get_logger("products")

#: a line's model needs at least this many take-ups (and non-take-ups) to be fitted
MIN_TO_TRAIN = 20
#: and this many of each to be graded at a cut-off
MIN_TO_EVALUATE = 10


@dataclass
class Table:
    """One cut-off: customer ids, model inputs, and who holds / takes up each line."""

    cutoff: dt.date
    ids: pd.Series
    x: pd.DataFrame
    held: pd.DataFrame
    taken: pd.DataFrame
    features: pd.DataFrame


class TakeUpTables:
    """:class:`Table` by cut-off, each built once (features from :class:`features.CutoffTables`).

    Parameters
    ----------
    tx
        Transactions (``customer_id``, ``date``, ``amount``, ``product``, ...).
    product_lines
        ``segmentation.product_lines``.
    horizon_days
        ``products.horizon_days``.
    feature_args
        ``unit_days``, ``trend_window_days``, ``clients`` for :func:`features.split_at`.
    """

    def __init__(
        self,
        tx: pd.DataFrame,
        product_lines: Mapping[str, str],
        horizon_days: int,
        feature_args: Mapping[str, Any],
    ):
        self.tx = tx
        self.product_lines = dict(product_lines)
        self.lines = check_lines(product_lines)
        self.h = int(horizon_days)
        with timed(log, f"line rows and first use of each line ({len(tx)} transactions)"):
            self.rows = line_rows(tx, product_lines)
            self.first = first_use(self.rows, self.lines, tx["customer_id"])
        self.cutoff_tables = CutoffTables(tx, **dict(feature_args))
        self._tables: dict[dt.date, Table] = {}

    def at(self, cutoff: dt.date) -> Table:
        """The table of ``cutoff`` (features on or before it, take-up in ``(c, c + h]``)."""
        if cutoff not in self._tables:
            end = cutoff + dt.timedelta(days=self.h)
            features, _ = self.cutoff_tables.split(cutoff, end)
            with timed(log, f"take-up inputs at {cutoff}"):
                self._tables[cutoff] = self.table_of(features, cutoff)
        return self._tables[cutoff]

    def table_of(self, features: pd.DataFrame, cutoff: dt.date) -> Table:
        """A :class:`Table` from a customer table as of ``cutoff`` (customers.parquet at
        ``as_of``: then nobody has a take-up label yet)."""
        features = features.reset_index(drop=True)
        ids = features["customer_id"].astype(str)
        x = takeup_features(features, self.rows, self.product_lines, cutoff)
        held, taken = held_and_taken(self.first, ids, cutoff, self.h)
        return Table(cutoff, ids, x, held, taken, features)


def backtest_cutoffs(
    as_of: dt.date, horizon_days: int, n: int, step_days: int, first: dt.date
) -> list[dt.date]:
    """``as_of - h - k * step`` for ``k < n``, those with a training window after ``first``."""
    cuts = [as_of - dt.timedelta(days=horizon_days + k * step_days) for k in range(n)]
    return [c for c in cuts if c - dt.timedelta(days=horizon_days) > first]


def population(table: Table, line: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The inputs and take-up labels of the customers not holding ``line``."""
    keep = ~table.held[line].to_numpy()
    return table.x.loc[keep].reset_index(drop=True), table.taken[line].to_numpy()[keep]


def enough(y: np.ndarray, least: int) -> bool:
    """At least ``least`` take-ups and ``least`` non-take-ups."""
    counts = np.bincount(np.asarray(y, dtype=int), minlength=2)
    return counts.min() >= least


def fit_line(train: Table, line: str, kind: str, seed: int) -> TakeUpModel | None:
    """``kind`` fitted on ``train``'s non-holders of ``line``; None with too few take-ups
    for a fitted candidate (a baseline is always fitted)."""
    x, y = population(train, line)
    if kind in CANDIDATES and not enough(y, MIN_TO_TRAIN):
        return None
    return TakeUpModel(kind, seed).fit(x, y)


def evaluate_cutoff(
    tables: TakeUpTables, cutoff: dt.date, seed: int
) -> dict[str, dict[str, dict[str, Any]]]:
    """``{line: {model: metrics}}`` at one cut-off; a line with too few take-ups to grade,
    or a candidate that could not be fitted, is left out."""
    train = tables.at(cutoff - dt.timedelta(days=tables.h))
    test = tables.at(cutoff)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for line in tables.lines:
        x, y = population(test, line)
        if not enough(y, MIN_TO_EVALUATE):
            log.warning("%s at %s: %d take-ups, not graded", line, cutoff, int(y.sum()))
            continue
        out[line] = {}
        for kind in (*CANDIDATES, *BASELINES):
            with timed(log, f"{kind} for {line} at {cutoff}"):
                model = fit_line(train, line, kind, seed)
            if model is not None:
                out[line][kind] = ranking_metrics(model.predict_proba(x), y)
    return out


def rolling_backtest(
    tables: TakeUpTables, cutoffs: list[dt.date], seed: int
) -> dict[dt.date, dict[str, dict[str, dict[str, Any]]]]:
    """:func:`evaluate_cutoff` at every cut-off, most recent first."""
    with timed(log, f"rolling backtest at {len(cutoffs)} cut-off(s)"):
        return {cutoff: evaluate_cutoff(tables, cutoff, seed) for cutoff in cutoffs}


def choose_model(results: Mapping[dt.date, Mapping[str, Mapping]]) -> tuple[str, str]:
    """The candidate with the highest mean ROC AUC over every (cut-off, line) both were
    graded on (ties: the earlier of :data:`CANDIDATES`), and why."""
    pairs = [
        by_model
        for by_line in results.values()
        for by_model in by_line.values()
        if all(k in by_model for k in CANDIDATES)
    ]
    if not pairs:
        return CANDIDATES[0], "no cut-off graded every candidate; default"
    means = {k: float(np.mean([p[k]["auc"] for p in pairs])) for k in CANDIDATES}
    best = max(CANDIDATES, key=lambda k: (round(means[k], 12), -CANDIDATES.index(k)))
    shown = ", ".join(f"{k} {v:.3f}" for k, v in means.items())
    return best, f"highest mean backtest AUC over {len(pairs)} line cut-off(s) ({shown})"


def summarise(
    results: Mapping[dt.date, Mapping[str, Mapping]], model: str, lines: tuple[str, ...]
) -> dict[str, Any]:
    """Per line, the chosen model's and the baselines' metrics averaged over the cut-offs.

    Per line: ``auc, pr_auc, lift_at_10, take_up_rate, top_decile_take_up_rate`` (model),
    ``baseline_auc, baseline_lift_at_10`` (popularity), ``lead_line_auc,
    lead_line_lift_at_10``, ``activity_auc, activity_lift_at_10``, ``cutoffs`` (dates
    graded) and ``spread`` (max - min of the AUC over those cut-offs). ``mean``: the
    unweighted mean over the graded lines.
    """
    per_line: dict[str, Any] = {}
    for line in lines:
        graded = {c: r[line] for c, r in results.items() if model in r.get(line, {})}
        if not graded:
            continue
        rows = list(graded.values())

        def mean(kind: str, metric: str, rows: list = rows) -> float:
            return float(np.mean([r[kind][metric] for r in rows]))

        aucs = [r[model]["auc"] for r in rows]
        per_line[line] = {
            "auc": mean(model, "auc"),
            "pr_auc": mean(model, "pr_auc"),
            "lift_at_10": mean(model, "lift_at_10"),
            "baseline_auc": mean("popularity", "auc"),
            "baseline_lift_at_10": mean("popularity", "lift_at_10"),
            "lead_line_auc": mean("lead_line", "auc"),
            "lead_line_lift_at_10": mean("lead_line", "lift_at_10"),
            "activity_auc": mean("activity", "auc"),
            "activity_lift_at_10": mean("activity", "lift_at_10"),
            "take_up_rate": mean(model, "take_up_rate"),
            "top_decile_take_up_rate": mean(model, "top_decile_take_up_rate"),
            "cutoffs": [c.isoformat() for c in graded],
            "spread": float(max(aucs) - min(aucs)),
        }
    keys = ("auc", "pr_auc", "lift_at_10", "baseline_auc", "baseline_lift_at_10")
    keys += ("lead_line_auc", "lead_line_lift_at_10", "activity_auc", "activity_lift_at_10")
    keys += ("take_up_rate", "top_decile_take_up_rate")
    overall = {k: float(np.mean([v[k] for v in per_line.values()])) for k in keys}
    return {"lines": per_line, "mean": overall if per_line else {}}
