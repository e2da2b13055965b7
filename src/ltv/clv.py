"""Customer lifetime value over a horizon, with intervals from parameter uncertainty.

For a customer with history (x, t_x, T) and mean repeat spend zbar, month m = 1..H ends at
t_m = m * 30.4375 / unit_days time units after T and

    E[dX_m]              = E[X(T, T+t_m] | x, t_x, T] - E[X(T, T+t_(m-1)] | x, t_x, T]
    d_m                  = (1 + discount_rate)^-m                (monthly discounting)
    E[z]                 = Gamma-Gamma conditional expected spend E[Z | x, zbar]
    revenue_contribution = sum_m d_m E[dX_m] E[z]
    clv                  = sum_m d_m E[dX_m] (margin * E[z] - service_cost_per_transaction)
    profit_contribution  = clv - acquisition_cost
    expected_transactions = E[X(T, T+t_H] | x, t_x, T]

``margin`` is a scalar or one value per customer (the stage passes a product-line-weighted
margin). Because every transaction model factorises as E[X(T, T+t] | history] =
P(alive | x, t_x, T) * M(t | x, T), the expensive part M is computed once per distinct (x, T)
and P(alive) once per distinct (x, t_x, T).

Interval (clv_low, clv_high): ``n_draws`` joint draws of the transaction-model and spend-model
log-parameters from their asymptotic normals (``params_cov_``; the two models are fitted
separately, so the draws are independent between them). For each draw, the discounted
transaction sum S is propagated to the first order in the log-parameters,
log S(theta_d) = log S(theta_hat) + J (log theta_d - log theta_hat), with the Jacobian J taken by
central differences per distinct history (exact to O(|delta|^2); parameter standard errors are
small wherever an interval is meaningful), while the spend part E[z] is evaluated in the same
log-linear way with its analytic gradient. CLV is then computed per customer and per draw, in
chunks of ``chunk_size`` customers, and the ``interval`` quantiles over the draws are reported.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ltv._base import TransactionModel, distinct_rows, validate_rfm
from ltv.gamma_gamma import GammaGammaModel, validate_spend

DAYS_PER_MONTH = 30.4375
_JACOBIAN_STEP = 1e-4


def _discounted_alive_sum(model, theta, times, discounts, x, T):
    """(sum_m d_m [M(t_m) - M(t_(m-1))], M(t_H)) per distinct (x, T)."""
    previous = np.zeros(len(x))
    total = np.zeros(len(x))
    for t_m, d_m in zip(times, discounts, strict=True):
        current = model._alive_mean(theta, t_m, x, T)
        total += d_m * (current - previous)
        previous = current
    return total, previous


def _log_clip(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(np.maximum(values, 1e-300))


def _transaction_part(model, times, discounts, x, t_x, T):
    """Point values and the log-Jacobian of the discounted transaction sum per customer."""
    theta = model.theta_
    log_theta = np.log(theta)
    k = len(theta)
    (ux, uT), _, code_xt = distinct_rows(x, T)
    (hx, ht, hT), _, code_hist = distinct_rows(x, t_x, T)

    alive_sum, alive_horizon = _discounted_alive_sum(model, theta, times, discounts, ux, uT)
    log_alive = model._log_prob_alive(theta, hx, ht, hT)
    jac_sum = np.empty((len(ux), k))
    jac_alive = np.empty((len(hx), k))
    for j in range(k):
        step = np.zeros(k)
        step[j] = _JACOBIAN_STEP
        up, down = np.exp(log_theta + step), np.exp(log_theta - step)
        s_up = _discounted_alive_sum(model, up, times, discounts, ux, uT)[0]
        s_down = _discounted_alive_sum(model, down, times, discounts, ux, uT)[0]
        jac_sum[:, j] = (_log_clip(s_up) - _log_clip(s_down)) / (2 * _JACOBIAN_STEP)
        a_up = model._log_prob_alive(up, hx, ht, hT)
        a_down = model._log_prob_alive(down, hx, ht, hT)
        jac_alive[:, j] = (a_up - a_down) / (2 * _JACOBIAN_STEP)
    prob_alive = np.exp(log_alive)[code_hist]
    discounted = prob_alive * alive_sum[code_xt]
    expected = prob_alive * alive_horizon[code_xt]
    jacobian = np.nan_to_num(
        jac_sum[code_xt] + jac_alive[code_hist], nan=0.0, posinf=0.0, neginf=0.0
    )
    return discounted, expected, jacobian


def _spend_part(spend_model: GammaGammaModel, x, z):
    """E[Z | x, zbar] and its gradient with respect to log(p, q, v), per customer."""
    p, q, v = spend_model.theta_
    expected = spend_model._expected_value(spend_model.theta_, x, z)
    denominator = p * x + q - 1
    gradient = np.column_stack([1 - p * x / denominator, -q / denominator, v / (v + x * z)])
    return expected, gradient


def _check_options(horizon_months, unit_days, discount_rate, interval, n_draws, chunk_size):
    if int(horizon_months) != horizon_months or horizon_months < 1:
        raise ValueError(f"horizon_months must be a positive integer, got {horizon_months!r}")
    if not unit_days > 0:
        raise ValueError(f"unit_days must be positive, got {unit_days!r}")
    if not discount_rate > -1:
        raise ValueError(f"discount_rate must be greater than -1, got {discount_rate!r}")
    low, high = interval
    if not 0 <= low < high <= 1:
        raise ValueError(f"interval must be two quantiles 0 <= low < high <= 1, got {interval!r}")
    if int(n_draws) != n_draws or n_draws < 0:
        raise ValueError(f"n_draws must be a non-negative integer, got {n_draws!r}")
    if int(chunk_size) != chunk_size or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")


def customer_lifetime_value(
    transaction_model: TransactionModel,
    spend_model: GammaGammaModel,
    frequency,
    recency,
    T,
    monetary_value,
    *,
    horizon_months: int,
    unit_days: float = 7,
    discount_rate: float,
    margin,
    service_cost_per_transaction: float = 0.0,
    acquisition_cost: float = 0.0,
    interval: tuple[float, float] = (0.1, 0.9),
    n_draws: int = 200,
    seed: int = 0,
    chunk_size: int = 200_000,
) -> pd.DataFrame:
    """Discounted margin CLV over ``horizon_months`` with a parameter-uncertainty interval.

    See the module docstring for the formulas. ``frequency``, ``recency``, ``T`` are in time
    units of ``unit_days`` days (weeks by default); ``monetary_value`` is the mean repeat spend
    (ignored where frequency is 0); ``margin`` is a scalar or one value per customer.
    Returns one row per customer (index taken from ``frequency`` if it is a Series) with
    columns expected_transactions, expected_value_per_transaction, revenue_contribution, clv,
    clv_low, clv_high, profit_contribution.
    """
    _check_options(horizon_months, unit_days, discount_rate, interval, n_draws, chunk_size)
    index = frequency.index if isinstance(frequency, pd.Series) else None
    x, t_x, big_t = validate_rfm(frequency, recency, T)
    x_spend, z = validate_spend(frequency, monetary_value, fitting=False)
    n = len(x)
    if len(z) != n:
        raise ValueError(f"monetary_value has {len(z)} rows, frequency {n}")
    margin = np.asarray(margin, dtype=float)
    if margin.ndim not in (0, 1) or (margin.ndim == 1 and len(margin) != n):
        raise ValueError(f"margin must be a scalar or one value per customer ({n})")
    margin = np.broadcast_to(margin, (n,))
    if np.any(~np.isfinite(margin)):
        raise ValueError(f"margin has {int((~np.isfinite(margin)).sum())} NaN/infinite values")

    months = np.arange(1, int(horizon_months) + 1)
    times = months * DAYS_PER_MONTH / unit_days
    discounts = (1.0 + discount_rate) ** -months.astype(float)

    discounted, expected_tx, jac_tx = _transaction_part(
        transaction_model, times, discounts, x, t_x, big_t
    )
    spend, jac_spend = _spend_part(spend_model, x_spend, z)
    unit_value = margin * spend - service_cost_per_transaction
    clv = discounted * unit_value
    result = pd.DataFrame(
        {
            "expected_transactions": expected_tx,
            "expected_value_per_transaction": spend,
            "revenue_contribution": discounted * spend,
            "clv": clv,
            "clv_low": clv,
            "clv_high": clv,
            "profit_contribution": clv - acquisition_cost,
        },
        index=index,
    )
    if n_draws == 0:
        return result

    rng = np.random.default_rng(seed)
    k_tx = len(transaction_model.theta_)
    delta_tx = rng.multivariate_normal(
        np.zeros(k_tx), transaction_model.params_cov_, size=int(n_draws), method="eigh"
    ).T
    delta_spend = rng.multivariate_normal(
        np.zeros(3), spend_model.params_cov_, size=int(n_draws), method="eigh"
    ).T
    log_discounted = _log_clip(discounted)
    log_spend = np.log(spend)
    low = np.empty(n)
    high = np.empty(n)
    for start in range(0, n, int(chunk_size)):
        part = slice(start, min(start + int(chunk_size), n))
        draws = jac_tx[part] @ delta_tx
        draws += log_discounted[part, None]
        np.exp(draws, out=draws)
        value = jac_spend[part] @ delta_spend
        value += log_spend[part, None]
        np.exp(value, out=value)
        value *= margin[part, None]
        value -= service_cost_per_transaction
        draws *= value
        del value
        low[part], high[part] = np.quantile(draws, interval, axis=1)
    result["clv_low"] = low
    result["clv_high"] = high
    return result
