"""Rolling-origin backtest of the churn candidates.

Cut-offs ``c_k = as_of - h - k * step`` (``k = 0 .. n - 1``, while ``c_k - h`` is still
inside the history for the classifier, or at least ``c_k`` is for the unsupervised
candidates). At each cut-off: features strictly as of ``c_k``, outcome in
``(c_k, c_k + h]``; the BTYD model and the survival model are refitted at ``c_k``; the
stacked classifier is trained on features as of ``c_k - h`` with outcomes in
``(c_k - h, c_k]`` (its BTYD columns from a BTYD fit at ``c_k - h``) and scored at ``c_k``;
the blend averages the other candidates' out-of-fold calibrated probabilities at ``c_k``.
Older cut-offs see older, younger cohorts and other seasons; the candidates are chosen on
the mean over the cut-offs (Tashman 2000, out-of-sample tests of forecasting accuracy).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from churn.backtest import churn_labels
from churn.calibration import CrossFitCache, score_metrics
from churn.candidates import (
    blend_backtest_score,
    btyd_expected_score,
    btyd_features,
    btyd_no_transaction,
    fit_survival,
    refit_btyd,
    survival_scores,
)
from churn.classifier import ChurnClassifier, is_signal_feature
from churn.delong import auc_variance
from churn.settings import CANDIDATES, ChurnSettings
from churn.stack import stack_backtest_score
from churn.survival import gaps_at
from features import CutoffTables
from kequn.log import get_logger, timed

log = get_logger("churn")

#: the classifier needs at least this many churners and this many active customers to train
MIN_CLASS_TO_TRAIN = 20
#: the backtest needs at least this many of each class to rank and calibrate
MIN_CLASS_TO_EVALUATE = 10


@dataclass
class Origin:
    """One backtest cut-off: the labels, every candidate's raw score and what was refused."""

    cutoff: dt.date
    horizon_days: int
    y: np.ndarray
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    classifier: ChurnClassifier | None = None
    #: the classifier's raw ROC AUC with and without the balance/event features (``with``,
    #: ``without``), when the features hold any (:func:`signal_effect`)
    signal_auc: dict[str, float] | None = None
    _calibration: CrossFitCache | None = field(default=None, repr=False, compare=False)

    def calibration(self, s: ChurnSettings) -> CrossFitCache:
        """The candidates' calibrations on this cut-off's labels (``s.calibration``,
        ``s.seed``), each computed once (:class:`churn.calibration.CrossFitCache`)."""
        cache = self._calibration
        if cache is None or (cache.method, cache.seed) != (s.calibration, s.seed):
            cache = self._calibration = CrossFitCache(self.y, s.calibration, s.seed)
        return cache


def origin_cutoffs(as_of: dt.date, h: int, n: int, step: int, first: dt.date) -> list[dt.date]:
    """``as_of - h - k * step`` for ``k < n`` that are after the first transaction date."""
    cuts = [as_of - dt.timedelta(days=h + k * step) for k in range(n)]
    return [c for c in cuts if c > first]


class FeatureCache:
    """Churn tables by cut-off: the run's :class:`features.CutoffTables` plus churn labels,
    so overlapping origins share feature tables."""

    def __init__(self, tx: pd.DataFrame, feature_args: dict[str, Any]):
        """``feature_args``: :class:`features.CutoffTables`' keyword arguments."""
        self.tables = CutoffTables(tx, **feature_args)
        self._labels: dict[tuple[dt.date, int], np.ndarray] = {}

    def get(self, cutoff: dt.date, h: int) -> tuple[pd.DataFrame, np.ndarray]:
        """Features as of ``cutoff`` and their churn labels for ``(cutoff, cutoff + h]``."""
        features, holdout = self.tables.split(cutoff, cutoff + dt.timedelta(days=h))
        key = (cutoff, h)
        if key not in self._labels:
            self._labels[key] = churn_labels(
                features["customer_id"],
                holdout["holdout_transactions"],
                cutoff,
                h,
                features.get("close_date"),
            )
        return features, self._labels[key]

    def release(self, cutoff: dt.date, h: int) -> None:
        """Free the feature table of ``(cutoff, cutoff + h]`` (its labels are kept)."""
        self.tables.release(cutoff, cutoff + dt.timedelta(days=h))


def tables_used(cutoff: dt.date, h: int, supervised: bool) -> set[tuple[dt.date, int]]:
    """The ``(cutoff, horizon)`` tables :func:`evaluate_origin` reads at ``cutoff``: its own
    and, for the classifier, the training table at ``cutoff - h``."""
    used = {(cutoff, h)}
    if supervised:
        used.add((cutoff - dt.timedelta(days=h), h))
    return used


def train_stacked(
    cache: FeatureCache,
    cutoff: dt.date,
    first: dt.date,
    s: ChurnSettings,
    template: Any,
    without: tuple[str, ...] = (),
) -> tuple[ChurnClassifier | None, str | None]:
    """The stacked classifier trained at ``cutoff - h`` for scoring at ``cutoff``, or
    ``(None, why)``. Its BTYD columns come from a BTYD fit at ``cutoff - h`` (NaN when that
    fit is refused or there is no transaction model); ``without``: feature columns left
    out."""
    h = s.horizon_days
    train_cut = cutoff - dt.timedelta(days=h)
    if train_cut <= first:
        return None, f"no training window before {cutoff} (first transaction {first})"
    features, y = cache.get(train_cut, h)
    counts = np.bincount(y, minlength=2)
    if counts.min() < MIN_CLASS_TO_TRAIN:
        kind = "single_class" if counts.min() == 0 else "too_few_churners"
        return None, (
            f"gbm_{kind}: {counts[1]} churners and {counts[0]} active customers in the training "
            f"window (need {MIN_CLASS_TO_TRAIN} of each); classifier dropped"
        )
    btyd = refit_btyd(template, features)[0] if template is not None else None
    # a signal column of the cut-off may be absent at cutoff - h (no snapshot that early)
    kept = features.drop(columns=list(without), errors="ignore")
    stacked = btyd_features(btyd, kept, h, s.unit_days)
    with timed(log, f"stacked classifier on {len(y)} customers as of {train_cut}"):
        return ChurnClassifier(seed=s.seed).fit(stacked, y), None


def evaluate_origin(
    cache: FeatureCache,
    gaps: pd.DataFrame,
    cutoff: dt.date,
    h: int,
    first: dt.date,
    s: ChurnSettings,
    template: Any,
    supervised: bool,
) -> Origin:
    """Every candidate's raw score at one cut-off (see the module docstring)."""
    features, y = cache.get(cutoff, h)
    origin = Origin(cutoff=cutoff, horizon_days=h, y=y)
    btyd = None
    if template is None:
        origin.refused["btyd"] = "no transaction model from the ltv stage"
    else:
        btyd, reason = refit_btyd(template, features)
        if btyd is None:
            origin.refused["btyd"] = f"{type(template).__name__} at {cutoff}: {reason}"
        else:
            origin.scores["btyd"] = btyd_no_transaction(btyd, features, h, s.unit_days)
            origin.info["btyd"] = {"params": {k: float(v) for k, v in btyd.params_.items()}}
            origin.scores["btyd_expected"] = btyd_expected_score(btyd, features, h, s.unit_days)
    with timed(log, f"survival model as of {cutoff}"):
        survival, covariates = fit_survival(gaps_at(gaps, cutoff), features, s.seed)
        origin.scores["survival"] = survival_scores(survival, features, covariates, h)
    origin.info["survival"] = {"concordance_index": _finite(survival.concordance_index_)}
    if supervised:
        classifier, why = train_stacked(cache, cutoff, first, s, template)
        if classifier is None:
            origin.refused["gbm"] = why
        else:
            stacked = btyd_features(btyd, features, h, s.unit_days)
            origin.scores["gbm"] = classifier.predict_proba(stacked)
            origin.classifier = classifier
            origin.info["gbm"] = {
                "n_train": classifier.n_train_,
                "train_churn_rate": classifier.churn_rate_,
            }
            origin.signal_auc = signal_effect(
                cache, cutoff, first, s, template, stacked, y, origin.scores["gbm"]
            )
    for name, score in origin.scores.items():
        origin.scores[name] = np.nan_to_num(score, nan=float(np.mean(y)))
    add_blend(origin, s)
    return origin


def add_blend(origin: Origin, s: ChurnSettings) -> None:
    """The ``blend`` and ``stack`` candidates at ``origin``
    (:func:`churn.candidates.blend_backtest_score`, :func:`churn.stack.stack_backtest_score`,
    both out of fold) with their members in ``info``, when at least two single candidates
    were scored there."""
    cache = origin.calibration(s)
    blend, members = blend_backtest_score(origin.scores, origin.y, s.calibration, s.seed, cache)
    if blend is not None:
        origin.scores["blend"] = blend
        origin.info["blend"] = {"members": members}
        stack = stack_backtest_score(
            origin.scores, members, origin.y, s.calibration, s.seed, cache=cache
        )
        origin.scores["stack"] = stack
        origin.info["stack"] = {"members": members}


def signal_effect(
    cache: FeatureCache,
    cutoff: dt.date,
    first: dt.date,
    s: ChurnSettings,
    template: Any,
    stacked: pd.DataFrame,
    y: np.ndarray,
    with_signals: np.ndarray,
) -> dict[str, float] | None:
    """The stacked classifier's raw ROC AUC at ``cutoff`` with the balance and event
    features and retrained without them (``{with, without}``); None when the features
    hold none (the extracts are not configured) or a class is missing."""
    columns = tuple(c for c in stacked.columns if is_signal_feature(c))
    if not columns or len(np.unique(y)) < 2:
        return None
    classifier, _ = train_stacked(cache, cutoff, first, s, template, without=columns)
    if classifier is None:
        return None
    without = classifier.predict_proba(stacked.drop(columns=list(columns)))
    return {
        "with": float(roc_auc_score(y, with_signals)),
        "without": float(roc_auc_score(y, np.nan_to_num(without, nan=float(np.mean(y))))),
    }


def signal_summary(origins: list[Origin]) -> dict[str, Any] | None:
    """churn.json ``signals_backtest``: per cut-off and on the mean, the classifier's ROC AUC
    with and without the balance/event features; None when no cut-off had them."""
    rows = [
        {"features_as_of": o.cutoff.isoformat(), **o.signal_auc}
        for o in origins
        if o.signal_auc is not None
    ]
    if not rows:
        return None
    with_, without = (float(np.mean([r[k] for r in rows])) for k in ("with", "without"))
    return {
        "cutoffs": rows,
        "roc_auc_with": with_,
        "roc_auc_without": without,
        "gain": with_ - without,
    }


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def usable(y: np.ndarray) -> bool:
    """Enough churners and active customers to rank and calibrate."""
    counts = np.bincount(y, minlength=2)
    return len(y) > 0 and counts.min() >= MIN_CLASS_TO_EVALUATE


def origin_metrics(origin: Origin, s: ChurnSettings) -> dict[str, dict[str, Any]]:
    """Raw and (out-of-fold) calibrated ROC AUC, PR AUC, Brier per candidate, and the
    DeLong variance of the raw ROC AUC (:func:`churn.delong.auc_variance`)."""
    out = {}
    cache = origin.calibration(s)
    for name, score in origin.scores.items():
        calibrated = cache.oof(name, score)
        raw = score_metrics(score, origin.y) | {"roc_auc_var": auc_variance(origin.y, score)}
        out[name] = {
            "raw": raw,
            "calibrated": score_metrics(calibrated, origin.y),
            **origin.info.get(name, {}),
        }
    return out


def summarise(per_origin: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Mean, standard deviation, min and max over the cut-offs of each candidate's raw ROC
    AUC, PR AUC and calibrated Brier score; ``origins``: how many cut-offs scored it.

    The mean ROC AUC over ``K`` cut-offs also gets its sampling standard error
    ``se = sqrt(sum_k Var_k) / K``, ``Var_k`` the DeLong variance at cut-off ``k`` (the
    cut-offs' customers are taken as independent samples)."""
    names = [n for n in CANDIDATES if any(n in m for m in per_origin)]
    summary = {}
    for name in names:
        rows = [m[name] for m in per_origin if name in m]
        entry: dict[str, Any] = {"origins": len(rows)}
        for metric, kind in (("roc_auc", "raw"), ("pr_auc", "raw"), ("brier", "calibrated")):
            values = np.array([r[kind][metric] for r in rows], dtype=float)
            entry[metric] = {
                "mean": float(values.mean()),
                "std": float(values.std(ddof=0)),
                "min": float(values.min()),
                "max": float(values.max()),
            }
        variances = [r["raw"].get("roc_auc_var") for r in rows]
        if all(v is not None for v in variances):
            entry["roc_auc"]["se"] = float(np.sqrt(np.sum(variances)) / len(rows))
        summary[name] = entry
    return summary


def comparable(per_origin: list[dict[str, dict[str, Any]]]) -> tuple[list[int], list[dict]]:
    """The cut-offs the choice is made on: the candidates scored on the most recent cut-off
    (those that can score now) compete on every cut-off where all of them were scored (an
    old cut-off where a young cohort leaves the BTYD fit degenerate or the classifier
    without a training window does not count against them). Returns the indices of those
    cut-offs and their metrics restricted to the competing candidates."""
    if not per_origin:
        return [], []
    names = list(per_origin[0])
    used = [i for i, m in enumerate(per_origin) if all(n in m for n in names)]
    return used, [{n: per_origin[i][n] for n in names} for i in used]


def choose(summary: dict[str, dict[str, Any]], n_origins: int) -> tuple[str, str]:
    """The candidate with the highest mean ROC AUC over the cut-offs, or the blend where
    the blend is within one standard error of it; only candidates scored on every cut-off
    compete (ties: higher mean PR AUC, then btyd, survival, gbm).

    The one-standard-error rule (Breiman, Friedman, Olshen & Stone 1984, section 3.4;
    Hastie, Tibshirani & Friedman 2009, section 7.10) prefers the equal-weight blend over a
    single candidate that beats it by less than the sampling error of the best mean
    (:func:`summarise`). Equal-weight combinations rarely lose much to the best member and
    often beat the member chosen on past accuracy (Clemen 1989; Claeskens, Magnus,
    Vasnev & Wang 2016), and the backtest's cut-offs see younger cohorts than ``as_of``
    does, so a small backtest lead does not carry over to the clients scored now.
    """
    complete = {n: m for n, m in summary.items() if m["origins"] == n_origins} or summary
    best = sorted(
        complete,
        key=lambda n: (
            -round(complete[n]["roc_auc"]["mean"], 12),
            -complete[n]["pr_auc"]["mean"],
            CANDIDATES.index(n),
        ),
    )[0]
    m = complete[best]
    why = (
        f"highest mean ROC AUC over {m['origins']} backtest cut-off(s) "
        f"({m['roc_auc']['mean']:.3f} ± {m['roc_auc']['std']:.3f}; "
        f"PR AUC {m['pr_auc']['mean']:.3f}, Brier {m['brier']['mean']:.4f} after calibration)"
    )
    blend, se = complete.get("blend"), m["roc_auc"].get("se")
    if best == "blend" or blend is None or se is None:
        return best, why
    lead = m["roc_auc"]["mean"] - blend["roc_auc"]["mean"]
    if lead > se:
        return best, why + f"; {lead:.4f} above the blend, more than one standard error ({se:.4f})"
    return "blend", (
        f"mean ROC AUC over {m['origins']} backtest cut-off(s) {blend['roc_auc']['mean']:.3f}, "
        f"within one standard error ({se:.4f}) of the best single candidate {best} "
        f"({m['roc_auc']['mean']:.3f}): the blend is preferred (one-standard-error rule; "
        f"PR AUC {blend['pr_auc']['mean']:.3f}, Brier {blend['brier']['mean']:.4f} after "
        "calibration)"
    )


def rolling_backtest(
    cache: FeatureCache,
    gaps: pd.DataFrame,
    cutoffs: list[dt.date],
    h: int,
    first: dt.date,
    s: ChurnSettings,
    template: Any,
    supervised: bool,
    degrade: Callable[[str], None],
) -> list[Origin]:
    """The usable origins, most recent first; an unusable one is a stated degradation.

    Memory: a cut-off's feature tables are freed as soon as no later cut-off reads them
    (:func:`tables_used`), so the backtest holds one origin's tables at a time when the
    origins do not share any."""
    origins = []
    for k, cutoff in enumerate(cutoffs):
        later = set().union(*(tables_used(c, h, supervised) for c in cutoffs[k + 1 :]))
        _, y = cache.get(cutoff, h)
        if not usable(y):
            _release(cache, {(cutoff, h)} - later)
            counts = np.bincount(y, minlength=2)
            degrade(
                f"backtest_too_few_of_a_class: {counts[1]} churners and {counts[0]} active in "
                f"({cutoff}, {cutoff + dt.timedelta(days=h)}] "
                f"(need {MIN_CLASS_TO_EVALUATE} each); cut-off skipped"
            )
            continue
        origin = evaluate_origin(cache, gaps, cutoff, h, first, s, template, supervised)
        _release(cache, tables_used(cutoff, h, supervised) - later)
        for name, reason in origin.refused.items():
            log.warning("refused %s at %s: %s", name, cutoff, reason)
        origins.append(origin)
    return origins


def _release(cache: FeatureCache, keys: set[tuple[dt.date, int]]) -> None:
    for cutoff, horizon in keys:
        cache.release(cutoff, horizon)
