"""Per campaign (and per campaign x segment) lift tables from outcome rows.

Input rows: one per listed client, ``campaign, arm, <outcome columns>`` with ``arm`` the
control group's name (``control``) or a treatment arm; every treatment arm is compared
with its campaign's control.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evaluation.lift import economics, inconclusive, mean_lift, rate_lift

CONTROL = "control"


def compare(
    treated: pd.DataFrame,
    control: pd.DataFrame,
    outcomes: dict[str, str],
    seed: int,
    draws: int = 2000,
    min_control: int = 100,
) -> dict[str, Any]:
    """Every outcome of one treated group against its control.

    Parameters
    ----------
    treated, control : DataFrame
        Outcome rows of each group (columns named as in ``outcomes``).
    outcomes : dict
        Outcome name -> ``"rate"`` (0/1: Newcombe interval, z-test) or ``"money"``
        (bootstrap interval, Welch test); see :mod:`evaluation.lift`.
    seed, draws : int
        Bootstrap seed and replicates.
    min_control : int
        Smaller control groups are flagged (:func:`evaluation.lift.inconclusive`).

    Returns
    -------
    dict
        ``treated``, ``control`` (counts), ``outcomes`` ({name: Lift.as_dict() plus
        ``conclusive`` and ``note``}).
    """
    result: dict[str, Any] = {"treated": len(treated), "control": len(control), "outcomes": {}}
    if len(treated) == 0 or len(control) == 0:
        result["note"] = "no treated or no control clients"
        return result
    for i, (name, kind) in enumerate(outcomes.items()):
        t = treated[name].to_numpy(float)
        c = control[name].to_numpy(float)
        if kind == "rate":
            lift = rate_lift(t, c)
        else:
            lift = mean_lift(t, c, seed=seed + i, draws=draws)
        note = inconclusive(len(control), lift, kind == "rate", min_control)
        result["outcomes"][name] = {**lift.as_dict(), "conclusive": note is None, "note": note}
    return result


def value_outcome(outcomes: dict[str, str]) -> str | None:
    """The money outcome that measures value (the first one), None when there is none."""
    return next((name for name, kind in outcomes.items() if kind == "money"), None)


def evaluate_campaigns(
    rows: pd.DataFrame,
    outcomes: dict[str, str],
    costs: dict[str, float],
    *,
    source: str,
    seed: int,
    draws: int = 2000,
    min_control: int = 100,
) -> list[dict[str, Any]]:
    """One entry per campaign and treatment arm, compared with the campaign's control.

    Parameters
    ----------
    rows : DataFrame
        ``campaign, arm`` and the outcome columns.
    outcomes : dict
        Outcome name -> ``"rate"`` or ``"money"``.
    costs : dict
        Campaign -> cost per contact (0 when absent).
    source : str
        ``"lists"`` (the project's own archive) or ``"responses"`` (an imported extract).
    seed, draws, min_control : int
        See :func:`compare`.

    Returns
    -------
    list of dict
        ``campaign, arm, source, treated, control, outcomes`` and, when there is a money
        outcome, ``incremental_value, cost, roi`` (:func:`evaluation.lift.economics`).
        Campaigns are sorted by name; a campaign with one treatment arm keeps its name,
        with several it appears once per arm.
    """
    out = []
    money = value_outcome(outcomes)
    for campaign, group in rows.groupby("campaign", sort=True):
        control = group[group["arm"] == CONTROL]
        arms = sorted(set(group["arm"]) - {CONTROL})
        for arm in arms:
            entry = {"campaign": str(campaign), "arm": arm, "source": source}
            treated = group[group["arm"] == arm]
            entry.update(compare(treated, control, outcomes, seed, draws, min_control))
            cost = float(costs.get(str(campaign), 0.0))
            lift = entry["outcomes"].get(money, {}).get("lift", 0.0) if money else 0.0
            entry.update(economics(lift, entry["treated"], cost))
            out.append(entry)
    return out


def segment_rows(
    rows: pd.DataFrame,
    outcomes: dict[str, str],
    by: str,
    *,
    seed: int,
    draws: int = 500,
    min_control: int = 100,
) -> pd.DataFrame:
    """Lift per campaign x arm x ``by`` (value tier, branch), one row per outcome.

    Parameters
    ----------
    rows : DataFrame
        As for :func:`evaluate_campaigns`, with a ``by`` column.
    outcomes : dict
        Outcome name -> kind.
    by : str
        The segment column.
    seed, draws, min_control : int
        See :func:`compare`.

    Returns
    -------
    DataFrame
        ``campaign, arm, segment_by, segment, outcome, treated_n, control_n, treated,
        control, lift, ci_low, ci_high, p_value, conclusive`` (the plots CSV).
    """
    records = []
    for (campaign, segment), group in rows.groupby(["campaign", by], sort=True):
        control = group[group["arm"] == CONTROL]
        for arm in sorted(set(group["arm"]) - {CONTROL}):
            result = compare(
                group[group["arm"] == arm], control, outcomes, seed, draws, min_control
            )
            for name, values in result["outcomes"].items():
                records.append(
                    {
                        "campaign": campaign,
                        "arm": arm,
                        "segment_by": by,
                        "segment": segment,
                        "outcome": name,
                        "treated_n": result["treated"],
                        "control_n": result["control"],
                        **{k: values[k] for k in ("treated", "control", "lift")},
                        **{k: values[k] for k in ("ci_low", "ci_high", "p_value")},
                        "conclusive": values["conclusive"],
                    }
                )
    columns = ["campaign", "arm", "segment_by", "segment", "outcome", "treated_n", "control_n"]
    columns += ["treated", "control", "lift", "ci_low", "ci_high", "p_value", "conclusive"]
    return pd.DataFrame(records, columns=columns)


def outcome_kinds(rows: pd.DataFrame, names: list[str]) -> dict[str, str]:
    """``rate`` for columns holding only 0 and 1, else ``money``."""
    return {
        name: "rate" if np.isin(rows[name].dropna().unique(), [0, 1]).all() else "money"
        for name in names
    }
