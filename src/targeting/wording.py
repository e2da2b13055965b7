"""The campaign catalogue on the lists: action, channel and offer texts per campaign and language.

The texts come from ``targeting.wording`` in params.yaml (:class:`kequn.settings.Wording`,
whose defaults are the bank's wording), so a business can say "email voucher" instead of
"preferential rate or fee waiver" without a code change. Numbers in the per-client reasons
are formatted for people here too: whole percents, days, money with thousands separators.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from kequn.labels import label
from kequn.settings import Wording

#: in a growth offer, replaced by the recommended product (or :data:`ANY_PRODUCT`)
PRODUCT_SLOT = "{product}"
#: the product named when the growth list has no recommendation for the client
ANY_PRODUCT = {"en": "the next product line", "zh": "新产品"}


def campaign_texts(wording: Mapping[str, Any] | None, campaign: str, language: str) -> dict:
    """One campaign's texts in one language.

    Parameters
    ----------
    wording : the ``targeting.wording`` settings as plain data (``Targeting.as_dict()``), or
        None for the defaults (:class:`kequn.settings.Wording`).
    campaign : retention, growth, winback or vip_care.
    language : "en" or "zh".

    Returns
    -------
    dict : ``{"action": str, "offer": str, "channel": {tier: str}}``.
    """
    catalogue = wording if wording else Wording().as_dict()
    return catalogue[campaign][language]


def channels(value_tier: pd.Series, texts: Mapping[str, Any]) -> pd.Series:
    """The ``channel`` column: each client's value tier looked up in ``texts["channel"]``."""
    return value_tier.map(dict(texts["channel"])).fillna("").astype(object)


def product_name(product: Any, language: str) -> str:
    """A recommended product's display name (``kequn.labels``), or :data:`ANY_PRODUCT`."""
    if product is None or (isinstance(product, float) and math.isnan(product)):
        return ANY_PRODUCT[language]
    text = str(product).strip()
    return label(text, language) if text else ANY_PRODUCT[language]


def offer_text(offer: str, product: Any, language: str) -> str:
    """``offer`` with :data:`PRODUCT_SLOT` replaced by the product's name."""
    return offer.replace(PRODUCT_SLOT, product_name(product, language))


def mid_sentence(text: str) -> str:
    """``text`` for the middle of an English sentence: a capital first letter is lowered
    unless the word is an acronym ("Relationship-manager call" -> "relationship-manager
    call", "SMS" stays)."""
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def percent(share: float) -> str:
    """A share as a whole percent, halves rounded up: 0.825 -> "83%"."""
    return f"{_half_up(100 * float(share)):d}%"


def money(amount: float) -> str:
    """An amount rounded to whole units with thousands separators: 12345.6 -> "12,346"."""
    return f"{_half_up(float(amount)):,d}"


def whole(number: float) -> str:
    """A count or a number of days, rounded: 120.4 -> "120"."""
    return f"{_half_up(float(number)):d}"


def _half_up(x: float) -> int:
    """``x`` rounded to a whole number, halves up; ``100 * 0.825`` (82.49999...) counts as
    82.5, so the 9th decimal is rounded off first."""
    return math.floor(round(x, 9) + 0.5)
