"""Branches (网点) and relationship managers (客户经理) of the synthetic bank's clients.

Branch sizes follow a Zipf law: branch k (1-based) gets a share proportional to
``k ** -zipf_exponent``, so a few head-office branches hold most clients and the tail is
small. Each branch has ``ceil(size / clients_per_manager)`` managers; a client's manager is
drawn uniformly within their branch. A ``unassigned_share`` of clients has no branch and no
manager (blank in the client master), as in a real extract where some accounts are not yet
allocated.

The stream is seeded from ``seed`` alone, independent of the other generator streams, so
adding these columns changes no other column of the sample.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: district names the synthetic branches are named after (支行)
DISTRICTS = (
    "天河", "越秀", "海珠", "荔湾", "白云", "黄埔", "番禺", "花都", "南沙", "从化",
    "增城", "福田", "罗湖", "南山", "宝安", "龙岗", "盐田", "龙华", "坪山", "光明",
    "禅城", "南海", "顺德", "三水", "高明", "香洲", "斗门", "金湾", "莞城", "东城",
    "南城", "万江", "石龙", "虎门", "长安", "惠城", "惠阳", "江海", "蓬江", "新会",
)  # fmt: skip


def assign_branches(
    customer_ids: pd.Series,
    seed: int,
    *,
    n_branches: int = 36,
    zipf_exponent: float = 1.1,
    clients_per_manager: int = 400,
    unassigned_share: float = 0.03,
) -> pd.DataFrame:
    """Branch code, branch name and relationship manager for every client.

    Parameters
    ----------
    customer_ids : pd.Series
        The client ids, one row each.
    seed : int
        Seed of this stream (the generator's seed).
    n_branches : int
        Number of branches (at most ``len(DISTRICTS)``).
    zipf_exponent : float
        s in P(branch k) proportional to k^-s.
    clients_per_manager : int
        Expected book of one manager; a branch has ceil(n_k / this) managers, at least one.
    unassigned_share : float
        Share of clients left without a branch (blank cells).

    Returns
    -------
    pd.DataFrame
        Columns ``branch`` (e.g. ``BR007``), ``branch_name`` (e.g. ``番禺支行``) and
        ``relationship_manager`` (e.g. ``BR007-RM03``), aligned with ``customer_ids``; blank
        strings for the unassigned clients.
    """
    if not 1 <= n_branches <= len(DISTRICTS):
        raise ValueError(f"n_branches must be 1..{len(DISTRICTS)}, got {n_branches}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 16]))
    n = len(customer_ids)
    weights = np.arange(1, n_branches + 1, dtype=float) ** -zipf_exponent
    branch = rng.choice(n_branches, size=n, p=weights / weights.sum())
    sizes = np.bincount(branch, minlength=n_branches)
    managers = np.maximum(1, np.ceil(sizes / clients_per_manager)).astype(int)
    manager = np.floor(rng.random(n) * managers[branch]).astype(int) + 1
    unassigned = rng.random(n) < unassigned_share
    codes = np.array([f"BR{k + 1:03d}" for k in range(n_branches)], dtype=object)
    names = np.array([f"{DISTRICTS[k]}支行" for k in range(n_branches)], dtype=object)
    rm = np.array([f"{c}-RM{m:02d}" for c, m in zip(codes[branch], manager, strict=True)])
    out = pd.DataFrame(
        {
            "branch": codes[branch],
            "branch_name": names[branch],
            "relationship_manager": rm.astype(object),
        },
        index=customer_ids.index,
    )
    out.loc[unassigned, :] = ""
    return out
