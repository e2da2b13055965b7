"""The campaign review section (经营回检): what past campaigns did against their control,
as a lift chart with 95% error bars, a table, and sentences a manager can act on.

Inputs: ``reports/metrics/campaigns.json`` and ``reports/plots/campaign_lift.csv`` (the
evaluate stage). Pure: data in, text / ``Figure`` out; :func:`review_section` is called by
:func:`reporting.build.build_report`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kequn.labels import label
from reporting import html as h
from reporting.charts import ACCENT, GREY, SECOND
from reporting.formatting import format_money, format_percent

TEXT = {
    "title": {"en": "Campaign review", "zh": "经营回检"},
    "none": {
        "en": "No past campaign has a closed outcome window yet: the lists use the prior "
        "response rates from params.yaml and today's risk x value ranking.",
        "zh": "尚无已结束观察期的历史活动："
        "名单沿用 params.yaml 中的预设响应率和当前的风险×价值排序。",
    },
    "up": {
        "en": "{campaign}: {outcome} rose by {lift} points vs control (95% CI {low} to {high}); "
        "ROI {roi}. {advice}",
        "zh": "{campaign}：{outcome}较对照组提高 {lift} 个百分点（95%置信区间 {low} 至 {high}），"
        "投资回报率 {roi}。{advice}",
    },
    "down": {
        "en": "{campaign}: {outcome} fell by {lift} points vs control (95% CI {low} to {high}): "
        "the contact does harm; stop it or change the offer.",
        "zh": "{campaign}：{outcome}较对照组下降 {lift} 个百分点（95%置信区间 {low} 至 {high}）："
        "接触反而有害，应暂停或调整方案。",
    },
    "unsure": {
        "en": "{campaign}: no conclusion on {outcome} ({note}); keep a larger control group "
        "next time.",
        "zh": "{campaign}：{outcome}无法下结论（{note}）；下次请保留更大的对照组。",
    },
    "keep": {"en": "Keep it.", "zh": "建议继续。"},
    "loses": {
        "en": "It wins responses but loses money: contact only the clients the uplift "
        "ranking puts first, and leave out {tiers}.",
        "zh": "响应提高但整体亏损：只触达增量排序靠前的客户，并排除{tiers}。",
    },
    "negative_tiers": {"en": "the tiers where the lift is negative", "zh": "效果为负的层级"},
    "keep_but": {
        "en": "Keep it, but leave out the {tiers} tier(s), where it lowered the outcome.",
        "zh": "建议继续，但排除{tiers}客户，该层级的效果为负。",
    },
    "rate_used": {
        "en": "{campaign} list: expected value uses a response rate of {used} ({basis}; "
        "prior {prior}).",
        "zh": "{campaign}名单：预期价值采用响应率 {used}（{basis}；预设值 {prior}）。",
    },
    "basis_measured": {"en": "measured lift", "zh": "实测提升"},
    "basis_shrunk": {"en": "measured lift shrunk toward the prior", "zh": "实测提升向预设值收缩"},
    "basis_prior": {"en": "nothing measured yet", "zh": "尚无实测"},
    "uplift_used": {
        "en": "The {campaign} list is ranked by predicted uplift x value - cost: on held-out "
        "clients of {past} its Qini is {q_u} vs {q_r} for the risk x value ranking.",
        "zh": "{campaign}名单按预测增量×价值−成本排序：在{past}的留出客户上其Qini系数为 {q_u}，"
        "风险×价值排序为 {q_r}。",
    },
    "uplift_not": {
        "en": "Lists keep the risk x value ranking: {reason}.",
        "zh": "名单沿用风险×价值排序：{reason}。",
    },
    "headers": {
        "en": [
            "campaign",
            "arm",
            "treated",
            "control",
            "outcome",
            "treated",
            "control",
            "lift",
            "95% CI",
            "p-value",
        ],
        "zh": [
            "活动",
            "组",
            "营销组人数",
            "对照组人数",
            "指标",
            "营销组",
            "对照组",
            "提升",
            "95%置信区间",
            "p值",
        ],
    },
    "xlabel": {
        "en": "lift vs control (points, 95% CI)",
        "zh": "相对对照组的提升（百分点，95%置信区间）",
    },
    "all": {"en": "all", "zh": "全部"},
}


def _t(key: str, language: str, **values: Any) -> str:
    text = TEXT[key][language]
    return text.format(**values) if values else text


def _rate_outcome(entry: dict[str, Any]) -> str | None:
    """The first 0/1 outcome of an evaluated campaign (its rate lies in [0, 1])."""
    for name, o in entry.get("outcomes", {}).items():
        if o.get("ci_low") is not None and -1 <= o["ci_low"] and o["ci_high"] <= 1:
            if 0 <= (o.get("treated") or 0) <= 1 and 0 <= (o.get("control") or 0) <= 1:
                return name
    return None


def _tiers_only(plot: pd.DataFrame | None) -> pd.DataFrame | None:
    """The value-tier rows of campaign_lift.csv (branch rows are for the CSV's readers)."""
    if plot is None or "segment_by" not in plot:
        return plot
    return plot[plot["segment_by"] == "value_tier"]


def lift_rows(metrics: dict[str, Any], plot: pd.DataFrame | None, language: str) -> pd.DataFrame:
    """One row per bar of the lift chart: each campaign's main rate outcome overall, then
    per value tier (``name, lift, ci_low, ci_high, conclusive``)."""
    plot = _tiers_only(plot)
    rows = []
    for entry in metrics.get("campaigns", []):
        outcome = _rate_outcome(entry)
        if outcome is None:
            continue
        o = entry["outcomes"][outcome]
        rows.append(
            {
                "name": f"{entry['campaign']} · {_t('all', language)}",
                **{k: o[k] for k in ("lift", "ci_low", "ci_high", "conclusive")},
            }
        )
        if plot is not None and len(plot):
            tiers = plot[
                (plot["campaign"] == entry["campaign"])
                & (plot["arm"] == entry["arm"])
                & (plot["outcome"] == outcome)
            ]
            for r in tiers.to_dict("records"):
                rows.append(
                    {
                        "name": f"{entry['campaign']} · {label(str(r['segment']), language)}",
                        **{k: r[k] for k in ("lift", "ci_low", "ci_high", "conclusive")},
                    }
                )
    return pd.DataFrame(rows, columns=["name", "lift", "ci_low", "ci_high", "conclusive"])


def lift_chart(rows: pd.DataFrame, language: str) -> Figure:
    """Horizontal lift bars in percentage points with 95% error bars (grey: inconclusive)."""
    fig = Figure(figsize=(7.2, 1.2 + 0.42 * max(len(rows), 2)), layout="constrained")
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    y = np.arange(len(rows))
    lift = rows["lift"].to_numpy(float) * 100
    err = np.vstack(
        [lift - rows["ci_low"].to_numpy(float) * 100, rows["ci_high"].to_numpy(float) * 100 - lift]
    )
    low, high = rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float)
    # blue: the whole interval above 0; orange: below 0; grey: spans 0 or too few controls
    colors = [
        GREY if not c else ACCENT if lo > 0 else SECOND if hi < 0 else GREY
        for c, lo, hi in zip(rows["conclusive"], low, high, strict=True)
    ]
    ax.barh(y, lift, color=colors, xerr=err, capsize=3, error_kw={"ecolor": "#333333"})
    ax.axvline(0, color="#333333", linewidth=0.8)
    ax.set_yticks(y, rows["name"].tolist())
    ax.invert_yaxis()
    ax.set_xlabel(_t("xlabel", language))
    return fig


def _points(value: float) -> str:
    return f"{value * 100:+.1f}"


def findings(metrics: dict[str, Any], plot: pd.DataFrame | None, language: str) -> list[str]:
    """The sentences a manager can act on: per campaign, per targeting campaign (which
    response rate the list used), and the ranking."""
    plot = _tiers_only(plot)
    out = []
    for entry in metrics.get("campaigns", []):
        outcome = _rate_outcome(entry)
        if outcome is None:
            continue
        o = entry["outcomes"][outcome]
        values = {
            "campaign": entry["campaign"],
            "outcome": outcome,
            "lift": f"{abs(o['lift']) * 100:.1f}",
            "low": _points(o["ci_low"]),
            "high": _points(o["ci_high"]),
        }
        if not o["conclusive"] or o["ci_low"] <= 0 <= o["ci_high"]:
            out.append(
                _t("unsure", language, note=o.get("note") or f"p = {o['p_value']:.2f}", **values)
            )
        elif o["lift"] < 0:
            out.append(_t("down", language, **values))
        else:
            bad = []
            if plot is not None and len(plot):
                hit = plot[
                    (plot["campaign"] == entry["campaign"])
                    & (plot["outcome"] == outcome)
                    & (plot["ci_high"] < 0)
                    & plot["conclusive"].astype(bool)
                ]
                bad = [label(str(s), language) for s in hit["segment"]]
            advice = _t("keep_but", language, tiers=", ".join(bad)) if bad else _t("keep", language)
            if entry.get("roi") is not None and entry["roi"] < 0:
                tiers = ", ".join(bad) if bad else _t("negative_tiers", language)
                advice = _t("loses", language, tiers=tiers)
            roi = "n/a" if entry.get("roi") is None else format_percent(entry["roi"], language)
            out.append(_t("up", language, roi=roi, advice=advice, **values))
    return out


def ranking_notes(metrics: dict[str, Any], language: str) -> list[str]:
    """Which response rate each list used, and whether a list is ranked by uplift."""
    out = []
    for name, used in (metrics.get("expected_response") or {}).items():
        out.append(
            _t(
                "rate_used",
                language,
                campaign=label(name, language),
                used=format_percent(used["used"], language),
                basis=_t(f"basis_{used['basis']}", language),
                prior=format_percent(used["prior"], language),
            )
        )
    uplift = metrics.get("uplift") or {}
    if uplift.get("used"):
        out.append(
            _t(
                "uplift_used",
                language,
                campaign=label(uplift["campaign_type"], language),
                past=uplift["campaign"],
                q_u=f"{uplift['qini_uplift']:.4f}",
                q_r=f"{uplift['qini_risk']:.4f}",
            )
        )
    elif uplift:
        out.append(_t("uplift_not", language, reason=uplift.get("reason", "")))
    return out


def campaign_table_rows(metrics: dict[str, Any], currency: str, language: str) -> list[tuple]:
    """Table rows: one per campaign x arm x outcome."""
    rows = []
    for entry in metrics.get("campaigns", []):
        rate = _rate_outcome(entry)
        for name, o in entry["outcomes"].items():
            if name == rate:
                fmt = lambda v: format_percent(v, language)  # noqa: E731
                lift = f"{_points(o['lift'])} pt"
            else:
                fmt = lambda v: format_money(v, currency, language)  # noqa: E731
                lift = format_money(o["lift"], currency, language)
            rows.append(
                (
                    entry["campaign"],
                    entry["arm"],
                    entry["treated"],
                    entry["control"],
                    name,
                    fmt(o["treated"]),
                    fmt(o["control"]),
                    lift,
                    f"{fmt(o['ci_low'])} – {fmt(o['ci_high'])}",
                    f"{o['p_value']:.3g}",
                )
            )
    return rows


def review_section(b) -> str:
    """The report section; ``b`` is the report builder (language, currency, chart cache)."""
    metrics = b.out.metrics.get("campaigns") or {}
    if not metrics:
        return h.section(
            _t("title", b.lang), [b.missing("reports/metrics/campaigns.json")], "review"
        )
    plot = b.out.plots.get("campaign_lift")
    blocks = []
    rows = lift_rows(metrics, plot, b.lang)
    if len(rows):
        blocks.append(
            b.chart("campaign_lift", lambda: lift_chart(rows, b.lang), _t("title", b.lang))
        )
        blocks.append(h.bullet_list(findings(metrics, plot, b.lang)))
        blocks.append(
            h.table(
                _t("headers", b.lang),
                campaign_table_rows(metrics, b.s.currency, b.lang),
                numeric_from=2,
            )
        )
    else:
        blocks.append(h.paragraph(_t("none", b.lang)))
    blocks.append(h.bullet_list(ranking_notes(metrics, b.lang)))
    return h.section(_t("title", b.lang), blocks, "review")
