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
forward differences (step 1e-5) per distinct (x, T) and per distinct history (exact to
O(|delta|^2); parameter standard errors are small wherever an interval is meaningful), while
the spend part E[z] is evaluated in the same log-linear way with its analytic gradient. CLV is
then computed per draw in float32 for one representative of each set of customers with
identical draws (customers without repeat purchases sharing history and margin; every repeat
customer on its own), in blocks of at most ``chunk_size`` rows so memory stays bounded, and the
``interval`` quantiles over the draws are reported (linear interpolation, as ``np.quantile``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from kequn.rules import DAYS_PER_MONTH
from ltv._base import (
    Histories,
    TransactionModel,
    _factorize,
    combined_codes,
    first_rows,
    validate_rfm,
)
from ltv.gamma_gamma import GammaGammaModel, validate_spend

_JACOBIAN_STEP = 1e-5
#: draw values held at once per block (rows x draws), to stay within the CPU caches
_BLOCK_VALUES = 4_000_000


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


def _transaction_part(model, times, discounts, histories: Histories):
    """Per distinct history: discounted sum, horizon expectation and the log-Jacobian.

    The alive part M depends on (x, T) only and is evaluated per distinct (x, T) pair;
    P(alive) per distinct (x, t_x, T) history.
    """
    theta = model.theta_
    log_theta = np.log(theta)
    k = len(theta)
    h = histories
    pair_code = combined_codes((h.x_code, len(h.x_values)), (h.T_code, len(h.T_values)))
    first = first_rows(pair_code, int(pair_code.max()) + 1)
    ux, uT = h.x[first], h.T[first]
    hx, ht, hT = h.x, h.t_x, h.T

    alive_sum, alive_horizon = _discounted_alive_sum(model, theta, times, discounts, ux, uT)
    log_alive = model._log_prob_alive(theta, hx, ht, hT)
    jac_sum = np.empty((len(ux), k))
    jac_alive = np.empty((len(hx), k))
    log_sum = _log_clip(alive_sum)
    for j in range(k):
        step = np.zeros(k)
        step[j] = _JACOBIAN_STEP
        up = np.exp(log_theta + step)
        s_up = _discounted_alive_sum(model, up, times, discounts, ux, uT)[0]
        jac_sum[:, j] = (_log_clip(s_up) - log_sum) / _JACOBIAN_STEP
        a_up = model._log_prob_alive(up, hx, ht, hT)
        jac_alive[:, j] = (a_up - log_alive) / _JACOBIAN_STEP
    prob_alive = np.exp(log_alive)
    discounted = prob_alive * alive_sum[pair_code]
    expected = prob_alive * alive_horizon[pair_code]
    jacobian = np.nan_to_num(jac_sum[pair_code] + jac_alive, nan=0.0, posinf=0.0, neginf=0.0)
    return discounted, expected, jacobian


def _spend_part(spend_model: GammaGammaModel, x, z):
    """E[Z | x, zbar] and its gradient with respect to log(p, q, v), per customer."""
    p, q, v = spend_model.theta_
    expected = spend_model._expected_value(spend_model.theta_, x, z)
    denominator = p * x + q - 1
    gradient = np.column_stack([1 - p * x / denominator, -q / denominator, v / (v + x * z)])
    return expected, gradient


def _draw_quantiles(log_discounted, jac_tx, log_unit, jac_spend, sign, cost, deltas, interval):
    """``interval`` quantiles over draws j of
    exp(log_discounted + J_tx d_j) * (sign * exp(log_unit + J_spend e_j) - cost)
    for a block of rows (``log_unit`` = log |margin * E[z]|, ``deltas`` = stacked (d_j, e_j)).

    Draws are float32 (relative error ~1e-7, far below the interval widths); the offsets ride
    in the matrix products as an extra column; the order statistics come from a row-wise sort
    (SIMD, several times faster than a multi-``kth`` partition) and are interpolated linearly
    as ``np.quantile`` does.
    """
    delta_tx, delta_spend = deltas
    draws = np.hstack([jac_tx.astype(np.float32), log_discounted.astype(np.float32)[:, None]])
    draws = draws @ delta_tx
    np.exp(draws, out=draws)
    value = np.hstack([jac_spend.astype(np.float32), log_unit.astype(np.float32)[:, None]])
    value = value @ delta_spend
    np.exp(value, out=value)
    if not np.all(sign > 0):
        value *= sign.astype(np.float32)[:, None]
    if cost:
        value -= np.float32(cost)
    draws *= value
    del value
    draws.sort(axis=1)
    n_draws = draws.shape[1]
    out = []
    for q in interval:
        position = q * (n_draws - 1)
        lo = int(np.floor(position))
        hi = min(lo + 1, n_draws - 1)
        v_lo = draws[:, lo].astype(float)
        out.append(v_lo + (position - lo) * (draws[:, hi].astype(float) - v_lo))
    return out


def _draw_rows(history_code, n_histories, frequency, margin):
    """One representative customer per set of customers whose draws are identical, and each
    customer's set: customers without repeat purchases (spend = the population mean) share
    them with every such customer of the same history and margin; repeat customers (whose
    mean spend is practically unique) each form their own set."""
    zero = np.flatnonzero(frequency == 0)
    repeat = np.flatnonzero(frequency != 0)
    group = np.empty(len(history_code), dtype=np.int64)
    zero_margin = margin[zero]
    if len(zero) == 0 or np.ptp(zero_margin) == 0:
        margin_codes, n_margins = np.zeros(len(zero), dtype=np.int64), 1
    else:
        margin_codes, margin_values = _factorize(zero_margin)
        n_margins = len(margin_values)
    codes = combined_codes((history_code[zero], n_histories), (margin_codes, n_margins))
    n_zero_groups = int(codes.max()) + 1 if len(codes) else 0
    group[zero] = codes
    group[repeat] = n_zero_groups + np.arange(len(repeat))
    rows = np.concatenate([zero[first_rows(codes, n_zero_groups)], repeat])
    return rows, group


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
    margin = _per_customer_margin(margin, n)

    months = np.arange(1, int(horizon_months) + 1)
    times = months * DAYS_PER_MONTH / unit_days
    discounts = (1.0 + discount_rate) ** -months.astype(float)

    histories = Histories.build(x, t_x, big_t)
    code = histories.inverse
    disc_h, expected_h, jac_h = _transaction_part(transaction_model, times, discounts, histories)
    discounted, expected_tx = disc_h[code], expected_h[code]
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

    deltas = _parameter_draws(transaction_model, spend_model, int(n_draws), seed)
    rows, group = _draw_rows(code, len(histories.weights), x_spend, margin)
    low, high = _interval_bounds(
        rows,
        code[rows],
        _log_clip(disc_h),
        jac_h,
        margin * spend,
        jac_spend,
        service_cost_per_transaction,
        deltas,
        interval,
        max(1, min(int(chunk_size), _BLOCK_VALUES // int(n_draws))),
    )
    result["clv_low"] = low[group]
    result["clv_high"] = high[group]
    return result


def _per_customer_margin(margin: Any, n: int) -> np.ndarray:
    """``margin`` (a scalar or one value per customer) as ``n`` finite floats."""
    margin = np.asarray(margin, dtype=float)
    if margin.ndim not in (0, 1) or (margin.ndim == 1 and len(margin) != n):
        raise ValueError(f"margin must be a scalar or one value per customer ({n})")
    margin = np.broadcast_to(margin, (n,))
    if np.any(~np.isfinite(margin)):
        raise ValueError(f"margin has {int((~np.isfinite(margin)).sum())} NaN/infinite values")
    return margin


def _parameter_draws(
    transaction_model: TransactionModel, spend_model: GammaGammaModel, n_draws: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``n_draws`` offsets of the log-parameters from N(0, Σ) of each fit (Σ: the inverse
    Hessian), each with a last row of ones so the offset enters the products of
    :func:`_draw_quantiles` as one more column; float32, one draw per column."""
    rng = np.random.default_rng(seed)
    k_tx = len(transaction_model.theta_)
    delta_tx = rng.multivariate_normal(
        np.zeros(k_tx), transaction_model.params_cov_, size=n_draws, method="eigh"
    ).T
    delta_spend = rng.multivariate_normal(
        np.zeros(3), spend_model.params_cov_, size=n_draws, method="eigh"
    ).T
    ones = np.ones((1, n_draws))
    return (
        np.vstack([delta_tx, ones]).astype(np.float32),
        np.vstack([delta_spend, ones]).astype(np.float32),
    )


def _interval_bounds(
    rows: np.ndarray,
    row_history: np.ndarray,
    log_disc_h: np.ndarray,
    jac_h: np.ndarray,
    margin_spend: np.ndarray,
    jac_spend: np.ndarray,
    service_cost: float,
    deltas: tuple[np.ndarray, np.ndarray],
    interval: tuple[float, float],
    block: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The CLV interval quantiles of the representative ``rows``, ``block`` rows at a time
    (so the draws of one block bound the memory)."""
    with np.errstate(divide="ignore"):
        log_unit = np.log(np.abs(margin_spend))
    sign = np.sign(margin_spend)
    n_rows = len(rows)
    low = np.empty(n_rows)
    high = np.empty(n_rows)
    # the products have only k + 1 <= 5 inner terms: BLAS threads cost more than they save
    with threadpool_limits(limits=1, user_api="blas"):
        for start in range(0, n_rows, block):
            part = slice(start, min(start + block, n_rows))
            rows_part = rows[part]
            low[part], high[part] = _draw_quantiles(
                log_disc_h[row_history[part]],
                jac_h[row_history[part]],
                log_unit[rows_part],
                jac_spend[rows_part],
                sign[rows_part],
                service_cost,
                deltas,
                interval,
            )
    return low, high
