"""Asset-outflow (资产流失预警) and complaint (投诉预警) warnings from the balance and
service-event features (:mod:`features.signals`), graded red / orange / yellow.

**Outflow.** For the windows ``j`` of 1, 3 and 6 months the fall is
``d_j = -aum_change_jm`` (the share of the AUM ``j`` months back that has gone) and the
earlier AUM is ``A_j = aum_latest / (1 + aum_change_jm)``. A level with thresholds
``(drop, months)`` fires when some window has ``d_j >= drop`` and ``A_j >= min_aum`` and
the AUM has fallen for at least ``months`` months in a row (``aum_decline_months``): the
size and the length of the decline. The client's level is the highest that fires; the
window named is the one with the largest qualifying fall.

**Complaints.** A level with thresholds ``(unresolved, recent)`` fires when the client has
at least ``unresolved`` unresolved complaints, the latest of them at most ``max_age_days``
old, or at least ``recent`` complaints in the last 90 days.

A client without the features (no snapshot, no event, or the extract not configured) gets
``none``, and so does a lapsed client (:func:`churn.warning.lapsed_clients`): as the churn
warning, these grade the active clients; the lapsed are a win-back matter.
``alert_level`` joins them with the churn warning: the highest of the three.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from churn.warning import LEVELS

#: the outflow windows, in months (features.signals.CHANGE_MONTHS)
WINDOWS = (1, 3, 6)
#: graded from the strictest down; the first level that fires is the client's
GRADES = ("red", "orange", "yellow")


def _column(features: pd.DataFrame, name: str) -> np.ndarray:
    if name not in features:
        return np.full(len(features), np.nan)
    return pd.to_numeric(features[name], errors="coerce").to_numpy(dtype=float)


def _pick(n: int, fired: dict[str, np.ndarray], lapsed: np.ndarray | None) -> np.ndarray:
    """The highest level that fires; ``none`` for lapsed clients."""
    out = np.full(n, "none", dtype=object)
    for grade in reversed(GRADES):  # yellow first, overwritten by the stricter ones
        out = np.where(fired[grade], grade, out)
    if lapsed is not None:
        out = np.where(np.asarray(lapsed, dtype=bool), "none", out)
    return out


def outflow_warning(
    features: pd.DataFrame, rules: Any, lapsed: np.ndarray | None = None
) -> pd.DataFrame:
    """The asset-outflow level per customer and the rule that fired (module docstring).

    Parameters
    ----------
    features : DataFrame
        Customer rows with ``aum_latest``, ``aum_change_{1,3,6}m`` and
        ``aum_decline_months`` (any may be absent: then no level fires).
    rules : kequn.settings.OutflowWarning
        ``red`` / ``orange`` / ``yellow`` with ``drop`` and ``months``, and ``min_aum``.
    lapsed : array of bool, optional
        Clients given ``none`` whatever their figures (:func:`churn.warning.lapsed_clients`).

    Returns
    -------
    DataFrame
        In the order of ``features``: ``outflow_warning`` (none / yellow / orange / red),
        ``outflow_drop`` (the fall's share in the window named, NaN without a level),
        ``outflow_window_months`` (0 without a level) and ``outflow_rule`` (the level's
        thresholds and the client's figures, empty without a level).
    """
    latest = _column(features, "aum_latest")
    change = np.column_stack([_column(features, f"aum_change_{j}m") for j in WINDOWS])
    falling = np.nan_to_num(_column(features, "aum_decline_months"))
    fall = -change
    earlier = latest[:, None] / (1.0 + change)
    big_enough = np.nan_to_num(earlier, nan=-1.0) >= float(rules.min_aum)
    fired, qualifying = {}, {}
    for grade in GRADES:
        level = getattr(rules, grade)
        qualifying[grade] = big_enough & (np.nan_to_num(fall, nan=-1.0) >= level.drop)
        fired[grade] = qualifying[grade].any(axis=1) & (falling >= level.months)
    levels = _pick(len(latest), fired, lapsed)
    drop = np.full(len(latest), np.nan)
    window = np.zeros(len(latest), dtype=np.int64)
    for grade in GRADES:
        rows = levels == grade
        best = np.argmax(np.where(qualifying[grade], fall, -np.inf), axis=1)
        drop = np.where(rows, np.take_along_axis(fall, best[:, None], axis=1)[:, 0], drop)
        window = np.where(rows, np.asarray(WINDOWS)[best], window)
    rule = _outflow_rule(levels, drop, window, falling, rules)
    return pd.DataFrame(
        {
            "outflow_warning": levels.astype(str),
            "outflow_drop": np.round(drop, 4),
            "outflow_window_months": window,
            "outflow_rule": rule,
        }
    )


def _outflow_rule(levels, drop, window, falling, rules) -> np.ndarray:
    text = np.full(len(levels), "", dtype=object)
    for grade in GRADES:
        level = getattr(rules, grade)
        rows = np.flatnonzero(levels == grade)
        length = f", falling {{}} months in a row (>= {level.months})" if level.months else ""
        text[rows] = [
            f"{grade}: AUM down {100 * drop[i]:.0f}% in {window[i]} months "
            f"(>= {100 * level.drop:.0f}%)" + length.format(int(falling[i]))
            for i in rows
        ]
    return text


def complaint_warning(
    features: pd.DataFrame, rules: Any, lapsed: np.ndarray | None = None
) -> pd.DataFrame:
    """The complaint level per customer and the rule that fired (module docstring).

    Parameters
    ----------
    features : DataFrame
        Customer rows with ``unresolved_complaints``, ``days_since_unresolved`` and
        ``complaints_90d`` (any may be absent or NaN: the count then is 0).
    rules : kequn.settings.ComplaintWarning
        ``red`` / ``orange`` / ``yellow`` with ``unresolved`` and ``recent``, and
        ``max_age_days``.
    lapsed : array of bool, optional
        As for :func:`outflow_warning`.

    Returns
    -------
    DataFrame
        In the order of ``features``: ``complaint_warning`` and ``complaint_rule``.
    """
    age = _column(features, "days_since_unresolved")
    fresh = np.nan_to_num(age, nan=np.inf) <= rules.max_age_days
    unresolved = np.where(fresh, np.nan_to_num(_column(features, "unresolved_complaints")), 0)
    recent = np.nan_to_num(_column(features, "complaints_90d"))
    fired, by_unresolved = {}, {}
    for grade in GRADES:
        level = getattr(rules, grade)
        by_unresolved[grade] = unresolved >= level.unresolved
        fired[grade] = by_unresolved[grade] | (recent >= level.recent)
    levels = _pick(len(unresolved), fired, lapsed)
    text = np.full(len(levels), "", dtype=object)
    for grade in GRADES:
        level = getattr(rules, grade)
        for i in np.flatnonzero(levels == grade):
            text[i] = (
                f"{grade}: {int(unresolved[i])} unresolved complaints (>= {level.unresolved}), "
                f"the latest {int(age[i])} days ago"
                if by_unresolved[grade][i]
                else f"{grade}: {int(recent[i])} complaints in 90 days (>= {level.recent})"
            )
    return pd.DataFrame({"complaint_warning": levels.astype(str), "complaint_rule": text})


def alert_level(*levels: np.ndarray) -> np.ndarray:
    """The highest of several warning levels per customer (``none`` < yellow < orange < red)."""
    rank = {name: i for i, name in enumerate(LEVELS)}
    codes = np.max([pd.Series(lv).map(rank).to_numpy(dtype=int) for lv in levels], axis=0)
    return np.asarray(LEVELS, dtype=object)[codes].astype(str)
