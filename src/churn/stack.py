"""The ``stack`` churn candidate: a learned, non-negative combination of the members'
calibrated probabilities (Wolpert 1992, stacked generalisation; Breiman 1996, stacked
regressions, for the non-negativity).

At a backtest cut-off the stack is scored out of fold: on each fold the members'
calibration maps and the stacking weights are fitted on the other folds only, so no label
of the scored fold is seen. For scoring as of ``as_of`` it is fitted on the most recent
cut-off, like the blend's calibration maps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from sklearn.model_selection import StratifiedKFold

from churn.calibration import Calibrator, CrossFitCache, cross_fitted

#: probabilities are clipped to [EPS, 1 - EPS] before the logit
EPS = 1e-4
#: the ridge penalty on the stacking weights (per row), which keeps them finite when
#: members are collinear
RIDGE = 1e-4


def logit(p: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))`` with ``p`` clipped to ``[EPS, 1 - EPS]``."""
    p = np.clip(np.asarray(p, dtype=float), EPS, 1.0 - EPS)
    return np.log(p / (1.0 - p))


def fit_weights(probabilities: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Non-negative logistic stacking weights.

    Parameters
    ----------
    probabilities : ndarray, shape (n, K)
        The members' out-of-fold calibrated probabilities.
    y : ndarray, shape (n,)
        The churn labels (0/1).

    Returns
    -------
    (intercept, weights)
        The minimiser of the mean log loss of
        ``p = sigma(b + sum_k w_k logit(p_k))`` plus ``RIDGE/2 * sum_k w_k^2``, subject to
        ``w_k >= 0`` (Breiman 1996: non-negative weights keep the combination a
        combination and stop one member's weight cancelling another's), by L-BFGS-B.
        A member with no signal beyond the others gets a weight at (or near) zero.
    """
    z = logit(probabilities)
    y = np.asarray(y, dtype=float)
    k = z.shape[1]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        eta = theta[0] + z @ theta[1:]
        # log(1 + e^eta) - y * eta, computed stably
        value = np.mean(np.logaddexp(0.0, eta) - y * eta) + 0.5 * RIDGE * theta[1:] @ theta[1:]
        residual = 1.0 / (1.0 + np.exp(-eta)) - y
        grad = np.concatenate([[residual.mean()], z.T @ residual / len(y) + RIDGE * theta[1:]])
        return float(value), grad

    start = np.concatenate([[0.0], np.full(k, 1.0 / k)])
    bounds = [(None, None)] + [(0.0, None)] * k
    result = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
    return float(result.x[0]), np.asarray(result.x[1:], dtype=float)


def combine(probabilities: np.ndarray, intercept: float, weights: np.ndarray) -> np.ndarray:
    """``sigma(b + sum_k w_k logit(p_k))`` row by row."""
    return 1.0 / (1.0 + np.exp(-(intercept + logit(probabilities) @ weights)))


@dataclass(frozen=True)
class StackModel:
    """The stack fitted on one cut-off: the members' calibration maps, the intercept and
    the non-negative weights (in the order of ``calibrators``)."""

    calibrators: dict[str, Calibrator]
    intercept: float
    weights: np.ndarray

    def weights_by_member(self) -> dict[str, float]:
        """``{member: weight}``."""
        return {n: float(w) for n, w in zip(self.calibrators, self.weights, strict=True)}


def fit_stack(
    scores: dict[str, np.ndarray],
    members: list[str],
    y: np.ndarray,
    method: str,
    seed: int,
    cache: CrossFitCache | None = None,
) -> StackModel:
    """The stack fitted on one cut-off's labels ``y``.

    The weights are fitted (:func:`fit_weights`) on the members' cross-fitted calibrated
    probabilities (:func:`churn.calibration.cross_fitted`: each row's map fitted on the
    other folds, so the weights learn from probabilities as honest as the ones they will
    combine); the calibration maps kept for scoring are fitted on every row. ``cache``:
    the cut-off's :class:`churn.calibration.CrossFitCache` on ``y``, ``method`` and
    ``seed``, whose cross-fitted scores and maps are reused.
    """
    y = np.asarray(y, dtype=int)
    if cache is None:
        oof = np.column_stack([cross_fitted(scores[n], y, method, seed) for n in members])
        calibrators = {n: Calibrator(method).fit(scores[n], y) for n in members}
    else:
        oof = np.column_stack([cache.oof(n, scores[n]) for n in members])
        calibrators = {n: cache.calibrator(n, scores[n]) for n in members}
    intercept, weights = fit_weights(oof, y)
    return StackModel(calibrators, intercept, weights)


def stack_score(model: StackModel, scores: dict[str, np.ndarray]) -> np.ndarray:
    """The stack's probability for rows whose members' raw scores are ``scores``."""
    probabilities = np.column_stack(
        [model.calibrators[n].transform(scores[n]) for n in model.calibrators]
    )
    return combine(probabilities, model.intercept, model.weights)


def stack_backtest_score(
    scores: dict[str, np.ndarray],
    members: list[str],
    y: np.ndarray,
    method: str,
    seed: int,
    folds: int = 5,
    fold_of: np.ndarray | None = None,
    cache: CrossFitCache | None = None,
) -> np.ndarray:
    """The stack's out-of-fold score at one backtest cut-off.

    For each of ``folds`` stratified folds, :func:`fit_stack` (calibration maps and
    weights) is fitted on the other folds and scores the fold, so the score of a row never
    depends on its own label nor on any label of its fold. With too few churners or
    stayers for two folds, the stack is fitted and scored on all rows. ``fold_of`` (the
    fold of each row) replaces the stratified folds. ``cache``: the cut-off's
    :class:`churn.calibration.CrossFitCache`, used where the stack is fitted on all rows.
    """
    y = np.asarray(y, dtype=int)
    if fold_of is None:
        folds = int(min(folds, np.bincount(y, minlength=2).min()))
        if folds < 2:
            model = fit_stack(scores, members, y, method, seed, cache)
            return stack_score(model, scores)
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed % (2**32))
        fold_of = np.empty(len(y), dtype=int)
        for k, (_, test) in enumerate(splitter.split(np.zeros((len(y), 1)), y)):
            fold_of[test] = k
    out = np.empty(len(y), dtype=float)
    for k in np.unique(fold_of):
        train, test = np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)
        model = fit_stack({n: scores[n][train] for n in members}, members, y[train], method, seed)
        out[test] = stack_score(model, {n: scores[n][test] for n in members})
    return out
