"""All the labels for every customer in one pure function: :func:`segment_customers`.

Input: one row per customer -- the feature table joined with ``clv`` (ltv) and
``churn_probability`` (churn), see :func:`join_inputs` -- and the ``segmentation`` params.
Output: the ``segments`` table (docs/outputs.md), the metrics for ``segments.json``, the
Pareto curve and cluster profiles for the DVC plots, and the cluster model to keep.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kequn.errors import UserError
from segmentation.asset_tiers import ASSET_TIERS, assign_asset_tiers
from segmentation.clusters import (
    BehaviourClusters,
    behaviour_matrix,
    cluster_profiles,
    name_clusters,
)
from segmentation.migration import matrix_to_dict, tier_migration
from segmentation.preference import PREFERENCE_TYPES, assign_preference_types
from segmentation.rfm import RFM_SEGMENTS, rfm_scores, rfm_segment
from segmentation.value_tiers import (
    assign_value_tiers,
    check_tier_shares,
    concentration,
    pareto_curve,
    tier_summary,
    value_share_of_top,
)

VALUE_BASES = {"clv": "clv", "historic": "total_value"}
REQUIRED_FEATURES = ("customer_id", "days_since_last", "frequency", "total_value")

#: the columns docs/outputs.md promises, in order (plus ``tier_value``, the value tiered on)
SEGMENT_COLUMNS = [
    "customer_id",
    "value_tier",
    "tier_value",
    "asset_tier",
    "r_score",
    "f_score",
    "m_score",
    "rfm_segment",
    "preference_type",
    "cluster_id",
    "cluster_name",
    "cluster_name_zh",
    "previous_value_tier",
    "tier_change",
]


@dataclass
class SegmentationResult:
    """What :func:`segment_customers` returns."""

    segments: pd.DataFrame
    metrics: dict
    pareto: pd.DataFrame
    cluster_profiles: pd.DataFrame
    model: dict = field(default_factory=dict)


def join_inputs(
    customers: pd.DataFrame, ltv: pd.DataFrame | None, churn: pd.DataFrame | None
) -> pd.DataFrame:
    """Features + ``clv`` + ``churn_probability``, one row per customer of the feature table."""
    frame = customers
    if ltv is not None:
        frame = frame.merge(ltv[["customer_id", "clv"]], on="customer_id", how="left")
    if churn is not None:
        frame = frame.merge(
            churn[["customer_id", "churn_probability"]], on="customer_id", how="left"
        )
    return frame


def _round(value: float, digits: int = 6) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def _counts(values: np.ndarray, codes) -> dict:
    counts = pd.Series(values).value_counts()
    return {code: int(counts.get(code, 0)) for code in codes}


def segment_customers(
    frame: pd.DataFrame,
    settings: dict,
    *,
    seed: int,
    previous_model: dict | None = None,
    baseline: pd.DataFrame | None = None,
    baseline_source: str = "",
) -> SegmentationResult:
    """Value tier, asset tier, RFM, preference type, cluster and migration per customer.

    ``frame``: one row per customer (:func:`join_inputs`). ``settings``: the
    ``segmentation`` params. ``previous_model``: last run's cluster model (ids carry over).
    ``baseline``: ``customer_id``, ``value_tier`` of the migration baseline (None: no
    migration; every ``tier_change`` is ``new``), described by ``baseline_source``.
    """
    missing = [c for c in REQUIRED_FEATURES if c not in frame]
    if missing:
        raise UserError(f"data/processed/customers.parquet: missing column(s) {missing}")
    if frame.empty:
        raise UserError("data/processed/customers.parquet: no customers to segment (check as_of)")
    if frame["customer_id"].duplicated().any():
        raise UserError("data/processed/customers.parquet: customer_id is not unique")
    basis = str(settings.get("value_basis", "clv"))
    if basis not in VALUE_BASES:
        raise UserError(
            f"params.yaml: segmentation.value_basis must be clv or historic, got {basis!r}"
        )
    if VALUE_BASES[basis] not in frame:
        raise UserError(
            "segmentation.value_basis=clv needs data/processed/ltv.parquet with a clv column"
        )
    shares = settings.get("tier_shares", {"strategic": 0.5, "value": 0.3})
    check_tier_shares(shares)
    frame = frame.reset_index(drop=True)
    n = len(frame)
    value = frame[VALUE_BASES[basis]].to_numpy("float64")
    missing_value = ~np.isfinite(value)

    segments = pd.DataFrame({"customer_id": frame["customer_id"].astype("string")})
    segments["value_tier"] = assign_value_tiers(value, shares)
    segments["tier_value"] = value

    balance = frame["asset_balance"] if "asset_balance" in frame else None
    asset_tiers, asset_reason = assign_asset_tiers(
        balance, settings.get("asset_tiers", {"method": "quantile", "large": 0.9, "medium": 0.6})
    )
    segments["asset_tier"] = asset_tiers if len(asset_tiers) == n else "unknown"
    if asset_reason is None and (segments["asset_tier"] == "unknown").any():
        asset_missing_reason = "asset_balance missing for some customers in the client master"
    else:
        asset_missing_reason = asset_reason

    scores = rfm_scores(frame)
    segments[["r_score", "f_score", "m_score"]] = scores.to_numpy()
    segments["rfm_segment"] = rfm_segment(scores["r_score"], scores["f_score"])

    preference, preference_reason, preference_info = assign_preference_types(
        frame, settings.get("product_lines") or {}, settings.get("preference_threshold", 0.6)
    )
    segments["preference_type"] = preference

    k_range = settings.get("k_range", [4, 8])
    if not (isinstance(k_range, list | tuple) and len(k_range) == 2 and k_range[0] <= k_range[1]):
        raise UserError(f"params.yaml: segmentation.k_range must be [low, high], got {k_range!r}")
    behaviour = behaviour_matrix(frame)
    clusters = BehaviourClusters(
        k_range=(int(k_range[0]), int(k_range[1])),
        silhouette_sample=int(settings.get("silhouette_sample", 5000)),
        minibatch_above=int(settings.get("minibatch_above", 100_000)),
        seed=int(seed),
        previous=previous_model,
    ).fit(behaviour)
    labels = clusters.labels_
    profile = cluster_profiles(frame, behaviour, labels, value)
    names = name_clusters(profile)
    profile = names.merge(profile, on="cluster")
    by_id = names.set_index("cluster")
    segments["cluster_id"] = labels.astype(np.int64)
    segments["cluster_name"] = by_id["cluster_name"].reindex(labels).to_numpy()
    segments["cluster_name_zh"] = by_id["cluster_name_zh"].reindex(labels).to_numpy()

    if baseline is not None:
        changes, matrix, migration_counts = tier_migration(segments, baseline)
        segments["previous_value_tier"] = changes["previous_value_tier"]
        segments["tier_change"] = changes["tier_change"]
        migration = {
            "baseline": baseline_source,
            "counts": migration_counts,
            "matrix": matrix_to_dict(matrix),
        }
    else:
        segments["previous_value_tier"] = pd.array([None] * n, dtype="string")
        segments["tier_change"] = "new"
        migration = {"baseline": "none", "counts": {"new": n}, "matrix": {}}
    segments = segments[SEGMENT_COLUMNS]

    positive = np.isfinite(value) & (value > 0)
    metrics = {
        "customers": n,
        "value_basis": basis,
        "value_tiers": {
            "shares": {k: float(v) for k, v in shares.items()},
            "rule": "strategic: customers before whom less than the strategic share of "
            "positive value lies; value: next share; ties share a tier; value <= 0 is basic",
            "tiers": tier_summary(segments["value_tier"].to_numpy(), value),
        },
        "concentration": {
            "customer_share_for_80pct_value": _round(concentration(value, 0.8)),
            "value_share_of_top_20pct": _round(value_share_of_top(value, 0.2)),
            "customers_without_positive_value": int((~positive).sum()),
            "customers_with_missing_value": int(missing_value.sum()),
            "negative_value_sum": _round(float(value[np.isfinite(value) & (value < 0)].sum())),
        },
        "asset_tiers": {
            "counts": _counts(segments["asset_tier"].to_numpy(), ASSET_TIERS),
            "unknown_reason": asset_missing_reason,
        },
        "rfm": {
            "segments": _counts(segments["rfm_segment"].to_numpy(), RFM_SEGMENTS),
            "score_counts": {
                name: {str(s): int((segments[name] == s).sum()) for s in range(1, 6)}
                for name in ("r_score", "f_score", "m_score")
            },
        },
        "preference": {
            "counts": _counts(segments["preference_type"].to_numpy(), PREFERENCE_TYPES),
            "unknown_reason": preference_reason,
            **preference_info,
        },
        "clusters": {
            "features": clusters.features_,
            "silhouette_by_k": {str(k): _round(s) for k, s in clusters.silhouette_by_k_.items()},
            "chosen_k": int(clusters.k_),
            "matched_previous_run": bool(clusters.matched_previous_),
            "match_distance_by_cluster": {
                str(i): _round(d)
                for i, d in zip(clusters.ids_, clusters.match_distances_, strict=True)
            },
            "profiles": [
                {k: (_round(v) if isinstance(v, float) else v) for k, v in row.items()}
                for row in profile.to_dict(orient="records")
            ],
        },
        "migration": migration,
    }
    return SegmentationResult(
        segments=segments,
        metrics=metrics,
        pareto=pareto_curve(value, max_points=500),
        cluster_profiles=profile,
        model=clusters.to_dict(),
    )
