"""Who a contact actually changes: a T-learner on past treated-vs-control outcomes, and the
Qini backtest that decides whether it ranks better than the risk x value ranking.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

#: client features at the contact date the uplift model uses (see :func:`pre_features`)
FEATURES = ("recency_days", "frequency_365", "value_365", "mean_amount", "tenure_days", "corporate")


def pre_features(
    transactions: pd.DataFrame,
    customer_ids: pd.Series,
    cutoff: pd.Timestamp,
    clients: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Client features strictly before ``cutoff`` (the contact date), one row per id.

    Parameters
    ----------
    transactions : DataFrame
        ``customer_id, date, amount`` (clean transactions).
    customer_ids : Series
        The listed clients.
    cutoff : Timestamp
        Nothing on or after it is read.
    clients : DataFrame, optional
        ``customer_id, client_type``; ``corporate`` is 1 for 对公 clients.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id``, columns :data:`FEATURES` (a client with no earlier
        transaction has recency and tenure 9999 and zero counts).
    """
    before = transactions[transactions["date"] < cutoff]
    year = before[before["date"] >= cutoff - pd.Timedelta(days=365)]
    g = before.groupby("customer_id")
    out = pd.DataFrame(
        {
            "recency_days": (cutoff - g["date"].max()).dt.days,
            "tenure_days": (cutoff - g["date"].min()).dt.days,
            "mean_amount": g["amount"].mean(),
        }
    )
    out["frequency_365"] = year.groupby("customer_id").size()
    out["value_365"] = year.groupby("customer_id")["amount"].sum()
    out = out.reindex(pd.Index(customer_ids, name="customer_id"))
    out = out.fillna({"recency_days": 9999, "tenure_days": 9999}).fillna(0.0)
    out["corporate"] = 0.0
    if clients is not None and "client_type" in clients:
        kinds = clients.set_index("customer_id")["client_type"]
        out["corporate"] = (out.index.map(kinds) == "对公").astype(float)
    return out[list(FEATURES)].astype(float)


class TLearner:
    """Two-model uplift estimator (Kunzel et al. 2019, "Metalearners for estimating
    heterogeneous treatment effects", PNAS 116(10)): :math:`\\hat\\tau(x) = \\hat\\mu_1(x) -
    \\hat\\mu_0(x)` with :math:`\\hat\\mu_a` fitted on the clients of arm :math:`a` only.

    Parameters
    ----------
    kind : str
        ``"rate"`` (0/1 outcome; gradient-boosted classifiers, :math:`\\mu` = probability)
        or ``"money"`` (gradient-boosted regressors).
    seed : int
        Seed of both estimators.
    """

    def __init__(self, kind: str = "rate", seed: int = 0) -> None:
        self.kind = kind
        self.seed = seed

    def _estimator(self):
        options = {
            "max_iter": 150,
            "learning_rate": 0.05,
            "max_leaf_nodes": 15,
            "min_samples_leaf": 40,
            "random_state": self.seed,
        }
        if self.kind == "rate":
            return HistGradientBoostingClassifier(**options)
        return HistGradientBoostingRegressor(**options)

    def fit(self, X: np.ndarray, treated: np.ndarray, y: np.ndarray) -> TLearner:
        treated = np.asarray(treated, bool)
        # one thread: small fits, and OpenMP spinning on a shared machine costs more than it saves
        with threadpool_limits(1):
            self.models_ = [
                self._estimator().fit(X[treated == arm], y[treated == arm]) for arm in (False, True)
            ]
        return self

    def _mu(self, model, X: np.ndarray) -> np.ndarray:
        return model.predict_proba(X)[:, 1] if self.kind == "rate" else model.predict(X)

    def predict_uplift(self, X: np.ndarray) -> np.ndarray:
        """:math:`\\hat\\mu_1(x) - \\hat\\mu_0(x)` for each row of ``X``."""
        with threadpool_limits(1):
            return self._mu(self.models_[1], X) - self._mu(self.models_[0], X)


def qini_curve(score: np.ndarray, treated: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The Qini curve of a ranking (Radcliffe 2007, "Using control groups to target on
    predicted lift", DMA Analytics Journal).

    Parameters
    ----------
    score : numpy.ndarray
        Ranking score (higher = contact first).
    treated : numpy.ndarray
        1 for treated, 0 for control.
    y : numpy.ndarray
        Outcome.

    Returns
    -------
    numpy.ndarray
        ``Q[k]`` for the top k = 0..n clients: :math:`Y_T(k) - Y_C(k)\\,N_T(k)/N_C(k)`, the
        incremental outcome among the treated of the top k (0 while no control is seen).
    """
    order = np.argsort(-np.asarray(score, float), kind="stable")
    t = np.asarray(treated, float)[order]
    yy = np.asarray(y, float)[order]
    n_t, n_c = np.cumsum(t), np.cumsum(1 - t)
    y_t, y_c = np.cumsum(yy * t), np.cumsum(yy * (1 - t))
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(n_c > 0, y_t - y_c * n_t / n_c, 0.0)
    return np.concatenate([[0.0], q])


def qini_coefficient(score: np.ndarray, treated: np.ndarray, y: np.ndarray) -> float:
    """Area between the Qini curve and the random-targeting line, per client.

    Parameters
    ----------
    score, treated, y : numpy.ndarray
        As for :func:`qini_curve`.

    Returns
    -------
    float
        :math:`\\frac1n \\sum_k (Q(k) - \\frac{k}{n} Q(n))` (trapezoid rule), normalised by
        the number of treated clients so it reads as incremental outcome per treated
        client; 0 for a random ranking, higher is better.
    """
    q = qini_curve(score, treated, y)
    n = len(q) - 1
    random_line = np.linspace(0.0, q[-1], n + 1)
    area = np.trapezoid(q - random_line, dx=1.0 / n)
    return float(area / max(np.sum(treated), 1))


def uplift_at_k(score: np.ndarray, treated: np.ndarray, y: np.ndarray, k: float) -> float:
    """Treated minus control mean outcome among the top ``k`` share of the ranking."""
    order = np.argsort(-np.asarray(score, float), kind="stable")[: max(1, int(len(score) * k))]
    t, yy = np.asarray(treated, bool)[order], np.asarray(y, float)[order]
    if t.all() or not t.any():
        return float("nan")
    return float(yy[t].mean() - yy[~t].mean())


@dataclasses.dataclass(frozen=True)
class UpliftBacktest:
    """Hold-out comparison of the uplift ranking with the risk x value ranking."""

    qini_uplift: float
    qini_risk: float
    uplift_at_k_uplift: float
    uplift_at_k_risk: float
    k: float
    train: int
    test: int
    chosen: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def holdout_mask(customer_ids: pd.Series, seed: int, share: float) -> np.ndarray:
    """Seeded, id-based hold-out assignment (True = test)."""
    rng = np.random.default_rng(seed)
    return rng.random(len(customer_ids)) < share


def backtest_uplift(
    X: np.ndarray,
    treated: np.ndarray,
    y: np.ndarray,
    risk_score: np.ndarray,
    *,
    kind: str = "rate",
    seed: int = 0,
    test_share: float = 0.3,
    k: float = 0.3,
) -> tuple[UpliftBacktest, TLearner]:
    """Fit a :class:`TLearner` on part of a past campaign and grade it on the rest.

    Parameters
    ----------
    X : numpy.ndarray
        Client features at the contact date.
    treated, y : numpy.ndarray
        Arm (1 = treated) and outcome.
    risk_score : numpy.ndarray
        Today's ranking score at the contact date (risk x value); the naive baseline.
    kind : str
        ``rate`` or ``money``.
    seed : int
    test_share : float
        Share held out.
    k : float
        Share of the list for uplift@k.

    Returns
    -------
    (UpliftBacktest, TLearner)
        The comparison on the held-out clients (the uplift ranking is chosen when its Qini
        coefficient is higher) and the model refitted on every client.
    """
    test = holdout_mask(pd.Series(range(len(y))), seed, test_share)
    model = TLearner(kind, seed).fit(X[~test], treated[~test], y[~test])
    score = model.predict_uplift(X[test])
    q_u = qini_coefficient(score, treated[test], y[test])
    q_r = qini_coefficient(risk_score[test], treated[test], y[test])
    chosen = "uplift" if q_u > q_r else "risk_value"
    reason = (
        f"uplift ranking Qini {q_u:.4f} vs risk x value {q_r:.4f} on {int(test.sum())} "
        f"held-out clients: {'uplift' if chosen == 'uplift' else 'risk x value'} ranks better"
    )
    result = UpliftBacktest(
        q_u,
        q_r,
        uplift_at_k(score, treated[test], y[test], k),
        uplift_at_k(risk_score[test], treated[test], y[test], k),
        k,
        int((~test).sum()),
        int(test.sum()),
        chosen,
        reason,
    )
    return result, TLearner(kind, seed).fit(X, treated, y)


def risk_value_score(features: pd.DataFrame) -> np.ndarray:
    """The risk x value ranking at the contact date: :math:`r/(r+90)` (days since the last
    transaction as a lapse risk) times the value of the past 365 days."""
    r = features["recency_days"].to_numpy(float)
    return r / (r + 90.0) * features["value_365"].to_numpy(float)
