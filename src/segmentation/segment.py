"""All the labels for every customer: FIT on the population, then ASSIGN chunk by chunk.

Input: one row per customer -- the feature table joined with ``clv`` (ltv) and
``churn_probability`` (churn) -- as a :class:`Population`: chunks of rows in a fixed order,
and the same rows as DuckDB relations for the exact population fits. Output: the
``segments`` table (docs/outputs.md), written chunk by chunk, the metrics for
``segments.json``, the Pareto curve and cluster profiles for the DVC plots, and the cluster
model to keep.

1. FIT (:func:`fit_population`): value-tier and asset-tier cut-offs and RFM quintile bins
   exactly, in DuckDB (:mod:`segmentation.population`); the scaler and k-means centroids on
   ``Population.fit_ids`` (a seeded sample, or everyone); then one pass over the chunks
   assigns clusters and adds up the cluster profiles, from which the clusters are named.
2. ASSIGN (:func:`assign_chunks`): each chunk gets its tiers, scores, preference, cluster,
   and its previous tier from the baseline rows in the chunk's id range; counts add up.

Sums are exact (:class:`segmentation.exact.ExactSums`), so outputs do not depend on the
chunk size. :func:`segment_customers` runs both on one data frame in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import pandas as pd

from kequn.errors import UserError
from segmentation.asset_tiers import (
    ASSET_TIERS,
    NO_AUM,
    NO_VALUES,
    NOT_MAPPED,
    check_spec,
)
from segmentation.asset_tiers import tiers_from_cuts as asset_tiers_from_cuts
from segmentation.clusters import (
    PROFILE_COLUMNS,
    BehaviourClusters,
    behaviour_matrix,
    name_clusters,
)
from segmentation.exact import ExactSums
from segmentation.migration import CHANGES, matrix_to_dict, tier_migration
from segmentation.population import (
    ValueCuts,
    asset_cuts,
    connect,
    score_bins,
    value_cuts,
)
from segmentation.preference import PREFERENCE_TYPES, assign_preference_types
from segmentation.rfm import RFM_SEGMENTS, rfm_segment
from segmentation.value_tiers import TIERS, check_tier_shares, tiers_from_cuts

VALUE_BASES = {"clv": "clv", "historic": "total_value"}
REQUIRED_FEATURES = ("customer_id", "days_since_last", "frequency", "total_value")
CUSTOMERS_FILE = "data/processed/customers.parquet"
#: RFM score -> (column, sign): R rewards recent customers (fewer days since last)
RFM_COLUMNS = {
    "r_score": ("days_since_last", -1),
    "f_score": ("frequency", 1),
    "m_score": ("total_value", 1),
}
#: columns read besides the share_* columns (when present)
READ_COLUMNS = (
    "customer_id",
    "days_since_last",
    "frequency",
    "total_value",
    "tenure_days",
    "gap_mean_days",
    "asset_balance",
    "aum_latest",
    "clv",
    "churn_probability",
)

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
class Population:
    """The customers to segment.

    ``chunks(columns)`` yields the rows, in the same order every time, as frames with those
    columns (customers joined with clv and churn_probability); ``columns`` lists what exists.
    ``con`` is a DuckDB connection in which ``customers`` (customer columns) and ``values``
    (``value_column`` beside ``customer_id``) are FROM clauses over the same customers.
    ``fit_ids``: the customers the clusters are fitted on (None: everyone).
    """

    chunks: Callable[[list[str]], Iterator[pd.DataFrame]]
    columns: list[str]
    n: int
    con: object
    customers: str
    values: str
    fit_ids: pd.Series | None = None
    name: str = CUSTOMERS_FILE


@dataclass
class Baseline:
    """Migration baseline: a FROM clause with ``customer_id``, ``value_tier``."""

    source: str
    description: str


@dataclass
class SegmentModel:
    """Everything FIT learns from the population (see the module doc)."""

    basis: str
    value_column: str
    shares: dict
    values: ValueCuts
    asset_cuts: tuple[float, float]
    asset_reason: str | None
    #: the column the asset tiers are cut on (aum_latest or asset_balance), None: unknown
    asset_column: str | None
    rfm_bins: dict
    product_lines: dict
    threshold: float
    preference_info: dict
    clusters: BehaviourClusters
    n_fit: int
    profile: pd.DataFrame = field(default_factory=pd.DataFrame)
    names: pd.DataFrame = field(default_factory=pd.DataFrame)


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


def read_columns(columns: list[str]) -> list[str]:
    """The columns the segmentation reads, in the order of ``columns``."""
    return [
        c
        for c in columns
        if c in READ_COLUMNS or c.startswith(("share_product_", "share_channel_"))
    ]


def _round(value: float, digits: int = 6) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def _k_range(settings: dict) -> tuple[int, int]:
    k_range = settings.get("k_range", [4, 8])
    if not (isinstance(k_range, list | tuple) and len(k_range) == 2 and k_range[0] <= k_range[1]):
        raise UserError(f"params.yaml: segmentation.k_range must be [low, high], got {k_range!r}")
    return int(k_range[0]), int(k_range[1])


def _check_preference(settings: dict, columns: list[str]) -> tuple[dict, float, dict]:
    """Validated product lines and threshold, and the metrics' reason and diagnostics (they
    depend on the columns only)."""
    lines = settings.get("product_lines") or {}
    threshold = settings.get("preference_threshold", 0.6)
    empty = pd.DataFrame(columns=[c for c in columns if c.startswith("share_product_")])
    _, reason, info = assign_preference_types(empty, lines, threshold)
    return lines, float(threshold), {"unknown_reason": reason, **info}


def fit_population(
    population: Population, settings: dict, *, seed: int, previous_model: dict | None = None
) -> SegmentModel:
    """FIT: cut-offs and bins in DuckDB, clusters on ``fit_ids``, profiles over everyone."""
    columns = population.columns
    missing = [c for c in REQUIRED_FEATURES if c not in columns]
    if missing:
        raise UserError(f"{population.name}: missing column(s) {missing}")
    if population.n == 0:
        raise UserError(f"{population.name}: no customers to segment (check as_of)")
    basis = str(settings.get("value_basis", "clv"))
    if basis not in VALUE_BASES:
        raise UserError(
            f"params.yaml: segmentation.value_basis must be clv or historic, got {basis!r}"
        )
    if VALUE_BASES[basis] not in columns:
        raise UserError(
            "segmentation.value_basis=clv needs data/processed/ltv.parquet with a clv column"
        )
    shares = settings.get("tier_shares", {"strategic": 0.5, "value": 0.3})
    tier_shares = check_tier_shares(shares)
    asset_spec = settings.get("asset_tiers", {"method": "quantile", "large": 0.9, "medium": 0.6})
    method, large, medium = check_spec(asset_spec)
    lines, threshold, preference_info = _check_preference(settings, columns)
    k_low, k_high = _k_range(settings)
    con = population.con

    value_column = VALUE_BASES[basis]
    values = value_cuts(con, population.values, value_column, tier_shares, population.n)
    asset_column, cuts, reason = _asset_model(population, asset_spec, (method, large, medium))
    bins = {
        name: score_bins(con, population.customers, f'{"-" if sign < 0 else ""}"{column}"')
        for name, (column, sign) in RFM_COLUMNS.items()
    }

    behaviour_columns = read_columns(columns)
    parts = []
    increasing, last = True, None
    for chunk in population.chunks(behaviour_columns):
        ids = chunk["customer_id"].astype(str).to_numpy()
        if len(ids):
            increasing = increasing and bool((ids[1:] > ids[:-1]).all())
            increasing = increasing and (last is None or ids[0] > last)
            last = ids[-1]
        if population.fit_ids is not None:
            chunk = chunk[chunk["customer_id"].isin(population.fit_ids)]
        parts.append(behaviour_matrix(chunk))
    if not increasing:  # sorted unique ids prove uniqueness; otherwise ask DuckDB
        _check_unique(population)
    fit_rows = pd.concat(parts, ignore_index=True)
    clusters = BehaviourClusters(
        k_range=(k_low, k_high),
        silhouette_sample=int(settings.get("silhouette_sample", 5000)),
        minibatch_above=int(settings.get("minibatch_above", 100_000)),
        seed=int(seed),
        previous=previous_model,
    ).fit(fit_rows)
    model = SegmentModel(
        basis=basis,
        value_column=value_column,
        shares={k: float(v) for k, v in shares.items()},
        values=values,
        asset_cuts=cuts,
        asset_reason=reason,
        asset_column=asset_column,
        rfm_bins=bins,
        product_lines=lines,
        threshold=threshold,
        preference_info=preference_info,
        clusters=clusters,
        n_fit=len(fit_rows),
    )
    del fit_rows, parts
    profiles = ProfileSums(clusters, columns)
    for chunk in population.chunks(behaviour_columns):
        behaviour = behaviour_matrix(chunk)
        profiles.add(chunk, behaviour, clusters.predict(behaviour), chunk[value_column])
    profile = profiles.profile()
    model.names = name_clusters(profile)
    model.profile = model.names.merge(profile, on="cluster")
    return model


def _asset_model(
    population: Population, spec: dict, checked: tuple[str, float, float]
) -> tuple[str | None, tuple[float, float], str | None]:
    """``(column, (large, medium) cuts, reason)`` of the asset tiers.

    The basis (``segmentation.asset_tiers.basis``): ``aum`` cuts ``aum_latest`` (the AUM of
    the balance snapshots, :mod:`features.signals`), ``asset_balance`` the client master's
    balance; ``auto`` takes AUM when any customer has it, else the balance. The reason says
    why nobody can be tiered (None when some can).
    """
    method, large, medium = checked
    basis = str(spec.get("basis", "auto"))
    columns = population.columns
    has_aum = "aum_latest" in columns and _known(population, "aum_latest") > 0
    column = {"aum": "aum_latest", "asset_balance": "asset_balance"}.get(basis)
    if column is None:
        column = "aum_latest" if has_aum else "asset_balance"
    if column not in columns:
        return None, (np.inf, np.inf), NOT_MAPPED if column == "asset_balance" else NO_AUM
    large_cut, medium_cut, known = asset_cuts(
        population.con, population.customers, column, large, medium
    )
    if known == 0:
        return None, (np.inf, np.inf), NO_VALUES if column == "asset_balance" else NO_AUM
    return column, (large_cut, medium_cut) if method == "quantile" else (large, medium), None


def _known(population: Population, column: str) -> int:
    return population.con.execute(
        f'SELECT count("{column}") FROM {population.customers}'
    ).fetchone()[0]


def _check_unique(population: Population) -> None:
    duplicate = population.con.execute(
        f"SELECT customer_id FROM {population.customers} GROUP BY customer_id "
        "HAVING count(*) > 1 LIMIT 1"
    ).fetchall()
    if duplicate:
        raise UserError(f"{population.name}: customer_id is not unique (e.g. {duplicate[0][0]!r})")


class ProfileSums:
    """Exact per-cluster sums for :func:`segmentation.clusters.cluster_profiles`, by chunk.

    The profile of all chunks equals ``cluster_profiles`` on the whole table: size, size
    share, share of positive value, raw means (NaN skipped), standardized means
    ``z = (cluster mean - overall mean) / overall std`` (population std from exact sums of
    ``x`` and ``x^2``; a constant column gets std 1) and mean product/channel shares.
    """

    def __init__(self, clusters: BehaviourClusters, columns: list[str]) -> None:
        self.ids = np.asarray(clusters.ids_)
        self.features = list(clusters.features_)
        self.raw = [c for c in PROFILE_COLUMNS if c in columns]
        k, p = len(self.ids), len(self.features)
        self.by_cluster = ExactSums(k, 1 + len(self.raw) + p)
        self.squares = ExactSums(1, p)
        self.size = np.zeros(k, dtype=np.int64)

    def add(
        self, chunk: pd.DataFrame, behaviour: pd.DataFrame, labels: np.ndarray, value: pd.Series
    ) -> None:
        group = np.searchsorted(self.ids, labels)
        v = value.to_numpy("float64")
        positive = np.where(np.isfinite(v) & (v > 0), v, 0.0)
        B = behaviour[self.features].to_numpy("float64")
        raw = [chunk[c].to_numpy("float64") for c in self.raw]
        self.by_cluster.add(group, np.column_stack([positive, *raw, B]))
        self.squares.add(np.zeros(len(B), dtype=np.int64), B * B)
        self.size += np.bincount(group, minlength=len(self.ids))

    def profile(self) -> pd.DataFrame:
        k, n = len(self.ids), int(self.size.sum())
        present = self.size > 0
        sums = [
            [self.by_cluster.fraction(g, c) for c in range(self.by_cluster.n_columns)]
            for g in range(k)
        ]
        count = self.by_cluster.count
        size = self.size[present]
        profile = pd.DataFrame({"cluster": self.ids[present].astype(np.int64), "size": size})
        profile["size_share"] = profile["size"] / n
        value = np.array([float(sums[g][0]) for g in range(k)])[present]
        total = float(sum((sums[g][0] for g in range(k)), Fraction(0)))
        profile["value_share"] = value / total if total > 0 else 0.0
        for i, column in enumerate(self.raw, start=1):
            means = [float(sums[g][i] / count[g, i]) if count[g, i] else np.nan for g in range(k)]
            profile[f"mean_{column}"] = np.array(means)[present]
        offset = 1 + len(self.raw)
        z = {}
        for j, column in enumerate(self.features):
            overall = sum((sums[g][offset + j] for g in range(k)), Fraction(0)) / n
            variance = self.squares.fraction(0, j) / n - overall**2
            std = float(np.sqrt(float(variance)))
            std = std if std > 1e-12 else 1.0
            means = [
                sums[g][offset + j] / int(self.size[g]) if self.size[g] else None for g in range(k)
            ]
            z[column] = [float(means[g] - overall) / std for g in range(k) if present[g]]
            if column.startswith(("share_channel_", "share_product_")):
                z[column, "mean"] = [float(means[g]) for g in range(k) if present[g]]
        for column in self.features:
            profile[f"z_{column}"] = np.array(z[column], dtype="float64")
        for column in self.features:
            if column.startswith(("share_channel_", "share_product_")):
                profile[f"mean_{column}"] = np.array(z[column, "mean"], dtype="float64")
        return profile


def assign_chunk(chunk: pd.DataFrame, model: SegmentModel) -> pd.DataFrame:
    """ASSIGN: the segment columns (all but the migration ones) for one chunk of customers."""
    chunk = chunk.reset_index(drop=True)
    value = chunk[model.value_column].to_numpy("float64")
    segments = pd.DataFrame({"customer_id": chunk["customer_id"].astype("string")})
    segments["value_tier"] = tiers_from_cuts(value, model.values.strategic, model.values.value)
    segments["tier_value"] = value
    if model.asset_column is not None:
        segments["asset_tier"] = asset_tiers_from_cuts(chunk[model.asset_column], *model.asset_cuts)
    else:
        segments["asset_tier"] = "unknown"
    for name, (column, sign) in RFM_COLUMNS.items():
        segments[name] = model.rfm_bins[name].apply(sign * chunk[column].to_numpy("float64"))
    segments["rfm_segment"] = rfm_segment(segments["r_score"], segments["f_score"])
    segments["preference_type"] = assign_preference_types(
        chunk, model.product_lines, model.threshold
    )[0]
    labels = model.clusters.predict(behaviour_matrix(chunk))
    by_id = model.names.set_index("cluster")
    segments["cluster_id"] = labels.astype(np.int64)
    segments["cluster_name"] = by_id["cluster_name"].reindex(labels).to_numpy()
    segments["cluster_name_zh"] = by_id["cluster_name_zh"].reindex(labels).to_numpy()
    return segments


class _Counts:
    """Counts and exact sums over the assigned chunks, for the metrics."""

    def __init__(self) -> None:
        self.n = 0
        self.tiers = pd.Series(0, index=list(TIERS), dtype=np.int64)
        self.tier_value = ExactSums(len(TIERS), 1)
        self.negative = ExactSums(1, 1)
        self.without_positive = 0
        self.missing_value = 0
        self.labels = {
            "asset_tier": pd.Series(0, index=list(ASSET_TIERS), dtype=np.int64),
            "rfm_segment": pd.Series(0, index=list(RFM_SEGMENTS), dtype=np.int64),
            "preference_type": pd.Series(0, index=list(PREFERENCE_TYPES), dtype=np.int64),
            **{name: pd.Series(0, index=range(1, 6), dtype=np.int64) for name in RFM_COLUMNS},
        }
        self.changes = dict.fromkeys(CHANGES, 0)
        self.matrix: pd.DataFrame | None = None

    def add(self, segments: pd.DataFrame) -> None:
        self.n += len(segments)
        value = segments["tier_value"].to_numpy("float64")
        finite = np.isfinite(value)
        positive = np.where(finite & (value > 0), value, 0.0)
        tier_index = pd.Index(TIERS).get_indexer(segments["value_tier"])
        self.tiers += np.bincount(tier_index, minlength=len(TIERS))
        self.tier_value.add(tier_index, positive[:, None])
        negative = finite & (value < 0)
        self.negative.add(np.zeros(int(negative.sum()), dtype=np.int64), value[negative, None])
        self.without_positive += int((positive <= 0).sum())
        self.missing_value += int((~finite).sum())
        for name, counts in self.labels.items():
            counts += segments[name].value_counts().reindex(counts.index, fill_value=0)

    def add_migration(self, matrix: pd.DataFrame, counts: dict) -> None:
        self.matrix = matrix if self.matrix is None else self.matrix + matrix
        for change in CHANGES:
            self.changes[change] += counts[change]


def assign_chunks(
    population: Population,
    model: SegmentModel,
    baseline: Baseline | None,
    write: Callable[[pd.DataFrame], None],
    assigned: Iterator[pd.DataFrame] | None = None,
) -> dict:
    """ASSIGN every chunk, pass each finished chunk to ``write``; return the metrics.

    ``assigned``: the :func:`assign_chunk` frames of the population's chunks, in order, when
    they were computed elsewhere (on Spark, :mod:`segmentation.spark_assign`); None: assign
    ``population.chunks`` here. The migration and the counts are added here in both cases.
    """
    con = population.con
    counts = _Counts()
    if assigned is None:
        chunks = population.chunks(read_columns(population.columns))
        assigned = (assign_chunk(chunk, model) for chunk in chunks)
    for segments in assigned:
        if baseline is not None:
            ids = segments["customer_id"]
            rows = con.execute(
                f"SELECT customer_id, value_tier FROM {baseline.source} "
                "WHERE customer_id >= $1 AND customer_id <= $2",
                [str(ids.min()), str(ids.max())],
            ).df()
            changes, matrix, migration = tier_migration(segments, rows)
            segments["previous_value_tier"] = changes["previous_value_tier"]
            segments["tier_change"] = changes["tier_change"]
            counts.add_migration(matrix, migration)
        else:
            segments["previous_value_tier"] = pd.array([None] * len(segments), dtype="string")
            segments["tier_change"] = "new"
        if segments["previous_value_tier"].isna().all():  # keep the string type on disk
            segments["previous_value_tier"] = segments["previous_value_tier"].astype("string")
        segments = segments[SEGMENT_COLUMNS]
        counts.add(segments)
        write(segments)
    if baseline is not None:
        (distinct,) = con.execute(
            f"SELECT count(*) FROM (SELECT customer_id FROM {baseline.source} GROUP BY 1)"
        ).fetchall()[0]
        matched = counts.n - counts.changes["new"]
        migration = {
            "baseline": baseline.description,
            "counts": {**counts.changes, "departed": int(distinct) - matched},
            "matrix": matrix_to_dict(counts.matrix),
        }
    else:
        migration = {"baseline": "none", "counts": {"new": counts.n}, "matrix": {}}
    return metrics(model, counts, migration)


def metrics(model: SegmentModel, counts: _Counts, migration: dict) -> dict:
    """``segments.json`` (without ``as_of``) from the fitted model and the counts."""
    n = counts.n
    tier_sums = [counts.tier_value.fraction(i, 0) for i in range(len(TIERS))]
    total = float(sum(tier_sums, Fraction(0)))
    tiers = {}
    for i, tier in enumerate(TIERS):
        customers = int(counts.tiers[tier])
        value = float(tier_sums[i])
        tiers[tier] = {
            "customers": customers,
            "customer_share": float(customers / n) if n else 0.0,
            "value": value,
            "value_share": float(value / total) if total > 0 else 0.0,
        }
    asset = counts.labels["asset_tier"]
    asset_reason = model.asset_reason
    if asset_reason is None and asset["unknown"] > 0:
        asset_reason = (
            "aum_latest missing for some customers: no balance snapshot on or before as_of"
            if model.asset_column == "aum_latest"
            else "asset_balance missing for some customers in the client master"
        )
    clusters = model.clusters
    return {
        "customers": n,
        "value_basis": model.basis,
        "value_tiers": {
            "shares": model.shares,
            "rule": "strategic: customers before whom less than the strategic share of "
            "positive value lies; value: next share; ties share a tier; value <= 0 is basic",
            "tiers": tiers,
        },
        "concentration": {
            "customer_share_for_80pct_value": _round(model.values.concentration),
            "value_share_of_top_20pct": _round(model.values.top_share),
            "customers_without_positive_value": counts.without_positive,
            "customers_with_missing_value": counts.missing_value,
            "negative_value_sum": _round(float(counts.negative.fraction(0, 0))),
        },
        "asset_tiers": {
            "basis": model.asset_column,
            "cuts": {"large": _round(model.asset_cuts[0]), "medium": _round(model.asset_cuts[1])},
            "counts": {k: int(v) for k, v in asset.items()},
            "unknown_reason": asset_reason,
        },
        "rfm": {
            "segments": {k: int(v) for k, v in counts.labels["rfm_segment"].items()},
            "score_counts": {
                name: {str(s): int(v) for s, v in counts.labels[name].items()}
                for name in RFM_COLUMNS
            },
        },
        "preference": {
            "counts": {k: int(v) for k, v in counts.labels["preference_type"].items()},
            **model.preference_info,
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
                for row in model.profile.to_dict(orient="records")
            ],
        },
        "migration": migration,
    }


def frame_population(frame: pd.DataFrame, con) -> Population:
    """A :class:`Population` of one data frame (one chunk), registered in ``con``."""
    frame = frame.reset_index(drop=True)
    con.register("segment_frame", frame)

    def chunks(columns: list[str]) -> Iterator[pd.DataFrame]:
        yield frame[columns]

    name = "segment_frame"
    return Population(chunks, list(frame.columns), len(frame), con, name, name)


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
    migration; every ``tier_change`` is ``new``), described by ``baseline_source``. Runs
    :func:`fit_population` and :func:`assign_chunks` on the frame as one chunk.
    """
    with connect() as con:
        population = frame_population(frame, con)
        model = fit_population(population, settings, seed=seed, previous_model=previous_model)
        base = None
        if baseline is not None:
            rows = pd.DataFrame(
                {
                    "customer_id": baseline["customer_id"].astype(str).to_numpy(dtype=object),
                    "value_tier": baseline["value_tier"].astype(str).to_numpy(dtype=object),
                }
            )
            con.register("segment_baseline", rows)
            base = Baseline("segment_baseline", baseline_source)
        parts: list[pd.DataFrame] = []
        result_metrics = assign_chunks(population, model, base, parts.append)
    return SegmentationResult(
        segments=pd.concat(parts, ignore_index=True),
        metrics=result_metrics,
        pareto=model.values.pareto,
        cluster_profiles=model.profile,
        model=model.clusters.to_dict(),
    )
