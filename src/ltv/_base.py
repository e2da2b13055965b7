"""Shared machinery of the buy-till-you-die models: input checks, the weighted maximum-likelihood
fit on log-parameters, the covariance of the estimates and JSON persistence.

Every model is fitted on the distinct input rows (for transaction models the distinct
``(x, t_x, T)`` histories) with the number of customers sharing a row as its weight, so the
cost of one likelihood evaluation grows with the number of distinct histories, not customers.
Parameters are optimised on the log scale (kept positive) with L-BFGS-B; the objective is

    f(log theta) = -(1/N) sum_i w_i log L_i(theta) + penalizer * sum_j (log theta_j)^2 .

Transaction models compress the histories once per fit (:class:`Histories`: hashing of each
column and of the combined codes, O(n)) and evaluate the likelihood with terms per distinct x,
T or t_x where the model allows (see ``BetaGeoLikelihood``, ``ParetoLikelihood``). With many
distinct histories the optimizer is warm-started on a deterministic, unbiased subsample of
them and finished with Newton steps on all of them (finite-difference Hessian of the analytic
gradient), which needs a handful of full evaluations instead of dozens.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.optimize import OptimizeResult, minimize


class ConvergenceWarning(UserWarning):
    """The optimizer stopped without meeting its convergence criterion."""


def _as_float_array(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).reshape(-1)
    return arr


def _count_message(count: int, rule: str) -> str:
    return f"{count} row{'s' if count != 1 else ''} {rule}"


def validate_rfm(frequency: Any, recency: Any, T: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check a customer history ``(x, t_x, T)`` and return it as float arrays.

    Raises ``ValueError`` naming how many rows break which rule: NaN, negative values,
    non-integer frequency, recency greater than T, recency non-zero with zero frequency.
    """
    x = _as_float_array(frequency, "frequency")
    t_x = _as_float_array(recency, "recency")
    big_t = _as_float_array(T, "T")
    if not (len(x) == len(t_x) == len(big_t)):
        raise ValueError(
            f"frequency, recency and T must have the same length, got {len(x)}, {len(t_x)}, "
            f"{len(big_t)}"
        )
    if len(x) == 0:
        raise ValueError("no customers: frequency, recency and T are empty")
    problems = []
    nan = np.isnan(x) | np.isnan(t_x) | np.isnan(big_t)
    if nan.any():
        problems.append(_count_message(int(nan.sum()), "have NaN in frequency, recency or T"))
    with np.errstate(invalid="ignore"):
        negative = (x < 0) | (t_x < 0) | (big_t < 0)
        if negative.any():
            problems.append(
                _count_message(int(negative.sum()), "have negative frequency, recency or T")
            )
        non_integer = ~nan & (x != np.round(x))
        if non_integer.any():
            problems.append(_count_message(int(non_integer.sum()), "have non-integer frequency"))
        late = t_x > big_t * (1 + 1e-12) + 1e-12
        if late.any():
            problems.append(_count_message(int(late.sum()), "have recency greater than T"))
        orphan = (x == 0) & (t_x != 0)
        if orphan.any():
            problems.append(
                _count_message(int(orphan.sum()), "have non-zero recency with zero frequency")
            )
    if problems:
        raise ValueError("invalid customer histories: " + "; ".join(problems))
    return x, np.minimum(t_x, big_t), big_t


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's code into the sorted distinct values of a column, and those values.

    Small non-negative integers (frequencies) use a lookup table; anything else is hashed
    (``pd.factorize``). Both are O(n).
    """
    values = np.asarray(values)
    if values.dtype.kind == "f" and len(values):
        top = values.max()
        if 0 <= values.min() and top < 1_000_000:
            as_int = values.astype(np.int64)
            if np.array_equal(as_int, values):
                present = np.zeros(int(top) + 1, dtype=bool)
                present[as_int] = True
                lookup = np.cumsum(present) - 1
                return lookup[as_int], np.flatnonzero(present).astype(values.dtype)
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype(np.int64, copy=False), np.asarray(uniques)


def combined_codes(*codes_and_sizes: tuple[np.ndarray, int]) -> np.ndarray:
    """Codes 0..g-1 of the distinct combinations of several code columns, numbered in
    lexicographic order of the combinations.

    Each argument is ``(codes, number of distinct codes)``. The columns are combined as one
    mixed-radix int64 key and factorised (hashing, O(n)); pandas grouping is the fallback when
    the key could overflow.
    """
    sizes = [max(int(size), 1) for _, size in codes_and_sizes]
    n_keys = float(np.prod([float(size) for size in sizes]))
    if n_keys < 2.0**62:
        key = np.zeros(len(codes_and_sizes[0][0]), dtype=np.int64)
        for (codes, _), size in zip(codes_and_sizes, sizes, strict=True):
            key *= size
            key += codes
        if n_keys <= max(2 * len(key), 1 << 16):
            # few possible keys: a lookup table instead of hashing
            present = np.zeros(int(n_keys), dtype=bool)
            present[key] = True
            return (np.cumsum(present) - 1)[key]
        row_codes = pd.factorize(key, sort=True)[0]
    else:
        frame = pd.DataFrame({f"c{i}": c for i, (c, _) in enumerate(codes_and_sizes)})
        row_codes = frame.groupby(list(frame.columns), sort=True).ngroup().to_numpy()
    return row_codes.astype(np.int64, copy=False)


def first_rows(codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Index of the first row of each group code 0..n_groups-1."""
    first = np.empty(n_groups, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return first


def distinct_rows(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Distinct rows of equal-length columns: (distinct columns, counts, inverse index).

    The distinct rows are in lexicographic order. Each column is factorised once (hashing)
    and the codes are combined by :func:`combined_codes`: O(n), no multi-column sort.
    """
    columns = [np.asarray(c) for c in columns]
    factorised = [_factorize(c) for c in columns]
    codes = combined_codes(*((c, len(u)) for c, u in factorised))
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    first = first_rows(codes, n_groups)
    counts = np.bincount(codes, minlength=n_groups)
    return [c[first] for c in columns], counts.astype(float), codes


@dataclass(frozen=True)
class Histories:
    """Distinct customer histories ``(x, t_x, T)`` with the weight (customers) of each, and
    the distinct values of each column with every history's code into them.

    Likelihood terms that depend on one column only (special functions of x, powers of
    ``alpha + T``) are evaluated once per distinct value and gathered by code.
    """

    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    weights: np.ndarray
    x_values: np.ndarray
    x_code: np.ndarray
    t_x_values: np.ndarray
    t_x_code: np.ndarray
    T_values: np.ndarray
    T_code: np.ndarray
    inverse: np.ndarray  # code of each input row into the distinct histories

    @classmethod
    def build(cls, x, t_x, T, weights=None) -> Histories:
        """Compress per-customer arrays (``weights`` customers per row, default 1 each)."""
        factorised = [_factorize(np.asarray(c, dtype=float)) for c in (x, t_x, T)]
        codes = combined_codes(*((c, len(u)) for c, u in factorised))
        n_groups = int(codes.max()) + 1
        first = first_rows(codes, n_groups)
        if weights is None:
            counts = np.bincount(codes, minlength=n_groups).astype(float)
        else:
            counts = np.bincount(codes, weights=weights, minlength=n_groups)
        (x_codes, x_values), (t_codes, t_values), (big_codes, big_values) = factorised
        x_code, t_x_code, T_code = x_codes[first], t_codes[first], big_codes[first]
        return cls(
            x=x_values[x_code],
            t_x=t_values[t_x_code],
            T=big_values[T_code],
            weights=counts,
            x_values=x_values,
            x_code=x_code,
            t_x_values=t_values,
            t_x_code=t_x_code,
            T_values=big_values,
            T_code=T_code,
            inverse=codes,
        )

    def thinned(self, every: int) -> Histories:
        """A cheaper, unbiased stand-in for the weighted sum over histories: every history
        with weight >= ``every`` is kept, the lighter ones one in ``every`` (a fixed,
        deterministic selection) with their weight multiplied by ``every``. Used only for a
        warm start of the optimizer."""
        light = self.weights < every
        pick = ~light | (np.arange(len(self.weights)) % every == 0)
        weights = np.where(light, self.weights * every, self.weights)[pick]
        return Histories(
            x=self.x[pick],
            t_x=self.t_x[pick],
            T=self.T[pick],
            weights=weights,
            x_values=self.x_values,
            x_code=self.x_code[pick],
            t_x_values=self.t_x_values,
            t_x_code=self.t_x_code[pick],
            T_values=self.T_values,
            T_code=self.T_code[pick],
            inverse=np.empty(0, dtype=np.int64),  # no input rows behind a subsample
        )


def numeric_hessian(
    gradient, theta: np.ndarray, step: float = 1e-4, at_theta: np.ndarray | None = None
) -> np.ndarray:
    """Finite-difference Hessian of a function given its gradient, symmetrised: central
    differences, or forward differences from ``at_theta`` (the gradient at ``theta``) when
    given (k instead of 2k gradient evaluations; used with analytic gradients)."""
    k = len(theta)
    hess = np.empty((k, k))
    for j in range(k):
        e = np.zeros(k)
        e[j] = step
        if at_theta is None:
            hess[:, j] = (gradient(theta + e) - gradient(theta - e)) / (2 * step)
        else:
            hess[:, j] = (gradient(theta + e) - at_theta) / step
    return (hess + hess.T) / 2


def numeric_gradient(function, theta: np.ndarray, step: float = 1e-6) -> np.ndarray:
    """Central-difference gradient (used where no analytic gradient is available)."""
    k = len(theta)
    grad = np.empty(k)
    for j in range(k):
        e = np.zeros(k)
        e[j] = step
        grad[j] = (function(theta + e) - function(theta - e)) / (2 * step)
    return grad


class RowLikelihood:
    """Weighted log-likelihood of distinct data rows from a model's per-row functions:
    ``loglik(theta) = sum_i w_i log L_i(theta)`` and its gradient in the log-parameters."""

    def __init__(self, model: BaseModel, data: list[np.ndarray], weights: np.ndarray):
        self.model, self.data, self.weights = model, data, weights
        self.has_gradient = model.analytic_gradient

    def loglik(self, theta: np.ndarray) -> float:
        return float(self.weights @ self.model._log_likelihood(theta, *self.data))

    def loglik_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        ll, grad = self.model._log_likelihood_gradient(theta, *self.data)
        return float(self.weights @ ll), self.weights @ grad


class BaseModel:
    """Base of all models: weighted MLE on log-parameters, covariance, JSON round trip.

    Subclasses define ``model_name``, ``param_names``, ``_log_likelihood(theta, *data)``
    (per-row log-likelihood at natural parameters ``theta``) and optionally
    ``_log_likelihood_gradient(theta, *data)`` returning ``(loglik, d loglik / d log theta)``
    with one row per data row.
    """

    model_name: ClassVar[str] = ""
    param_names: ClassVar[tuple[str, ...]] = ()
    analytic_gradient: ClassVar[bool] = True

    def __init__(self, penalizer: float = 0.0):
        if not np.isfinite(penalizer) or penalizer < 0:
            raise ValueError(f"penalizer must be a non-negative number, got {penalizer!r}")
        self.penalizer = float(penalizer)

    # -- to be provided by subclasses -------------------------------------------------------
    def _log_likelihood(self, theta: np.ndarray, *data: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _log_likelihood_gradient(
        self, theta: np.ndarray, *data: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _initial_log_params(self, *data: np.ndarray) -> np.ndarray:
        return np.zeros(len(self.param_names))

    # -- fitting ----------------------------------------------------------------------------
    def _objective_and_gradient(self, log_theta, likelihood, total):
        theta = np.exp(log_theta)
        if likelihood.has_gradient:
            ll, gradient = likelihood.loglik_and_gradient(theta)
            value, gradient = -ll / total, -gradient / total
        else:
            # forward differences during the search (k extra evaluations); the Hessian at the
            # optimum uses central differences of this gradient with a larger step
            base = likelihood.loglik(theta) / total
            value = -base
            gradient = np.empty_like(log_theta)
            for j in range(len(log_theta)):
                shifted = log_theta.copy()
                shifted[j] += 1e-7
                gradient[j] = -(likelihood.loglik(np.exp(shifted)) / total - base) / 1e-7
        value += self.penalizer * np.sum(log_theta**2)
        gradient = gradient + 2 * self.penalizer * log_theta
        if not np.isfinite(value):
            return 1e100, np.zeros_like(log_theta)
        return value, gradient

    def _likelihood(self, data: list[np.ndarray], weights: np.ndarray):
        """The weighted likelihood object the optimizer works on (see :class:`RowLikelihood`)."""
        return RowLikelihood(self, data, weights)

    def _fit_data(self, data, weights: np.ndarray) -> BaseModel:
        """Maximise the weighted likelihood of the distinct rows ``data`` with ``weights``."""
        return self._fit_likelihood(self._likelihood(data, weights), float(weights.sum()), data)

    def _newton_polish(self, likelihood, total: float, start: np.ndarray):
        """Damped Newton steps on the full likelihood from a warm start. The Hessian is the
        finite difference of the analytic gradient (k gradient evaluations), taken at the start
        and refreshed only when a step falls short (halved, or the gradient shrank less than
        tenfold): near the optimum this converges in a few gradient evaluations where L-BFGS-B,
        which must first learn the curvature, needs many. Returns an ``OptimizeResult``, or
        None if the Hessian is not positive definite or no step decreases the objective (the
        caller then falls back to L-BFGS-B)."""

        def objective(lt):
            return self._objective_and_gradient(lt, likelihood, total)

        point = start.copy()
        value, gradient = objective(point)
        evaluations, refresh, factor = 1, True, None
        for _ in range(50):
            if np.max(np.abs(gradient)) < 1e-10:
                break
            if refresh:
                hessian = numeric_hessian(
                    lambda lt: objective(lt)[1], point, step=1e-5, at_theta=gradient
                )
                evaluations += len(point)
                try:
                    factor = np.linalg.cholesky(hessian)
                except np.linalg.LinAlgError:
                    return None
            step = np.linalg.solve(factor.T, np.linalg.solve(factor, gradient))
            scale = 1.0
            for _ in range(10):
                new_point = point - scale * step
                if np.all(np.abs(new_point) <= 20.0):
                    new_value, new_gradient = objective(new_point)
                    evaluations += 1
                    if new_value <= value + 1e-14 * abs(value):
                        break
                scale /= 2
            else:
                if np.max(np.abs(gradient)) < 1e-8:
                    break  # at the optimum up to rounding
                return None
            refresh = scale < 1 or np.max(np.abs(new_gradient)) > 0.1 * np.max(np.abs(gradient))
            point, value, gradient = new_point, new_value, new_gradient
            if np.max(np.abs(scale * step)) < 1e-12:
                break
        else:
            return None
        return OptimizeResult(
            x=point,
            fun=value,
            jac=gradient,
            nfev=evaluations,
            success=bool(np.max(np.abs(gradient)) < 1e-8),
            message="Newton steps from a warm start converged",
        )

    def _fit_likelihood(self, likelihood, total: float, data: list[np.ndarray]) -> BaseModel:
        """Maximise ``likelihood`` (``total`` customers; ``data`` for the starting values)."""
        start = self._initial_log_params(*data)
        bounds = [(-20.0, 20.0)] * len(start)
        thinned = likelihood.thinned() if hasattr(likelihood, "thinned") else None
        if thinned is not None:
            # warm start: a loose fit on a deterministic subsample of the histories
            warm = minimize(
                self._objective_and_gradient,
                start,
                args=(thinned, total),
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": 500, "ftol": 1e-12, "gtol": 1e-6, "maxcor": 20},
            )
            if np.all(np.isfinite(warm.x)) and np.isfinite(warm.fun) and warm.fun < 1e99:
                start = warm.x
        result = None
        if thinned is not None and likelihood.has_gradient:
            result = self._newton_polish(likelihood, total, start)
            if result is not None and not result.success:
                start, result = result.x, None
        if result is None:
            result = minimize(
                self._objective_and_gradient,
                start,
                args=(likelihood, total),
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-9, "maxcor": 20},
            )
        self.n_evaluations_ = int(result.nfev)
        log_theta = result.x
        theta = np.exp(log_theta)
        self.params_ = {name: float(v) for name, v in zip(self.param_names, theta, strict=True)}
        self.log_likelihood_ = float(likelihood.loglik(theta))
        k = len(theta)
        self.n_customers_ = int(round(total))
        self.aic_ = 2 * k - 2 * self.log_likelihood_
        self.bic_ = k * np.log(total) - 2 * self.log_likelihood_

        def total_gradient(lt):
            return self._objective_and_gradient(lt, likelihood, total)[1] * total

        if likelihood.has_gradient:
            # the optimizer's last gradient is the gradient at the optimum
            hessian = numeric_hessian(
                total_gradient, log_theta, step=1e-5, at_theta=np.asarray(result.jac) * total
            )
        else:
            hessian = numeric_hessian(total_gradient, log_theta)
        grad_norm = float(np.max(np.abs(result.jac))) if result.jac is not None else np.inf
        at_bound = bool(np.any(np.abs(log_theta) >= 20.0 - 1e-6))
        converged = bool(np.isfinite(self.log_likelihood_)) and not at_bound
        converged = converged and (result.success or grad_norm < 1e-5)
        try:
            cov = np.linalg.inv(hessian)
            eigen = np.linalg.eigvalsh(hessian)
            if not np.all(eigen > 0):
                converged = False
        except np.linalg.LinAlgError:
            cov = np.linalg.pinv(hessian)
            converged = False
        self.params_cov_ = (cov + cov.T) / 2
        self.converged_ = converged
        self.optimizer_message_ = str(result.message)
        if not converged:
            warnings.warn(
                f"{type(self).__name__} ({self.model_name}) did not converge: "
                f"{result.message}; max |gradient| {grad_norm:.2g}, parameters {self.params_}. "
                "The estimates may be meaningless; try a penalizer > 0 or check the data.",
                ConvergenceWarning,
                stacklevel=4,
            )
        return self

    # -- fitted state -----------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit(...) first")

    @property
    def theta_(self) -> np.ndarray:
        """Fitted parameters as an array in ``param_names`` order."""
        self._check_fitted()
        return np.array([self.params_[name] for name in self.param_names])

    def sample_params(self, n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """``n`` parameter draws (n x k, natural scale) from N(log theta_hat, params_cov_)."""
        self._check_fitted()
        rng = np.random.default_rng(rng)
        log_draws = rng.multivariate_normal(
            np.log(self.theta_), self.params_cov_, size=n, method="eigh"
        )
        return np.exp(log_draws)

    def standard_errors_(self) -> dict[str, float]:
        """Delta-method standard errors of the natural-scale parameters."""
        self._check_fitted()
        se_log = np.sqrt(np.clip(np.diag(self.params_cov_), 0, None))
        return {
            name: float(v * s)
            for name, v, s in zip(self.param_names, self.theta_, se_log, strict=True)
        }

    # -- persistence ------------------------------------------------------------------------
    def to_json(self) -> str:
        """The fitted model as JSON text (no pickles): parameters, covariance and fit figures."""
        self._check_fitted()
        payload = {
            "model": self.model_name,
            "params": self.params_,
            "params_cov": self.params_cov_.tolist(),
            "log_likelihood": self.log_likelihood_,
            "aic": self.aic_,
            "bic": self.bic_,
            "n_customers": self.n_customers_,
            "converged": self.converged_,
            "penalizer": self.penalizer,
        }
        return json.dumps(payload, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BaseModel:
        """Rebuild a fitted model from :meth:`to_json` text."""
        payload = json.loads(text)
        if payload.get("model") != cls.model_name:
            raise ValueError(f"JSON holds a {payload.get('model')!r} model, not {cls.model_name!r}")
        model = cls(penalizer=payload.get("penalizer", 0.0))
        missing = set(cls.param_names) - set(payload["params"])
        if missing:
            raise ValueError(f"JSON model is missing parameters {sorted(missing)}")
        model.params_ = {name: float(payload["params"][name]) for name in cls.param_names}
        model.params_cov_ = np.asarray(payload["params_cov"], dtype=float)
        model.log_likelihood_ = float(payload["log_likelihood"])
        model.aic_ = float(payload["aic"])
        model.bic_ = float(payload["bic"])
        model.n_customers_ = int(payload["n_customers"])
        model.converged_ = bool(payload["converged"])
        return model

    def __repr__(self) -> str:
        if hasattr(self, "params_"):
            inner = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
            return f"{type(self).__name__}({inner})"
        return f"{type(self).__name__}(penalizer={self.penalizer})"


class TransactionModel(BaseModel):
    """A buy-till-you-die transaction model on histories ``(x, t_x, T)``.

    Subclasses provide ``_log_prob_alive(theta, x, t_x, T)``, ``_alive_mean(theta, t, x, T)``
    (expected transactions in ``(T, T+t]`` for a customer alive at ``T``, which depends on the
    history only through ``x`` and ``T``), ``_prob_quiet_if_alive(theta, t, x, T)``
    (P(no transaction in ``(T, T+t]`` | alive at ``T``)) and ``expected_transactions_new``.
    Then ``E[X(T, T+t] | x, t_x, T] = P(alive) * alive_mean``.
    """

    def fit(self, frequency, recency, T, weights=None) -> TransactionModel:
        """Fit by maximum likelihood; ``weights`` counts customers per row (default 1 each)."""
        x, t_x, big_t = validate_rfm(frequency, recency, T)
        if weights is not None:
            weights = _as_float_array(weights, "weights")
            if len(weights) != len(x) or np.any(~np.isfinite(weights)) or np.any(weights < 0):
                raise ValueError("weights must be finite, non-negative and one per row")
        histories = Histories.build(x, t_x, big_t, weights)
        return self._fit_likelihood(
            self._likelihood(histories, histories.weights),
            float(histories.weights.sum()),
            [histories.x, histories.t_x, histories.T],
        )

    def _likelihood(self, data, weights):
        """Per-row likelihood on the distinct histories (subclasses exploit ``Histories``)."""
        if isinstance(data, Histories):
            data = [data.x, data.t_x, data.T]
        return RowLikelihood(self, data, weights)

    def _log_prob_alive(self, theta, x, t_x, T) -> np.ndarray:
        raise NotImplementedError

    def _alive_mean(self, theta, t, x, T) -> np.ndarray:
        raise NotImplementedError

    def _prob_quiet_if_alive(self, theta, t, x, T) -> np.ndarray:
        raise NotImplementedError

    def probability_alive(self, frequency, recency, T) -> np.ndarray:
        """P(customer still alive at T | x, t_x, T)."""
        x, t_x, big_t = validate_rfm(frequency, recency, T)
        return np.exp(self._log_prob_alive(self.theta_, x, t_x, big_t))

    def expected_transactions(self, t, frequency, recency, T) -> np.ndarray:
        """Conditional expectation E[X(T, T+t] | x, t_x, T] (t in the data's time unit)."""
        x, t_x, big_t = validate_rfm(frequency, recency, T)
        theta = self.theta_
        t = np.asarray(t, dtype=float)
        alive = np.exp(self._log_prob_alive(theta, x, t_x, big_t))
        return alive * self._alive_mean(theta, t, x, big_t)

    def probability_no_transactions(self, t, frequency, recency, T) -> np.ndarray:
        """P(no transaction in (T, T+t] | x, t_x, T) = 1 - P(alive) + P(alive) P(quiet | alive)."""
        x, t_x, big_t = validate_rfm(frequency, recency, T)
        theta = self.theta_
        t = np.asarray(t, dtype=float)
        alive = np.exp(self._log_prob_alive(theta, x, t_x, big_t))
        return 1.0 - alive + alive * self._prob_quiet_if_alive(theta, t, x, big_t)
