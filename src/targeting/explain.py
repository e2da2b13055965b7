"""Why a target list is empty or shorter than its capacity: how many clients each rule took.

From the counts :func:`targeting.lists.build_target_lists` records per campaign, the funnel
of one list is::

    scored clients
      - not eligible (the campaign's own rule: warning level, lapsed days, P(alive), ...)
      - do_not_contact (eligible, but on the do-not-contact list)
      - min_expected_return (expected_value - cost_per_contact below the floor)
      - higher_priority_list (already on a list of higher priority)
      - capacity_or_budget (cut at capacity or at what the budget pays for)
      = rows

Every client scored is counted once, at the first rule that removed them, so the counts
add up to ``customers - rows``.
"""

from __future__ import annotations

from typing import Any

RULES = (
    "not_eligible",
    "do_not_contact",
    "min_expected_return",
    "higher_priority_list",
    "capacity_or_budget",
)


def removed_by_rule(campaign: dict[str, Any], customers: int) -> dict[str, int]:
    """How many of ``customers`` scored clients each rule kept off one campaign's list.

    Parameters
    ----------
    campaign : the campaign's entry of targets.json (``eligible``, ``paying``,
        ``suppressed``, ``overlap_removed``, ``rows``).
    customers : the number of clients scored (the targeting table's rows).

    Returns
    -------
    dict : rule -> clients removed (the order of :data:`RULES`); the sum is
        ``customers - rows``.
    """
    eligible, paying = int(campaign["eligible"]), int(campaign["paying"])
    suppressed, overlap = int(campaign["suppressed"]), int(campaign["overlap_removed"])
    rows = int(campaign["rows"])
    return {
        "not_eligible": customers - eligible - suppressed,
        "do_not_contact": suppressed,
        "min_expected_return": eligible - paying,
        "higher_priority_list": overlap,
        "capacity_or_budget": paying - overlap - rows,
    }


def explain_lists(metrics: dict[str, Any], customers: int, configured: dict[str, Any]) -> list[str]:
    """Add ``removed_by`` and, for a list below its capacity (or empty), ``short_because``
    (the rule that removed the most clients) to each campaign of ``metrics`` (targets.json);
    returns one plain sentence per short list, for the log.

    Parameters
    ----------
    metrics : targets.json as built by :func:`targeting.lists.build_target_lists`.
    customers : the number of clients scored.
    configured : the ``targeting.campaigns`` parameters (for ``capacity``).
    """
    lines = []
    for name, campaign in metrics.get("campaigns", {}).items():
        removed = removed_by_rule(campaign, customers)
        campaign["removed_by"] = removed
        capacity = (configured.get(name) or {}).get("capacity")
        short = campaign["rows"] == 0 or (capacity is not None and campaign["rows"] < capacity)
        if not short:
            continue
        binding = max(
            (r for r in RULES if r != "capacity_or_budget"),
            key=lambda r: (removed[r], -RULES.index(r)),
        )
        campaign["short_because"] = binding
        target = f"capacity {capacity}" if capacity is not None else "no capacity set"
        detail = ", ".join(f"{r} {n}" for r, n in removed.items() if n)
        lines.append(
            f"{name}: {campaign['rows']} rows ({target}); most removed by {binding} "
            f"({removed[binding]} of {customers}); removed: {detail or 'none'}"
        )
    return lines
