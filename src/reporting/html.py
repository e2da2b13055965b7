"""The HTML page: one self-contained file (inline CSS, images as ``data:`` URIs, no script).

It opens from an e-mail attachment without a network: no external stylesheet, font,
script or image. Text is escaped with :func:`html.escape`; the font stack names the CJK
fonts of Windows, macOS and Linux so Chinese text renders on any of them.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure

from reporting.fonts import PNG_METADATA, SVG_METADATA

PNG_DPI = 144

CSS = """
:root { --ink:#1b2631; --muted:#5d6d7e; --accent:#1f4e79; --line:#e5e8eb; --card:#f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font-family: "Segoe UI", "Helvetica Neue", Arial, "PingFang SC", "Microsoft YaHei",
    "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif; line-height: 1.5; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 32px 48px; }
header { border-bottom: 3px solid var(--accent); margin-bottom: 16px; }
h1 { margin: 0 0 4px; font-size: 28px; color: var(--accent); }
h2 { margin: 32px 0 8px; font-size: 21px; color: var(--accent);
  border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.asof { color: var(--muted); margin: 0 0 12px; }
.kpis { display: grid; grid-template-columns: repeat(3, 1fr); gap: 12px; margin: 12px 0; }
.kpi { background: var(--card); border-radius: 8px; padding: 12px 16px; }
.kpi .v { font-size: 24px; font-weight: 700; color: var(--accent); }
.kpi .k { color: var(--muted); font-size: 14px; }
ul.summary li { margin: 4px 0; }
figure { margin: 12px 0; }
figure img { width: 100%; max-width: 720px; height: auto; display: block; }
.grid2 figure img { max-width: 100%; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 14px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.chosen td { font-weight: 700; background: #eef4fa; }
.note { color: var(--muted); font-size: 14px; }
.missing { color: #a04000; background: #fdf2e9; padding: 8px 12px; border-radius: 6px; }
footer { margin-top: 40px; color: var(--muted); font-size: 13px; }
"""


@dataclass(frozen=True)
class FigureFiles:
    """A chart rendered once: SVG for slides, PNG for slides and the page."""

    svg: bytes
    png: bytes


def render_figure(figure: Figure) -> FigureFiles:
    """SVG and PNG bytes of ``figure``, without dates or versions (identical on rerun)."""
    svg, png = io.BytesIO(), io.BytesIO()
    figure.savefig(svg, format="svg", metadata=SVG_METADATA)
    figure.savefig(png, format="png", dpi=PNG_DPI, metadata=PNG_METADATA)
    return FigureFiles(svg=svg.getvalue(), png=png.getvalue())


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def image(files: FigureFiles, alt: str) -> str:
    """An ``<img>`` with the PNG inline as a base64 ``data:`` URI."""
    data = base64.b64encode(files.png).decode("ascii")
    return f'<figure><img alt="{esc(alt)}" src="data:image/png;base64,{data}"></figure>'


def paragraph(text: str, css: str = "note") -> str:
    return f'<p class="{css}">{esc(text)}</p>'


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    numeric_from: int = 1,
    highlight: Sequence[bool] | None = None,
) -> str:
    """A plain table; columns from ``numeric_from`` on are right-aligned numbers."""

    def cell(tag: str, i: int, value: object) -> str:
        css = ' class="n"' if i >= numeric_from else ""
        return f"<{tag}{css}>{esc(value)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = []
    for k, row in enumerate(rows):
        css = ' class="chosen"' if highlight is not None and highlight[k] else ""
        body.append(f"<tr{css}>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def kpi_cards(cards: Sequence[tuple[str, str]]) -> str:
    """Headline numbers: (name, formatted value) pairs."""
    items = "".join(
        f'<div class="kpi"><div class="v">{esc(v)}</div><div class="k">{esc(k)}</div></div>'
        for k, v in cards
    )
    return f'<div class="kpis">{items}</div>'


def bullet_list(items: Sequence[str]) -> str:
    return '<ul class="summary">' + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"


def section(title: str, blocks: Sequence[str], anchor: str) -> str:
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{"".join(blocks)}</section>'


def page(*, language: str, title: str, subtitle: str, body: Sequence[str], footer: str) -> str:
    """The complete document."""
    lang = "zh-CN" if language == "zh" else "en"
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>"
        f'<header><h1>{esc(title)}</h1><p class="asof">{esc(subtitle)}</p></header>'
        + "".join(body)
        + f"<footer>{esc(footer)}</footer></main></body></html>\n"
    )
