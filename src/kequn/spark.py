"""The Spark session for ``engine: spark``, built from params.yaml's ``spark:`` section.

Settings, lowest to highest precedence: the defaults below (local mode on this machine,
UI off, UTC session time zone, few shuffle partitions), ``params['spark']`` and the
environment::

    spark:
      master: local[*]              # or spark://host:7077, yarn, k8s://https://...
      driver_memory: 4g
      executor_memory: 8g           # cluster only
      shuffle_partitions: 200
      staging_dir: hdfs:///tmp/kequn  # cluster: scratch space executors and driver both reach
      conf: {spark.hadoop.fs.s3a.endpoint: "https://..."}   # any other Spark setting

    KEQUN_SPARK_MASTER, KEQUN_SPARK_DRIVER_MEMORY, KEQUN_SPARK_EXECUTOR_MEMORY,
    KEQUN_SPARK_SHUFFLE_PARTITIONS, KEQUN_SPARK_STAGING_DIR; KEQUN_SPARK_CONF="k=v;k=v"

A session that already runs in the process (``spark-submit``, a notebook, a test fixture)
is reused as it is: :func:`get_session` only builds one when there is none.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from kequn.errors import UserError
from kequn.sql_text import literal

#: settings every Kequn session gets unless params or the environment say otherwise
DEFAULTS: dict[str, str] = {
    "spark.master": "local[2]",
    "spark.driver.memory": "2g",
    "spark.sql.shuffle.partitions": "8",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    # arrays indexed past their end (a truncated row) give NULL, as in DuckDB
    "spark.sql.ansi.enabled": "false",
    # the same Parquet types as DuckDB/pyarrow (date32, int64 ns-free timestamps)
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # decode() with every Java charset (GB18030, GBK, ...), not only the Unicode ones
    "spark.sql.legacy.javaCharsets": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}

#: params.yaml ``spark:`` keys -> Spark settings
KEYS: dict[str, str] = {
    "master": "spark.master",
    "driver_memory": "spark.driver.memory",
    "executor_memory": "spark.executor.memory",
    "shuffle_partitions": "spark.sql.shuffle.partitions",
    "staging_dir": "spark.kequn.staging_dir",
}

#: environment variables -> Spark settings
ENVIRONMENT: dict[str, str] = {f"KEQUN_SPARK_{k.upper()}": v for k, v in KEYS.items()}


def _parse_conf(text: str, where: str) -> dict[str, str]:
    conf = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{where}: expected key=value;key=value, got {item!r}")
        conf[key.strip()] = value.strip()
    return conf


def session_conf(
    params: dict[str, Any] | None = None, environ: dict[str, str] | None = None
) -> dict[str, str]:
    """Every Spark setting for the session: defaults < ``params['spark']`` < environment."""
    params = params or {}
    environ = os.environ if environ is None else environ
    options = params.get("spark") or {}
    if not isinstance(options, dict):
        raise UserError("params.yaml: 'spark' must be a mapping (master, driver_memory, conf...)")
    conf = dict(DEFAULTS)
    for key, value in options.items():
        if key == "conf":
            if not isinstance(value, dict):
                raise UserError("params.yaml: spark.conf must be a mapping of Spark settings")
            conf.update({str(k): str(v) for k, v in value.items()})
        elif key in KEYS:
            if value not in (None, ""):
                conf[KEYS[key]] = str(value)
        else:
            known = ", ".join([*KEYS, "conf"])
            raise UserError(f"params.yaml: spark.{key} is not a known key; known: {known}")
    for name, key in ENVIRONMENT.items():
        if environ.get(name):
            conf[key] = environ[name]
    if environ.get("KEQUN_SPARK_CONF"):
        conf.update(_parse_conf(environ["KEQUN_SPARK_CONF"], "KEQUN_SPARK_CONF"))
    return conf


def get_session(params: dict[str, Any] | None = None, app_name: str = "kequn"):
    """The active SparkSession, or a new one configured by :func:`session_conf`."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # pragma: no cover - pyspark is in requirements
        raise UserError("engine: spark needs PySpark (pip install pyspark)") from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName(app_name)
    conf = session_conf(params)
    if conf["spark.master"].startswith("local") and "PYSPARK_PYTHON" not in os.environ:
        # local Python workers (mapInPandas) run this interpreter, with its packages
        os.environ["PYSPARK_PYTHON"] = sys.executable
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def java_date_pattern(strptime_format: str) -> str:
    """The Java/Spark datetime pattern of a strptime format (``%Y%m%d`` -> ``yyyyMMdd``)."""
    import sqlglot

    probe = sqlglot.transpile(
        f"SELECT strptime(x, {literal(strptime_format)})",
        read="duckdb",
        write="spark",
    )[0]
    match = re.fullmatch(r"SELECT TO_TIMESTAMP\(x, '(.*)'\)", probe)
    if match is None:  # pragma: no cover - sqlglot always keeps the format literal
        raise ValueError(f"cannot translate the date format {strptime_format!r}")
    return match.group(1).replace("''", "'")


def _try_strptime_to_spark(node):
    """``try_strptime(x, '%Y%m%d')`` -> ``TRY_TO_TIMESTAMP(x, 'yyyyMMdd')``.

    sqlglot parses DuckDB's ``try_strptime`` as an unknown function and writes it back
    unchanged; Spark has no such function. Only a literal format can be translated.
    """
    from sqlglot import exp

    if not (isinstance(node, exp.Anonymous) and str(node.this).lower() == "try_strptime"):
        return node
    value, fmt = node.expressions
    if not (isinstance(fmt, exp.Literal) and fmt.is_string):
        raise ValueError("try_strptime needs a literal format to run on Spark")
    return exp.Anonymous(
        this="TRY_TO_TIMESTAMP",
        expressions=[value, exp.Literal.string(java_date_pattern(fmt.this))],
    )


#: rewrites applied to the DuckDB syntax tree before it is written as Spark SQL: the
#: functions sqlglot does not translate by itself (each is tested in tests/test_spark.py)
SPARK_REWRITES = (_try_strptime_to_spark,)


def to_spark_sql(duckdb_sql: str) -> str:
    """One DuckDB-dialect statement as Spark SQL: sqlglot's transpiler + :data:`SPARK_REWRITES`."""
    import sqlglot

    tree = sqlglot.parse_one(duckdb_sql, read="duckdb")
    for rewrite in SPARK_REWRITES:
        tree = tree.transform(rewrite)
    return tree.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)
