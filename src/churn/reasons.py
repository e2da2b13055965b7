"""Per-customer churn reasons in plain English and Chinese, with the customer's own numbers.

Each candidate reason ``j`` has a per-customer signal ``s_ij`` (e.g. the log of how overdue
the customer is against their usual gap) and a condition saying whether it applies at all
(e.g. the value really fell). A linear surrogate of the final score,
``logit(p_i) ~ b0 + sum_j beta_j z_ij`` with ``z`` the standardised signals (ridge least
squares), gives each reason's contribution ``c_ij = beta_j z_ij`` to the customer's log-odds
above the average customer (a local linear explanation in the spirit of Ribeiro et al.
2016's LIME, fitted globally). Per at-risk customer the applicable reasons with ``c_ij > 0``
are ranked by ``c_ij`` and the top ``max_reasons`` kept; when none is positive, the
applicable reason with the largest ``c_ij`` is given alone. A scheduled account closing,
when known, always comes first. ``infrequent`` applies when the usual gap is longer than
half the horizon (the rhythm alone makes a silent horizon likely). At bank scale the
surrogate (means, deviations, ``beta``) is fitted on the fit sample (:func:`fit_reasons`)
and applied to every scored chunk.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kequn.labels import label

REASONS = (
    "account_closing",
    "long_gap",
    "single_purchase",
    "value_down",
    "fewer_products",
    "channel_shift",
    "fewer_visits",
    "infrequent",
    "aum_down",
    "unresolved_complaints",
    "recent_complaints",
)


def _num(features: pd.DataFrame, column: str, default: float = np.nan) -> np.ndarray:
    if column not in features:
        return np.full(len(features), default, dtype=float)
    return pd.to_numeric(features[column], errors="coerce").to_numpy(dtype=float)


def _text(features: pd.DataFrame, column: str) -> np.ndarray:
    if column not in features:
        return np.full(len(features), "", dtype=object)
    return features[column].fillna("").astype(str).to_numpy(dtype=object)


def _fmt_int(values: np.ndarray) -> np.ndarray:
    return (
        pd.Series(np.nan_to_num(values)).round().astype(np.int64).astype(str).to_numpy(dtype=object)
    )


def _fmt_1(values: np.ndarray) -> np.ndarray:
    return pd.Series(np.nan_to_num(values)).map("{:.1f}".format).to_numpy(dtype=object)


def _english(names: np.ndarray) -> np.ndarray:
    """Channel names from the data in English where kequn.labels knows them (柜面 -> counter)."""
    values = pd.Series(names)
    mapping = {name: label(name, "en") for name in values.unique()}
    return values.map(mapping).to_numpy(dtype=object)


def _window_words(trend_window_days: int) -> tuple[str, str]:
    if int(trend_window_days) == 90:
        return "the previous quarter", "上一季度"
    if int(trend_window_days) in (30, 31):
        return "the previous month", "上个月"
    return f"the previous {int(trend_window_days)} days", f"前{int(trend_window_days)}天"


Reason = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

#: customers whose reason signals :func:`fit_reasons` builds at a time (memory: their
#: texts, about 2.5 kB a customer, not the whole sample's)
SIGNAL_CHUNK_ROWS = 50_000


def reason_table(
    features: pd.DataFrame, as_of: dt.date, horizon_days: int, trend_window_days: int
) -> dict[str, Reason]:
    """``code -> (applies, signal, text_en, text_zh)`` for every candidate reason, in the
    order of :data:`REASONS`."""
    table = {
        "account_closing": _closing_reason(features, as_of, horizon_days),
        **_activity_reasons(features, horizon_days, trend_window_days),
        **_signal_reasons(features),
    }
    return {code: table[code] for code in REASONS}


def _closing_reason(features: pd.DataFrame, as_of: dt.date, horizon_days: int) -> Reason:
    n = len(features)
    close = pd.to_datetime(features["close_date"]) if "close_date" in features else None
    end = pd.Timestamp(as_of) + pd.Timedelta(days=int(horizon_days))
    closing = np.zeros(n, bool) if close is None else (close <= end).fillna(False).to_numpy(bool)
    s_close = (
        np.full(n, "", object)
        if close is None
        else close.dt.strftime("%Y-%m-%d").fillna("").to_numpy(dtype=object)
    )
    return (
        closing,
        closing.astype(float),
        "account closes on " + s_close,
        "账户将于" + s_close + "销户",
    )


def _activity_reasons(
    features: pd.DataFrame, horizon_days: int, trend_window_days: int
) -> dict[str, Reason]:
    silence = _num(features, "days_since_last")
    usual_gap = _num(features, "gap_mean_days")
    frequency = _num(features, "frequency", 0.0)
    ratio = silence / np.where(usual_gap > 0, usual_gap, np.nan)
    recent_value, prior_value = (
        _num(features, "recent_value", 0.0),
        _num(features, "prior_value", 0.0),
    )
    drop = (prior_value - recent_value) / np.where(prior_value > 0, prior_value, np.nan)
    recent_products = _num(features, "recent_n_products", 0.0)
    prior_products = _num(features, "prior_n_products", 0.0)
    recent_days, prior_days = (
        _num(features, "recent_n_days", 0.0),
        _num(features, "prior_n_days", 0.0),
    )
    recent_channel = _text(features, "recent_main_channel")
    prior_channel = _text(features, "prior_main_channel")
    recent_channel_en, prior_channel_en = _english(recent_channel), _english(prior_channel)
    previous_en, previous_zh = _window_words(trend_window_days)
    s_days, s_ratio, s_pct = _fmt_int(silence), _fmt_1(ratio), _fmt_int(100 * drop)
    s_pp, s_rp = _fmt_int(prior_products), _fmt_int(recent_products)
    s_pd, s_rd = _fmt_int(prior_days), _fmt_int(recent_days)
    s_gap = _fmt_int(usual_gap)
    one_product = recent_products == 1
    return {
        "long_gap": (
            np.nan_to_num(ratio) > 1.0,
            np.log(np.clip(np.nan_to_num(ratio, nan=1.0), 1e-3, None)),
            "no transaction for " + s_days + " days, " + s_ratio + "× their usual gap",
            "已" + s_days + "天无交易，是其平均间隔的" + s_ratio + "倍",
        ),
        "single_purchase": (
            (frequency <= 0) & (silence > 0),
            np.where(frequency <= 0, np.log1p(np.nan_to_num(silence)), 0.0),
            "only one transaction day so far, " + s_days + " days ago",
            "仅有一天交易记录，距今" + s_days + "天",
        ),
        "value_down": (
            np.nan_to_num(drop) > 0.0,
            np.nan_to_num(drop),
            "value down " + s_pct + "% against " + previous_en,
            "交易金额较" + previous_zh + "下降" + s_pct + "%",
        ),
        "fewer_products": (
            recent_products < prior_products,
            prior_products - recent_products,
            np.where(
                one_product,
                "only one product line left",
                "product lines down from " + s_pp + " to " + s_rp,
            ),
            np.where(
                one_product, "仅剩一条产品线", "使用的产品线从" + s_pp + "类减少到" + s_rp + "类"
            ),
        ),
        "channel_shift": (
            (recent_channel != "") & (prior_channel != "") & (recent_channel != prior_channel),
            ((recent_channel != prior_channel) & (recent_channel != "")).astype(float),
            "moved from " + prior_channel_en + " to " + recent_channel_en,
            "主要渠道从" + prior_channel + "转为" + recent_channel,
        ),
        "fewer_visits": (
            recent_days < prior_days,
            (prior_days - recent_days) / np.maximum(prior_days + recent_days, 1.0),
            "transaction days down from " + s_pd + " to " + s_rd + " against " + previous_en,
            "交易天数较" + previous_zh + "从" + s_pd + "天减少到" + s_rd + "天",
        ),
        "infrequent": (
            np.nan_to_num(usual_gap) > horizon_days / 2,
            np.log1p(np.nan_to_num(usual_gap)),
            "transacts only every " + s_gap + " days on average",
            "平均每" + s_gap + "天才交易一次",
        ),
    }


def _signal_reasons(features: pd.DataFrame) -> dict[str, Reason]:
    """The balance and complaint reasons (:mod:`features.signals`): never applicable when
    the columns are absent. ``aum_down`` names the window (1, 3 or 6 months) with the
    largest fall of AUM; its signal is that fall's share."""
    change = np.column_stack([_num(features, f"aum_change_{m}m") for m in (1, 3, 6)])
    fall = np.where(np.isnan(change), -np.inf, -change)
    best = np.argmax(fall, axis=1) if len(features) else np.zeros(0, dtype=int)
    largest = np.take_along_axis(fall, best[:, None], axis=1)[:, 0] if len(features) else fall[:, 0]
    down = np.isfinite(largest) & (largest > 0)
    s_months = pd.Series(np.asarray([1, 3, 6])[best]).astype(str).to_numpy(dtype=object)
    s_fall = _fmt_int(100 * np.where(down, largest, 0.0))
    unresolved = _num(features, "unresolved_complaints", 0.0)
    recent = _num(features, "complaints_90d", 0.0)
    s_unresolved, s_recent = _fmt_int(unresolved), _fmt_int(recent)
    return {
        "aum_down": (
            down,
            np.where(down, largest, 0.0),
            "AUM down " + s_fall + "% in " + s_months + " months",
            "资产(AUM)近" + s_months + "个月下降" + s_fall + "%",
        ),
        "unresolved_complaints": (
            np.nan_to_num(unresolved) >= 1,
            np.nan_to_num(unresolved),
            s_unresolved + " unresolved complaint(s)",
            s_unresolved + "笔投诉未解决",
        ),
        "recent_complaints": (
            np.nan_to_num(recent) >= 1,
            np.nan_to_num(recent),
            s_recent + " complaint(s) in the last 90 days",
            "近90天投诉" + s_recent + "次",
        ),
    }


@dataclass(frozen=True)
class ReasonModel:
    """The fitted surrogate: signal means ``mean``, standard deviations ``sd`` and the ridge
    coefficients ``beta`` of the standardised signals (module docstring)."""

    mean: np.ndarray
    sd: np.ndarray
    beta: np.ndarray

    def contributions(self, signals: np.ndarray) -> np.ndarray:
        """``c_ij = beta_j z_ij`` with ``z_ij = (s_ij - mean_j) / sd_j`` (0 where sd_j = 0)."""
        sd = self.sd
        z = np.where(sd > 0, (signals - self.mean) / np.where(sd > 0, sd, 1.0), 0.0)
        return z * self.beta


def fit_reason_surrogate(
    signals: np.ndarray, churn_probability: np.ndarray, ridge: float = 1.0
) -> ReasonModel:
    """Ridge least squares of the centred logit(p) on the standardised signals:
    ``beta = (Z'Z + ridge I)^-1 Z' (logit p - mean logit p)``, p clipped to [1e-4, 1 - 1e-4]."""
    p = np.clip(np.asarray(churn_probability, dtype=float), 1e-4, 1 - 1e-4)
    target = np.log(p / (1 - p))
    mean, sd = signals.mean(axis=0), signals.std(axis=0)
    z = np.where(sd > 0, (signals - mean) / np.where(sd > 0, sd, 1.0), 0.0)
    centred = target - target.mean()
    beta = np.linalg.solve(z.T @ z + ridge * np.eye(z.shape[1]), z.T @ centred)
    return ReasonModel(mean=mean, sd=sd, beta=beta)


def _signals(
    features: pd.DataFrame, as_of: dt.date, horizon_days: int, trend_window_days: int
) -> tuple[dict, list[str], np.ndarray, np.ndarray]:
    """The reason table, its codes, the ``applies`` flags and the signals (n x R, finite)."""
    n = len(features)
    table = reason_table(features.reset_index(drop=True), as_of, horizon_days, trend_window_days)
    codes = list(table)
    applies = (
        np.column_stack([table[c][0] for c in codes]) if n else np.zeros((0, len(codes)), bool)
    )
    signals = np.column_stack([table[c][1] for c in codes]) if n else np.zeros((0, len(codes)))
    return table, codes, applies, np.nan_to_num(signals.astype(float))


def fit_reasons(
    features: pd.DataFrame,
    churn_probability: np.ndarray,
    *,
    as_of: dt.date,
    horizon_days: int,
    trend_window_days: int = 90,
) -> ReasonModel | None:
    """The surrogate fitted on ``features`` (a customer sample) and their probabilities, to
    explain other customers with (:func:`explain`'s ``model``); None without customers."""
    if len(features) == 0:
        return None
    # the signals are row by row: built SIGNAL_CHUNK_ROWS customers at a time, so the
    # reason texts that come with them never exist for the whole sample at once
    signals = np.concatenate(
        [
            _signals(
                features.iloc[i : i + SIGNAL_CHUNK_ROWS], as_of, horizon_days, trend_window_days
            )[3]
            for i in range(0, len(features), SIGNAL_CHUNK_ROWS)
        ]
    )
    return fit_reason_surrogate(signals, churn_probability)


def explain(
    features: pd.DataFrame,
    churn_probability: np.ndarray,
    at_risk: np.ndarray,
    *,
    as_of: dt.date,
    horizon_days: int,
    trend_window_days: int = 90,
    max_reasons: int = 3,
    model: ReasonModel | None = None,
) -> pd.DataFrame:
    """``reason_codes, reasons_en, reasons_zh`` per customer (empty when not at risk).

    ``model``: the surrogate fitted on a customer sample (:func:`fit_reasons`), so that a
    chunk of customers is explained against the population; None fits it on ``features``.
    """
    n = len(features)
    table, codes, applies, signals = _signals(features, as_of, horizon_days, trend_window_days)
    if n == 0 or max_reasons <= 0:
        empty = np.full(n, "", dtype=object)
        return pd.DataFrame({"reason_codes": empty, "reasons_en": empty, "reasons_zh": empty})
    if model is None:
        model = fit_reason_surrogate(signals, churn_probability)
    contribution = model.contributions(signals)
    closing_column = codes.index("account_closing")
    contribution[:, closing_column] = np.where(applies[:, closing_column], np.inf, 0.0)
    at_risk = np.asarray(at_risk, dtype=bool)
    eligible = applies & (contribution > 0) & at_risk[:, None]
    # an at-risk customer whose applicable reasons all sit below the average still gets the
    # strongest of them (each is a true statement that points toward churn by itself)
    fallback = at_risk & ~eligible.any(axis=1) & applies.any(axis=1)
    strongest = np.argmax(np.where(applies, contribution, -np.inf), axis=1)
    eligible[fallback, strongest[fallback]] = True
    ranked = np.where(eligible, contribution, -np.inf)
    order = np.argsort(-ranked, axis=1, kind="stable")[:, :max_reasons]
    chosen = np.take_along_axis(eligible, order, axis=1)
    code_names = np.asarray(codes, dtype=object)
    texts_en = np.column_stack([table[c][2] for c in codes]).astype(object)
    texts_zh = np.column_stack([table[c][3] for c in codes]).astype(object)
    result = {}
    for column, pieces, sep in (
        ("reason_codes", np.broadcast_to(code_names, (n, len(codes))), ";"),
        ("reasons_en", texts_en, "; "),
        ("reasons_zh", texts_zh, "；"),
    ):
        picked = np.where(chosen, np.take_along_axis(pieces, order, axis=1), "")
        joined = picked[:, 0].astype(object)
        for k in range(1, picked.shape[1]):
            joined = joined + np.where(picked[:, k] != "", sep + picked[:, k].astype(object), "")
        result[column] = joined
    return pd.DataFrame(result)
