"""SQL text built from values: string literals, identifiers and Parquet sources, quoted the
way DuckDB reads them (sqlglot carries the quoting over when a query is translated to
Spark). Every stage that writes SQL by hand quotes through these."""

from __future__ import annotations

from pathlib import Path


def literal(value: object) -> str:
    """``value`` (as text) as a SQL string literal, single quotes doubled."""
    return "'" + str(value).replace("'", "''") + "'"


def identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier, double quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def parquet_source(path: str | Path) -> str:
    """``read_parquet('<path>')``, for a FROM clause."""
    return f"read_parquet({literal(path)})"
