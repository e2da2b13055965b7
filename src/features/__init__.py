"""Customer features: one row per customer as of a date, and the holdout split for backtests.

- :func:`customer_features` -- the per-customer table (``data/processed/customers.parquet``)
- :func:`split_at` -- calibration features as of a cutoff plus what happened after it
- :class:`CutoffTables` -- ``split_at`` tables by cut-off, each built once per run
- :mod:`features.sql` -- the aggregation as SQL (DuckDB dialect, transpilable to Spark)
- :mod:`features.reference` -- a plain pandas implementation, for checks and benchmarks
"""

from features.cutoffs import CutoffTables
from features.duckdb_engine import customer_features, split_at

__all__ = ["CutoffTables", "customer_features", "split_at"]
