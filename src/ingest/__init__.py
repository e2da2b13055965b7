"""Ingest: raw extracts + a YAML mapping -> clean transactions, client master, rejects, metrics.

- :mod:`ingest.mapping` -- :func:`load_mapping`, the validated mapping file (:class:`Mapping`)
- :mod:`ingest.decode`  -- streaming transcoding of non-UTF-8 extracts (GB18030, GBK, Latin-1)
- :mod:`ingest.read`    -- :func:`read_extract`: files -> one view of raw string fields + line
- :mod:`ingest.lines`   -- physical lines of a text file (counts, empty lines, raw text), NumPy
- :mod:`ingest.sql`     -- the engine-independent cleaning SQL (DuckDB dialect, sqlglot-ready)
- :mod:`ingest.clean`   -- :func:`clean_transactions`, :func:`clean_clients`, :func:`ingest_metrics`
- :mod:`ingest.stage`   -- ``run(params)``, the DVC entry point
"""

from ingest.clean import clean_clients, clean_transactions, ingest_metrics
from ingest.mapping import Mapping, load_mapping
from ingest.read import read_extract

__all__ = [
    "Mapping",
    "clean_clients",
    "clean_transactions",
    "ingest_metrics",
    "load_mapping",
    "read_extract",
]
