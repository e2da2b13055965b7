"""The manager report: number formatting, summary figures, self-containment, languages,
fonts, determinism and missing inputs. The run is the hand-written fixture of
test_report_fixtures.py; expected values are recomputed here without the report code."""

from __future__ import annotations

import base64
import logging
import re
import shutil
import subprocess
import warnings
import xml.etree.ElementTree as ET
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from kequn.errors import UserError
from reporting import charts, fonts
from reporting.formatting import format_count, format_money, format_number, format_percent
from reporting.inputs import load_run
from reporting.summary import (
    campaign_table,
    churn_model_table,
    executive_summary,
    ltv_model_table,
    rejects_by_reason,
    rfm_grid,
    tier_table,
)
from reporting.survival import km_by_tier
from test_report_fixtures import CAMPAIGNS, REJECTS, make_run, run_report

ZH_TIERS = ("战略客群", "价值客群", "基础客群")
EN_TIERS = ("Strategic", "Basic")  # "Value" also occurs in ordinary English words


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """The report rendered in English and in Chinese, each in its own fixture run."""
    out = {}
    for language in ("en", "zh"):
        root = make_run(tmp_path_factory.mktemp(f"report_{language}"), language)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out[language] = (root, run_report(root, language))
        GLYPH_WARNINGS[language] = [
            str(w.message) for w in caught if "missing from font" in str(w.message)
        ]
    return out


#: matplotlib's "Glyph ... missing from font(s)" warnings seen while rendering each page
GLYPH_WARNINGS: dict[str, list[str]] = {}


def _tiny_png() -> bytes:
    buffer = BytesIO()
    Image.new("RGB", (400, 200), "white").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def no_chart_drawing(monkeypatch):
    """Skip the (slow) matplotlib drawing where a test is about the page's text."""
    from reporting import html

    files = html.FigureFiles(svg=b"<svg xmlns='http://www.w3.org/2000/svg'/>", png=_tiny_png())
    monkeypatch.setattr(html, "render_figure", lambda figure: files)


def _frames(root: Path) -> pd.DataFrame:
    tables = {
        name: pd.read_parquet(root / "data/processed" / f"{name}.parquet")
        for name in ("customers", "ltv", "churn", "segments")
    }
    frame = tables["customers"]
    for name in ("ltv", "churn", "segments"):
        frame = frame.merge(tables[name].astype({"customer_id": str}), on="customer_id")
    return frame


def _visible_text(page: str) -> str:
    """The page without tags and without the base64 image data."""
    return re.sub(r"<[^>]+>", " ", re.sub(r'src="data:[^"]*"', "", page))


# ---------------------------------------------------------------- formatting (hand examples)


def test_money_formats_for_each_locale():
    assert format_money(1234567, "CNY", "en") == "¥1,234,567"
    assert format_money(1234567, "CNY", "zh") == "¥123.5万"
    assert format_money(123456789, "CNY", "zh") == "¥1.23亿"
    assert format_money(9999, "CNY", "zh") == "¥9,999"
    assert format_money(5.5, "CNY", "en") == "¥5.50"
    assert format_money(0, "CNY", "en") == "¥0"
    assert format_money(-2500, "CNY", "en") == "-¥2,500"
    assert format_money(-25000, "CNY", "zh") == "-¥2.5万"
    assert format_money(1500, "USD", "en") == "$1,500"
    assert format_money(1500, "CHF", "en") == "CHF 1,500"
    assert format_money(2.7e20, "CNY", "en") == "¥2.70e+20"
    assert format_money(float("nan"), "CNY", "en") == "n/a"
    assert format_money(None, "CNY", "zh") == "暂无"


def test_counts_percentages_and_metrics():
    assert format_count(20000) == "20,000"
    assert format_count(7500.0, "zh") == "7,500"
    assert format_percent(0.05305) == "5.3%"
    assert format_percent(0.12345, digits=2) == "12.35%"
    assert format_percent(None) == "n/a"
    assert format_number(0.95677) == "0.957"
    assert format_number(15476.53) == "15,477"
    assert format_number(2.718e20) == "2.72e+20"


# ---------------------------------------------------------------- summary figures


def test_executive_summary_on_a_hand_example():
    frame = pd.DataFrame(
        {
            "customer_id": list("abcde"),
            "days_since_last": [10, 100, 90, 91, 5],
            "clv": [100.0, 50.0, 30.0, 20.0, 0.0],
            "tier_value": [100.0, 50.0, 30.0, 20.0, 0.0],
            "churn_probability": [0.1, 0.5, 0.2, 1.0, 0.3],
            "warning_level": ["none", "orange", "none", "red", "yellow"],
            "tier_change": ["upgrade", "same", "downgrade", "downgrade", "new"],
        }
    )
    targets = {
        "campaigns": {
            "retention": {"rows": 3, "contacts": 2, "expected_net_return": 12.5},
            "growth": {"rows": 0, "contacts": 0, "expected_net_return": 0.0},
        },
        "rows_total": 3,
        "expected_value_total": 20.0,
        "cost_total": 7.5,
    }
    s = executive_summary(frame, {"targets": targets}, active_days=90)
    assert s["customers"] == 5
    assert s["active_customers"] == 3  # 10, 90 and 5 days: 90 is still active
    # value at risk: 100*.1 + 50*.5 + 30*.2 + 20*1 + 0*.3 = 10 + 25 + 6 + 20 = 61
    assert s["value_at_risk"] == pytest.approx(61.0)
    assert s["value_at_risk_share"] == pytest.approx(61 / 200)
    assert s["total_clv"] == pytest.approx(200.0)
    # 80 % of 200 = 160: 100 + 50 = 150 is short, + 30 = 180 -> 3 of the 5 customers
    assert s["customer_share_for_80pct_value"] == pytest.approx(0.6)
    assert s["warning_levels"] == {"red": 1, "orange": 1, "yellow": 1, "none": 2}
    assert s["tier_changes"] == {"upgrade": 1, "downgrade": 2, "same": 1, "new": 1}
    assert s["targets"]["lists"] == 1  # the growth list is empty
    assert s["targets"]["rows"] == 3 and s["targets"]["contacts"] == 2
    assert s["targets"]["expected_net_return"] == pytest.approx(12.5)
    # without churn.json the lapsed and active-at-risk counts are unknown, not 0
    assert s["lapsed_clients"] is None and s["active_at_risk"] is None


def test_summary_keeps_lapsed_apart_from_active_clients_at_risk():
    frame = pd.DataFrame({"customer_id": list("ab"), "days_since_last": [1, 500]})
    churn = {
        "lapsed_clients": 7,
        "active_clients": 13,
        "active_at_risk": {"red": 2, "orange": 3, "yellow": 4},
    }
    s = executive_summary(frame, {"churn": churn}, active_days=90)
    assert (s["lapsed_clients"], s["active_clients"], s["active_at_risk"]) == (7, 13, 9)


def test_summary_figures_equal_independent_computations(pages):
    root, page = pages["en"]
    frame = _frames(root)
    clv = frame["clv"].tolist()
    p = frame["churn_probability"].tolist()
    at_risk = sum(c * q for c, q in zip(clv, p, strict=True))
    active = sum(1 for d in frame["days_since_last"] if d <= 90)
    ordered = sorted((v for v in frame["tier_value"] if v > 0), reverse=True)
    running, needed = 0.0, 0
    for v in ordered:
        running += v
        needed += 1
        if running >= 0.8 * sum(ordered):
            break
    net = sum(c["expected_net_return"] for c in CAMPAIGNS.values())

    summary = executive_summary(load_run(root).customer_frame(), load_run(root).metrics)
    assert summary["value_at_risk"] == pytest.approx(at_risk)
    assert summary["active_customers"] == active
    assert summary["customer_share_for_80pct_value"] == pytest.approx(needed / len(frame))
    assert summary["targets"]["expected_net_return"] == pytest.approx(net)
    assert summary["warning_levels"]["red"] == sum(1 for q in p if q >= 0.7)

    # the same figures, as a manager reads them on the page
    text = _visible_text(page)
    assert f"¥{round(at_risk):,}" in text
    assert f"¥{round(sum(clv)):,}" in text
    assert f"{len(frame):,} customers, {active:,} of them" in text
    assert f"{100 * needed / len(frame):.1f}% of customers make 80% of the value" in text
    assert f"¥{round(net):,}" in text


def test_section_tables():
    frame = pd.DataFrame(
        {
            "value_tier": ["strategic", "value", "value", "basic", "basic"],
            "tier_value": [60.0, 20.0, 10.0, 10.0, -5.0],
            "r_score": [5, 5, 1, 3, 1],
            "f_score": [1, 5, 5, 3, 5],
        }
    )
    tiers = tier_table(frame).set_index("value_tier")
    assert tiers.loc["value", "customers"] == 2
    assert tiers.loc["strategic", "value_share"] == pytest.approx(0.6)
    assert tiers.loc["basic", "value"] == pytest.approx(10.0)  # negative value counts as 0
    grid = rfm_grid(frame)
    assert list(grid.index) == [5, 4, 3, 2, 1] and list(grid.columns) == [1, 2, 3, 4, 5]
    assert grid.loc[1, 5] == 2 and grid.loc[5, 1] == 1 and grid.to_numpy().sum() == 5


def test_model_and_campaign_tables_mark_the_chosen():
    ltv = {
        "model": "gbm",
        "backtest": {"bgnbd": {"mae_value": 2.0}, "gbm": {"mae_value": 1.0}},
        "baselines": {"past_value_repeats": {"mae_value": 3.0}},
    }
    table = ltv_model_table(ltv)
    assert table.loc[table["chosen"], "model"].tolist() == ["gbm"]
    assert "past_value_repeats" in table["model"].tolist()
    churn = {"chosen": "btyd", "backtest": {"btyd": {"calibrated": {"roc_auc": 0.9}}, "gbm": {}}}
    table = churn_model_table(churn)
    assert table.set_index("model").loc["btyd", "roc_auc"] == 0.9
    assert table.loc[table["chosen"], "model"].tolist() == ["btyd"]
    campaigns = campaign_table({"campaigns": {"growth": {"rows": 1}, "vip_care": {"rows": 2}}})
    assert campaigns["campaign"].tolist() == ["vip_care", "growth"]
    assert campaigns["cost"].isna().all()


def test_rejects_by_reason_from_metrics_or_the_rejects_file():
    rejects = pd.DataFrame({"reason": ["bad_date", "bad_date", "filtered"]})
    from_file = rejects_by_reason({}, rejects)
    assert from_file.to_dict() == {"bad_date": 2, "filtered": 1}
    from_metrics = rejects_by_reason({"rejected_by_reason": {"bad_amount": 4, "bad_date": 0}}, None)
    assert from_metrics.to_dict() == {"bad_amount": 4}


def test_kaplan_meier_by_tier_on_a_hand_example():
    # lost when silent > 90 days: a lost at 110-100=10, b lost at 20, c censored at 15, d at 30
    frame = pd.DataFrame(
        {
            "value_tier": ["basic"] * 4,
            "days_since_last": [100, 100, 5, 0],
            "tenure_days": [110, 120, 15, 30],
        }
    )
    curve = km_by_tier(frame, inactive_days=90, points=13).set_index("days")["survival"]
    assert curve.loc[0.0] == pytest.approx(1.0)
    assert curve.loc[10.0] == pytest.approx(3 / 4)  # 1 of 4 at risk lost
    assert curve.loc[20.0] == pytest.approx(3 / 4 * 1 / 2)  # 1 of the 2 still at risk lost
    assert curve.loc[30.0] == pytest.approx(3 / 8)  # d is censored, not lost


# ---------------------------------------------------------------- the page


@pytest.mark.parametrize("language", ["en", "zh"])
def test_page_is_self_contained(pages, language):
    _root, page = pages[language]
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert "url(" not in page and "@import" not in page
    sources = re.findall(r'<img [^>]*src="([^"]*)"', page)
    assert len(sources) == page.count("<img ") >= 14
    for src in sources:
        head, _, data = src.partition(",")
        assert head == "data:image/png;base64"
        raw = base64.b64decode(data, validate=True)
        image = Image.open(BytesIO(raw))
        image.verify()
        assert image.format == "PNG" and image.size[0] > 300


def test_language_switch(pages):
    en = _visible_text(pages["en"][1])
    zh = _visible_text(pages["zh"][1])
    assert all(name in zh for name in ZH_TIERS)
    assert not any(name in en for name in ZH_TIERS)
    assert all(name in en for name in EN_TIERS)
    assert not any(re.search(rf"\b{name}\b", zh) for name in EN_TIERS)
    assert "Executive summary" in en and "管理摘要" in zh
    assert "挽留" in zh and "Retention" in en  # campaign names
    assert "日期无效" in zh and "Invalid date" in en  # reject reasons
    assert '<html lang="zh-CN">' in pages["zh"][1] and '<html lang="en">' in pages["en"][1]
    # numbers in the Chinese style: 万 for ten thousands
    assert re.search(r"¥\d+(\.\d)?万", zh)


def test_zh_charts_have_no_missing_glyphs(pages):
    """Every Chinese label renders with a real glyph: no 'missing from font' warning."""
    root, _page = pages["zh"]
    assert GLYPH_WARNINGS["zh"] == []
    assert GLYPH_WARNINGS["en"] == []
    svg = (root / "reports/figures/01_value_tiers.svg").read_text(encoding="utf-8")
    assert "<path" in svg


def test_missing_glyph_check_catches_a_font_without_chinese():
    """The check above is not vacuous: without the CJK font the same chart warns."""
    fonts.configure_matplotlib("zh")
    import matplotlib

    with matplotlib.rc_context({"font.sans-serif": ["DejaVu Sans"]}):
        tiers = pd.DataFrame(
            {"value_tier": ["strategic"], "customer_share": [0.1], "value_share": [0.5]}
        )
        figure = charts.tier_chart(tiers, "zh")
        with pytest.warns(UserWarning, match="missing from font"):
            figure.savefig(BytesIO(), format="png")


def test_zh_without_a_cjk_font_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(fonts, "find_cjk_font", lambda: None)
    with pytest.raises(UserError, match="system-deps.sh"):
        fonts.configure_matplotlib("zh")


def test_bad_language_is_a_user_error(tmp_path):
    root = make_run(tmp_path)
    with pytest.raises(UserError, match="report.language"):
        run_report(root, "fr")


def test_figures_for_slides_are_stable(pages, tmp_path):
    root, page = pages["en"]
    figures = sorted(p.name for p in (root / "reports/figures").iterdir())
    names = sorted({p.rsplit(".", 1)[0] for p in figures})
    assert figures == sorted([f"{n}.png" for n in names] + [f"{n}.svg" for n in names])
    assert "01_value_tiers" in names and len(names) == page.count("<img ")
    for name in names:
        svg = ET.parse(root / "reports/figures" / f"{name}.svg").getroot()
        assert svg.tag.endswith("svg")
        assert "<dc:date>" not in (root / "reports/figures" / f"{name}.svg").read_text(
            encoding="utf-8"
        )
    # a second run on a copy of the inputs gives the same bytes
    again = tmp_path / "again"
    shutil.copytree(root, again)
    shutil.rmtree(again / "reports/figures")
    assert run_report(again, "en") == page
    for name in figures:
        assert (again / "reports/figures" / name).read_bytes() == (
            root / "reports/figures" / name
        ).read_bytes(), name


def test_missing_inputs_are_shown_not_skipped(tmp_path, caplog, no_chart_drawing):
    root = make_run(tmp_path)
    (root / "data/processed/churn.parquet").unlink()
    (root / "reports/metrics/targets.json").unlink()
    (root / "reports/plots/pareto.csv").unlink()
    with caplog.at_level(logging.WARNING, logger="kequn"):
        page = run_report(root, "en")
    text = _visible_text(page)
    for path in (
        "data/processed/churn.parquet",
        "reports/metrics/targets.json",
        "reports/plots/pareto.csv",
    ):
        assert f"Not available: {path}" in text or f"Not available: {path}," in text or path in text
    assert "Value at risk (CLV × churn probability): n/a" in text
    assert "expected net return n/a" in text
    assert "Churn risk by value tier" in text and "Target lists" in text  # sections kept
    assert any("targets.json" in r.getMessage() for r in caplog.records)


def test_missing_metrics_key_prints_na(tmp_path, caplog, no_chart_drawing):
    root = make_run(tmp_path)
    path = root / "reports/metrics/ingest.json"
    ingest = pd.read_json(path, typ="series").to_dict()
    del ingest["rows_read"]
    path.write_text(pd.Series(ingest).to_json(), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="kequn"):
        page = run_report(root, "en")
    assert re.search(r"Rows read</td><td class=\"n\">n/a<", page)
    assert any("rows_read" in r.getMessage() for r in caplog.records)
    # the reject counts still come through
    assert f">{REJECTS['bad_date']}<" in page


def test_customers_table_is_required(tmp_path):
    root = make_run(tmp_path)
    (root / "data/processed/customers.parquet").unlink()
    with pytest.raises(UserError, match="customers.parquet"):
        run_report(root, "en")


def test_ids_join_across_dtypes(tmp_path):
    """segments.parquet stores ids as pandas strings, the others as objects: they still join."""
    root = make_run(tmp_path)
    frame = load_run(root).customer_frame()
    assert frame["value_tier"].notna().all() and frame["clv"].notna().all()
    assert np.isfinite(frame["churn_probability"]).all()


# ---------------------------------------------------------------- headless Chromium


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.fail("Chromium is not installed: run scripts/system-deps.sh")


def _near(pixels: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 12) -> int:
    return int((np.abs(pixels.astype(int) - np.array(rgb)).max(axis=2) <= tolerance).sum())


def test_page_renders_in_headless_chromium(pages, tmp_path):
    """The Chinese page as a mail client would show it: no load errors, charts drawn, not
    blank (the English page differs only in its text)."""
    root, _page = pages["zh"]
    shot = tmp_path / "page.png"
    done = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1280,9000",
            (root / "reports/report.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert shot.exists(), done.stderr[-2000:]
    problems = [
        line
        for line in done.stderr.splitlines()
        if "CONSOLE" in line or "net::ERR" in line or "Failed to load" in line
    ]
    assert problems == []
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (9000, 1280)
    ink = (pixels.min(axis=2) < 200).mean()
    assert ink > 0.03, f"only {ink:.1%} of the screenshot is not white"
    # colours that only the charts use: the red warning level and the orange rejects bars
    assert _near(pixels, charts.WARNING_COLORS_RGB["red"]) > 500
    assert _near(pixels, charts.SECOND_RGB) > 500


def test_product_table_shows_each_line_against_popularity_in_both_languages(pages):
    """The next-best-product section: per line take-up, top-decile take-up, AUC and
    lift@10% of the model and of the popularity baseline, from products.json."""
    from test_report_fixtures import PRODUCT_METRICS

    en, zh = pages["en"][1], pages["zh"][1]
    section = en[en.index('id="products"') :].split("</section>")[0]
    for line, name in (("deposit", "Deposits"), ("loan", "Loans"), ("fee", "Wealth and fee")):
        m = PRODUCT_METRICS["lines"][line]
        row = section[section.index(name) :].split("</tr>")[0]
        cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
        # the cells after the line's name
        assert cells == [
            format_percent(m["take_up_rate"], "en"),
            format_percent(m["top_decile_take_up_rate"], "en"),
            format_number(m["auc"], "en"),
            format_number(0.5, "en"),
            format_number(m["lift_at_10"], "en"),
            format_number(1.0, "en"),
        ], (line, cells)
    assert "Next best product" in en and "Logistic regression" in section
    zh_section = zh[zh.index('id="products"') :].split("</section>")[0]
    assert "产品适配" in zh and "理财及中间业务" in zh_section and "逻辑回归" in zh_section
    assert "Deposits" not in zh_section
