"""The catalogue: every dataset the pipeline writes, its path, schema and writing stage.

One place for what dvc.yaml, the stages, the report and the tests used to spell out each on
their own. ``dvc.yaml``'s ``outs``/``metrics``/``plots`` of each stage are exactly the
datasets the catalogue gives that stage, and every data ``dep`` is a catalogued dataset of
an earlier stage (tests/test_catalogue.py checks both). Schemas (column -> Arrow type, as
in ``docs/outputs.md``) list the columns every run writes; a stage may add columns
(``share_product_<category>`` and the like), never drop one.

Adding a dataset: add a :class:`Dataset` below, list it in :data:`DATASETS` and declare it
in the writing stage's ``outs`` (and the readers' ``deps``) in dvc.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import pyarrow as pa

from kequn.errors import UserError

Kind = Literal["table", "file", "folder", "metrics", "plot", "model"]


@dataclass(frozen=True)
class Dataset:
    """One dataset: where it lives, who writes it and (for tables) its columns.

    Attributes
    ----------
    name : str
        Short name (``customers``).
    path : pathlib.Path
        Path relative to the project root.
    writer : str
        The dvc.yaml stage that writes it.
    kind : str
        table | file | folder | metrics | plot | model (how dvc.yaml declares it).
    columns : Mapping[str, str]
        Column -> Arrow type name (``string``, ``double``, ``int64``, ``date32[day]``, ...)
        of the columns every run writes; empty when not a table or not fixed.
    """

    name: str
    path: Path
    writer: str
    kind: Kind = "table"
    columns: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def check_schema(self, schema: pa.Schema) -> None:
        """Raise :class:`UserError` naming the file when a catalogued column is missing or
        of another type than the catalogue says."""
        found = {f.name: str(f.type) for f in schema}
        for column, kind in self.columns.items():
            if column not in found:
                raise UserError(f"{self.path}: missing column {column}; rerun {self.writer}")
            if found[column] != kind:
                raise UserError(
                    f"{self.path}: column {column} is {found[column]}, expected {kind}; "
                    f"rerun {self.writer}"
                )


def _columns(spec: str) -> MappingProxyType:
    """``"a:string b:double"`` -> {a: string, b: double}."""
    pairs = (item.split(":", 1) for item in spec.split())
    return MappingProxyType({name: kind for name, kind in pairs})


S, F, INT, D = "string", "double", "int64", "date32[day]"

# ------------------------------------------------------------------------ ingest
TRANSACTIONS = Dataset(
    "transactions",
    Path("data/interim/transactions.parquet"),
    "ingest",
    columns=_columns(f"customer_id:{S} date:{D} amount:{F}"),
)
CLIENTS = Dataset(
    "clients", Path("data/interim/clients.parquet"), "ingest", columns=_columns(f"customer_id:{S}")
)
BALANCES = Dataset(
    "balances",
    Path("data/interim/balances.parquet"),
    "ingest",
    columns=_columns(f"customer_id:{S} date:{D} balance:{F}"),
)
EVENTS = Dataset(
    "events",
    Path("data/interim/events.parquet"),
    "ingest",
    columns=_columns(f"customer_id:{S} date:{D} type:{S}"),
)
REJECTS = Dataset("rejects", Path("data/interim/rejects.csv"), "ingest", "file")
INGEST_METRICS = Dataset("ingest_metrics", Path("reports/metrics/ingest.json"), "ingest", "metrics")

# ------------------------------------------------------------------------ features
CUSTOMERS = Dataset(
    "customers",
    Path("data/processed/customers.parquet"),
    "features",
    columns=_columns(
        f"customer_id:{S} first_date:{D} last_date:{D} n_transactions:{INT} n_days:{INT} "
        f"frequency:{INT} recency:{F} T:{F} total_value:{F} mean_value:{F} monetary_value:{F} "
        f"gap_mean_days:{F} gap_std_days:{F} days_since_last:{INT} tenure_days:{INT} "
        f"recent_value:{F} prior_value:{F} recent_n_days:{INT} prior_n_days:{INT} value_trend:{F} "
        f"n_products:{INT} recent_n_products:{INT} prior_n_products:{INT} main_channel:{S} "
        f"recent_main_channel:{S} prior_main_channel:{S} client_type:{S} industry:{S} "
        f"region:{S} open_date:{D} asset_balance:{F} close_date:{D}"
    ),
)
CONTEXT = Dataset("context", Path("data/processed/context.json"), "features", "file")

# ------------------------------------------------------------------------ ltv
LTV = Dataset(
    "ltv",
    Path("data/processed/ltv.parquet"),
    "ltv",
    columns=_columns(
        f"customer_id:{S} expected_transactions:{F} probability_alive:{F} "
        f"expected_value_per_transaction:{F} clv:{F} clv_low:{F} clv_high:{F} "
        f"revenue_contribution:{F} profit_contribution:{F} margin:{F} value_percentile:{F} "
        f"model:{S}"
    ),
)
TRANSACTION_MODEL = Dataset(
    "transaction_model", Path("models/transaction_model.json"), "ltv", "model"
)  # noqa: E501
SPEND_MODEL = Dataset("spend_model", Path("models/spend_model.json"), "ltv", "model")
LTV_METRICS = Dataset("ltv_metrics", Path("reports/metrics/ltv.json"), "ltv", "metrics")
LTV_PLOTS = tuple(
    Dataset(f"ltv_{p}", Path(f"reports/plots/ltv_{p}.csv"), "ltv", "plot")
    for p in ("calibration", "deciles", "gain")
)

# ------------------------------------------------------------------------ churn
CHURN = Dataset(
    "churn",
    Path("data/processed/churn.parquet"),
    "churn",
    columns=_columns(
        f"customer_id:{S} churn_probability:{F} warning_level:{S} "
        f"median_days_to_inactivity:{F} reason_codes:{S} reasons_en:{S} reasons_zh:{S} "
        f"strategic_client:bool outflow_warning:{S} outflow_drop:{F} "
        f"outflow_window_months:{INT} outflow_rule:{S} complaint_warning:{S} "
        f"complaint_rule:{S} alert_level:{S}"
    ),
)
CHURN_METRICS = Dataset("churn_metrics", Path("reports/metrics/churn.json"), "churn", "metrics")
CHURN_PLOTS = tuple(
    Dataset(f"churn_{p}", Path(f"reports/plots/churn_{p}.csv"), "churn", "plot")
    for p in ("roc", "calibration", "gain", "km")
)

# ------------------------------------------------------------------------ segment
SEGMENTS = Dataset(
    "segments",
    Path("data/processed/segments.parquet"),
    "segment",
    columns=_columns(
        f"customer_id:{S} value_tier:{S} tier_value:{F} asset_tier:{S} r_score:int8 "
        f"f_score:int8 m_score:int8 rfm_segment:{S} preference_type:{S} cluster_id:{INT} "
        f"cluster_name:{S} cluster_name_zh:{S} previous_value_tier:{S} tier_change:{S}"
    ),
)
CLUSTER_MODEL = Dataset("cluster_model", Path("models/clusters.json"), "segment", "model")
SEGMENT_METRICS = Dataset(
    "segment_metrics", Path("reports/metrics/segments.json"), "segment", "metrics"
)  # noqa: E501
SEGMENT_PLOTS = (
    Dataset("pareto", Path("reports/plots/pareto.csv"), "segment", "plot"),
    Dataset("cluster_profiles", Path("reports/plots/cluster_profiles.csv"), "segment", "plot"),
    Dataset("aum_trend", Path("reports/plots/aum_trend.csv"), "segment", "plot"),
)

# ------------------------------------------------------------------------ products
PRODUCTS = Dataset(
    "products",
    Path("data/processed/products.parquet"),
    "products",
    columns=_columns(f"customer_id:{S} product:{S} product_probability:{F} product_value:{F}"),
)
PRODUCT_METRICS = Dataset(
    "product_metrics", Path("reports/metrics/products.json"), "products", "metrics"
)

# ------------------------------------------------------------------------ evaluate
UPLIFT = Dataset("uplift", Path("data/processed/uplift.parquet"), "evaluate")
RESPONSE_REJECTS = Dataset(
    "response_rejects", Path("data/interim/response_rejects.csv"), "evaluate", "file"
)
CAMPAIGN_METRICS = Dataset(
    "campaign_metrics", Path("reports/metrics/campaigns.json"), "evaluate", "metrics"
)
CAMPAIGN_PLOTS = (
    Dataset("campaign_lift", Path("reports/plots/campaign_lift.csv"), "evaluate", "plot"),
)

# ------------------------------------------------------------------------ targets, report
TARGETS = Dataset("targets", Path("reports/targets"), "targets", "folder")
TARGET_METRICS = Dataset(
    "target_metrics", Path("reports/metrics/targets.json"), "targets", "metrics"
)  # noqa: E501
REPORT = Dataset("report", Path("reports/report.html"), "report", "file")
FIGURES = Dataset("figures", Path("reports/figures"), "report", "folder")

#: every dataset, in pipeline order
DATASETS: tuple[Dataset, ...] = (
    TRANSACTIONS,
    CLIENTS,
    BALANCES,
    EVENTS,
    REJECTS,
    INGEST_METRICS,
    CUSTOMERS,
    CONTEXT,
    LTV,
    TRANSACTION_MODEL,
    SPEND_MODEL,
    LTV_METRICS,
    *LTV_PLOTS,
    CHURN,
    CHURN_METRICS,
    *CHURN_PLOTS,
    SEGMENTS,
    CLUSTER_MODEL,
    SEGMENT_METRICS,
    *SEGMENT_PLOTS,
    PRODUCTS,
    PRODUCT_METRICS,
    UPLIFT,
    RESPONSE_REJECTS,
    CAMPAIGN_METRICS,
    *CAMPAIGN_PLOTS,
    TARGETS,
    TARGET_METRICS,
    REPORT,
    FIGURES,
)

BY_NAME: MappingProxyType = MappingProxyType({d.name: d for d in DATASETS})
BY_PATH: MappingProxyType = MappingProxyType({d.path.as_posix(): d for d in DATASETS})


def written_by(stage: str) -> tuple[Dataset, ...]:
    """The datasets ``stage`` writes (its dvc.yaml outs, metrics and plots)."""
    return tuple(d for d in DATASETS if d.writer == stage)


def by_stem(kind: Kind, stem: str) -> Dataset:
    """The dataset of ``kind`` whose file name (without suffix) is ``stem``: the report names
    metrics, tables and plots that way (``by_stem("metrics", "ltv")``)."""
    for dataset in DATASETS:
        if dataset.kind == kind and dataset.path.stem == stem:
            return dataset
    raise KeyError(f"no {kind} dataset named {stem!r} in the catalogue")
