"""Handing lists to branches (网点) and relationship managers (客户经理): quotas and shares.

A bank works its lists through branches: each branch and each manager can only make so
many contacts, and a sub-branch wants the top of *its own* clients, not the top of the
country. The functions here are pure (frames and settings in, frames out), so the stage,
the lift ranking and the archive of issued lists can share them.

Rules (per campaign, in ``targeting.campaigns.<campaign>``):

- ``per_branch``: at most this many rows (contacts and control) per branch;
- ``per_manager``: at most this many rows per relationship manager; clients without a
  manager count against their branch's quota only;
- ``top_share_per_branch``: only the top share of each branch's clients by contribution
  (``total_value``, the client's historic value) are candidates.

Clients without a branch are in the branch :data:`UNASSIGNED`; they are never dropped.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

#: the branch (and manager) of clients the client master gives none
UNASSIGNED = "unassigned"
#: the columns every list carries for the branch that works it
BRANCH_COLUMNS = ("branch", "branch_name", "relationship_manager")


def with_branches(table: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """``table`` with ``branch``, ``branch_name`` and ``relationship_manager`` filled.

    Parameters
    ----------
    table : pd.DataFrame
        One row per customer; the branch columns are optional.

    Returns
    -------
    tuple[pd.DataFrame, bool]
        The table with blank or missing branch and manager set to :data:`UNASSIGNED` (a
        missing branch name falls back to the branch code), and whether the input had a
        ``branch`` column at all.
    """
    out = table.copy()
    had_branch = "branch" in out.columns
    for column in BRANCH_COLUMNS:
        values = out[column] if column in out.columns else pd.Series(pd.NA, index=out.index)
        values = values.astype("string").str.strip()
        out[column] = values.where(values.notna() & (values != ""), pd.NA)
    out["branch"] = out["branch"].fillna(UNASSIGNED)
    out["branch_name"] = out["branch_name"].fillna(out["branch"])
    out["relationship_manager"] = out["relationship_manager"].fillna(UNASSIGNED)
    for column in BRANCH_COLUMNS:
        out[column] = out[column].astype(object)
    return out, had_branch


def top_share_in_branch(table: pd.DataFrame, share: float, by: str = "total_value") -> pd.Series:
    """True for the top ``share`` of each branch's clients by ``by``.

    Parameters
    ----------
    table : pd.DataFrame
        All clients (not only a campaign's candidates), with ``branch``, ``customer_id``
        and ``by``.
    share : float
        In (0, 1]; a branch of n clients keeps its ceil(share * n) best, so every branch
        with a client keeps at least one.
    by : str
        The contribution column; ties are broken by customer id.

    Returns
    -------
    pd.Series
        Boolean, aligned with ``table``.
    """
    if not 0.0 < share <= 1.0:
        raise ValueError(f"top_share_per_branch must be in (0, 1], got {share}")
    ordered = table.sort_values(
        [by, "customer_id"], ascending=[False, True], kind="mergesort", na_position="last"
    )
    position = ordered.groupby("branch", sort=False).cumcount() + 1
    size = ordered.groupby("branch", sort=False)["customer_id"].transform("size")
    keep = position <= np.ceil(share * size - 1e-9)
    return keep.reindex(table.index)


def _limit(settings: dict, key: str) -> int | None:
    value = settings.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{key} must be a non-negative whole number or null, got {value!r}")
    return int(value)


def allocate(ranked: pd.DataFrame, settings: dict) -> pd.DataFrame:
    """Cut a ranked candidate list to what managers, branches and the country can work.

    Greedy in rank order: a candidate is taken when their manager has fewer than
    ``per_manager`` rows, their branch fewer than ``per_branch``, the list fewer than
    ``capacity`` and the budget pays for one more contact (``budget // cost_per_contact``).
    Because a manager belongs to one branch (managers are keyed by branch and manager) and
    the national limits stop the list for good once reached, applying the three limits one
    after the other on running counts gives exactly the greedy result, and no quota is ever
    exceeded.

    Parameters
    ----------
    ranked : pd.DataFrame
        Candidates, best first, with ``branch`` and ``relationship_manager``.
    settings : dict
        One campaign's settings: ``capacity``, ``budget``, ``cost_per_contact``,
        ``per_branch``, ``per_manager``.

    Returns
    -------
    pd.DataFrame
        The kept rows, in rank order.
    """
    per_manager = _limit(settings, "per_manager")
    per_branch = _limit(settings, "per_branch")
    kept = ranked
    if per_manager is not None:
        named = kept["relationship_manager"] != UNASSIGNED
        seen = kept.groupby(["branch", "relationship_manager"], sort=False).cumcount()
        kept = kept[~named | (seen < per_manager)]
    if per_branch is not None:
        kept = kept[kept.groupby("branch", sort=False).cumcount() < per_branch]
    keep = len(kept)
    capacity = _limit(settings, "capacity")
    if capacity is not None:
        keep = min(keep, capacity)
    cost = float(settings.get("cost_per_contact", 0.0))
    if settings.get("budget") is not None and cost > 0:
        keep = min(keep, int(float(settings["budget"]) // cost))
    return kept.head(keep)


def _uniform(customer_id: str, campaign: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}|{campaign}|{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def branch_control_flags(
    chosen: pd.DataFrame, campaign: str, share: float, seed: int
) -> np.ndarray:
    """True for the customers held out as control, drawn within each branch.

    Every customer gets u = first 8 bytes of SHA-256("seed|campaign|customer_id") / 2^64,
    uniform on [0, 1) and fixed across reruns. In a branch with n listed customers the
    round(share * n) with the smallest u are control (at least one when share * n >= 0.5),
    so every branch's control share is as close to ``share`` as its size allows and each
    branch's effect can be measured against its own control.

    Parameters
    ----------
    chosen : pd.DataFrame
        The list, with ``customer_id`` and ``branch``.
    campaign, share, seed
        The campaign code, the control share and the run's seed.

    Returns
    -------
    np.ndarray
        Boolean, aligned with ``chosen``.
    """
    if chosen.empty:
        return np.zeros(0, dtype=bool)
    u = pd.Series([_uniform(c, campaign, seed) for c in chosen["customer_id"]], index=chosen.index)
    frame = pd.DataFrame({"branch": chosen["branch"].to_numpy(), "u": u.to_numpy()})
    frame["order"] = frame.groupby("branch")["u"].rank(method="first")
    size = frame.groupby("branch")["u"].transform("size")
    quota = np.floor(share * size + 0.5)
    return (frame["order"] <= quota).to_numpy()


def branch_summary(lists: dict[str, pd.DataFrame]) -> list[dict]:
    """The list x branch table: rows, contacts, control and expected value of the contacts.

    Parameters
    ----------
    lists : dict[str, pd.DataFrame]
        campaign -> list with ``branch``, ``branch_name``, ``control``, ``expected_value``.

    Returns
    -------
    list[dict]
        One record per (campaign, branch), campaigns in list order, branches by code.
    """
    records = []
    for campaign, frame in lists.items():
        contacted = frame.assign(ev=frame["expected_value"].where(frame["control"] == 0, 0.0))
        grouped = contacted.groupby(["branch", "branch_name"], sort=True)
        for (branch, name), group in grouped:
            records.append(
                {
                    "campaign": campaign,
                    "branch": branch,
                    "branch_name": name,
                    "rows": int(len(group)),
                    "contacts": int((group["control"] == 0).sum()),
                    "control": int((group["control"] == 1).sum()),
                    "managers": int(group["relationship_manager"].nunique()),
                    "expected_value": round(float(group["ev"].sum()), 2),
                }
            )
    return records


def sheet_name(branch: str, taken: set[str]) -> str:
    """An Excel sheet name for ``branch``: at most 31 characters, none of ``[]:*?/\\``,
    unique among ``taken``."""
    clean = "".join("_" if ch in "[]:*?/\\" else ch for ch in branch)[:28] or "branch"
    name, k = clean, 1
    while name in taken:
        k += 1
        name = f"{clean[: 31 - len(str(k)) - 1]}~{k}"
    return name


def file_stem(branch: str) -> str:
    """A safe file name for ``branch`` (letters, digits, ``-``, ``_`` and CJK kept)."""
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in branch).strip("._")
    return stem or "branch"


__all__ = [
    "BRANCH_COLUMNS",
    "UNASSIGNED",
    "allocate",
    "branch_control_flags",
    "branch_summary",
    "file_stem",
    "sheet_name",
    "top_share_in_branch",
    "with_branches",
]
