"""The aggregation over transactions, as SQL in the DuckDB dialect.

Every query reads one relation named :data:`SOURCE` (``transactions``: a registered data
frame, a view over ``read_parquet(...)`` or, later, a Spark temporary view) and uses only
constructs that ``sqlglot.transpile(sql, read="duckdb", write="spark")`` translates, so the
same text runs on Apache Spark. Dates and numbers are inlined as literals.

Money is summed as ``DECIMAL(38, 6)``: exact and independent of the order in which
parallel workers combine partial sums, so two runs give byte-identical outputs (a parallel
floating-point sum is not). The spread of the gaps is computed from exact integer sums::

    s = sqrt((n * sum(g^2) - (sum g)^2) / (n * (n - 1)))     (sample standard deviation)
"""

from __future__ import annotations

import datetime as dt

#: name of the relation every query reads
SOURCE = "transactions"

#: columns a transaction source must have
REQUIRED_COLUMNS = ("customer_id", "date", "amount")

MONEY = "DECIMAL(38, 6)"


def date_literal(day: dt.date) -> str:
    """``DATE 'YYYY-MM-DD'`` for ``day``."""
    return f"DATE '{day.isoformat()}'"


def clean_rows(end: dt.date, start: dt.date | None = None, categories: tuple[str, ...] = ()) -> str:
    """CTE ``tx``: typed transaction rows with ``start < date <= end``.

    ``categories`` are optional string columns (``product``, ``channel``) carried along.
    """
    extra = "".join(f",\n    CAST({name} AS VARCHAR) AS {name}" for name in categories)
    where = f"CAST(date AS DATE) <= {date_literal(end)}"
    if start is not None:
        where = f"CAST(date AS DATE) > {date_literal(start)} AND {where}"
    return f"""tx AS (
  SELECT
    CAST(customer_id AS VARCHAR) AS customer_id,
    CAST(date AS DATE) AS date,
    CAST(amount AS {MONEY}) AS amount{extra}
  FROM {SOURCE}
  WHERE {where}
)"""


def date_range_query() -> str:
    """First date, last date and row count of the whole source."""
    return f"""SELECT
  MIN(CAST(date AS DATE)) AS first_date,
  MAX(CAST(date AS DATE)) AS last_date,
  COUNT(*) AS n_rows
FROM {SOURCE}"""


def customer_query(as_of: dt.date, *, unit_days: float, trend_window_days: int) -> str:
    """One row per customer with a transaction on or before ``as_of``: every numeric feature.

    Same-day rows are merged first (``daily``), so ``n_days`` counts distinct days and
    ``frequency = n_days - 1`` (BTYD: the first purchase is not a repeat). With the window
    ``W = trend_window_days``, *recent* is ``(as_of - W, as_of]`` and *prior* is
    ``(as_of - 2W, as_of - W]``.
    """
    recent_start = date_literal(as_of - dt.timedelta(days=trend_window_days))
    prior_start = date_literal(as_of - dt.timedelta(days=2 * trend_window_days))
    as_of_sql = date_literal(as_of)
    unit = float(unit_days)
    in_recent = f"date > {recent_start}"
    in_prior = f"date > {prior_start} AND date <= {recent_start}"
    return f"""WITH {clean_rows(as_of)},
daily AS (
  SELECT customer_id, date, SUM(amount) AS day_value, COUNT(*) AS day_rows
  FROM tx
  GROUP BY customer_id, date
),
gaps AS (
  SELECT
    customer_id, date, day_value, day_rows,
    DATEDIFF('day', LAG(date) OVER (PARTITION BY customer_id ORDER BY date), date) AS gap
  FROM daily
),
per_customer AS (
  SELECT
    customer_id,
    MIN(date) AS first_date,
    MAX(date) AS last_date,
    SUM(day_rows) AS n_transactions,
    COUNT(*) AS n_days,
    SUM(day_value) AS total_value,
    SUM(CASE WHEN gap IS NOT NULL THEN day_value ELSE 0 END) AS repeat_value,
    COUNT(gap) AS n_gaps,
    SUM(gap) AS gap_sum,
    SUM(gap * gap) AS gap_square_sum,
    SUM(CASE WHEN {in_recent} THEN day_value ELSE 0 END) AS recent_value,
    SUM(CASE WHEN {in_recent} THEN 1 ELSE 0 END) AS recent_n_days,
    SUM(CASE WHEN {in_prior} THEN day_value ELSE 0 END) AS prior_value,
    SUM(CASE WHEN {in_prior} THEN 1 ELSE 0 END) AS prior_n_days
  FROM gaps
  GROUP BY customer_id
),
measures AS (
  SELECT
    *,
    CAST(recent_value AS DOUBLE) AS recent_value_f,
    CAST(prior_value AS DOUBLE) AS prior_value_f
  FROM per_customer
)
SELECT
  customer_id,
  first_date,
  last_date,
  CAST(n_transactions AS BIGINT) AS n_transactions,
  CAST(n_days AS BIGINT) AS n_days,
  CAST(n_days - 1 AS BIGINT) AS frequency,
  CAST(DATEDIFF('day', first_date, last_date) AS DOUBLE) / {unit} AS recency,
  CAST(DATEDIFF('day', first_date, {as_of_sql}) AS DOUBLE) / {unit} AS T,
  CAST(total_value AS DOUBLE) AS total_value,
  CAST(total_value AS DOUBLE) / n_days AS mean_value,
  CASE WHEN n_days > 1 THEN CAST(repeat_value AS DOUBLE) / (n_days - 1) ELSE 0.0 END
    AS monetary_value,
  CASE WHEN n_gaps >= 1 THEN CAST(gap_sum AS DOUBLE) / n_gaps END AS gap_mean_days,
  CASE WHEN n_gaps >= 2 THEN
    SQRT(CAST(n_gaps * gap_square_sum - gap_sum * gap_sum AS DOUBLE) / (n_gaps * (n_gaps - 1)))
  END AS gap_std_days,
  CAST(DATEDIFF('day', last_date, {as_of_sql}) AS BIGINT) AS days_since_last,
  CAST(DATEDIFF('day', first_date, {as_of_sql}) AS BIGINT) AS tenure_days,
  recent_value_f AS recent_value,
  prior_value_f AS prior_value,
  CAST(recent_n_days AS BIGINT) AS recent_n_days,
  CAST(prior_n_days AS BIGINT) AS prior_n_days,
  CASE WHEN ABS(recent_value_f) + ABS(prior_value_f) > 0
    THEN (recent_value_f - prior_value_f) / (ABS(recent_value_f) + ABS(prior_value_f))
    ELSE 0.0
  END AS value_trend
FROM measures
ORDER BY customer_id"""


def category_query(column: str, as_of: dt.date, *, trend_window_days: int) -> str:
    """Long form, one row per customer and category of ``column`` (``product``/``channel``).

    Value overall and in the recent/prior windows, and the rows in each window (a category
    is *present* in a window when it has at least one row there). Blank categories are
    ignored.
    """
    recent_start = date_literal(as_of - dt.timedelta(days=trend_window_days))
    prior_start = date_literal(as_of - dt.timedelta(days=2 * trend_window_days))
    in_recent = f"date > {recent_start}"
    in_prior = f"date > {prior_start} AND date <= {recent_start}"
    return f"""WITH {clean_rows(as_of, categories=(column,))}
SELECT
  customer_id,
  {column} AS category,
  CAST(SUM(amount) AS DOUBLE) AS value,
  CAST(SUM(CASE WHEN {in_recent} THEN amount ELSE 0 END) AS DOUBLE) AS recent_value,
  CAST(SUM(CASE WHEN {in_recent} THEN 1 ELSE 0 END) AS BIGINT) AS recent_rows,
  CAST(SUM(CASE WHEN {in_prior} THEN amount ELSE 0 END) AS DOUBLE) AS prior_value,
  CAST(SUM(CASE WHEN {in_prior} THEN 1 ELSE 0 END) AS BIGINT) AS prior_rows
FROM tx
WHERE {column} IS NOT NULL AND {column} <> ''
GROUP BY customer_id, {column}
ORDER BY customer_id, category"""


def holdout_query(cutoff: dt.date, end: dt.date) -> str:
    """Per customer: distinct transaction days and value in ``(cutoff, end]``."""
    return f"""WITH {clean_rows(end, start=cutoff)}
SELECT
  customer_id,
  CAST(COUNT(DISTINCT date) AS BIGINT) AS holdout_transactions,
  CAST(SUM(amount) AS DOUBLE) AS holdout_value
FROM tx
GROUP BY customer_id
ORDER BY customer_id"""


def all_queries(as_of: dt.date, *, unit_days: float = 7, trend_window_days: int = 90) -> dict:
    """Every query for one ``as_of`` (for transpiling and inspection), by name."""
    return {
        "date_range": date_range_query(),
        "customers": customer_query(
            as_of, unit_days=unit_days, trend_window_days=trend_window_days
        ),
        "product": category_query("product", as_of, trend_window_days=trend_window_days),
        "channel": category_query("channel", as_of, trend_window_days=trend_window_days),
        "holdout": holdout_query(as_of, as_of + dt.timedelta(days=365)),
    }
