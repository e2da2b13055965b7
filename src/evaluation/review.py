"""From evaluated campaigns to what the next lists use: the response rate per targeting
campaign (measured lift shrunk toward the prior) and the uplift model's training data."""

from __future__ import annotations

import math
from typing import Any

from evaluation.lift import Lift, shrunk_rate


def campaign_type(name: str, known: list[str]) -> str:
    """The targeting campaign a past campaign measures: its name, or the part before its
    first ``_`` when that is a configured campaign (``retention_2025q3`` -> ``retention``)."""
    if name in known:
        return name
    head = name.split("_", 1)[0]
    return head if head in known else name


def expected_responses(
    entries: list[dict[str, Any]],
    priors: dict[str, float],
    rate_outcomes: dict[str, str],
    prior_strength: float,
) -> dict[str, dict[str, Any]]:
    """The response rate each targeting campaign's next list should use.

    Parameters
    ----------
    entries : list of dict
        Evaluated campaigns (:func:`evaluation.campaigns.evaluate_campaigns`) with
        ``campaign_type`` and ``source``.
    priors : dict
        Targeting campaign -> its ``response_rate`` parameter.
    rate_outcomes : dict
        Source -> the rate outcome that measures a response (``active`` for the archive,
        the first rate outcome of an imported extract).
    prior_strength : float
        See :func:`evaluation.lift.shrunk_rate`.

    Returns
    -------
    dict
        Campaign -> ``prior, measured, ci_low, ci_high, used, basis, from`` where basis is
        ``prior`` (nothing measured), ``measured`` (the shrinkage weight on the measurement
        is at least 0.9) or ``shrunk`` (in between). The latest evaluated campaign of a type
        counts (the last entry in ``entries`` order).
    """
    out = {}
    for name, prior in priors.items():
        found = [e for e in entries if e.get("campaign_type") == name]
        found = [e for e in found if rate_outcomes.get(e["source"]) in e["outcomes"]]
        if not found:
            out[name] = {"prior": prior, "measured": None, "used": prior, "basis": "prior"}
            continue
        entry = found[-1]
        o = entry["outcomes"][rate_outcomes[entry["source"]]]
        lift = Lift(o["treated"], o["control"], o["lift"], o["ci_low"], o["ci_high"], o["p_value"])
        used = shrunk_rate(lift, prior, prior_strength)
        se = (lift.ci_high - lift.ci_low) / 3.92
        weight = prior_strength**2 / (prior_strength**2 + se**2)
        out[name] = {
            "prior": prior,
            "measured": lift.lift,
            "ci_low": lift.ci_low,
            "ci_high": lift.ci_high,
            "used": round(used, 6),
            "weight_on_measured": round(weight, 4),
            "basis": "measured" if weight >= 0.9 else "shrunk",
            "from": entry["campaign"],
        }
    return out


def keyed_figures(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The headline figures keyed ``<campaign>.<arm>`` (``dvc metrics diff`` flattens nested
    mappings, not lists): treated, control, roi and each outcome's lift, interval, p-value."""
    return {
        f"{e['campaign']}.{e['arm']}": {
            "treated": e["treated"],
            "control": e["control"],
            "roi": e.get("roi"),
            **{
                name: {k: o[k] for k in ("lift", "ci_low", "ci_high", "p_value")}
                for name, o in e["outcomes"].items()
            },
        }
        for e in entries
    }


def finite(obj: Any) -> Any:
    """``obj`` with NaN and infinities replaced by None (valid JSON for dvc metrics)."""
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
