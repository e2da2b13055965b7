"""The settings schema: one typed, frozen, validated definition of ``params.yaml``.

Every key the pipeline reads is declared here, once, as a field of a frozen dataclass:
its type (the annotation), its default and its allowed range (:func:`key`). The loader
is strict: an unknown key is an error naming the closest known key, a value of the wrong
type is an error (``horizon_days: 45.7`` is not truncated to 45), and so is a value out
of range. Every error is one :class:`~kequn.errors.UserError` line naming ``params.yaml``
and the key.

Adding a key
------------
Add a field to its section class, with a type and ``key(default, ...)``::

    @dataclass(frozen=True)
    class Churn(Section):
        horizon_days: int = key(90, ge=1)

Adding a section: write a ``Section`` dataclass and add it as a field of
:class:`Settings` (``evaluation: Evaluation = section_of(Evaluation)``), then list it in
:data:`STAGE_SECTIONS` for every stage that reads it (a test checks dvc.yaml against it).
Supported types: ``bool``, ``int``, ``float``, ``str``, ``dt.date | None``, ``Literal[...]``,
``X | None``, ``tuple[X, X]`` / ``tuple[X, ...]``, ``dict[K, V]`` (``K`` a ``str`` or a
``Literal`` of allowed names), a nested ``Section``, and unions such as
``float | dict[str, float]``. Checks across fields go in the section's ``check`` method.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import operator
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kequn.errors import UserError

SOURCE = "params.yaml"


def key(
    default: Any,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> Any:
    """A settings field: its default and its allowed range (numbers, or each value of a
    mapping or tuple of numbers)."""
    bounds = {"ge": ge, "gt": gt, "le": le, "lt": lt}
    metadata = {"bounds": {k: v for k, v in bounds.items() if v is not None}}
    if isinstance(default, dict | list):
        frozen = default

        def factory() -> Any:
            return _freeze(frozen)

        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def section_of(cls: type) -> Any:
    """A field holding a whole nested section, with every default."""
    return field(default_factory=cls, metadata={"bounds": {}})


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return types.MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


class Section:
    """Base of every settings section: ``check`` for rules across fields, ``as_dict`` for
    plain data (JSON, provenance)."""

    def check(self) -> list[tuple[str, str]]:
        """Problems across fields, as ``(key, message)`` pairs (none by default)."""
        return []

    def as_dict(self) -> dict[str, Any]:
        """The section as plain dicts, lists and scalars."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _plain(value: Any) -> Any:
    if isinstance(value, Section):
        return value.as_dict()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class Scale(Section):
    """``scale``: chunk size for scoring, sample size for fits (0 = everyone)."""

    chunk_customers: int = key(1_000_000, ge=1)
    fit_customers: int = key(500_000, ge=0)


@dataclass(frozen=True)
class Ingest(Section):
    """``ingest``: how the extracts are read."""

    mapping: str = key("")
    clients_mapping: str = key("")
    balances_mapping: str = key("")
    events_mapping: str = key("")
    max_reject_rate: float = key(0.02, ge=0, le=1)
    allowed_roots: tuple[str, ...] = key([])


@dataclass(frozen=True)
class Features(Section):
    """``features``: the BTYD time unit and the trend window."""

    time_unit_days: int | float = key(7, gt=0)
    trend_window_days: int = key(90, ge=1)


@dataclass(frozen=True)
class Ltv(Section):
    """``ltv``: transaction/spend model, backtest holdout and the CLV formula's terms."""

    model: Literal["auto", "bgnbd", "pareto_nbd", "mbgnbd", "gbm", "gbm_stacked"] = key("auto")
    holdout_days: int = key(182, ge=1)
    backtest_origins: int = key(3, ge=1)
    origin_step_days: int = key(91, ge=1)
    horizon_months: int = key(12, ge=1)
    discount_rate: float = key(0.008, ge=0)
    margin: float | dict[str, float] = key(0.02, ge=0)
    service_cost_per_transaction: float = key(0.0, ge=0)
    acquisition_cost: float = key(0.0, ge=0)
    penalizer: float = key(0.0, ge=0)
    interval: tuple[float, float] = key([0.1, 0.9], gt=0, lt=1)
    interval_draws: int = key(200, ge=1)

    def check(self) -> list[tuple[str, str]]:
        problems = []
        if isinstance(self.margin, Mapping) and not self.margin:
            problems.append(("margin", "the per-product mapping is empty"))
        if not self.interval[0] < self.interval[1]:
            problems.append(
                ("interval", f"must be [low, high] with low < high, got {list(self.interval)}")
            )
        return problems


@dataclass(frozen=True)
class Thresholds(Section):
    """``churn.thresholds``: probability cuts of the warning levels."""

    red: float = key(0.7, gt=0, le=1)
    orange: float = key(0.5, gt=0, le=1)
    yellow: float = key(0.3, gt=0, le=1)

    def check(self) -> list[tuple[str, str]]:
        if self.yellow <= self.orange <= self.red:
            return []
        return [("", f"must satisfy yellow <= orange <= red, got {self.as_dict()}")]


@dataclass(frozen=True)
class OutflowLevel(Section):
    """One level of ``churn.outflow_warning``: AUM down by at least ``drop`` (a share of the
    earlier AUM) over 1, 3 or 6 months, and falling for at least ``months`` months. Each
    level is a subclass with its own defaults, so a level given in part keeps its own."""

    drop: float = key(0.3, gt=0, le=1)
    months: int = key(1, ge=0, le=12)


@dataclass(frozen=True)
class RedOutflow(OutflowLevel):
    """``churn.outflow_warning.red``."""

    drop: float = key(0.5, gt=0, le=1)
    months: int = key(2, ge=0, le=12)


@dataclass(frozen=True)
class OrangeOutflow(OutflowLevel):
    """``churn.outflow_warning.orange``."""

    drop: float = key(0.3, gt=0, le=1)
    months: int = key(2, ge=0, le=12)


@dataclass(frozen=True)
class YellowOutflow(OutflowLevel):
    """``churn.outflow_warning.yellow``."""

    drop: float = key(0.2, gt=0, le=1)
    months: int = key(0, ge=0, le=12)


@dataclass(frozen=True)
class OutflowWarning(Section):
    """``churn.outflow_warning`` (资产流失预警): the levels, and the least AUM before the fall
    that is graded at all."""

    red: RedOutflow = section_of(RedOutflow)
    orange: OrangeOutflow = section_of(OrangeOutflow)
    yellow: YellowOutflow = section_of(YellowOutflow)
    min_aum: float = key(10_000.0, ge=0)

    def check(self) -> list[tuple[str, str]]:
        r, o, y = self.red, self.orange, self.yellow
        if y.drop <= o.drop <= r.drop and y.months <= o.months <= r.months:
            return []
        return [("", "needs yellow <= orange <= red in both drop and months")]


@dataclass(frozen=True)
class ComplaintLevel(Section):
    """One level of ``churn.complaint_warning``: at least ``unresolved`` unresolved
    complaints, or at least ``recent`` complaints in the last 90 days (subclassed per level
    for its defaults, as :class:`OutflowLevel`)."""

    unresolved: int = key(1, ge=1)
    recent: int = key(1, ge=1)


@dataclass(frozen=True)
class RedComplaint(ComplaintLevel):
    """``churn.complaint_warning.red``."""

    unresolved: int = key(2, ge=1)
    recent: int = key(3, ge=1)


@dataclass(frozen=True)
class OrangeComplaint(ComplaintLevel):
    """``churn.complaint_warning.orange``."""

    unresolved: int = key(1, ge=1)
    recent: int = key(2, ge=1)


@dataclass(frozen=True)
class YellowComplaint(ComplaintLevel):
    """``churn.complaint_warning.yellow``."""

    unresolved: int = key(1, ge=1)
    recent: int = key(1, ge=1)


@dataclass(frozen=True)
class ComplaintWarning(Section):
    """``churn.complaint_warning`` (投诉预警): the levels; unresolved complaints count only
    while the latest of them is at most ``max_age_days`` old."""

    red: RedComplaint = section_of(RedComplaint)
    orange: OrangeComplaint = section_of(OrangeComplaint)
    yellow: YellowComplaint = section_of(YellowComplaint)
    max_age_days: int = key(365, ge=1)

    def check(self) -> list[tuple[str, str]]:
        r, o, y = self.red, self.orange, self.yellow
        if y.unresolved <= o.unresolved <= r.unresolved and y.recent <= o.recent <= r.recent:
            return []
        return [("", "needs yellow <= orange <= red in both unresolved and recent")]


@dataclass(frozen=True)
class Churn(Section):
    """``churn``: the churn definition, model choice, calibration and warnings."""

    horizon_days: int = key(90, ge=1)
    model: Literal["auto", "btyd", "btyd_expected", "survival", "gbm", "blend", "stack"] = key(
        "auto"
    )
    calibration: Literal["isotonic", "sigmoid"] = key("isotonic")
    thresholds: Thresholds = section_of(Thresholds)
    value_weighted: bool = key(True)
    max_reasons: int = key(3, ge=0)
    backtest_origins: int = key(3, ge=1)
    origin_step_days: int = key(91, ge=1)
    outflow_warning: OutflowWarning = section_of(OutflowWarning)
    complaint_warning: ComplaintWarning = section_of(ComplaintWarning)


@dataclass(frozen=True)
class TierShares(Section):
    """``segmentation.tier_shares``: cumulative value shares of the strategic and value tiers."""

    strategic: float = key(0.5, gt=0, lt=1)
    value: float = key(0.3, gt=0, lt=1)

    def check(self) -> list[tuple[str, str]]:
        if self.strategic + self.value <= 1:
            return []
        return [("", f"strategic + value must be at most 1, got {self.strategic + self.value}")]


@dataclass(frozen=True)
class AssetTiers(Section):
    """``segmentation.asset_tiers``: what is tiered (``auto``: AUM when balance snapshots
    exist, else the client master's asset_balance) and the cuts (quantiles or amounts)."""

    basis: Literal["auto", "aum", "asset_balance"] = key("auto")
    method: Literal["quantile", "amount"] = key("quantile")
    large: float = key(0.9, ge=0)
    medium: float = key(0.6, ge=0)

    def check(self) -> list[tuple[str, str]]:
        if self.medium > self.large:
            return [("", f"needs medium <= large, got large={self.large}, medium={self.medium}")]
        if self.method == "quantile" and self.large > 1:
            return [("large", f"a quantile must be in [0, 1], got {self.large}")]
        return []


@dataclass(frozen=True)
class Segmentation(Section):
    """``segmentation``: value basis, tiers, preference types and clustering."""

    value_basis: Literal["clv", "historic"] = key("clv")
    tier_shares: TierShares = section_of(TierShares)
    asset_tiers: AssetTiers = section_of(AssetTiers)
    product_lines: dict[str, str] = key({})
    preference_threshold: float = key(0.6, gt=0, le=1)
    k_range: tuple[int, int] = key([4, 8], ge=2)
    silhouette_sample: int = key(5000, ge=1)
    minibatch_above: int = key(100_000, ge=1)
    review_months: int = key(3, ge=1)

    def check(self) -> list[tuple[str, str]]:
        if self.k_range[0] <= self.k_range[1]:
            return []
        return [("k_range", f"must be [low, high] with low <= high, got {list(self.k_range)}")]


@dataclass(frozen=True)
class Products(Section):
    """``products``: the next-best-product take-up models and their rolling backtest."""

    horizon_days: int = key(90, ge=1)
    model: Literal["auto", "hgb", "logistic"] = key("auto")
    backtest_origins: int = key(3, ge=1)
    origin_step_days: int = key(91, ge=1)


@dataclass(frozen=True)
class Campaign(Section):
    """``targeting.campaigns.<campaign>``: size, cost, response and eligibility of one list."""

    capacity: int | None = key(None, ge=0)
    budget: float | None = key(None, ge=0)
    cost_per_contact: float = key(0.0, ge=0)
    response_rate: float = key(0.1, ge=0, le=1)
    min_expected_return: float = key(0.0)
    max_products: int = key(2, ge=0)
    lapsed_days: int = key(180, ge=1)
    min_probability_alive: float = key(0.2, ge=0, le=1)
    per_branch: int | None = key(None, ge=0)
    per_manager: int | None = key(None, ge=0)
    top_share_per_branch: float | None = key(None, gt=0, le=1)


CampaignName = Literal["vip_care", "retention", "winback", "growth"]


@dataclass(frozen=True)
class Cadence(Section):
    """``targeting.cadence_days``: days between relationship-manager contacts by value tier."""

    strategic: int = key(30, ge=1)
    value: int = key(90, ge=1)
    basic: int = key(180, ge=1)


@dataclass(frozen=True)
class Channels(Section):
    """``targeting.wording.<campaign>.<language>.channel``: the contact channel by value tier."""

    strategic: str = key("")
    value: str = key("")
    basic: str = key("")

    def check(self) -> list[tuple[str, str]]:
        return _blank_texts(self)


@dataclass(frozen=True)
class Texts(Section):
    """One campaign's wording in one language: the ``action`` column, the ``offer`` (the
    suggestion that ends each client's ``reason``; in growth, ``{product}`` is replaced by the
    recommended product) and the ``channel`` by value tier."""

    action: str = key("")
    offer: str = key("")
    channel: Channels = section_of(Channels)

    def check(self) -> list[tuple[str, str]]:
        return _blank_texts(self)


@dataclass(frozen=True)
class CampaignWording(Section):
    """``targeting.wording.<campaign>``: the campaign's texts in English and Chinese."""

    en: Texts = section_of(Texts)
    zh: Texts = section_of(Texts)


def _blank_texts(section: Section) -> list[tuple[str, str]]:
    return [
        (f.name, "must not be empty")
        for f in dataclasses.fields(section)
        if isinstance(getattr(section, f.name), str) and not getattr(section, f.name).strip()
    ]


def _wording(
    en: tuple[str, str], zh: tuple[str, str], en_channels: tuple[str, str, str] | None = None
) -> Any:
    """A campaign's default wording: ``(action, offer)`` per language; the channels by tier
    (strategic, value, basic) are the bank's unless given."""
    channels = {
        "en": en_channels
        or (
            "Dedicated relationship-manager visit",
            "Relationship-manager call",
            "App push / SMS / self-service",
        ),
        "zh": ("专属客户经理上门拜访", "客户经理电话回访", "手机银行推送/短信/自助渠道"),
    }

    def texts(language: str, action: str, offer: str) -> Texts:
        strategic, value, basic = channels[language]
        return Texts(action, offer, Channels(strategic, value, basic))

    return field(
        default_factory=lambda: CampaignWording(texts("en", *en), texts("zh", *zh)),
        metadata={"bounds": {}},
    )


@dataclass(frozen=True)
class Wording(Section):
    """``targeting.wording``: the campaign catalogue, the texts on the lists; the defaults
    are the bank's wording. A text left out keeps its default."""

    retention: CampaignWording = _wording(
        ("Retention offer", "preferential rate or fee waiver"),
        ("挽留关怀与优惠", "利率优惠或费用减免"),
    )
    growth: CampaignWording = _wording(
        ("Cross-sell the next product", "offer {product}"),
        ("交叉销售新产品", "推荐{product}"),
    )
    winback: CampaignWording = _wording(
        ("Reactivation offer", "welcome-back reward"),
        ("唤醒激活优惠", "回归礼遇"),
    )
    vip_care: CampaignWording = _wording(
        ("Relationship review", "annual asset-allocation review"),
        ("客户关系维护回访", "年度资产配置检视"),
    )


@dataclass(frozen=True)
class Targeting(Section):
    """``targeting``: suppression, control groups, priorities and the campaigns."""

    do_not_contact: str = key("")
    contact_history: str = key("")
    control_share: float = key(0.1, ge=0, lt=1)
    priority: tuple[CampaignName, ...] = key(["vip_care", "retention", "winback", "growth"])
    campaigns: dict[CampaignName, Campaign] = key({})
    cadence_days: Cadence = section_of(Cadence)
    wording: Wording = section_of(Wording)


@dataclass(frozen=True)
class Report(Section):
    """``report``: language and currency of the manager's report."""

    language: Literal["zh", "en"] = key("en")
    currency: str = key("CNY")


@dataclass(frozen=True)
class Spark(Section):
    """``spark`` (optional): the Spark session for ``engine: spark``."""

    master: str = key("")
    driver_memory: str = key("")
    executor_memory: str = key("")
    shuffle_partitions: int | None = key(None, ge=1)
    staging_dir: str = key("")
    conf: dict[str, str | int | float | bool] = key({})


@dataclass(frozen=True)
class Evaluation(Section):
    """``evaluation``: the campaign review (经营回检) and the uplift model."""

    responses: str = key("")
    window_days: int = key(60, ge=1)
    min_control: int = key(100, ge=1)
    bootstrap_draws: int = key(2000, ge=100)
    test_share: float = key(0.3, ge=0.05, le=0.9)
    top_share: float = key(0.3, ge=0.01, le=1)
    prior_strength: float = key(0.05, gt=0)


@dataclass(frozen=True)
class Settings(Section):
    """All of ``params.yaml``: the scoring date, engine, seed and one section per stage."""

    as_of: dt.date | None = key(None)
    engine: Literal["duckdb", "spark"] = key("duckdb")
    seed: int = key(0)
    allow_as_of_after_data: bool = key(False)
    scale: Scale = section_of(Scale)
    ingest: Ingest = section_of(Ingest)
    features: Features = section_of(Features)
    ltv: Ltv = section_of(Ltv)
    churn: Churn = section_of(Churn)
    segmentation: Segmentation = section_of(Segmentation)
    products: Products = section_of(Products)
    evaluation: Evaluation = section_of(Evaluation)
    targeting: Targeting = section_of(Targeting)
    report: Report = section_of(Report)
    spark: Spark = section_of(Spark)


#: the params.yaml keys each dvc.yaml stage reads (a section, or one key of it); the
#: stage's ``params:`` in dvc.yaml must list each (tests/test_settings.py checks). The
#: optional ``spark`` section only tunes the session (no result depends on it) and is not
#: in params.yaml, so it is not declared.
STAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "ingest": ("engine", "ingest"),
    "features": ("as_of", "allow_as_of_after_data", "engine", "features", "ingest.mapping"),
    "ltv": ("as_of", "seed", "scale", "features", "ltv"),
    "churn": ("as_of", "seed", "scale", "features", "churn", "segmentation.tier_shares"),
    "segment": ("as_of", "seed", "scale", "features", "segmentation"),
    "products": (
        "as_of",
        "seed",
        "features",
        "products",
        "segmentation.product_lines",
        "ltv.margin",
    ),
    "evaluate": ("as_of", "seed", "evaluation", "targeting.campaigns"),
    "targets": (
        "as_of",
        "seed",
        "scale",
        "targeting",
        "report.language",
        "ltv.margin",
        "ltv.horizon_months",
    ),
    "report": ("report", "ltv.horizon_months", "churn.horizon_days"),
}


# --------------------------------------------------------------------------- loader


def _fail(name: str, message: str) -> UserError:
    return UserError(f"{SOURCE}: {name}: {message}")


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _convert(value: Any, tp: Any, name: str, bounds: dict, base: Any = None) -> Any:
    """``value`` read from YAML as type ``tp`` (strict), or a one-line UserError; a section
    starts from ``base`` (its field's default) so that keys left out keep their defaults."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        options = [o for o in options if o is not type(None)]
        shaped = [o for o in options if _shape_of(o) == _shape_of(value)]
        errors = []
        for option in shaped or options:
            try:
                return _convert(value, option, name, bounds, base)
            except UserError as exc:
                errors.append(exc)
        raise (
            errors[0]
            if len(errors) == 1
            else _fail(name, f"{_describe(value)} must be {_typename(tp)}")
        )
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            hint = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
            extra = f"; did you mean {hint[0]}?" if hint else ""
            raise _fail(name, f"{value!r} must be one of {' | '.join(map(str, choices))}{extra}")
        return value
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, name, base if isinstance(base, tp) else None)
    if origin is tuple:
        return _convert_tuple(value, tp, name, bounds)
    if origin is dict:
        return _convert_dict(value, tp, name, bounds)
    return _bounded(_scalar(value, tp, name), name, bounds)


def _shape_of(tp_or_value: Any) -> str:
    """``mapping``, ``list`` or ``scalar``: which union member a YAML value is meant for."""
    origin = typing.get_origin(tp_or_value)
    if origin is dict or isinstance(tp_or_value, Mapping) or dataclasses.is_dataclass(tp_or_value):
        return "mapping"
    if origin is tuple or isinstance(tp_or_value, list | tuple):
        return "list"
    return "scalar"


def _scalar(value: Any, tp: Any, name: str) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float):
            raise _fail(name, f"{value!r} must be a whole number (not truncated)")
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
        if value is None:
            return ""
    elif tp is dt.date:
        return _date(value, name)
    else:  # pragma: no cover - a schema bug, not a user error
        raise TypeError(f"settings: unsupported type {tp!r} for {name}")
    raise _fail(name, f"{_describe(value)} must be {_typename(tp)}")


def _date(value: Any, name: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise _fail(name, f"{value!r} is not a date in YYYY-MM-DD form") from None


def _bounded(value: Any, name: str, bounds: dict) -> Any:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return value
    for bound, holds, sign in _BOUNDS:
        if bound in bounds and not holds(value, bounds[bound]):
            raise _fail(name, f"{value!r} is out of range: must be {sign} {bounds[bound]}")
    return value


_BOUNDS = (
    ("ge", operator.ge, ">="),
    ("gt", operator.gt, ">"),
    ("le", operator.le, "<="),
    ("lt", operator.lt, "<"),
)


def _convert_tuple(value: Any, tp: Any, name: str, bounds: dict) -> tuple:
    args = typing.get_args(tp)
    if not isinstance(value, list | tuple):
        raise _fail(name, f"{_describe(value)} must be a list")
    if len(args) == 2 and args[1] is Ellipsis:
        kinds = [args[0]] * len(value)
    else:
        kinds = list(args)
        if len(value) != len(kinds):
            raise _fail(name, f"{list(value)!r} must be a list of {len(kinds)} values")
    return tuple(
        _convert(v, k, f"{name}[{i}]", bounds)
        for i, (v, k) in enumerate(zip(value, kinds, strict=True))
    )


def _convert_dict(value: Any, tp: Any, name: str, bounds: dict) -> Mapping:
    key_type, value_type = typing.get_args(tp)
    if not isinstance(value, Mapping):
        raise _fail(name, f"{_describe(value)} must be a mapping")
    out = {}
    for k, v in value.items():
        if typing.get_origin(key_type) is Literal:
            _known_key(str(k), [str(c) for c in typing.get_args(key_type)], name)
        out[str(k)] = _convert(v, value_type, f"{name}.{k}", bounds)
    return types.MappingProxyType(out)


def _typename(tp: Any) -> str:
    names = {
        bool: "true or false",
        int: "a whole number",
        float: "a number",
        str: "a string",
        dt.date: "a YYYY-MM-DD date",
    }
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_typename(a) for a in typing.get_args(tp) if a is not type(None))
    if typing.get_origin(tp) is dict:
        return "a mapping"
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _known_key(found: str, known: list[str], prefix: str) -> None:
    if found in known:
        return
    where = f"{prefix}.{found}" if prefix else found
    hint = difflib.get_close_matches(found, known, n=1, cutoff=0.6)
    extra = f"; did you mean {prefix + '.' if prefix else ''}{hint[0]}?" if hint else ""
    raise UserError(f"{SOURCE}: {where}: unknown key{extra}")


def _default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


def _build(cls: type, raw: Any, prefix: str, base: Any = None) -> Any:
    """One section from its YAML mapping: unknown keys, types, ranges, then ``check``.

    The section starts from ``base`` (the default of the field holding it) when given, so a
    nested section with its own defaults (``targeting.wording.growth``) keeps every key
    the YAML leaves out."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise _fail(prefix or "top level", f"{_describe(raw)} must be a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in raw.items():
        _known_key(str(name), list(fields), prefix)
        full = f"{prefix}.{name}" if prefix else str(name)
        start = getattr(base, name) if base is not None else _default(fields[name])
        bounds = fields[name].metadata.get("bounds", {})
        values[name] = _convert(value, hints[name], full, bounds, start)
    built = dataclasses.replace(base, **values) if base is not None else cls(**values)
    for name, message in built.check():
        raise _fail(f"{prefix}.{name}" if name and prefix else (name or prefix), message)
    return built


def settings_from(params: Mapping[str, Any] | None) -> Settings:
    """The validated :class:`Settings` from a parameter mapping (e.g. parsed params.yaml).

    Parameters
    ----------
    params
        The parsed YAML; absent keys and sections take their defaults.

    Returns
    -------
    Settings
        Frozen, typed settings. Raises :class:`UserError` (one line, naming the key) for an
        unknown key, a value of the wrong type, or one out of range.
    """
    return _build(Settings, params or {}, "")


def load_settings(path: str | Path = SOURCE) -> Settings:
    """Read and validate a parameter file (see :func:`settings_from`)."""
    from kequn.config import load_params

    return settings_from(load_params(path))


def dvc_param_covers(declared: list[str], needed: str) -> bool:
    """Whether a dvc.yaml ``params:`` list covers the key ``needed`` (itself or a parent)."""
    parts = needed.split(".")
    return any(".".join(parts[:i]) in declared for i in range(1, len(parts) + 1))
