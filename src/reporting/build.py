"""Assembling the report: the executive summary, then one section per topic.

:func:`build_report` turns a :class:`~reporting.inputs.RunOutputs` into the HTML text and
the rendered charts. A section whose input file is missing says so on the page (and in the
log); a missing metrics key prints "n/a". Nothing is skipped silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from kequn.labels import label
from kequn.log import get_logger, progress
from reporting import charts
from reporting import html as h
from reporting.assets import assets_section
from reporting.formatting import format_count, format_money, format_number, format_percent
from reporting.inputs import RunOutputs
from reporting.review import review_section
from reporting.summary import (
    CAMPAIGN_COLUMNS,
    branch_table,
    campaign_table,
    churn_model_table,
    executive_summary,
    lookup,
    ltv_model_table,
    rejects_by_reason,
    rfm_grid,
    tier_table,
    warnings_by_tier,
)
from reporting.survival import km_by_tier

log = get_logger("report")


@dataclass(frozen=True)
class ReportSettings:
    language: str = "en"
    currency: str = "CNY"
    active_days: int = 90
    horizon_months: int = 12


@dataclass
class Report:
    html: str
    figures: dict[str, h.FigureFiles] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


class _Builder:
    """Collects sections and renders each chart once (for the page and for the slides)."""

    def __init__(self, outputs: RunOutputs, settings: ReportSettings) -> None:
        self.out = outputs
        self.s = settings
        self.lang = settings.language
        self.figures: dict[str, h.FigureFiles] = {}

    # helpers ------------------------------------------------------------
    def t(self, code: str, **values: Any) -> str:
        text = label(code, self.lang)
        return text.format(**values) if values else text

    def money(self, value: Any) -> str:
        return format_money(value, self.s.currency, self.lang)

    def count(self, value: Any) -> str:
        return format_count(value, self.lang)

    def pct(self, value: Any) -> str:
        return format_percent(value, self.lang)

    def chart(self, name: str, make: Callable[[], Figure], alt: str) -> str:
        number = len(self.figures) + 1
        key = f"{number:02d}_{name}"
        self.figures[key] = h.render_figure(make())
        return h.image(self.figures[key], alt)

    def plot_grid(
        self, specs: list[tuple[str, Callable[[pd.DataFrame], Figure], str]], blocks: list[str]
    ) -> str:
        """Two-column grid of the charts drawn from ``reports/plots/<name>.csv`` for each
        ``(name, draw, alt)``; a missing-data note is appended to ``blocks`` for each absent
        file."""
        pairs = []
        for name, draw, alt in specs:
            frame = self.out.plots.get(name)
            if frame is None:
                blocks.append(self.missing(f"reports/plots/{name}.csv"))
            else:
                pairs.append(self.chart(name, lambda draw=draw, frame=frame: draw(frame), alt))
        return '<div class="grid2">' + "".join(pairs) + "</div>"

    def missing(self, *paths: str) -> str:
        what = ", ".join(paths)
        log.warning("report section without data: %s missing", what)
        return h.paragraph(self.t("report_missing", what=what), "missing")

    def has(self, frame: pd.DataFrame, *columns: str) -> bool:
        return all(c in frame for c in columns)


def _summary_block(b: _Builder, summary: dict[str, Any]) -> str:
    warnings = summary["warning_levels"] or {}
    changes = summary["tier_changes"] or {}
    targets = summary["targets"]
    na = b.t("report_na")
    cards = [
        (b.t("report_kpi_customers"), b.count(summary["customers"])),
        (b.t("report_kpi_active"), b.count(summary["active_customers"])),
        (b.t("report_kpi_concentration"), b.pct(summary["customer_share_for_80pct_value"])),
        (b.t("report_kpi_clv"), b.money(summary["total_clv"])),
        (b.t("report_kpi_var"), b.money(summary["value_at_risk"])),
        (b.t("report_kpi_targets"), b.money(targets["expected_net_return"])),
    ]
    sentences = [
        b.t(
            "report_summary_customers",
            customers=b.count(summary["customers"]),
            active=b.count(summary["active_customers"]),
            active_share=b.pct(summary["active_share"]),
            days=summary["active_days"],
        ),
        b.t(
            "report_summary_lapsed",
            lapsed=b.count(summary["lapsed_clients"]),
            active=b.count(summary["active_clients"]),
            at_risk=b.count(summary["active_at_risk"]),
        ),
        b.t("report_summary_concentration", share=b.pct(summary["customer_share_for_80pct_value"])),
        b.t("report_summary_value", months=b.s.horizon_months, clv=b.money(summary["total_clv"])),
        b.t(
            "report_summary_risk",
            var=b.money(summary["value_at_risk"]),
            var_share=b.pct(summary["value_at_risk_share"]),
            red=b.count(warnings.get("red")) if warnings else na,
            orange=b.count(warnings.get("orange")) if warnings else na,
            yellow=b.count(warnings.get("yellow")) if warnings else na,
        ),
        b.t(
            "report_summary_tiers",
            up=b.count(changes.get("upgrade")) if changes else na,
            down=b.count(changes.get("downgrade")) if changes else na,
            new=b.count(changes.get("new")) if changes else na,
        ),
        b.t(
            "report_summary_targets",
            lists=targets["lists"] if targets["lists"] is not None else na,
            rows=b.count(targets["rows"]),
            contacts=b.count(targets["contacts"]),
            net=b.money(targets["expected_net_return"]),
        ),
    ]
    return h.section(
        b.t("report_summary"), [h.kpi_cards(cards), h.bullet_list(sentences)], "summary"
    )


def _tiers(b: _Builder, frame: pd.DataFrame) -> str:
    if not b.has(frame, "value_tier"):
        return h.section(
            b.t("report_sec_tiers"), [b.missing("data/processed/segments.parquet")], "tiers"
        )
    tiers = tier_table(frame)
    rows = [
        (
            label(r.value_tier, b.lang),
            b.count(r.customers),
            b.pct(r.customer_share),
            b.money(r.value),
            b.pct(r.value_share),
        )
        for r in tiers.itertuples()
    ]
    headers = [
        b.t("report_value_tier"),
        b.t("report_customers"),
        b.t("report_customer_share"),
        b.t("report_kpi_clv"),
        b.t("report_value_share"),
    ]
    blocks = [
        b.chart("value_tiers", lambda: charts.tier_chart(tiers, b.lang), b.t("report_sec_tiers")),
        h.table(headers, rows),
    ]
    return h.section(b.t("report_sec_tiers"), blocks, "tiers")


def _pareto(b: _Builder, summary: dict[str, Any]) -> str:
    pareto = b.out.plots.get("pareto")
    if pareto is None:
        blocks = [b.missing("reports/plots/pareto.csv")]
    else:
        share = summary["customer_share_for_80pct_value"]
        blocks = [
            b.chart(
                "pareto",
                lambda: charts.pareto_chart(pareto, share, b.lang),
                b.t("report_sec_pareto"),
            ),
            h.paragraph(b.t("report_summary_concentration", share=b.pct(share))),
        ]
    return h.section(b.t("report_sec_pareto"), blocks, "pareto")


def _rfm(b: _Builder, frame: pd.DataFrame) -> str:
    if not b.has(frame, "r_score", "f_score", "rfm_segment"):
        return h.section(
            b.t("report_sec_rfm"), [b.missing("data/processed/segments.parquet")], "rfm"
        )
    grid = rfm_grid(frame)
    counts = frame["rfm_segment"].value_counts()
    rows = [(label(str(s), b.lang), b.count(n), b.pct(n / len(frame))) for s, n in counts.items()]
    blocks = [
        b.chart("rfm_map", lambda: charts.rfm_heatmap(grid, b.lang), b.t("report_sec_rfm")),
        h.table(
            [b.t("report_rfm_segment"), b.t("report_customers"), b.t("report_customer_share")], rows
        ),
    ]
    return h.section(b.t("report_sec_rfm"), blocks, "rfm")


def _clusters(b: _Builder) -> str:
    profiles = b.out.plots.get("cluster_profiles")
    if profiles is None:
        return h.section(
            b.t("report_sec_clusters"),
            [b.missing("reports/plots/cluster_profiles.csv")],
            "clusters",
        )
    name_column = "cluster_name_zh" if b.lang == "zh" else "cluster_name"
    rows = []
    for r in profiles.to_dict("records"):
        rows.append(
            (
                f"{r['cluster']}. {r.get(name_column, '')}",
                b.count(r.get("size")),
                b.pct(r.get("size_share")),
                b.pct(r.get("value_share")),
                b.money(r.get("mean_clv")),
                b.pct(r.get("mean_churn_probability")),
                format_number(r.get("mean_days_since_last"), b.lang, 0),
            )
        )
    headers = [
        b.t("report_cluster"),
        b.t("report_customers"),
        b.t("report_customer_share"),
        b.t("report_value_share"),
        b.t("report_mean_clv"),
        b.t("report_mean_churn"),
        b.t("report_mean_days_since_last"),
    ]
    blocks = [
        b.chart(
            "clusters", lambda: charts.cluster_chart(profiles, b.lang), b.t("report_sec_clusters")
        ),
        h.table(headers, rows),
    ]
    return h.section(b.t("report_sec_clusters"), blocks, "clusters")


CLV_FLOOR = 1.0  # CLVs below one currency unit are noise on a log axis


def _clv(b: _Builder, frame: pd.DataFrame) -> str:
    if not b.has(frame, "clv"):
        return h.section(b.t("report_sec_clv"), [b.missing("data/processed/ltv.parquet")], "clv")
    clv = frame["clv"].astype(float)
    shown = clv[clv >= CLV_FLOOR]
    blocks = [
        b.chart(
            "clv_distribution",
            lambda: charts.clv_histogram(shown, b.s.currency, b.lang),
            b.t("report_sec_clv"),
        ),
        h.paragraph(
            b.t(
                "report_note_zero_clv",
                n=b.count(int(len(clv) - len(shown))),
                floor=b.money(CLV_FLOOR),
            )
        ),
    ]
    return h.section(b.t("report_sec_clv"), blocks, "clv")


def _churn(b: _Builder, frame: pd.DataFrame) -> str:
    if not b.has(frame, "value_tier", "warning_level", "churn_probability"):
        paths = [
            p
            for p, c in (
                ("data/processed/churn.parquet", "warning_level"),
                ("data/processed/segments.parquet", "value_tier"),
            )
            if c not in frame
        ]
        return h.section(b.t("report_sec_churn"), [b.missing(*paths)], "churn")
    shares = warnings_by_tier(frame)
    counts = pd.crosstab(frame["value_tier"], frame["warning_level"])
    rows = [
        (
            label(t, b.lang),
            *(
                b.count(counts.at[t, lv]) if t in counts.index and lv in counts else "0"
                for lv in ("red", "orange", "yellow", "none")
            ),
            b.pct(shares.at[t, "mean_churn_probability"]),
        )
        for t in shares.index
    ]
    headers = [
        b.t("report_value_tier"),
        *(label(lv, b.lang) for lv in ("red", "orange", "yellow", "none")),
        b.t("report_mean_churn"),
    ]
    blocks = [
        b.chart(
            "churn_by_tier", lambda: charts.churn_by_tier(shares, b.lang), b.t("report_sec_churn")
        ),
        h.table(headers, rows),
    ]
    return h.section(b.t("report_sec_churn"), blocks, "churn")


def _survival(b: _Builder, frame: pd.DataFrame) -> str:
    if not b.has(frame, "value_tier", "days_since_last", "tenure_days"):
        return h.section(
            b.t("report_sec_survival"), [b.missing("data/processed/segments.parquet")], "survival"
        )
    curves = km_by_tier(frame, b.s.active_days)
    blocks = [
        b.chart(
            "survival_by_tier", lambda: charts.km_chart(curves, b.lang), b.t("report_sec_survival")
        ),
        h.paragraph(b.t("report_note_survival", days=b.s.active_days)),
    ]
    return h.section(b.t("report_sec_survival"), blocks, "survival")


def _ltv_backtest(b: _Builder) -> str:
    metrics = b.out.metrics.get("ltv") or {}
    blocks = []
    if not metrics:
        blocks.append(b.missing("reports/metrics/ltv.json"))
    else:
        blocks.append(
            h.paragraph(
                b.t(
                    "report_note_backtest",
                    cutoff=lookup(metrics, "backtest_cutoff", "ltv.json") or b.t("report_na"),
                )
            )
        )
        requested = (metrics.get("choice") or {}).get("requested", "auto")
        reason = "report_reason_ltv_auto" if requested == "auto" else "report_reason_requested"
        model = label(str(lookup(metrics, "model", "ltv.json")), b.lang)
        blocks.append(h.paragraph(b.t("report_note_chosen", model=model, reason=b.t(reason))))
        table = ltv_model_table(metrics)
        rows = [
            (
                label(r.model, b.lang),
                b.money(r.mae_value),
                b.pct(r.value_error),
                format_number(r.spearman, b.lang),
                format_number(r.gini, b.lang),
            )
            for r in table.itertuples()
        ]
        headers = [
            b.t("report_model"),
            b.t("report_mae_value"),
            b.t("report_value_error"),
            b.t("report_spearman"),
            b.t("report_gini"),
        ]
        blocks.append(h.table(headers, rows, highlight=list(table["chosen"])))
    specs = [
        ("ltv_calibration", lambda f: charts.ltv_calibration_chart(f, b.lang), "LTV calibration"),
        ("ltv_deciles", lambda f: charts.deciles_chart(f, b.s.currency, b.lang), "LTV deciles"),
        ("ltv_gain", lambda f: charts.gain_chart(f, "report_value_captured", b.lang), "LTV gain"),
    ]
    blocks.append(b.plot_grid(specs, blocks))
    return h.section(b.t("report_sec_ltv_backtest"), blocks, "ltv-backtest")


def _churn_backtest(b: _Builder) -> str:
    metrics = b.out.metrics.get("churn") or {}
    blocks = []
    if not metrics:
        blocks.append(b.missing("reports/metrics/churn.json"))
    else:
        cutoff = lookup(metrics, "windows.backtest_features_as_of", "churn.json") or b.t(
            "report_na"
        )
        blocks.append(h.paragraph(b.t("report_note_backtest", cutoff=cutoff)))
        requested = metrics.get("requested", "auto")
        reason = "report_reason_churn_auto" if requested == "auto" else "report_reason_requested"
        model = label(str(lookup(metrics, "chosen", "churn.json")), b.lang)
        blocks.append(h.paragraph(b.t("report_note_chosen", model=model, reason=b.t(reason))))
        table = churn_model_table(metrics)
        rows = [
            (
                label(r.model, b.lang),
                format_number(r.roc_auc, b.lang),
                format_number(r.pr_auc, b.lang),
                format_number(r.brier, b.lang),
            )
            for r in table.itertuples()
        ]
        headers = [
            b.t("report_model"),
            b.t("report_roc_auc"),
            b.t("report_pr_auc"),
            b.t("report_brier"),
        ]
        blocks.append(h.table(headers, rows, highlight=list(table["chosen"])))
    chosen = metrics.get("chosen")
    specs = [
        ("churn_roc", lambda f: charts.roc_chart(f, chosen, b.lang), "ROC"),
        ("churn_calibration", lambda f: charts.churn_calibration_chart(f, b.lang), "calibration"),
        ("churn_gain", lambda f: charts.gain_chart(f, "report_churners_captured", b.lang), "gain"),
    ]
    blocks.append(b.plot_grid(specs, blocks))
    return h.section(b.t("report_sec_churn_backtest"), blocks, "churn-backtest")


def _products(b: _Builder) -> str:
    """Next best product: per line the take-up rate, the top decile's observed take-up
    and the backtest AUC and lift@10% against the popularity baseline."""
    metrics = b.out.metrics.get("products") or {}
    if not metrics:
        return h.section(
            b.t("report_sec_products"), [b.missing("reports/metrics/products.json")], "products"
        )
    lines = metrics.get("lines") or {}
    cutoffs = max((len(m.get("cutoffs") or []) for m in lines.values()), default=0)
    model = label(str(metrics.get("model", "")), b.lang)
    note = b.t("report_note_products", days=metrics.get("horizon_days"), model=model, n=cutoffs)

    def row(name: str, m: dict) -> tuple[str, ...]:
        return (
            name,
            b.pct(m.get("take_up_rate")),
            b.pct(m.get("top_decile_take_up_rate")),
            format_number(m.get("auc"), b.lang),
            format_number(m.get("baseline_auc"), b.lang),
            format_number(m.get("lift_at_10"), b.lang),
            format_number(m.get("baseline_lift_at_10"), b.lang),
        )

    rows = [row(b.t(f"product_{line}"), m) for line, m in lines.items()]
    if metrics.get("mean"):
        rows.append(row(b.t("report_mean_over_lines"), metrics["mean"]))
    headers = [
        b.t(code)
        for code in (
            "report_product_line",
            "report_take_up_rate",
            "report_top_decile_take_up",
            "report_auc_model",
            "report_auc_baseline",
            "report_lift_model",
            "report_lift_baseline",
        )
    ]
    highlight = [False] * len(lines) + ([True] if metrics.get("mean") else [])
    blocks = [h.paragraph(note), h.table(headers, rows, highlight=highlight)]
    return h.section(b.t("report_sec_products"), blocks, "products")


def _targets(b: _Builder) -> str:
    metrics = b.out.metrics.get("targets") or {}
    if not metrics:
        return h.section(
            b.t("report_sec_targets"), [b.missing("reports/metrics/targets.json")], "targets"
        )
    table = campaign_table(metrics)
    money_columns = {"expected_value", "cost", "expected_net_return"}
    columns = list(CAMPAIGN_COLUMNS)

    def fmt(column: str, value: Any) -> str:
        return b.money(value) if column in money_columns else b.count(value)

    rows = [
        (label(r["campaign"], b.lang), *(fmt(c, r[c]) for c in columns))
        for r in table.to_dict("records")
    ]
    totals = {
        "rows": lookup(metrics, "rows_total", "targets.json"),
        "expected_value": lookup(metrics, "expected_value_total", "targets.json"),
        "cost": lookup(metrics, "cost_total", "targets.json"),
        "suppressed": lookup(metrics, "suppressed_total", "targets.json"),
    }
    for column in ("contacts", "control", "expected_net_return", "overlap_removed"):
        values = pd.to_numeric(table[column], errors="coerce")
        totals[column] = float(values.sum()) if values.notna().all() else None
    rows.append((b.t("report_total"), *(fmt(c, totals[c]) for c in columns)))
    headers = [b.t("report_campaign"), *(b.t(f"report_{c}") for c in columns)]
    blocks = [
        b.chart(
            "targets",
            lambda: charts.targets_chart(table, b.s.currency, b.lang),
            b.t("report_sec_targets"),
        ),
        h.table(headers, rows, highlight=[False] * (len(rows) - 1) + [True]),
        *_branch_blocks(b, metrics),
    ]
    return h.section(b.t("report_sec_targets"), blocks, "targets")


def _branch_blocks(b: _Builder, metrics: dict[str, Any]) -> list[str]:
    """The list x branch table and, when some or all clients have no branch, a note."""
    blocks = []
    if metrics.get("branch_columns") is False:
        blocks.append(h.paragraph(b.t("report_note_no_branches")))
    elif metrics.get("unassigned_clients"):
        blocks.append(
            h.paragraph(b.t("report_note_unassigned", n=b.count(metrics["unassigned_clients"])))
        )
    table = branch_table(metrics)
    if table.empty or metrics.get("branch_columns") is False:
        return blocks
    campaigns = [
        c for c in table.columns if c not in ("branch", "branch_name", "contacts", "expected_value")
    ]
    rows = []
    for r in table.to_dict("records"):
        other = r["branch"] is None
        name = (
            b.t("report_other_branches", n=b.count(r["branch_name"])) if other else r["branch_name"]
        )
        rows.append(
            (
                "" if other else r["branch"],
                name,
                *(b.count(r[c]) for c in [*campaigns, "contacts"]),
                b.money(r["expected_value"]),
            )
        )
    shown = len(table) - int(table["branch"].isna().any())
    branches = metrics.get("branches", shown)
    blocks.append(h.paragraph(b.t("report_branch_table", shown=shown, branches=b.count(branches))))
    headers = [
        b.t("report_branch"),
        b.t("report_branch_name"),
        *(label(c, b.lang) for c in campaigns),
        b.t("report_contacts"),
        b.t("report_expected_value"),
    ]
    blocks.append(h.table(headers, rows, numeric_from=2))
    return blocks


def _quality(b: _Builder) -> str:
    ingest = b.out.metrics.get("ingest") or {}
    blocks = []
    if not ingest:
        blocks.append(b.missing("reports/metrics/ingest.json"))
    else:
        first = lookup(ingest, "first_date", "ingest.json") or b.t("report_na")
        last = lookup(ingest, "last_date", "ingest.json") or b.t("report_na")
        rows = [
            (b.t("report_rows_read"), b.count(lookup(ingest, "rows_read", "ingest.json"))),
            (b.t("report_rows_accepted"), b.count(lookup(ingest, "rows_accepted", "ingest.json"))),
            (b.t("report_rows_rejected"), b.count(lookup(ingest, "rows_rejected", "ingest.json"))),
            (
                b.t("report_reject_rate"),
                format_percent(lookup(ingest, "reject_rate", "ingest.json"), b.lang, 2),
            ),
            (b.t("report_period"), f"{first} – {last}"),
        ]
        blocks.append(h.table(["", ""], rows))
    counts = rejects_by_reason(ingest, b.out.rejects)
    if len(counts):
        blocks.append(
            b.chart(
                "rejects", lambda: charts.rejects_chart(counts, b.lang), b.t("report_sec_quality")
            )
        )
        blocks.append(
            h.table(
                [b.t("report_reason"), b.t("report_rows_rejected")],
                [(label(str(r), b.lang), b.count(n)) for r, n in counts.items()],
            )
        )
    elif not ingest and b.out.rejects is None:
        blocks.append(b.missing("data/interim/rejects.csv"))
    return h.section(b.t("report_sec_quality"), blocks, "quality")


def _as_of(outputs: RunOutputs) -> str | None:
    for name in ("segments", "churn", "ltv", "targets"):
        value = (outputs.metrics.get(name) or {}).get("as_of")
        if value:
            return str(value)
    return (outputs.metrics.get("ingest") or {}).get("last_date")


def build_report(outputs: RunOutputs, settings: ReportSettings) -> Report:
    """The report page and its charts from one run's outputs."""
    b = _Builder(outputs, settings)
    frame = outputs.customer_frame()
    summary = executive_summary(frame, outputs.metrics, active_days=settings.active_days)
    steps: list[Callable[[], str]] = [
        lambda: _summary_block(b, summary),
        lambda: _tiers(b, frame),
        lambda: _pareto(b, summary),
        lambda: _rfm(b, frame),
        lambda: _clusters(b),
        lambda: _clv(b, frame),
        lambda: _churn(b, frame),
        lambda: _survival(b, frame),
        lambda: _ltv_backtest(b),
        lambda: _churn_backtest(b),
        lambda: assets_section(b, frame),
        lambda: review_section(b),
        lambda: _products(b),
        lambda: _targets(b),
        lambda: _quality(b),
    ]
    body = [step() for step in progress(steps, log, "report sections", log_every=4)]
    as_of = _as_of(outputs) or b.t("report_na")
    text = h.page(
        language=settings.language,
        title=b.t("report_title"),
        subtitle=b.t("report_as_of", as_of=as_of),
        body=body,
        footer=b.t("report_footer"),
    )
    return Report(html=text, figures=b.figures, summary=summary)
