"""One matplotlib figure per chart of the report (pure: data in, ``Figure`` out).

Every function takes the data it draws and the language; display names come from
:func:`kequn.labels.label`. Call :func:`reporting.fonts.configure_matplotlib` first so
Chinese renders. Figures are created with :class:`matplotlib.figure.Figure` directly (no
pyplot state), so nothing leaks between charts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from kequn.labels import label
from reporting.formatting import currency_symbol, format_count, format_money, format_percent

TIER_COLORS = {"strategic": "#1f4e79", "value": "#4a90c2", "basic": "#b8c4ce"}
WARNING_COLORS = {"red": "#d64541", "orange": "#f08c2e", "yellow": "#f2c94c", "none": "#c9d1d9"}
ACCENT = "#1f4e79"
SECOND = "#f08c2e"
GREY = "#8a949e"
SIZE = (7.2, 3.8)


def _rgb(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))


#: the same colours as 0-255 RGB (for checking a rendered page)
WARNING_COLORS_RGB = {level: _rgb(c) for level, c in WARNING_COLORS.items()}
SECOND_RGB = _rgb(SECOND)


def _figure(size: tuple[float, float] = SIZE) -> tuple[Figure, object]:
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#e5e8eb", linewidth=0.8)
    ax.set_axisbelow(True)
    return fig, ax


def _money_axis(currency: str, language: str) -> FuncFormatter:
    return FuncFormatter(lambda v, _pos: format_money(v, currency, language))


def tier_chart(tiers: pd.DataFrame, language: str) -> Figure:
    """Customer share vs value share per value tier (grouped bars, labelled)."""
    fig, ax = _figure()
    x = np.arange(len(tiers))
    width = 0.38
    names = [label(t, language) for t in tiers["value_tier"]]
    bars_c = ax.bar(
        x - width / 2,
        tiers["customer_share"],
        width,
        color=GREY,
        label=label("report_customer_share", language),
    )
    bars_v = ax.bar(
        x + width / 2,
        tiers["value_share"],
        width,
        color=ACCENT,
        label=label("report_value_share", language),
    )
    for bars in (bars_c, bars_v):
        ax.bar_label(
            bars,
            labels=[format_percent(b.get_height(), language) for b in bars],
            fontsize=9,
            padding=2,
        )
    ax.set_xticks(x, names)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylim(0, 1.1)
    ax.legend(frameon=False, loc="upper left")
    return fig


def pareto_chart(pareto: pd.DataFrame, share_80: float | None, language: str) -> Figure:
    """Cumulative share of value against the share of customers, best customers first."""
    fig, ax = _figure((6.4, 4.2))
    ax.plot(pareto["share_of_customers"], pareto["share_of_value"], color=ACCENT, linewidth=2)
    ax.plot(
        [0, 1],
        [0, 1],
        color=GREY,
        linestyle="--",
        linewidth=1,
        label=label("report_random", language),
    )
    if share_80 is not None and np.isfinite(share_80):
        ax.axhline(0.8, color=SECOND, linewidth=0.8)
        ax.axvline(share_80, color=SECOND, linewidth=0.8)
        ax.annotate(
            f"{format_percent(share_80, language)} → 80%",
            (share_80, 0.8),
            xytext=(12, -22),
            textcoords="offset points",
            color=SECOND,
        )
    ax.set_xlabel(label("report_customer_share", language))
    ax.set_ylabel(label("report_value_share", language))
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    return fig


def rfm_heatmap(grid: pd.DataFrame, language: str) -> Figure:
    """Customers by recency score (rows, 5 at the top) and frequency score (columns)."""
    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.add_subplot()
    values = grid.to_numpy()
    image = ax.imshow(values, cmap="Blues", aspect="auto")
    top = values.max() if values.size else 0
    for (i, j), v in np.ndenumerate(values):
        ax.text(
            j,
            i,
            format_count(v, language),
            ha="center",
            va="center",
            fontsize=9,
            color="white" if top and v > 0.6 * top else "#1b2631",
        )
    ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [str(r) for r in grid.index])
    ax.set_xlabel(label("report_frequency_score", language))
    ax.set_ylabel(label("report_recency_score", language))
    fig.colorbar(image, ax=ax, label=label("report_customers", language))
    return fig


def cluster_chart(profiles: pd.DataFrame, language: str) -> Figure:
    """Share of customers vs share of value per behavioural cluster (horizontal bars)."""
    name_column = "cluster_name_zh" if language == "zh" else "cluster_name"
    names = profiles[name_column] if name_column in profiles else profiles["cluster"].astype(str)
    n = len(profiles)
    fig, ax = _figure((7.2, 1.0 + 0.55 * max(n, 2)))
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color="#e5e8eb", linewidth=0.8)
    y = np.arange(n)
    height = 0.38
    ax.barh(
        y - height / 2,
        profiles["size_share"],
        height,
        color=GREY,
        label=label("report_customer_share", language),
    )
    ax.barh(
        y + height / 2,
        profiles["value_share"],
        height,
        color=ACCENT,
        label=label("report_value_share", language),
    )
    ax.set_yticks(y, [f"{c}. {name}" for c, name in zip(profiles["cluster"], names, strict=True)])
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.legend(frameon=False, loc="lower right")
    return fig


def clv_histogram(clv: pd.Series, currency: str, language: str) -> Figure:
    """Histogram of the positive CLVs on logarithmic bins."""
    fig, ax = _figure()
    positive = clv[np.isfinite(clv) & (clv > 0)].to_numpy(dtype=float)
    if positive.size:
        low, high = np.log10(positive.min()), np.log10(positive.max())
        bins = np.logspace(low, high if high > low else low + 1, 40)
        ax.hist(positive, bins=bins, color=ACCENT)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(_money_axis(currency, language))
    ax.set_xlabel(
        label("report_clv_axis", language).format(currency=currency_symbol(currency).strip())
    )
    ax.set_ylabel(label("report_customers", language))
    return fig


def churn_by_tier(shares: pd.DataFrame, language: str) -> Figure:
    """Share of each tier at each warning level (stacked bars) with the mean probability."""
    fig, ax = _figure((7.2, 3.0))
    ax.grid(axis="y", visible=False)
    y = np.arange(len(shares))
    left = np.zeros(len(shares))
    for level, color in WARNING_COLORS.items():
        ax.barh(
            y,
            shares[level],
            left=left,
            color=color,
            label=label(level, language),
            edgecolor="white",
            linewidth=0.5,
        )
        left += shares[level].to_numpy()
    mean = label("report_mean_churn", language)
    names = [
        f"{label(t, language)}\n{mean} {format_percent(p, language)}"
        for t, p in zip(shares.index, shares["mean_churn_probability"], strict=True)
    ]
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlim(0, 1)
    ax.legend(
        frameon=False,
        ncols=4,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        title=label("report_warning_level", language),
    )
    return fig


def km_chart(curves: pd.DataFrame, language: str) -> Figure:
    """Kaplan-Meier survival curves, one per value tier."""
    fig, ax = _figure()
    for group, curve in curves.groupby("group", sort=False):
        ax.step(
            curve["days"],
            curve["survival"],
            where="post",
            linewidth=2,
            color=TIER_COLORS.get(group, GREY),
            label=label(str(group), language),
        )
    ax.set_xlabel(label("report_days_since_first", language))
    ax.set_ylabel(label("report_share_active", language))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylim(0, 1.02)
    ax.legend(frameon=False)
    return fig


def ltv_calibration_chart(calibration: pd.DataFrame, language: str) -> Figure:
    """Mean holdout transactions, actual vs predicted, by repeat transactions before the cutoff."""
    fig, ax = _figure()
    x = calibration["frequency"].astype(str)
    ax.plot(
        x, calibration["actual"], marker="o", color=GREY, label=label("report_actual", language)
    )
    ax.plot(
        x,
        calibration["predicted"],
        marker="o",
        color=ACCENT,
        label=label("report_predicted", language),
    )
    ax.set_xlabel(label("report_calibration_x", language))
    ax.set_ylabel(label("report_calibration_y", language))
    ax.legend(frameon=False)
    return fig


def deciles_chart(deciles: pd.DataFrame, currency: str, language: str) -> Figure:
    """Holdout value, actual vs predicted, per decile of predicted value."""
    fig, ax = _figure()
    x = np.arange(len(deciles))
    width = 0.38
    ax.bar(
        x - width / 2, deciles["actual"], width, color=GREY, label=label("report_actual", language)
    )
    ax.bar(
        x + width / 2,
        deciles["predicted"],
        width,
        color=ACCENT,
        label=label("report_predicted", language),
    )
    ax.set_xticks(x, deciles["decile"].astype(int).astype(str))
    ax.set_xlabel(label("report_decile", language))
    ax.set_ylabel(
        label("report_holdout_value", language).format(currency=currency_symbol(currency).strip())
    )
    ax.yaxis.set_major_formatter(_money_axis(currency, language))
    ax.legend(frameon=False)
    return fig


def gain_chart(gain: pd.DataFrame, ylabel: str, language: str) -> Figure:
    """Cumulative gain: share of the target captured by the top share of customers."""
    fig, ax = _figure((6.4, 4.2))
    ax.plot(
        gain["share_of_customers"],
        gain["model"],
        color=ACCENT,
        linewidth=2,
        label=label("report_model", language),
    )
    ax.plot(
        gain["share_of_customers"],
        gain["random"],
        color=GREY,
        linestyle="--",
        label=label("report_random", language),
    )
    ax.set_xlabel(label("report_customer_share", language))
    ax.set_ylabel(label(ylabel, language))
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.legend(frameon=False, loc="lower right")
    return fig


def roc_chart(roc: pd.DataFrame, chosen: str | None, language: str) -> Figure:
    """ROC curves of every churn candidate on the backtest; the chosen one thicker."""
    fig, ax = _figure((6.4, 4.2))
    palette = [ACCENT, SECOND, "#3c9d5d", "#8e44ad", GREY]
    groups = roc.groupby("model", sort=True) if "model" in roc else [("model", roc)]
    for i, (model, curve) in enumerate(groups):
        name = label(str(model), language)
        if model == chosen:
            name += f" ({label('report_chosen', language)})"
        ax.plot(
            curve["false_positive_rate"],
            curve["true_positive_rate"],
            color=palette[i % len(palette)],
            linewidth=2.4 if model == chosen else 1.2,
            label=name,
        )
    ax.plot([0, 1], [0, 1], color=GREY, linestyle=":", linewidth=1)
    ax.set_xlabel(label("report_fpr", language))
    ax.set_ylabel(label("report_tpr", language))
    ax.legend(frameon=False, loc="lower right")
    return fig


def churn_calibration_chart(calibration: pd.DataFrame, language: str) -> Figure:
    """Observed churn rate against predicted probability (bins), with the diagonal."""
    fig, ax = _figure((6.4, 4.2))
    ax.plot([0, 1], [0, 1], color=GREY, linestyle="--", linewidth=1)
    ax.plot(calibration["predicted"], calibration["observed"], marker="o", color=ACCENT)
    ax.set_xlabel(label("report_predicted_probability", language))
    ax.set_ylabel(label("report_observed_rate", language))
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    return fig


def targets_chart(campaigns: pd.DataFrame, currency: str, language: str) -> Figure:
    """Expected net return per campaign list, with the customers on each list."""
    fig, ax = _figure((7.2, 3.2))
    ax.grid(axis="y", visible=False)
    names = [label(c, language) for c in campaigns["campaign"]]
    values = pd.to_numeric(campaigns["expected_net_return"], errors="coerce").fillna(0.0)
    bars = ax.barh(np.arange(len(campaigns)), values, color=ACCENT)
    rows = [format_count(r, language) for r in campaigns["rows"]]
    ax.bar_label(
        bars,
        labels=[
            f"{format_money(v, currency, language)} · {r}"
            for v, r in zip(values, rows, strict=True)
        ],
        padding=3,
        fontsize=9,
    )
    ax.set_yticks(np.arange(len(campaigns)), names)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(_money_axis(currency, language))
    ax.set_xlabel(label("report_expected_net_return", language))
    ax.set_xlim(0, max(float(values.max()) * 1.35, 1.0) if len(values) else 1.0)
    return fig


def rejects_chart(counts: pd.Series, language: str) -> Figure:
    """Rows rejected at ingest, per reason (rows filtered by the mapping in grey: not errors)."""
    fig, ax = _figure((7.2, 1.2 + 0.4 * max(len(counts), 2)))
    ax.grid(axis="y", visible=False)
    y = np.arange(len(counts))
    colors = [GREY if reason == "filtered" else SECOND for reason in counts.index]
    bars = ax.barh(y, counts.to_numpy(), color=colors)
    ax.bar_label(bars, labels=[format_count(v, language) for v in counts], padding=3, fontsize=9)
    ax.set_yticks(y, [label(str(r), language) for r in counts.index])
    ax.invert_yaxis()
    ax.set_xlabel(label("report_rows_rejected", language))
    ax.set_xlim(0, max(float(counts.max()) * 1.2, 1.0) if len(counts) else 1.0)
    return fig
