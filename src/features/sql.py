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

    One sort and one aggregation over the rows (no per-day table): each customer's rows
    are ordered by date and every row gets ``gap = date - date of the previous row``
    (NULL on the customer's first row) and ``first_day`` (the running minimum date, i.e.
    the first date). A row *starts a day* when ``gap`` is NULL or > 0: exactly one row per
    distinct (customer, date) does, whatever the order of same-day rows, and its ``gap``
    is the gap between consecutive distinct days (same-day rows have gap 0 and add 0 to
    the gap sums). So ``n_days`` = rows that start a day and ``frequency = n_days - 1``
    (BTYD: same-day rows count once, the first purchase is not a repeat);
    ``repeat_value`` = value on days after ``first_day``. With the window
    ``W = trend_window_days``, *recent* is ``(as_of - W, as_of]`` and *prior* is
    ``(as_of - 2W, as_of - W]``; ``recent_n_days`` = rows in the window that start a day.
    """
    recent_start = date_literal(as_of - dt.timedelta(days=trend_window_days))
    prior_start = date_literal(as_of - dt.timedelta(days=2 * trend_window_days))
    as_of_sql = date_literal(as_of)
    unit = float(unit_days)
    in_recent = f"date > {recent_start}"
    in_prior = f"date > {prior_start} AND date <= {recent_start}"
    new_day = "(gap IS NULL OR gap > 0)"
    return f"""WITH {clean_rows(as_of)},
ordered AS (
  SELECT
    customer_id, date, amount,
    DATEDIFF('day', LAG(date) OVER (PARTITION BY customer_id ORDER BY date), date) AS gap,
    MIN(date) OVER (PARTITION BY customer_id ORDER BY date) AS first_day
  FROM tx
),
per_customer AS (
  SELECT
    customer_id,
    MIN(date) AS first_date,
    MAX(date) AS last_date,
    COUNT(*) AS n_transactions,
    SUM(CASE WHEN {new_day} THEN 1 ELSE 0 END) AS n_days,
    SUM(amount) AS total_value,
    SUM(CASE WHEN date > first_day THEN amount ELSE 0 END) AS repeat_value,
    SUM(CASE WHEN gap > 0 THEN 1 ELSE 0 END) AS n_gaps,
    SUM(gap) AS gap_sum,
    SUM(gap * gap) AS gap_square_sum,
    SUM(CASE WHEN {in_recent} THEN amount ELSE 0 END) AS recent_value,
    SUM(CASE WHEN {in_recent} AND {new_day} THEN 1 ELSE 0 END) AS recent_n_days,
    SUM(CASE WHEN {in_prior} THEN amount ELSE 0 END) AS prior_value,
    SUM(CASE WHEN {in_prior} AND {new_day} THEN 1 ELSE 0 END) AS prior_n_days
  FROM ordered
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


def categories_query(columns: tuple[str, ...], as_of: dt.date, *, trend_window_days: int) -> str:
    """Long form, one row per customer, kind and category, for the category ``columns``
    (``product`` and/or ``channel``), in one pass over the rows (``GROUPING SETS``).

    ``kind`` is the column's name and ``category`` its value; per (customer, kind,
    category): the value overall and in the recent/prior windows, and the rows in each
    window (a category is *present* in a window when it has at least one row there).
    Blank categories are ignored. Rows come in no particular order.
    """
    recent_start = date_literal(as_of - dt.timedelta(days=trend_window_days))
    prior_start = date_literal(as_of - dt.timedelta(days=2 * trend_window_days))
    sets = ", ".join(f"(customer_id, {column})" for column in columns)
    grouping = "".join(f",\n    GROUPING({column}) AS grouped_out_{column}" for column in columns)
    kind = " ".join(f"WHEN grouped_out_{c} = 0 THEN '{c}'" for c in columns)
    category = " ".join(f"WHEN grouped_out_{c} = 0 THEN {c}" for c in columns)
    return f"""WITH {clean_rows(as_of, categories=columns)},
windowed AS (
  SELECT
    *,
    CASE WHEN date > {recent_start} THEN 2 WHEN date > {prior_start} THEN 1 ELSE 0 END AS win
  FROM tx
),
grouped AS (
  SELECT
    customer_id, {", ".join(columns)},
    CAST(SUM(amount) AS DOUBLE) AS value,
    CAST(SUM(CASE WHEN win = 2 THEN amount ELSE 0 END) AS DOUBLE) AS recent_value,
    CAST(SUM(CASE WHEN win = 2 THEN 1 ELSE 0 END) AS BIGINT) AS recent_rows,
    CAST(SUM(CASE WHEN win = 1 THEN amount ELSE 0 END) AS DOUBLE) AS prior_value,
    CAST(SUM(CASE WHEN win = 1 THEN 1 ELSE 0 END) AS BIGINT) AS prior_rows{grouping}
  FROM windowed
  GROUP BY GROUPING SETS ({sets})
),
labelled AS (
  SELECT
    customer_id,
    CASE {kind} END AS kind,
    CASE {category} END AS category,
    value, recent_value, recent_rows, prior_value, prior_rows
  FROM grouped
)
SELECT * FROM labelled WHERE category IS NOT NULL AND category <> ''"""


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
        "categories": categories_query(
            ("product", "channel"), as_of, trend_window_days=trend_window_days
        ),
        "product": categories_query(("product",), as_of, trend_window_days=trend_window_days),
        "holdout": holdout_query(as_of, as_of + dt.timedelta(days=365)),
    }
