"""Returns netted off against the purchase they return (``non_positive_amounts: net``).

A line-level extract often records a return or cancellation as its own negative line
(an invoice ``C536379`` with quantity -1), with no reference to the purchase it undoes.
Kept as a negative transaction it counts as one more purchase occasion in the BTYD
models, and rejected it leaves the purchase's spend overstated. Netting moves the
returned amount onto the purchase instead.

The rule, decided on the rows the cleaning query accepted (:mod:`ingest.sql`), line by
line and before lines are grouped into transactions:

1. A return is an accepted line with amount < 0. Its candidates are the accepted
   purchases (amount > 0) of the same customer and the same product (both unmapped
   counts as the same), dated on or before it, whose amount is at least the returned
   amount ``b = -amount``.
2. The return is matched to its latest candidate (latest date, then latest file and line).
3. The returns matched to one purchase are taken in date, file and line order; a return
   whose running total would exceed the purchase's amount is not netted.
4. A netted purchase's amount becomes ``amount - sum(b)``. A purchase netted down to 0
   leaves the accepted rows with the reason ``returned_in_full``. Every netted return
   leaves them with the reason ``netted_return``. Both reasons are counted with the rows
   excluded by rule: they are used, not unusable.
5. A return that is not netted is rejected as ``unmatched_return`` (usually the return of
   a purchase made before the extract starts), so it appears in rejects.csv.

The query is written in the dialect :mod:`ingest.sql` uses (DuckDB, transpiled to Spark
SQL by sqlglot), so both engines net the same way.
"""

from __future__ import annotations

from ingest.sql import EXCLUDED_REASONS, FILE_STRIDE

#: reasons of rows taken out of the accepted ones by netting, counted as excluded
NETTED_REASONS = EXCLUDED_REASONS[1:]
#: the reject reason of a return that matches no purchase
UNMATCHED = "unmatched_return"
#: relative tolerance of the amount comparisons (amounts are products of doubles)
EPS = 1e-9


def _matches_sql() -> str:
    """CTEs ``returned`` (return -> purchase, kept ones only) over the CTE ``cleaned``."""
    key = f"file_id * {FILE_STRIDE} + line"
    return f"""
returns AS (
    SELECT {key} AS r_key, customer_id, product, date, -amount AS back
    FROM cleaned WHERE reason IS NULL AND amount < 0
),
purchases AS (
    SELECT {key} AS p_key, customer_id, product, date, amount
    FROM cleaned WHERE reason IS NULL AND amount > 0
),
ranked AS (
    SELECT r.r_key, r.date AS r_date, r.back, p.p_key, p.amount AS p_amount,
           row_number() OVER (PARTITION BY r.r_key ORDER BY p.date DESC, p.p_key DESC) AS pick
    FROM returns AS r JOIN purchases AS p
      ON p.customer_id = r.customer_id AND p.product IS NOT DISTINCT FROM r.product
     AND p.date <= r.date AND p.amount >= r.back
),
running AS (
    SELECT r_key, p_key, back, p_amount,
           SUM(back) OVER (PARTITION BY p_key ORDER BY r_date, r_key
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS taken
    FROM ranked WHERE pick = 1
),
returned AS (SELECT r_key, p_key, back FROM running WHERE taken <= p_amount * (1 + {EPS})),
netted AS (SELECT p_key, SUM(back) AS back FROM returned GROUP BY p_key)"""


def netting_sql(cleaned_query: str) -> str:
    """SELECT giving the rows of ``cleaned_query`` (the cleaning query's output columns,
    ``reason`` NULL when accepted) with returns netted off as the module docstring says.

    For a purchase ``p`` with netted returns ``R(p)``: ``amount_p' = amount_p - sum_{r in
    R(p)} b_r``; the row count is unchanged, so records read = accepted + excluded +
    rejected still holds.
    """
    key = f"c.file_id * {FILE_STRIDE} + c.line"
    return f"""
WITH cleaned AS ({cleaned_query}),
{_matches_sql()}
SELECT c.file_id, c.line, c.raw, c.customer_id, c.date,
       CASE WHEN n.back IS NULL THEN c.amount ELSE c.amount - n.back END AS amount,
       c.product, c.channel, c.txn_id,
       CASE
           WHEN c.reason IS NOT NULL THEN c.reason
           WHEN c.amount < 0 AND m.r_key IS NOT NULL THEN '{NETTED_REASONS[0]}'
           WHEN c.amount < 0 THEN '{UNMATCHED}'
           WHEN n.back IS NOT NULL AND c.amount - n.back <= c.amount * {EPS}
               THEN '{NETTED_REASONS[1]}'
       END AS reason
FROM cleaned AS c
LEFT JOIN netted AS n ON n.p_key = {key}
LEFT JOIN returned AS m ON m.r_key = {key}"""
