"""Behavioural clusters (行为聚类): k-means on standardized behaviour, with stable ids.

Features (one row per customer; logs tame the heavy right tails of counts and amounts):

- ``log_days_since_last = log(1 + days_since_last)``, ``log_frequency = log(1 + frequency)``,
  ``log_tenure_days``, ``log_gap_mean_days`` (customers with one transaction day have no
  gap; their tenure stands in), ``slog_total_value = sign(v) log(1 + |v|)``;
- product and channel mix: every ``share_product_*`` and ``share_channel_*`` column,
  clipped to [0, 1];
- ``churn_probability`` and ``slog_clv`` when the churn and ltv outputs are joined.

Each column is standardized, ``z = (x - mean) / std`` (a constant column gets std 1).
k-means (Lloyd 1982; k-means++ seeding, Arthur & Vassilvitskii 2007) is fitted for every
``k`` in ``k_range`` (on a seeded sample of ``minibatch_above`` rows when there are more);
beyond ``minibatch_above`` rows the chosen k is refitted on all rows by mini-batch k-means
(Sculley 2010) started from the sample's centroids. The
chosen ``k`` maximises the mean silhouette (Rousseeuw 1987) on a seeded sample of
``silhouette_sample`` rows -- except that the previous run's ``k`` is kept when its
silhouette is within :data:`K_STICKINESS` of the best, so that ids can carry over.

Stable ids. k-means numbers its clusters arbitrarily, so a rerun on nearly the same data
may swap them. The previous run's scaler and centroids are kept (``models/clusters.json``);
the new centroids are mapped into the previous run's standardized space
(``z_prev = (z_new * std_new + mean_new - mean_prev) / std_prev``, on the features both runs
share) and matched to the previous centroids by the Hungarian algorithm (Kuhn 1955;
``scipy.optimize.linear_sum_assignment``) minimising the total Euclidean distance. Matched
clusters keep the previous id; any extra cluster gets a new id above the previous maximum.
Without a previous run, ids are 1..k in decreasing order of the value centroid.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics.pairwise import euclidean_distances
from threadpoolctl import threadpool_limits

from kequn.labels import label

#: keep the previous k when its silhouette is at most this much below the best
K_STICKINESS = 0.02
MODEL_VERSION = 1


def signed_log(values: np.ndarray) -> np.ndarray:
    """``sign(v) * log(1 + |v|)``: a log scale that keeps the sign of losses."""
    return np.sign(values) * np.log1p(np.abs(values))


def behaviour_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """The clustering features (see module doc), one row per customer, no missing values."""

    def col(name: str, fill: float = 0.0) -> np.ndarray:
        values = frame[name].to_numpy("float64") if name in frame else np.full(len(frame), fill)
        return np.nan_to_num(values, nan=fill, posinf=fill, neginf=fill)

    tenure = np.clip(col("tenure_days"), 0, None)
    gap = frame["gap_mean_days"].to_numpy("float64") if "gap_mean_days" in frame else tenure
    gap = np.where(np.isfinite(gap), gap, tenure)
    out = {
        "log_days_since_last": np.log1p(np.clip(col("days_since_last"), 0, None)),
        "log_frequency": np.log1p(np.clip(col("frequency"), 0, None)),
        "slog_total_value": signed_log(col("total_value")),
        "log_tenure_days": np.log1p(tenure),
        "log_gap_mean_days": np.log1p(np.clip(gap, 0, None)),
    }
    for name in sorted(c for c in frame.columns if c.startswith("share_product_")):
        out[name] = np.clip(col(name), 0, 1)
    for name in sorted(c for c in frame.columns if c.startswith("share_channel_")):
        out[name] = np.clip(col(name), 0, 1)
    if "churn_probability" in frame:
        out["churn_probability"] = col("churn_probability", fill=0.5)
    if "clv" in frame:
        out["slog_clv"] = signed_log(col("clv"))
    return pd.DataFrame(out, index=frame.index)


def mean_silhouettes(
    points: np.ndarray, labelings: list[np.ndarray], block_rows: int = 1024
) -> list[float]:
    """Mean silhouette coefficient (Rousseeuw 1987) of each labelling of the same points.

    For point ``i`` in cluster ``A``: ``a(i)`` is the mean Euclidean distance to the other
    members of ``A``, ``b(i)`` the smallest mean distance to the members of another cluster,
    ``s(i) = (b(i) - a(i)) / max(a(i), b(i))``; ``s(i) = 0`` when ``i`` is alone in its
    cluster (and when ``a = b = 0``). The same definition and conventions as
    ``sklearn.metrics.silhouette_score``, computed faster for several labellings: the
    distance matrix is built once, in blocks of ``block_rows`` rows (memory stays
    ``block_rows x n``), and each block's distance sums to every cluster of every labelling
    come from one matrix product with the stacked one-hot membership matrices. Every
    labelling needs at least two clusters.
    """
    if not labelings:
        return []
    n = len(points)
    codes, sizes, offsets = [], [], [0]
    for labels in labelings:
        _, code, size = np.unique(labels, return_inverse=True, return_counts=True)
        if len(size) < 2:
            raise ValueError("a silhouette needs at least two clusters")
        codes.append(code.reshape(-1))
        sizes.append(size)
        offsets.append(offsets[-1] + len(size))
    rows = np.arange(n)
    members = np.zeros((n, offsets[-1]))
    for code, offset in zip(codes, offsets, strict=False):
        members[rows, offset + code] = 1.0
    norms = np.einsum("ij,ij->i", points, points)[None, :]
    sums = np.empty((n, offsets[-1]))
    for start in range(0, n, block_rows):
        stop = min(start + block_rows, n)
        block = euclidean_distances(
            points[start:stop], points, X_norm_squared=norms[:, start:stop].T, Y_norm_squared=norms
        )
        block[np.arange(stop - start), np.arange(start, stop)] = 0.0  # exact self-distance
        sums[start:stop] = block @ members
    means = []
    for code, size, offset in zip(codes, sizes, offsets, strict=False):
        to_cluster = sums[:, offset : offset + len(size)]
        with np.errstate(divide="ignore", invalid="ignore"):
            a = to_cluster[rows, code] / (size[code] - 1)  # 0 / 0 for a lone point
            other = to_cluster / size
            other[rows, code] = np.inf
            b = other.min(axis=1)
            s = (b - a) / np.maximum(a, b)
        means.append(float(np.nan_to_num(s).mean()))
    return means


def match_cluster_ids(
    centroids_raw: np.ndarray, features: list[str], previous: dict
) -> tuple[np.ndarray | None, np.ndarray]:
    """Ids for new centroids (raw feature units) from the previous run's model.

    Returns ``(ids, distances)``: ``ids[i]`` is the previous id matched to new cluster ``i``
    or -1 when unmatched (more clusters than before); ``distances[i]`` the distance to the
    matched previous centroid in the previous standardized space (NaN when unmatched).
    ``ids`` is ``None`` when the two runs share no feature.
    """
    k = len(centroids_raw)
    prev_features = list(previous["features"])
    common = [f for f in features if f in prev_features]
    if not common:
        return None, np.full(k, np.nan)
    new_index = [features.index(f) for f in common]
    prev_index = [prev_features.index(f) for f in common]
    prev_mean = np.asarray(previous["mean"], dtype="float64")[prev_index]
    prev_scale = np.asarray(previous["scale"], dtype="float64")[prev_index]
    prev_centroids = np.asarray(previous["centroids"], dtype="float64")[:, prev_index]
    new_in_prev_space = (centroids_raw[:, new_index] - prev_mean) / prev_scale
    cost = np.sqrt(((new_in_prev_space[:, None, :] - prev_centroids[None, :, :]) ** 2).sum(axis=2))
    rows, cols = linear_sum_assignment(cost)
    ids = np.full(k, -1, dtype=np.int64)
    distances = np.full(k, np.nan)
    prev_ids = np.asarray(previous["ids"], dtype=np.int64)
    ids[rows] = prev_ids[cols]
    distances[rows] = cost[rows, cols]
    return ids, distances


class BehaviourClusters:
    """k-means behavioural clusters with silhouette-chosen k and ids stable across runs.

    Parameters: ``k_range`` (inclusive), ``silhouette_sample`` rows, ``minibatch_above``
    rows, ``seed``, and ``previous`` -- the dict :meth:`to_dict` wrote last run, or None.

    Fitted attributes: ``features_``, ``mean_``, ``scale_`` (the scaler),
    ``silhouette_by_k_``, ``k_``, ``centroids_`` (standardized, row i is cluster
    ``ids_[i]``), ``ids_``, ``labels_`` (cluster id per row), ``match_distances_``,
    ``matched_previous_`` (bool).
    """

    def __init__(
        self,
        k_range: tuple[int, int] = (4, 8),
        silhouette_sample: int = 5000,
        minibatch_above: int = 100_000,
        seed: int = 0,
        previous: dict | None = None,
    ) -> None:
        self.k_range = k_range
        self.silhouette_sample = silhouette_sample
        self.minibatch_above = minibatch_above
        self.seed = seed
        self.previous = previous

    def _standardize(self, X: pd.DataFrame) -> np.ndarray:
        return (X.to_numpy("float64") - self.mean_) / self.scale_

    def fit(self, X: pd.DataFrame) -> BehaviourClusters:
        """Fit on the behaviour matrix ``X`` (:func:`behaviour_matrix`).

        Candidate k are fitted with Lloyd's k-means (3 k-means++ starts) on at most
        ``minibatch_above`` rows (a seeded sample beyond that) and scored by silhouette on
        ``silhouette_sample`` rows. Beyond ``minibatch_above`` rows the chosen k is then
        refitted on every row by mini-batch k-means started from the sample's centroids.

        Runs single-threaded (OpenMP and BLAS limited to one thread): the fits are small
        enough that threads gain little, on a busy machine they oversubscribe the cores
        (tenfold slower k-means on the busy 2-core build machine), and one thread makes the
        result independent of the core count: scikit-learn's k-means adds up per-thread
        partial centroid sums, so the number of threads changes the last bits (and with more
        than two threads so does the order in which they finish).
        """
        with threadpool_limits(limits=1):
            return self._fit(X)

    def _fit(self, X: pd.DataFrame) -> BehaviourClusters:
        self.features_ = list(X.columns)
        values = X.to_numpy("float64")
        n = len(values)
        self.mean_ = values.mean(axis=0) if n else np.zeros(values.shape[1])
        scale = values.std(axis=0) if n else np.ones(values.shape[1])
        self.scale_ = np.where(scale > 1e-12, scale, 1.0)
        Z = self._standardize(X)
        rng = np.random.default_rng(self.seed)
        minibatch = n > self.minibatch_above
        if minibatch:
            Z_fit = Z[np.sort(rng.choice(n, size=self.minibatch_above, replace=False))]
        else:
            Z_fit = Z
        sample = np.sort(rng.choice(n, size=min(self.silhouette_sample, n), replace=False))
        n_distinct = len(np.unique(Z[sample], axis=0)) if n else 0
        low, high = int(self.k_range[0]), int(self.k_range[1])
        fits: dict[int, KMeans] = {}
        sample_labels = []
        for k in range(max(low, 2), high + 1):
            if k >= n_distinct:  # silhouette needs 2 <= k <= distinct points - 1
                break
            model = KMeans(n_clusters=k, random_state=self.seed, n_init=3).fit(Z_fit)
            labels = model.predict(Z[sample])
            if len(np.unique(labels)) < 2:
                continue
            fits[k] = model
            sample_labels.append(labels)
        scores = mean_silhouettes(Z[sample], sample_labels)  # one distance pass for every k
        self.silhouette_by_k_ = dict(zip(fits, scores, strict=True))
        if not fits:  # too few customers or distinct behaviours: one cluster
            centroids, labels = Z.mean(axis=0, keepdims=True), np.zeros(n, dtype=np.int64)
            self.k_ = 1
        else:
            best = max(self.silhouette_by_k_, key=lambda k: (self.silhouette_by_k_[k], -k))
            prev_k = len(self.previous["ids"]) if self.previous else None
            if (
                prev_k in self.silhouette_by_k_
                and self.silhouette_by_k_[prev_k] >= self.silhouette_by_k_[best] - K_STICKINESS
            ):
                best = prev_k
            self.k_ = best
            model = fits[best]
            if minibatch:
                model = MiniBatchKMeans(
                    n_clusters=best,
                    init=model.cluster_centers_,
                    n_init=1,
                    batch_size=4096,
                    random_state=self.seed,
                ).fit(Z)
            centroids, labels = model.cluster_centers_, model.labels_
        self._assign_ids(centroids)
        self.labels_ = self.ids_[self._position_of_kmeans_label][labels]
        return self

    def _assign_ids(self, centroids: np.ndarray) -> None:
        """Order clusters and give them ids (matched to the previous run when there is one)."""
        k = len(centroids)
        value_feature = "slog_clv" if "slog_clv" in self.features_ else "slog_total_value"
        by_value = np.argsort(-centroids[:, self.features_.index(value_feature)], kind="stable")
        ids = np.full(k, -1, dtype=np.int64)
        self.match_distances_ = np.full(k, np.nan)
        self.matched_previous_ = False
        if self.previous:
            raw = centroids * self.scale_ + self.mean_
            matched, distances = match_cluster_ids(raw, self.features_, self.previous)
            if matched is not None:
                ids, self.match_distances_ = matched, distances
                self.matched_previous_ = True
        next_id = max(int(ids.max()), max(self.previous["ids"]) if self.previous else 0) + 1
        for i in by_value:  # at most k_range[1] clusters
            if ids[i] < 0:
                ids[i] = next_id
                next_id += 1
        order = np.argsort(ids, kind="stable")  # store clusters in id order
        self.ids_ = ids[order]
        self.centroids_ = centroids[order]
        self.match_distances_ = self.match_distances_[order]
        self._position_of_kmeans_label = np.argsort(order)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Cluster id of each row: the nearest centroid in the fitted standardized space."""
        Z = self._standardize(X[self.features_])
        # squared distances row by row (no matrix product, whose blocking could change the
        # last bits with the number of rows): a row's cluster never depends on the chunk
        distances = np.empty((len(Z), len(self.centroids_)))
        for j, centroid in enumerate(self.centroids_):  # k <= k_range[1] centroids
            distances[:, j] = ((Z - centroid) ** 2).sum(axis=1)
        return self.ids_[distances.argmin(axis=1)]

    def to_dict(self) -> dict:
        """The fitted state as plain JSON-able data (what ``models/clusters.json`` holds)."""
        return {
            "version": MODEL_VERSION,
            "features": self.features_,
            "mean": [float(v) for v in self.mean_],
            "scale": [float(v) for v in self.scale_],
            "ids": [int(i) for i in self.ids_],
            "centroids": [[float(v) for v in row] for row in self.centroids_],
        }


def previous_model_or_none(model: dict | None) -> dict | None:
    """The saved model when it is usable (right version, consistent shapes), else None."""
    if not isinstance(model, dict) or model.get("version") != MODEL_VERSION:
        return None
    try:
        p = len(model["features"])
        centroids = np.asarray(model["centroids"], dtype="float64")
        ok = (
            len(model["mean"]) == p
            and len(model["scale"]) == p
            and centroids.ndim == 2
            and centroids.shape == (len(model["ids"]), p)
            and len(model["ids"]) > 0
        )
    except (KeyError, TypeError, ValueError):
        return None
    return model if ok else None


# ---------------------------------------------------------------------------------------
# profiles and names

#: raw columns averaged in the profile (when present)
PROFILE_COLUMNS = (
    "days_since_last",
    "frequency",
    "total_value",
    "tenure_days",
    "gap_mean_days",
    "churn_probability",
    "clv",
)


def cluster_profiles(
    frame: pd.DataFrame, behaviour: pd.DataFrame, labels: np.ndarray, value: np.ndarray
) -> pd.DataFrame:
    """One row per cluster: size, shares, raw means and standardized means (``z_*``).

    ``z_<feature>`` is the cluster mean of the feature minus the overall mean, in units of
    the overall standard deviation (0 = like everyone else). ``value_share`` is the
    cluster's share of the positive value (the value basis of the tiers).
    """
    positive = np.where(np.isfinite(value) & (value > 0), value, 0.0)
    total = positive.sum()
    groups = pd.Series(labels, name="cluster")
    size = groups.value_counts().sort_index()
    profile = pd.DataFrame({"cluster": size.index.astype(np.int64), "size": size.to_numpy()})
    profile["size_share"] = profile["size"] / len(labels)
    value_by = pd.Series(positive).groupby(labels).sum().reindex(size.index)
    profile["value_share"] = (value_by / total).to_numpy() if total > 0 else 0.0
    for column in PROFILE_COLUMNS:
        if column in frame:
            means = pd.Series(frame[column].to_numpy("float64")).groupby(labels).mean()
            profile[f"mean_{column}"] = means.reindex(size.index).to_numpy()
    values = behaviour.to_numpy("float64")
    std = values.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    z = pd.DataFrame((values - values.mean(axis=0)) / std, columns=behaviour.columns)
    z_means = z.groupby(labels).mean().reindex(size.index)
    for column in behaviour.columns:
        profile[f"z_{column}"] = z_means[column].to_numpy()
    for column in behaviour.columns:
        if column.startswith(("share_channel_", "share_product_")):
            means = behaviour[column].groupby(labels).mean().reindex(size.index)
            profile[f"mean_{column}"] = means.to_numpy()
    return profile


def _value_part(row: pd.Series) -> tuple[str, str]:
    ratio = row["value_share"] / row["size_share"] if row["size_share"] > 0 else 0.0
    if ratio >= 1.5:
        return "high-value", "高价值"
    if ratio <= 0.5:
        return "low-value", "低价值"
    return "mid-value", "中价值"


def _channel_part(row: pd.Series) -> tuple[str, str] | None:
    columns = [c for c in row.index if c.startswith("mean_share_channel_")]
    if not columns:
        return None
    best = max(columns, key=lambda c: (row[c], c))
    if row[best] < 0.5:
        return "multi-channel", "多渠道"
    channel = best.removeprefix("mean_share_channel_")
    return f"{label(channel, 'en')}-first", f"{label(channel, 'zh')}为主"


#: behaviour descriptor -> (standardized mean it reads, sign, English, Chinese)
BEHAVIOURS = (
    ("z_churn_probability", 1, "at-risk", "流失风险"),
    ("z_log_days_since_last", 1, "dormant", "沉睡"),
    ("z_log_tenure_days", -1, "new", "新客"),
    ("z_log_frequency", 1, "loyal", "忠诚"),
    ("z_log_frequency", -1, "occasional", "低频"),
)
#: a behaviour names the cluster when its standardized mean is at least this far from 0
BEHAVIOUR_MIN_Z = 0.3


def _behaviour_part(row: pd.Series) -> tuple[str, str]:
    """The behaviour in which the cluster stands out most (relative to everyone)."""
    scores = [sign * row.get(column, 0.0) for column, sign, _, _ in BEHAVIOURS]
    best = int(np.argmax(scores))
    if scores[best] < BEHAVIOUR_MIN_Z:
        return "steady", "稳定"
    return BEHAVIOURS[best][2], BEHAVIOURS[best][3]


def _product_part(row: pd.Series) -> tuple[str, str]:
    columns = [c for c in row.index if c.startswith("mean_share_product_")]
    if not columns:
        return "mixed-products", "产品多元"
    best = max(columns, key=lambda c: (row[c], c))
    product = best.removeprefix("mean_share_product_")
    return f"{label(product, 'en')}-heavy", f"偏{label(product, 'zh')}"


def _join(parts: list[tuple[str, str]]) -> tuple[str, str]:
    return ", ".join(p[0] for p in parts), "·".join(p[1] for p in parts)


def name_clusters(profile: pd.DataFrame) -> pd.DataFrame:
    """``cluster``, ``cluster_name`` and ``cluster_name_zh`` generated from the profile.

    Three parts: value level (value share / size share >= 1.5 high, <= 0.5 low), main
    channel (a channel with at least half of the cluster's value, else multi-channel) and
    behaviour: the largest of the standardized means ``z`` churn risk (at-risk), days since
    last (dormant), -tenure (new), frequency (loyal), -frequency (occasional), or steady when
    none reaches :data:`BEHAVIOUR_MIN_Z`. Clusters that would share a name get their main
    product category inserted; names still equal get the cluster id appended.
    """
    rows = [row for _, row in profile.iterrows()]  # one row per cluster (<= k_range[1])
    parts = [
        [p for p in (_value_part(r), _channel_part(r), _behaviour_part(r)) if p is not None]
        for r in rows
    ]
    names = pd.DataFrame([_join(p) for p in parts], columns=["cluster_name", "cluster_name_zh"])
    duplicated = names["cluster_name"].duplicated(keep=False).to_numpy()
    for i in np.flatnonzero(duplicated):
        names.iloc[i] = _join([*parts[i][:-1], _product_part(rows[i]), parts[i][-1]])
    names.insert(0, "cluster", profile["cluster"].to_numpy())
    duplicated = names["cluster_name"].duplicated(keep=False)
    names.loc[duplicated, "cluster_name"] += " #" + names.loc[duplicated, "cluster"].astype(str)
    names.loc[duplicated, "cluster_name_zh"] += (
        "（" + names.loc[duplicated, "cluster"].astype(str) + "群）"
    )
    return names
