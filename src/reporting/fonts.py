"""matplotlib set up for the report: a CJK font for Chinese, and byte-stable output.

Chinese text needs a font with CJK glyphs; without one matplotlib draws empty boxes
("tofu") and warns ``Glyph ... missing from font(s)``. :func:`find_cjk_font` looks for one
of the fonts ``scripts/system-deps.sh`` installs (WenQuanYi Micro Hei, Noto Sans CJK) or a
common desktop CJK font, first among the fonts matplotlib knows and then among the
system's font files (a font installed after matplotlib built its cache). DejaVu Sans stays
in the family list as the fallback for Latin glyphs (matplotlib >= 3.6 falls back per
glyph along ``font.sans-serif``).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager  # noqa: E402

from kequn.errors import UserError  # noqa: E402
from kequn.log import get_logger  # noqa: E402

log = get_logger("report")

#: CJK font families, most preferred first
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "Microsoft YaHei",
    "PingFang SC",
    "SimHei",
    "Noto Serif CJK SC",
    "AR PL UMing CN",
)
#: substrings of font file names that hold CJK glyphs
CJK_FILE_HINTS = (
    "wqy",
    "notosanscjk",
    "notoserifcjk",
    "sourcehansans",
    "msyh",
    "simhei",
    "pingfang",
)

#: rcParams that make SVG and PNG bytes identical across reruns
STABLE_RC = {
    "svg.hashsalt": "kequn",
    "svg.fonttype": "path",  # glyphs as paths: the SVG shows Chinese without the font
    "path.simplify": True,
}
#: ``savefig(metadata=...)``: no dates or versions in the files
SVG_METADATA = {"Date": None, "Creator": None}
PNG_METADATA = {"Software": None}


def _known_families() -> set[str]:
    return {entry.name for entry in font_manager.fontManager.ttflist}


def find_cjk_font() -> str | None:
    """The family name of an installed CJK font, or None when there is none."""
    known = _known_families()
    for family in CJK_FAMILIES:
        if family in known:
            return family
    for path in font_manager.findSystemFonts():
        name = Path(path).name.lower().replace(" ", "").replace("-", "")
        if any(hint in name for hint in CJK_FILE_HINTS):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):  # unreadable font file
                continue
    known = _known_families()
    for family in CJK_FAMILIES:
        if family in known:
            return family
    return None


def configure_matplotlib(language: str) -> str | None:
    """Set the fonts and stable-output rcParams; return the CJK family in use (or None).

    Chinese without a CJK font is a :class:`UserError` naming the fix; English without one
    only warns (Chinese product or channel names in the data would show as boxes).
    """
    cjk = find_cjk_font()
    if cjk is None and language == "zh":
        raise UserError(
            "report.language=zh needs a Chinese font for the charts and none is installed: "
            "run scripts/system-deps.sh (installs fonts-wqy-microhei) or install Noto Sans CJK"
        )
    if cjk is None:
        log.warning("no CJK font found: Chinese names in the data will not render in charts")
    families = ["DejaVu Sans"]
    if cjk is not None:
        families = [cjk, "DejaVu Sans"] if language == "zh" else ["DejaVu Sans", cjk]
    matplotlib.rcParams.update(STABLE_RC)
    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["font.sans-serif"] = families
    matplotlib.rcParams["axes.unicode_minus"] = False
    return cjk
