"""RFM scores (1-5) with tie-aware rank quantiles, and the named R x F segments.

Scores (Hughes 1994, *Strategic Database Marketing*): R from ``days_since_last`` (more
recent is better), F from ``frequency`` (repeat transaction days), M from ``total_value``.
5 is best.

Tie-aware quantile bins. ``pd.qcut`` fails (or collapses bins) when many customers share a
value -- typically most customers have frequency 0 -- and splitting equal values by row
order would give equal customers different scores. Instead the *distinct* values, sorted,
with their counts, are cut into consecutive groups, one bin at a time:

- with ``m >= 5`` distinct values, bin ``b`` (of the ``B`` still to fill, ``N`` customers
  still unassigned) takes distinct values until its count is as close as possible to
  ``N / B`` -- at least one distinct value, and leaving at least one for each later bin.
  All five scores are used whenever there are five distinct values, and the bins are as
  equal in size as the ties allow.
- with ``m < 5`` distinct values, value ``j`` gets the quintile of its mid-rank
  ``p_j = (customers below + count_j / 2) / n``, i.e. ``ceil(5 p_j)``, then is pushed up
  to stay strictly above value ``j - 1`` and down to leave room for the values above it.
  Every distinct value gets its own score and the extremes stay meaningful (two groups of
  70 % and 30 % score 2 and 5).

Equal values always get equal scores. Missing inputs count as the worst value.

Segment map (R x F; the widely used 11-segment grid, e.g. Putler / Guillaume Martin,
"RFM segmentation"), rows R = 5..1, columns F = 1..5::

    R\\F  1               2                    3                    4               5
    5    new             potential_loyalists  potential_loyalists  champions       champions
    4    promising       potential_loyalists  potential_loyalists  loyal           loyal
    3    about_to_sleep  about_to_sleep       need_attention       loyal           loyal
    2    hibernating     hibernating          at_risk              at_risk         cant_lose_them
    1    lost            lost                 at_risk              at_risk         cant_lose_them
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

N_BINS = 5

RFM_SEGMENTS = (
    "champions",
    "loyal",
    "potential_loyalists",
    "new",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cant_lose_them",
    "hibernating",
    "lost",
)

#: SEGMENT_GRID[r - 1][f - 1]
SEGMENT_GRID = np.array(
    [
        ["lost", "lost", "at_risk", "at_risk", "cant_lose_them"],  # R = 1
        ["hibernating", "hibernating", "at_risk", "at_risk", "cant_lose_them"],  # R = 2
        ["about_to_sleep", "about_to_sleep", "need_attention", "loyal", "loyal"],  # R = 3
        [
            "promising",
            "potential_loyalists",
            "potential_loyalists",
            "loyal",
            "loyal",
        ],  # R = 4
        ["new", "potential_loyalists", "potential_loyalists", "champions", "champions"],  # R = 5
    ],
    dtype=object,
)


def few_values_scores(counts: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Scores for ``m <= n_bins`` distinct values: mid-rank quantile, strictly increasing."""
    m = len(counts)
    n = counts.sum()
    below = np.concatenate(([0], np.cumsum(counts)[:-1]))
    mid = (below + counts / 2) / n
    base = np.clip(np.ceil(n_bins * mid - 1e-9), 1, n_bins).astype(np.int64)
    j = np.arange(1, m + 1)
    increasing = j + np.maximum.accumulate(base - j)  # s_j = max(b_j, s_{j-1} + 1)
    return np.minimum(increasing, n_bins - m + j)


def greedy_bin_ends(
    first_at_least: Callable[[float], int],
    cum_at: Callable[[int], int],
    n: int,
    m: int,
    n_bins: int = N_BINS,
) -> np.ndarray:
    """Last distinct-value index of each bin for ``m > n_bins`` distinct values (module doc).

    The distinct values are sorted with cumulative counts ``cum``; ``first_at_least(t)`` is
    the first index with ``cum >= t``, ``cum_at(i)`` is ``cum[i]``, ``n = cum[m - 1]``. The
    lookups let the same rule run on arrays (:func:`tie_aware_scores`) or on a table too
    large for memory (:func:`segmentation.population.score_bins`).
    """
    ends = np.empty(n_bins, dtype=np.int64)
    start = 0
    for b in range(n_bins):  # five iterations, each a search
        left = n_bins - b
        if left == 1:
            ends[b] = m - 1
            break
        assigned = cum_at(start - 1) if start > 0 else 0
        target = assigned + (n - assigned) / left
        end = first_at_least(target)
        if end > start and target - cum_at(end - 1) <= cum_at(end) - target:
            end -= 1  # the boundary below the target is closer
        end = min(max(end, start), m - left)
        ends[b] = end
        start = end + 1
    return ends


def _many_values_scores(counts: np.ndarray, n_bins: int) -> np.ndarray:
    """Scores for ``m > n_bins`` distinct values: greedy equal-count bins on value groups."""
    cumulative = np.cumsum(counts)
    ends = greedy_bin_ends(
        lambda target: int(np.searchsorted(cumulative, target)),
        lambda i: int(cumulative[i]),
        int(cumulative[-1]),
        len(counts),
        n_bins,
    )
    return np.searchsorted(ends, np.arange(len(counts))) + 1


def tie_aware_scores(values: pd.Series | np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Quantile score 1..``n_bins`` per value (higher value, higher score); see module doc."""
    arr = np.asarray(values, dtype="float64")
    if len(arr) == 0:
        return np.array([], dtype=np.int8)
    arr = np.where(np.isnan(arr), -np.inf, arr)
    distinct, inverse, counts = np.unique(arr, return_inverse=True, return_counts=True)
    if len(distinct) <= n_bins:
        per_value = few_values_scores(counts, n_bins)
    else:
        per_value = _many_values_scores(counts, n_bins)
    return per_value[inverse].astype(np.int8)


def rfm_scores(customers: pd.DataFrame) -> pd.DataFrame:
    """``r_score``, ``f_score``, ``m_score`` for each customer row (same index)."""
    return pd.DataFrame(
        {
            "r_score": tie_aware_scores(-customers["days_since_last"].to_numpy("float64")),
            "f_score": tie_aware_scores(customers["frequency"].to_numpy("float64")),
            "m_score": tie_aware_scores(customers["total_value"].to_numpy("float64")),
        },
        index=customers.index,
    )


def rfm_segment(r_score: np.ndarray, f_score: np.ndarray) -> np.ndarray:
    """Named segment code from the R and F scores (1-5), by the grid in the module doc."""
    r = np.asarray(r_score, dtype=np.int64)
    f = np.asarray(f_score, dtype=np.int64)
    return SEGMENT_GRID[r - 1, f - 1]
