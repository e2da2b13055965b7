"""The assets and service section (资产与服务): AUM trend by value tier, the largest outflows,
complaints by tier and branch, and the counts of every kind of warning.

Inputs: ``reports/plots/aum_trend.csv`` (segment stage), ``reports/metrics/churn.json``
(warning counts, rules, the backtest with and without the balance/event features) and the
customer frame's ``aum_latest``, ``complaints_365d``, ``unresolved_complaints``, ``branch``,
``outflow_*`` and ``complaint_warning`` columns. Pure: data in, text / ``Figure`` out;
:func:`assets_section` is called by :func:`reporting.build.build_report`. Without balance
snapshots or service events the section says so and shows what it has.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from kequn.labels import label
from reporting import html as h
from reporting.charts import TIER_COLORS
from reporting.formatting import format_money

LEVELS = ("red", "orange", "yellow", "none")
TIERS = ("strategic", "value", "basic")
#: rows of the largest-outflow and branch tables
TOP = 10

TEXT = {
    "title": {"en": "Assets and service", "zh": "资产与服务"},
    "none": {
        "en": "No balance snapshots or service events in this run "
        "(ingest.balances_mapping, ingest.events_mapping): no asset or complaint signals.",
        "zh": "本次运行没有余额快照和服务事件（ingest.balances_mapping、ingest.events_mapping），"
        "无资产与投诉信号。",
    },
    "kinds": {
        "en": ["Warning", "Red", "Orange", "Yellow", "None"],
        "zh": ["预警类型", "红色", "橙色", "黄色", "无"],
    },
    "churn": {"en": "Churn (流失预警)", "zh": "流失预警"},
    "outflow": {"en": "Asset outflow (资产流失预警)", "zh": "资产流失预警"},
    "complaint": {"en": "Complaints (投诉预警)", "zh": "投诉预警"},
    "alert": {"en": "Highest of the three", "zh": "综合（三者取高）"},
    "rules": {
        "en": "Outflow: red when AUM fell >= {r}% and for >= {rm} months in a row, orange "
        ">= {o}% and {om} months, yellow >= {y}% (from at least {min_aum}). Complaints: red "
        "with >= {cr} unresolved or >= {crr} in 90 days, orange {co} / {cor}, yellow "
        "{cy} / {cyr}.",
        "zh": "资产流失：AUM 下降 ≥{r}% 且连续下降 ≥{rm} 个月为红色，≥{o}% 且 {om} 个月为橙色，"
        "≥{y}% 为黄色（下降前资产至少 {min_aum}）。投诉：未解决 ≥{cr} 笔或近90天 ≥{crr} 次为红色，"
        "{co} / {cor} 为橙色，{cy} / {cyr} 为黄色。",
    },
    "gain": {
        "en": "Backtest: with the balance and complaint features the churn classifier ranks "
        "at ROC AUC {with_} against {without} without them ({gain:+.3f}, mean of {n} cut-offs).",
        "zh": "回测：加入余额与投诉特征后，流失分类器 ROC AUC 为 {with_}，不加为 {without}"
        "（{gain:+.3f}，{n} 个截止日的平均）。",
    },
    "trend_axis": {"en": "AUM", "zh": "资产规模(AUM)"},
    "outflows": {"en": "Largest outflows", "zh": "资产流失最大的客户"},
    "outflow_headers": {
        "en": ["Client", "Value tier", "Branch", "AUM now", "Fall", "Months", "Warning"],
        "zh": ["客户", "价值分层", "网点", "当前AUM", "降幅", "月数", "预警"],
    },
    "complaints": {"en": "Complaints by value tier", "zh": "各价值分层投诉"},
    "complaint_headers": {
        "en": ["Group", "Clients", "Complaints (365 d)", "Unresolved", "Complaint warnings"],
        "zh": ["分组", "客户数", "近365天投诉", "未解决", "投诉预警"],
    },
    "branches": {"en": "Branches with the most complaints", "zh": "投诉最多的网点"},
}


def _t(key: str, language: str, **values: Any) -> Any:
    text = TEXT[key][language]
    return text.format(**values) if values else text


def mask_id(value: Any) -> str:
    """A client id with its middle hidden (``0100000013`` -> ``0100****13``); ids of at
    most four characters keep only their first."""
    text = str(value)
    if len(text) <= 4:
        return text[:1] + "*" * max(len(text) - 1, 0)
    return text[:4] + "*" * (len(text) - 6) + text[-2:] if len(text) > 6 else text[:2] + "**"


def warning_rows(churn: dict[str, Any], language: str) -> list[tuple]:
    """One row per kind of warning with its counts per level (churn.json)."""
    kinds = {
        "churn": churn.get("warning_levels"),
        "outflow": churn.get("outflow_warnings"),
        "complaint": churn.get("complaint_warnings"),
        "alert": churn.get("alert_levels"),
    }
    return [
        (_t(kind, language), *(int(counts.get(lv, 0)) for lv in LEVELS))
        for kind, counts in kinds.items()
        if counts
    ]


def trend_chart(trend: pd.DataFrame, currency: str, language: str) -> Figure:
    """AUM per month, one line per value tier (aum_trend.csv)."""
    fig = Figure(figsize=(7.2, 3.6), layout="constrained")
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    months = sorted(trend["month"].unique())
    for tier in TIERS:
        rows = trend[trend["group"] == tier].set_index("month").reindex(months)
        ax.plot(
            pd.to_datetime(months),
            rows["aum"].to_numpy(float),
            marker="o",
            color=TIER_COLORS[tier],
            label=label(tier, language),
        )
    ax.yaxis.set_major_formatter(lambda v, _pos: format_money(v, currency, language))
    ax.set_ylabel(_t("trend_axis", language))
    ax.legend(frameon=False)
    return fig


def largest_outflows(frame: pd.DataFrame, n: int = TOP) -> pd.DataFrame:
    """The ``n`` warned clients who lost the most AUM: ``lost = A_now d / (1 - d)`` with
    ``d`` the fall's share in the window named (``A_now / (1 - d)`` is the earlier AUM)."""
    warned = frame[frame["outflow_warning"].isin(LEVELS[:3])].copy()
    d = warned["outflow_drop"].astype(float).clip(upper=1 - 1e-9)
    warned["lost"] = warned["aum_latest"].astype(float) * d / (1 - d)
    return warned.sort_values(["lost", "customer_id"], ascending=[False, True]).head(n)


def complaint_rows(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """Per group of ``by``: clients, complaints in 365 days, unresolved, complaint warnings;
    largest complaint counts first."""
    unresolved = frame.get("unresolved_complaints", pd.Series(0, index=frame.index))
    warned = frame.get("complaint_warning", pd.Series("none", index=frame.index)) != "none"
    grouped = pd.DataFrame(
        {
            "group": frame[by].fillna("").astype(str),
            "complaints": frame["complaints_365d"].fillna(0),
            "unresolved": unresolved.fillna(0),
            "warned": warned.astype(int),
        }
    ).groupby("group", sort=True)
    out = grouped.agg(
        clients=("complaints", "size"),
        complaints=("complaints", "sum"),
        unresolved=("unresolved", "sum"),
        warned=("warned", "sum"),
    )
    return out.sort_values(["complaints", "clients"], ascending=False).reset_index()


def _rules_text(churn: dict[str, Any], b) -> str | None:
    rules = churn.get("warning_rules") or {}
    outflow, complaint = rules.get("outflow"), rules.get("complaint")
    if not outflow or not complaint:
        return None
    pct = {k: round(100 * outflow[k]["drop"]) for k in ("red", "orange", "yellow")}
    return _t(
        "rules",
        b.lang,
        r=pct["red"],
        rm=outflow["red"]["months"],
        o=pct["orange"],
        om=outflow["orange"]["months"],
        y=pct["yellow"],
        min_aum=b.money(outflow["min_aum"]),
        cr=complaint["red"]["unresolved"],
        crr=complaint["red"]["recent"],
        co=complaint["orange"]["unresolved"],
        cor=complaint["orange"]["recent"],
        cy=complaint["yellow"]["unresolved"],
        cyr=complaint["yellow"]["recent"],
    )


def _gain_text(churn: dict[str, Any], language: str) -> str | None:
    effect = churn.get("signals_backtest")
    if not effect:
        return None
    return _t(
        "gain",
        language,
        with_=f"{effect['roc_auc_with']:.3f}",
        without=f"{effect['roc_auc_without']:.3f}",
        gain=effect["gain"],
        n=len(effect["cutoffs"]),
    )


def _outflow_table(b, frame: pd.DataFrame) -> list[str]:
    top = largest_outflows(frame)
    if top.empty:
        return []
    rows = [
        (
            mask_id(r["customer_id"]),
            label(str(r.get("value_tier", "")), b.lang),
            str(r.get("branch", "") or ""),
            b.money(r["aum_latest"]),
            b.pct(r["outflow_drop"]),
            int(r["outflow_window_months"]),
            label(r["outflow_warning"], b.lang),
        )
        for r in top.to_dict("records")
    ]
    return [h.paragraph(_t("outflows", b.lang)), h.table(_t("outflow_headers", b.lang), rows)]


def _complaint_tables(b, frame: pd.DataFrame) -> list[str]:
    blocks = []
    for by, title in (("value_tier", "complaints"), ("branch", "branches")):
        if by not in frame:
            continue
        table = complaint_rows(frame, by)
        if by == "value_tier":
            table["group"] = [label(g, b.lang) for g in table["group"]]
        else:
            table = table.head(TOP)
        rows = [
            (
                r["group"],
                *(b.count(r[c]) for c in ("clients", "complaints", "unresolved", "warned")),
            )
            for r in table.to_dict("records")
        ]
        blocks += [h.paragraph(_t(title, b.lang)), h.table(_t("complaint_headers", b.lang), rows)]
    return blocks


def assets_section(b, frame: pd.DataFrame) -> str:
    """The report section; ``b`` is the report builder (language, currency, chart cache)."""
    churn = b.out.metrics.get("churn") or {}
    trend = b.out.plots.get("aum_trend")
    has_balances = "aum_latest" in frame and frame["aum_latest"].notna().any()
    has_events = "complaints_365d" in frame
    if not has_balances and not has_events:
        return h.section(_t("title", b.lang), [h.paragraph(_t("none", b.lang))], "assets")
    counts = [
        (name, *(b.count(v) for v in values)) for name, *values in warning_rows(churn, b.lang)
    ]
    blocks = [h.table(_t("kinds", b.lang), counts)]
    blocks += [h.paragraph(t) for t in (_rules_text(churn, b), _gain_text(churn, b.lang)) if t]
    if trend is not None and len(trend):
        blocks.append(
            b.chart(
                "aum_trend",
                lambda: trend_chart(trend, b.s.currency, b.lang),
                _t("title", b.lang),
            )
        )
    if has_balances and "outflow_warning" in frame:
        blocks += _outflow_table(b, frame)
    if has_events:
        blocks += _complaint_tables(b, frame)
    return h.section(_t("title", b.lang), blocks, "assets")
