"""Numbers for people: counts, money and shares in the report's language and currency.

English: ``¥1,234,567``; Chinese: the 万 (10^4) / 亿 (10^8) units a Chinese reader quotes,
``¥123.5万``, ``¥1.23亿``. Missing values (None, NaN) print as ``n/a`` / ``暂无``.
"""

from __future__ import annotations

import math
from typing import Any

from kequn.labels import label

#: ISO currency code -> symbol written before the amount
CURRENCY_SYMBOLS = {
    "CNY": "¥",
    "RMB": "¥",
    "JPY": "¥",
    "USD": "$",
    "HKD": "HK$",
    "EUR": "€",
    "GBP": "£",
}


def is_missing(value: Any) -> bool:
    """True for None, NaN and anything that is not a real number."""
    if value is None or isinstance(value, bool):
        return value is None
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


def currency_symbol(currency: str) -> str:
    """``¥`` for CNY, ``$`` for USD, ...; an unknown code is written as the code and a space."""
    code = str(currency).upper()
    return CURRENCY_SYMBOLS.get(code, f"{code} ")


def _plain(value: float) -> str:
    """1234567 -> '1,234,567'; below 100 two decimals (5.5 -> '5.50'); 0 -> '0';
    absurdly large (>= 10^15, a diverged model) in scientific notation."""
    if value >= 1e15:
        return f"{value:.2e}"
    if value == 0:
        return "0"
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def format_money(value: Any, currency: str = "CNY", language: str = "en") -> str:
    """Money in the report's style.

    en: ``format_money(1234567) == "¥1,234,567"``; zh: 10^4 <= |x| < 10^8 in 万 with one
    decimal (``"¥123.5万"``), |x| >= 10^8 in 亿 with two (``"¥1.23亿"``), smaller amounts as
    in English. Amounts below 100 keep two decimals, zero is ``"¥0"``, amounts of 10^15 and
    more (only a diverged model makes them) are scientific. Negative: ``"-¥2,500"``.
    """
    if is_missing(value):
        return label("report_na", language)
    value = float(value)
    sign = "-" if value < 0 and round(abs(value), 2) > 0 else ""
    size = abs(value)
    symbol = currency_symbol(currency)
    if language == "zh" and 1e8 <= size < 1e15:
        return f"{sign}{symbol}{size / 1e8:,.2f}亿"
    if language == "zh" and size >= 1e4:
        return f"{sign}{symbol}{size / 1e4:,.1f}万"
    return f"{sign}{symbol}{_plain(size)}"


def format_count(value: Any, language: str = "en") -> str:
    """A whole number with thousands separators: ``20000 -> "20,000"`` (both languages)."""
    if is_missing(value):
        return label("report_na", language)
    return f"{round(float(value)):,d}"


def format_percent(value: Any, language: str = "en", digits: int = 1) -> str:
    """A share 0-1 as a percentage: ``0.05305 -> "5.3%"``."""
    if is_missing(value):
        return label("report_na", language)
    percent = 100 * float(value)
    if abs(percent) >= 1e6:
        return f"{percent:.2e}%"
    return f"{percent:.{digits}f}%"


def format_number(value: Any, language: str = "en", digits: int = 3) -> str:
    """A model metric: ``digits`` significant decimals, scientific when huge or tiny.

    ``0.95677 -> "0.957"``, ``15476.53 -> "15,477"``, ``2.7e20 -> "2.72e+20"``.
    """
    if is_missing(value):
        return label("report_na", language)
    value = float(value)
    size = abs(value)
    if size >= 1e9 or (0 < size < 10 ** (-digits)):
        return f"{value:.{digits - 1}e}"
    if size >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"
