"""The Spark engine (``engine: spark``) against the DuckDB engine and hand-counted truths.

Spark runs in local mode (``local[2]``, 4 shuffle partitions, UI off), one session for
the module. Data: the full CDNOW master (tests/data/CDNOW_master.txt, whitespace-separated,
UTF-8) and, to keep the run short, 3 of the bundled sample's 36 monthly files --
2023-01, 2025-11 and 2025-12, the last one ending in a truncated row -- with the sample's
client master (GB18030, quoted thousands separators, the 正常 filter); plus the hand-made
tests/data/ingest/dirty.csv (one row per reject reason, lines counted by hand). All are
read in place, read-only; outputs go to a temporary directory.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlglot
import yaml

from conftest import (
    BLANK_CHARS,
    REPO_ROOT,
    TEST_DATA,
    TRIM_CASES,
    many_categories_frame,
    random_texts,
    run_stage,
)
from features import customer_features, split_at
from features import spark_engine as features_spark
from ingest import sql as ingest_sql
from ingest import stage as duckdb_stage
from ingest.clean import TRANSACTION_ROLES
from ingest.mapping import load_mapping
from ingest.spark_engine import numbered_lines, read_extract, run_ingest
from kequn.errors import UserError
from kequn.spark import java_date_pattern, session_conf, to_spark_sql

SAMPLE = REPO_ROOT / "data" / "sample"
SAMPLE_FILES = ["transactions_202301.csv", "transactions_202511.csv", "transactions_202512.csv"]
#: the optional extracts (ingest.balances_mapping, ingest.events_mapping)
SIGNAL_KINDS = ("balances", "events")


# --- the translation layer and the session settings (no Spark needed) ----------------------


@pytest.mark.parametrize(
    ("strptime", "java"),
    [("%Y%m%d", "yyyyMMdd"), ("%Y-%m-%d", "yyyy-M-d"), ("%d/%m/%Y", "d/M/yyyy")],
)
def test_java_date_pattern(strptime, java):
    assert java_date_pattern(strptime) == java


def test_try_strptime_becomes_try_to_timestamp():
    duck = ingest_sql.parse_date("d", "%Y-%m-%d")
    assert "try_strptime" in duck  # the gap sqlglot leaves open ...
    assert "TRY_STRPTIME" in sqlglot.transpile(f"SELECT {duck}", read="duckdb", write="spark")[0]
    spark_sql = to_spark_sql(f"SELECT {duck} AS day FROM t")  # ... and the rewrite closing it
    blanks = "' ' || CHR(9) || CHR(10) || CHR(13) || CHR(160) || '\u3000'"
    blank_list = "' ', CHR(9), CHR(10), CHR(13), CHR(160), '\u3000'"
    first = "d >= '!' AND d < CHR(160) OR d >= CHR(161) AND d < '\u3000' OR d >= '\u3001'"
    stripped = (
        f"CASE WHEN ({first}) AND NOT SUBSTRING(d, -1, 1) IN ({blank_list}) THEN d "
        f"ELSE TRIM({blanks} FROM d) END"
    )
    assert spark_sql == (
        f"SELECT CAST(TRY_TO_TIMESTAMP({stripped}, 'yyyy-M-d') AS DATE) AS day FROM t"
    )


def test_try_strptime_needs_a_literal_format():
    with pytest.raises(ValueError, match="literal format"):
        to_spark_sql("SELECT try_strptime(d, fmt) FROM t")


def test_session_conf_precedence():
    params = {"spark": {"master": "spark://head:7077", "executor_memory": "8g", "conf": {"a": 1}}}
    env = {"KEQUN_SPARK_MASTER": "yarn", "KEQUN_SPARK_CONF": "b=2; c = x=y"}
    conf = session_conf(params, env)
    assert conf["spark.master"] == "yarn"  # environment beats params
    assert conf["spark.executor.memory"] == "8g"
    assert conf["a"] == "1" and conf["b"] == "2" and conf["c"] == "x=y"
    assert conf["spark.ui.enabled"] == "false"  # a default kept
    assert session_conf({}, {})["spark.master"] == "local[2]"
    with pytest.raises(UserError, match="spark.memory"):
        session_conf({"spark": {"memory": "4g"}}, {})
    with pytest.raises(UserError, match="KEQUN_SPARK_CONF"):
        session_conf({}, {"KEQUN_SPARK_CONF": "novalue"})


# --- Spark ------------------------------------------------------------------------------------


def _plain(value):
    """A date or timestamp as ``datetime.date``; anything else unchanged."""
    return pd.Timestamp(value).date() if isinstance(value, dt.date | pd.Timestamp) else value


def test_parse_date_and_number_agree_with_duckdb(spark):
    """The translated expressions give DuckDB's values on awkward inputs (and the obvious
    hand values: valid dates parse, impossible ones are NULL)."""
    texts = [
        "20230101",
        " 20231231 ",
        "20230230",
        "20231301",
        "2023-01-01",
        "",
        "abc",
        None,
        "2023011",
    ]
    numbers = ["1,234.50", " -7.25 ", "+.5", "1.2.3", "abc", "", "1e5", "12", None, "1,2,3"]
    date_sql = ingest_sql.parse_date("x", "%Y%m%d")
    number_sql = ingest_sql.parse_number("x", ",", ".")
    con = duckdb.connect()
    results = {}
    for values, expr in ((texts, date_sql), (numbers, number_sql)):
        frame = pd.DataFrame({"i": range(len(values)), "x": pd.Series(values, dtype=object)})
        con.register("t", frame)
        duck = con.execute(f"SELECT i, {expr} AS v FROM t ORDER BY i").df()
        spark.createDataFrame(frame, "i long, x string").createOrReplaceTempView("t")
        theirs = spark.sql(to_spark_sql(f"SELECT i, {expr} AS v FROM t ORDER BY i")).toPandas()
        assert duck["v"].isna().tolist() == theirs["v"].isna().tolist(), values
        same = [_plain(v) for v in duck["v"] if pd.notna(v)]
        assert same == [_plain(v) for v in theirs["v"] if pd.notna(v)]
        results[expr] = [_plain(v) for v in theirs["v"]]
    dates = results[date_sql]
    assert dates[:2] == [dt.date(2023, 1, 1), dt.date(2023, 12, 31)]
    assert all(pd.isna(v) for v in dates[2:])
    amounts = results[number_sql]
    assert amounts[:3] == [1234.5, -7.25, 0.5] and amounts[7] == 12.0
    assert all(pd.isna(amounts[i]) for i in (3, 4, 5, 6, 8, 9))


def test_strip_on_spark_trims_like_duckdb(spark):
    """The translated trim gives exactly TRIM_CASES' values on Spark too."""
    values = [value for value, _ in TRIM_CASES]
    frame = pd.DataFrame({"i": range(len(values)), "x": pd.Series(values, dtype=object)})
    spark.createDataFrame(frame, "i long, x string").createOrReplaceTempView("t")
    query = to_spark_sql(f"SELECT i, {ingest_sql.strip('x')} AS v FROM t ORDER BY i")
    got = [row["v"] for row in spark.sql(query).collect()]
    assert got == [trimmed for _, trimmed in TRIM_CASES]


def test_strip_on_spark_equals_python_strip_on_random_texts(spark):
    """strip's fast path translated to Spark gives str.strip(blanks) for every random text
    (Spark's string comparison, substring and trim, like DuckDB's, work on code points)."""
    texts = random_texts(5_000, seed=20)
    frame = pd.DataFrame({"i": range(len(texts)), "x": pd.Series(texts, dtype=object)})
    spark.createDataFrame(frame, "i long, x string").createOrReplaceTempView("t")
    query = to_spark_sql(f"SELECT i, {ingest_sql.strip('x')} AS v FROM t ORDER BY i")
    got = [row["v"] for row in spark.sql(query).collect()]
    assert got == [t.strip(BLANK_CHARS) for t in texts]


def test_line_numbers_across_splits(spark, tmp_path):
    """A file read in many parallel splits is numbered like ``enumerate`` (blank lines
    included), a small file in one split too."""
    lines = (TEST_DATA / "CDNOW_master.txt").read_text("utf-8").split("\n")
    lines = lines[:30000]
    lines[5] = lines[20000] = ""  # blank lines keep their place
    big = tmp_path / "big.txt"
    big.write_text("\n".join(lines) + "\n", encoding="utf-8")
    small = tmp_path / "small.txt"
    small.write_text("a\n\nb", encoding="utf-8")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "65536")
    spark.conf.set("spark.sql.files.openCostInBytes", "65536")
    try:
        got = numbered_lines(spark, [str(big), str(small)], "utf-8").toPandas()
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
        spark.conf.unset("spark.sql.files.openCostInBytes")
    got = got.sort_values(["file_id", "line"]).reset_index(drop=True)
    expected = pd.DataFrame(
        {
            "file_id": [0] * len(lines) + [1, 1, 1],
            "line": list(range(1, len(lines) + 1)) + [1, 2, 3],
            "raw": lines + ["a", "", "b"],
        }
    )
    assert big.stat().st_size > 10 * 65536  # really read in several splits
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def _write_mapping(source: Path, target: Path, files: list[Path]) -> Path:
    mapping = yaml.safe_load(source.read_text(encoding="utf-8"))
    mapping["files"] = [str(f) for f in files]
    target.write_text(yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8")
    return target


def _run_both(
    spark,
    workdir: Path,
    mapping: Path,
    clients: Path | None,
    rate: float,
    signals: dict[str, Path] | None = None,
) -> Path:
    """Ingest with DuckDB (``python -m kequn ingest``'s run) and with Spark in ``workdir``;
    ``signals``: kind (balances, events) -> mapping of the optional extracts read."""
    signals = signals or {}
    old = Path.cwd()
    os.chdir(workdir)
    try:
        duckdb_stage.run(
            {
                "ingest": {
                    "mapping": str(mapping),
                    "clients_mapping": str(clients or ""),
                    **{f"{kind}_mapping": str(path) for kind, path in signals.items()},
                    "max_reject_rate": rate,
                    "allowed_roots": [str(REPO_ROOT)],  # the extracts are in the repository
                }
            }
        )
        run_ingest(
            load_mapping(mapping),
            load_mapping(clients, "clients") if clients else None,
            rate,
            spark,
            transactions_path="spark/transactions.parquet",
            clients_path="spark/clients.parquet",
            rejects_path="spark/rejects.csv",
            metrics_path="spark/ingest.json",
            signal_mappings={kind: load_mapping(path, kind) for kind, path in signals.items()},
            signal_paths={kind: f"spark/{kind}.parquet" for kind in SIGNAL_KINDS},
        )
    finally:
        os.chdir(old)
    return workdir


@pytest.fixture(scope="module")
def sample_run(spark, tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("spark_sample")
    mapping = _write_mapping(
        REPO_ROOT / "mappings/sample_transactions.yaml",
        workdir / "transactions.yaml",
        [SAMPLE / name for name in SAMPLE_FILES],
    )
    clients = _write_mapping(
        REPO_ROOT / "mappings/sample_clients.yaml",
        workdir / "clients.yaml",
        [SAMPLE / "clients.csv"],
    )
    signals = {
        kind: _write_mapping(
            REPO_ROOT / f"mappings/sample_{kind}.yaml",
            workdir / f"{kind}.yaml",
            [SAMPLE / f"{kind}.csv"],
        )
        for kind in SIGNAL_KINDS
    }
    return _run_both(spark, workdir, mapping, clients, 0.05, signals)


@pytest.fixture(scope="module")
def cdnow_run(spark, tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("spark_cdnow")
    mapping = _write_mapping(
        REPO_ROOT / "mappings/cdnow_master.yaml",
        workdir / "cdnow.yaml",
        [TEST_DATA / "CDNOW_master.txt"],
    )
    return _run_both(spark, workdir, mapping, None, 0.02)


def _assert_same_ingest(workdir: Path) -> dict:
    duck_metrics = json.loads((workdir / "reports/metrics/ingest.json").read_text("utf-8"))
    spark_metrics = json.loads((workdir / "spark/ingest.json").read_text("utf-8"))
    assert spark_metrics == duck_metrics
    for name in ("transactions.parquet", "clients.parquet", "balances.parquet", "events.parquet"):
        duck = pq.read_table(workdir / "data/interim" / name)
        theirs = pq.read_table(workdir / "spark" / name)
        assert theirs.schema.names == duck.schema.names, name
        assert [f.type for f in theirs.schema] == [f.type for f in duck.schema], name
        # same rows, same order, same values (DuckDB marks some columns NOT NULL: ignored)
        assert theirs.cast(duck.schema).equals(duck), name
    duck_rejects = (workdir / "data/interim/rejects.csv").read_bytes()
    assert (workdir / "spark/rejects.csv").read_bytes() == duck_rejects
    return spark_metrics


def test_sample_ingest_same_as_duckdb(sample_run):
    metrics = _assert_same_ingest(sample_run)
    # hand counts: lines of the three files minus their headers; the last line of
    # transactions_202512.csv (15,997th, no newline) is the truncated row
    lines = [
        (SAMPLE / name).read_bytes().count(b"\n") + (name == SAMPLE_FILES[-1])
        for name in SAMPLE_FILES
    ]
    assert metrics["rows_read"] == sum(lines) - 3
    rejects = pd.read_csv(sample_run / "spark/rejects.csv", dtype=str, keep_default_na=False)
    truncated = rejects[rejects["reason"] == "truncated_row"]
    assert truncated["line"].astype(int).tolist() == [lines[-1]]
    assert truncated["source_file"].tolist() == [str(SAMPLE / SAMPLE_FILES[-1])]
    clients = pd.read_parquet(sample_run / "spark/clients.parquet")
    assert set(clients["client_type"]) == {"个人", "对公"}  # GB18030 decoded
    assert (
        metrics["clients"]["rows_read"]
        == len((SAMPLE / "clients.csv").read_bytes().rstrip(b"\n").split(b"\n")) - 1
    )


def test_sample_signals_on_spark_recover_the_planted_rejects(sample_run):
    """The sample's balance and event extracts on Spark (equal to DuckDB's above) give the
    counts the generator planted (true_signals.json), and nothing where none was planted."""
    metrics = json.loads((sample_run / "spark/ingest.json").read_text("utf-8"))
    truth = json.loads((SAMPLE / "true_signals.json").read_text("utf-8"))["expected_ingest"]
    rejects = pd.read_csv(sample_run / "spark/rejects.csv", dtype=str, keep_default_na=False)
    for kind in SIGNAL_KINDS:
        got, planted = metrics[kind], truth[kind]
        assert (got["rows_read"], got["rows_accepted"]) == (
            planted["rows_read"],
            planted["rows_accepted"],
        )
        assert {r: n for r, n in got["rejected_by_reason"].items() if n} == (
            planted["rejected_by_reason"]
        )
        mine = rejects[rejects["source_file"] == str(SAMPLE / f"{kind}.csv")]
        assert mine["reason"].value_counts().to_dict() == planted["rejected_by_reason"]
        assert mine["line"].astype(int).is_monotonic_increasing
        rows = pd.read_parquet(sample_run / f"spark/{kind}.parquet")
        assert len(rows) == planted["rows_accepted"]
        keys = list(zip(rows["customer_id"], rows["date"], strict=True))
        assert keys == sorted(keys)  # customer_id, then date
    # the signal rejects follow those of the transactions and the client master
    order = rejects["source_file"].drop_duplicates().tolist()
    assert order[-2:] == [str(SAMPLE / "balances.csv"), str(SAMPLE / "events.csv")]
    assert metrics["events"]["rows_by_type"].keys() == {"complaint", "service_request", "survey"}


def test_cdnow_ingest_same_as_duckdb(cdnow_run):
    metrics = _assert_same_ingest(cdnow_run)
    # 69,659 purchase lines after the header, 23,570 customers (Fader & Hardie's CDNOW)
    assert metrics["rows_read"] == metrics["rows_accepted"] == 69659
    assert metrics["customers"] == 23570


def test_dirty_rows_get_the_hand_counted_reasons(spark, tmp_path):
    mapping = _write_mapping(
        TEST_DATA / "ingest/dirty.yaml", tmp_path / "dirty.yaml", [TEST_DATA / "ingest/dirty.csv"]
    )
    metrics = run_ingest(
        load_mapping(mapping),
        None,
        1.0,
        spark,
        transactions_path=tmp_path / "t.parquet",
        clients_path=tmp_path / "c.parquet",
        rejects_path=tmp_path / "r.csv",
    )
    rejects = pd.read_csv(tmp_path / "r.csv", dtype=str, keep_default_na=False)
    assert dict(zip(rejects["line"].astype(int), rejects["reason"], strict=True)) == {
        4: "bad_date",
        5: "blank_customer_id",
        6: "bad_amount",
        7: "duplicate_txn_id",
        8: "date_after_extract",
        9: "filtered",
        11: "truncated_row",
    }
    assert rejects.loc[rejects["line"] == "5", "raw"].item() == "  ,20250103,5,T4,借,正常"
    assert metrics["reject_rate"] == pytest.approx(6 / 9, abs=1e-6)
    accepted = pd.read_parquet(tmp_path / "t.parquet")
    assert accepted["customer_id"].tolist() == ["C001", "C001", "C004"]
    assert accepted.set_index("txn_id")["amount"].to_dict() == {
        "T1": 1234.5,
        "T2": -100.0,
        "T8": 10.0,
    }
    assert pd.read_parquet(tmp_path / "c.parquet").columns.tolist() == ["customer_id"]


def test_reject_rate_above_limit_fails_keeping_rejects_apart(spark, tmp_path):
    mapping = _write_mapping(
        TEST_DATA / "ingest/dirty.yaml", tmp_path / "dirty.yaml", [TEST_DATA / "ingest/dirty.csv"]
    )
    with pytest.raises(UserError, match="max_reject_rate"):
        run_ingest(
            load_mapping(mapping),
            None,
            0.02,
            spark,
            transactions_path=tmp_path / "t.parquet",
            clients_path=tmp_path / "c.parquet",
            rejects_path=tmp_path / "r.csv",
        )
    assert len(pd.read_csv(tmp_path / "r.failed.csv")) == 7
    assert not (tmp_path / "t.parquet").exists() and not (tmp_path / "r.csv").exists()


def _assert_same_features(duck: pd.DataFrame, theirs: pd.DataFrame) -> None:
    assert theirs.columns.tolist() == duck.columns.tolist()
    assert theirs["customer_id"].tolist() == duck["customer_id"].tolist()
    pd.testing.assert_frame_equal(theirs, duck, check_exact=False, rtol=1e-9, atol=1e-9)


def test_sample_features_same_as_duckdb(spark, sample_run):
    transactions = sample_run / "spark/transactions.parquet"
    clients = pd.read_parquet(sample_run / "spark/clients.parquet")
    as_of = dt.date(2025, 12, 31)
    duck = customer_features(
        transactions, as_of, unit_days=7, trend_window_days=90, clients=clients
    )
    theirs = features_spark.customer_features(
        transactions, as_of, unit_days=7, trend_window_days=90, clients=clients, spark=spark
    )
    assert any(c.startswith("share_product_") for c in theirs.columns)
    assert set(theirs["main_channel"]) <= {"柜面", "手机银行", "网上银行", ""}
    _assert_same_features(duck, theirs)


def test_many_categories_and_quoted_names_same_as_duckdb(spark):
    tx = many_categories_frame()
    clients = pd.DataFrame({"customer_id": ["c001", "c002"], "vip": ["y", None]})
    as_of = dt.date(2024, 12, 31)
    duck = customer_features(tx, as_of, trend_window_days=60, clients=clients)
    theirs = features_spark.customer_features(
        tx, as_of, trend_window_days=60, clients=clients, spark=spark
    )
    assert duck["n_products"].max() > 10
    _assert_same_features(duck, theirs)


def test_cdnow_features_and_holdout_same_as_duckdb(spark, cdnow_run):
    transactions = cdnow_run / "spark/transactions.parquet"
    first, last, n_rows = features_spark.date_range(transactions, spark=spark)
    assert (first, last, n_rows) == (dt.date(1997, 1, 1), dt.date(1998, 6, 30), 69659)
    cutoff, end = dt.date(1997, 9, 30), dt.date(1998, 6, 30)
    duck_cal, duck_hold = split_at(transactions, cutoff, end, unit_days=7)
    cal, hold = features_spark.split_at(transactions, cutoff, end, unit_days=7, spark=spark)
    _assert_same_features(duck_cal, cal)
    pd.testing.assert_frame_equal(hold, duck_hold, check_exact=False, rtol=1e-9)
    # every CDNOW customer made a first purchase in 1997-Q1, so all are in the calibration
    assert len(cal) == 23570


def test_ingest_stage_with_engine_spark_writes_the_duckdb_outputs(cdnow_run, tmp_path):
    """``python -m kequn ingest`` with ``engine: spark`` (its own JVM, settings from params)."""
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump(
            {
                "engine": "spark",
                "spark": {"master": "local[2]", "driver_memory": "1g"},
                "ingest": {
                    "mapping": str(cdnow_run / "cdnow.yaml"),
                    "max_reject_rate": 0.02,
                    "allowed_roots": [str(REPO_ROOT)],  # the extract is outside tmp_path
                },
            }
        ),
        encoding="utf-8",
    )
    done = run_stage("ingest", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "(Spark)" in done.stderr
    duck = pq.read_table(cdnow_run / "data/interim/transactions.parquet")
    theirs = pq.read_table(tmp_path / "data/interim/transactions.parquet")
    assert theirs.cast(duck.schema).equals(duck)
    assert (tmp_path / "data/interim/rejects.csv").read_bytes() == (
        cdnow_run / "data/interim/rejects.csv"
    ).read_bytes()
    metrics = json.loads((tmp_path / "reports/metrics/ingest.json").read_text("utf-8"))
    assert metrics["rows_accepted"] == 69659 and metrics["customers"] == 23570


@pytest.mark.parametrize("name", ["online_retail.csv", "online_retail.zip"])
def test_retail_lines_same_as_duckdb(spark, tmp_path, name):
    """Line-level mapping keys (amount = Quantity x UnitPrice, exclude rules, group_lines,
    non_positive_amounts), and a zipped extract, give the DuckDB engine's outputs on Spark."""
    mapping = _write_mapping(
        TEST_DATA / "ingest/online_retail.yaml",
        tmp_path / "retail.yaml",
        [TEST_DATA / "ingest" / name],
    )
    _run_both(spark, tmp_path, mapping, None, 1.0)
    metrics = _assert_same_ingest(tmp_path)
    assert (metrics["rows_excluded"], metrics["rows_rejected"], metrics["rows_accepted"]) == (
        3,
        2,
        14,
    )


def test_sample_balance_and_event_features_same_as_duckdb(spark, sample_run):
    """The balance and event features of the bundled sample, computed on Spark from the
    Spark ingest's files, are those computed with DuckDB from the DuckDB ingest's, as of
    the sample's as_of and as of a backtest cut-off."""
    from features.signals import compute_signals

    duck_paths = [sample_run / f"data/interim/{kind}.parquet" for kind in SIGNAL_KINDS]
    spark_paths = [sample_run / f"spark/{kind}.parquet" for kind in SIGNAL_KINDS]
    for as_of in (dt.date(2025, 12, 31), dt.date(2025, 4, 4)):
        duck = compute_signals(as_of, *duck_paths)
        theirs = compute_signals(as_of, *spark_paths, "spark", spark)
        assert len(duck) > 15_000 and "aum_share_理财" in duck.columns
        assert duck["aum_decline_months"].max() >= 6 and duck["unresolved_complaints"].max() > 1
        theirs = theirs.astype(duck.dtypes.to_dict())
        _assert_same_features(duck, theirs)


def test_sample_customer_table_with_signals_same_as_duckdb(spark, sample_run, tmp_path):
    """The features stage's file: DuckDB joins the balance and event features in its query,
    Spark appends them in pandas; from the same inputs both give the same table, same
    columns, dtypes and neutral values."""
    from features import duckdb_engine

    interim = sample_run / "data/interim"
    inputs = {
        "transactions": interim / "transactions.parquet",
        "as_of": dt.date(2025, 12, 31),
        "clients": interim / "clients.parquet",
        "balances": interim / "balances.parquet",
        "events": interim / "events.parquet",
    }
    duck_path, spark_path = tmp_path / "duck.parquet", tmp_path / "spark.parquet"
    duckdb_engine.write_customer_features(duck_path, **inputs)
    features_spark.write_customer_features(spark_path, **inputs, spark=spark)
    duck, theirs = pd.read_parquet(duck_path), pd.read_parquet(spark_path)
    assert "aum_share_理财" in duck.columns and duck["unresolved_complaints"].max() > 1
    assert (duck["aum_decline_months"] == 0).any() and duck["aum_latest"].isna().any()
    assert theirs.dtypes.to_dict() == duck.dtypes.to_dict()
    _assert_same_features(duck, theirs)


def test_fixed_width_same_as_duckdb(spark, tmp_path):
    """A fixed-width extract (no header, widths cut by character) gives the DuckDB engine's
    outputs on Spark, rejects included: the counts are the hand-checked ones of
    tests/test_ingest_rules.py::test_fixed_width_fixture_reconciles."""
    mapping = {
        "files": [str(TEST_DATA / "ingest/fixed_width.txt")],
        "format": "fixed",
        "header": False,
        "widths": [10, 8, 11, 10],
        "columns": {"customer_id": 0, "date": 1, "amount": 2, "channel": 3},
        "date_format": "%Y%m%d",
        "extract_date": "2025-12-31",
    }
    path = tmp_path / "fixed.yaml"
    path.write_text(yaml.safe_dump(mapping), encoding="utf-8")
    _run_both(spark, tmp_path, path, None, 1.0)
    metrics = _assert_same_ingest(tmp_path)
    assert (metrics["rows_read"], metrics["rows_rejected"], metrics["rows_accepted"]) == (7, 5, 2)


def test_utf16_refused_naming_the_mapping(spark, tmp_path):
    """Spark splits lines on bytes, so a UTF-16 extract is refused up front, in one line
    naming the mapping file and its key, before any file is read."""
    mapping = {
        "files": [str(tmp_path / "x.csv")],
        "encoding": "utf-16",
        "columns": {"customer_id": "id", "date": "d", "amount": "a"},
    }
    path = tmp_path / "utf16.yaml"
    path.write_text(yaml.safe_dump(mapping), encoding="utf-8")
    with pytest.raises(UserError) as caught:
        read_extract(spark, load_mapping(path), TRANSACTION_ROLES, tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{path}: key 'encoding': encoding utf-16")
    assert "\n" not in message


def test_returns_netting_same_as_duckdb(spark, tmp_path):
    """``non_positive_amounts: net`` (a window and two joins after the cleaning query) gives
    the DuckDB engine's outputs on Spark, on the hand-worked fixture of
    tests/test_ingest_rules.py::test_returns_net_off_against_the_purchase_they_return."""
    from test_ingest_rules import HEADER, NETTING_BODY

    (tmp_path / "net.csv").write_text(HEADER + NETTING_BODY, encoding="utf-8")
    mapping = {
        "files": [str(tmp_path / "net.csv")],
        "columns": {"customer_id": "id", "date": "date", "amount": "amount", "txn_id": "txn"},
        "date_format": "%Y%m%d",
        "extract_date": "2025-12-31",
        "non_positive_amounts": "net",
    }
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(mapping), encoding="utf-8")
    _run_both(spark, tmp_path, path, None, 1.0)
    metrics = _assert_same_ingest(tmp_path)
    assert (metrics["rows_excluded"], metrics["rows_rejected"], metrics["rows_accepted"]) == (
        3,
        3,
        3,
    )


def _dirty_balances(tmp_path: Path) -> tuple[Path, Path]:
    """A clean three-row transaction extract and a balance extract with one duplicate
    snapshot (line 3) and one bad amount (line 4) among four rows, and their mappings."""
    (tmp_path / "t.csv").write_text(
        "id,day,amount\nC1,20250105,10.00\nC2,20250107,5.50\nC1,20250203,7.25\n", "utf-8"
    )
    (tmp_path / "b.csv").write_text(
        "id,day,product,balance\n"
        "C1,20250131,deposit,100.00\n"
        "C1,20250131,deposit,120.00\n"
        "C2,20250131,deposit,abc\n"
        'C2,20250228,fund,"1,000.50"\n',
        "utf-8",
    )
    common = {"date_format": "%Y%m%d", "extract_date": "2025-12-31", "thousands": ","}
    columns = {"customer_id": "id", "date": "day"}
    mappings = []
    for name, extra in (
        ("t", {"amount": "amount"}),
        ("b", {"product": "product", "balance": "balance"}),
    ):
        mapping = {"files": [str(tmp_path / f"{name}.csv")], "columns": {**columns, **extra}}
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({**mapping, **common}), encoding="utf-8")
        mappings.append(path)
    return mappings[0], mappings[1]


def test_dirty_balances_same_as_duckdb(spark, tmp_path):
    """Balance rows with a duplicate snapshot and a bad amount: Spark gives the DuckDB
    engine's outputs (rejects.csv the same bytes) and the hand-counted reasons."""
    transactions, balances = _dirty_balances(tmp_path)
    _run_both(spark, tmp_path, transactions, None, 1.0, {"balances": balances})
    metrics = _assert_same_ingest(tmp_path)
    counts = metrics["balances"]
    assert (counts["rows_read"], counts["rows_accepted"], counts["rows_rejected"]) == (4, 2, 2)
    assert counts["reject_rate"] == 0.5 and counts["balances_negative"] == 0
    assert metrics["rows_rejected"] == 0  # the transactions are clean
    rejects = pd.read_csv(tmp_path / "spark/rejects.csv", dtype=str, keep_default_na=False)
    assert rejects[["line", "reason", "raw"]].values.tolist() == [
        ["3", "duplicate_snapshot", "C1,20250131,deposit,120.00"],
        ["4", "bad_amount", "C2,20250131,deposit,abc"],
    ]
    rows = pd.read_parquet(tmp_path / "spark/balances.parquet")
    assert rows[["customer_id", "product", "balance"]].values.tolist() == [
        ["C1", "deposit", 100.0],
        ["C2", "fund", 1000.5],
    ]
    assert pd.read_parquet(tmp_path / "spark/events.parquet").empty  # not configured


def test_balance_reject_rate_above_limit_writes_nothing(spark, tmp_path):
    """A balance extract over ingest.max_reject_rate fails on Spark as on DuckDB: one line
    naming its mapping, every rejected row in rejects.failed.csv, no output written."""
    transactions, balances = _dirty_balances(tmp_path)
    with pytest.raises(UserError) as caught:
        run_ingest(
            load_mapping(transactions),
            None,
            0.1,
            spark,
            transactions_path=tmp_path / "out/t.parquet",
            clients_path=tmp_path / "out/c.parquet",
            rejects_path=tmp_path / "out/r.csv",
            metrics_path=tmp_path / "out/ingest.json",
            signal_mappings={"balances": load_mapping(balances, "balances")},
            signal_paths={"balances": tmp_path / "out/b.parquet"},
        )
    message = str(caught.value)
    assert message.startswith(f"{balances}: reject rate 50.00% is above") and "\n" not in message
    failed = pd.read_csv(tmp_path / "out/r.failed.csv", dtype=str)
    assert failed["reason"].tolist() == ["duplicate_snapshot", "bad_amount"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["r.failed.csv"]


def test_ingest_stage_on_spark_reads_the_signal_mappings(spark, tmp_path, monkeypatch):
    """``ingest.balances_mapping`` with ``engine: spark`` goes through the stage (it used
    to be refused) and writes the DuckDB stage's files: the same rejects.csv bytes, the
    same ingest.json, balances.parquet equal and events.parquet empty for both."""
    transactions, balances = _dirty_balances(tmp_path)
    outputs = {}
    for engine in ("duckdb", "spark"):
        workdir = tmp_path / engine
        workdir.mkdir()
        monkeypatch.chdir(workdir)
        ingest = {
            "mapping": str(transactions),
            "clients_mapping": "",
            "balances_mapping": str(balances),
            "events_mapping": "",
            "max_reject_rate": 1.0,
            "allowed_roots": [str(tmp_path)],
        }
        duckdb_stage.run({"engine": engine, "ingest": ingest})  # the module's session
        outputs[engine] = workdir
    duck, theirs = outputs["duckdb"], outputs["spark"]
    for name in ("rejects.csv", "balances.parquet", "events.parquet"):
        if name.endswith(".csv"):
            assert (theirs / "data/interim" / name).read_bytes() == (
                duck / "data/interim" / name
            ).read_bytes()
            continue
        ours = pq.read_table(duck / "data/interim" / name)
        assert pq.read_table(theirs / "data/interim" / name).cast(ours.schema).equals(ours)
    metrics = json.loads((theirs / "reports/metrics/ingest.json").read_text("utf-8"))
    assert metrics == json.loads((duck / "reports/metrics/ingest.json").read_text("utf-8"))
    assert metrics["balances"]["rows_accepted"] == 2 and "events" not in metrics
    assert pq.read_metadata(theirs / "data/interim/events.parquet").num_rows == 0
