"""Ingest: the real CDNOW files, one test per reject reason, encodings, errors, atomicity."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlglot
import yaml

from conftest import REPO_ROOT, TEST_DATA
from ingest import clean_transactions, decode, ingest_metrics, load_mapping, read_extract, sql
from ingest.clean import TRANSACTION_ROLES, read_clean_transactions
from ingest.stage import run
from kequn.errors import UserError

FIXTURES = TEST_DATA / "ingest"
OUTPUTS = (
    "data/interim/transactions.parquet",
    "data/interim/clients.parquet",
    "data/interim/rejects.csv",
    "reports/metrics/ingest.json",
)


def ingest_pure(mapping_path: Path | str, extract_date=dt.date(2030, 1, 1), streamed: bool = True):
    """Read + clean in memory; return (accepted frame, rejects frame, metrics).

    ``streamed``: as the stage does (rows classified as the CSV parser streams,
    :func:`ingest.clean.read_clean_transactions`); else the raw view cleaned by the one
    query the Spark engine runs (:func:`ingest.sql.clean_transactions_sql`).
    """
    mapping = load_mapping(mapping_path)
    con = duckdb.connect()
    extract_date = mapping.extract_date or extract_date
    if streamed:
        files, accepted, rejects = read_clean_transactions(con, mapping, extract_date)
    else:
        files = read_extract(mapping, con, TRANSACTION_ROLES)
        accepted, rejects = clean_transactions(con, mapping, extract_date)
    return accepted.df(), rejects.df(), ingest_metrics(con, files)


def write_mapping(directory: Path, **keys) -> Path:
    path = directory / "mapping.yaml"
    path.write_text(yaml.safe_dump(keys, allow_unicode=True), encoding="utf-8")
    return path


def params(mapping: str = "mapping.yaml", max_reject_rate: float = 1.0) -> dict:
    return {
        "ingest": {"mapping": mapping, "clients_mapping": "", "max_reject_rate": max_reject_rate}
    }


# --- the real CDNOW data -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mapping", "data", "read_kwargs", "rows", "customers"),
    [
        ("cdnow_sample.yaml", "CDNOW_sample.txt", {"header": None}, 6919, 2357),
        ("cdnow_master.yaml", "CDNOW_master.txt", {"header": None, "skiprows": 1}, 69659, 23570),
    ],
)
def test_cdnow_counts_dates_and_value_match_pandas(
    monkeypatch, mapping, data, read_kwargs, rows, customers
):
    monkeypatch.chdir(REPO_ROOT)
    accepted, rejects, metrics = ingest_pure(f"mappings/{mapping}")
    truth = pd.read_csv(TEST_DATA / data, sep=r"\s+", dtype=str, **read_kwargs)
    value_column = truth.columns[-1]
    assert metrics["rows_read"] == rows == len(truth)
    assert metrics["rows_accepted"] == rows and len(rejects) == 0
    assert metrics["customers"] == customers == truth[truth.columns[0]].nunique()
    dates = pd.to_datetime(truth[truth.columns[-3]], format="%Y%m%d")
    assert metrics["first_date"] == "1997-01-01" == dates.min().date().isoformat()
    assert metrics["last_date"] == "1998-06-30" == dates.max().date().isoformat()
    assert accepted["amount"].sum() == pytest.approx(truth[value_column].astype(float).sum())
    # sorted by customer id, ids keep their leading zeros ("00004", not 4)
    assert accepted["customer_id"].iloc[0] == truth[truth.columns[0]].min()
    assert accepted["customer_id"].str.len().eq(5).all()


def test_stage_on_cdnow_sample_writes_sorted_typed_outputs(tmp_path, monkeypatch):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "data").symlink_to(TEST_DATA)
    shutil.copytree(REPO_ROOT / "mappings", tmp_path / "mappings")
    monkeypatch.chdir(tmp_path)
    run(params("mappings/cdnow_sample.yaml", max_reject_rate=0.0))
    import pyarrow.parquet as pq

    table = pq.read_table("data/interim/transactions.parquet")
    assert [str(t) for t in table.schema.types] == ["string", "date32[day]", "double"]
    frame = table.to_pandas()
    assert frame.equals(frame.sort_values(["customer_id", "date"], kind="stable"))
    clients = pq.read_table("data/interim/clients.parquet")
    assert clients.num_rows == 0 and clients.schema.names == ["customer_id"]
    assert str(clients.schema.types[0]) == "string"
    metrics = json.loads(Path("reports/metrics/ingest.json").read_text(encoding="utf-8"))
    assert metrics["rows_read"] == metrics["rows_accepted"] + metrics["rows_rejected"] == 6919
    first = Path("data/interim/transactions.parquet").read_bytes()
    run(params("mappings/cdnow_sample.yaml", max_reject_rate=0.0))
    assert Path("data/interim/transactions.parquet").read_bytes() == first  # byte-identical


# --- one test per reject reason (tests/data/ingest/dirty.csv, lines counted by hand) --------


@pytest.fixture
def dirty(tmp_path, monkeypatch):
    for name in ("dirty.csv", "dirty.yaml"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return ingest_pure("dirty.yaml")


def reason_at(rejects: pd.DataFrame, line: int) -> str:
    hits = rejects.loc[rejects["line"] == line, "reason"].tolist()
    assert len(hits) == 1, f"line {line}: {hits}"
    return hits[0]


@pytest.mark.parametrize(
    ("line", "reason", "raw"),
    [
        (4, "bad_date", "C002,2025-13-01,5,T3,借,正常"),
        (5, "blank_customer_id", "  ,20250103,5,T4,借,正常"),
        (6, "bad_amount", "C002,20250104,abc,T5,借,正常"),
        (7, "duplicate_txn_id", "C002,20250105,7,T1,借,正常"),
        (8, "date_after_extract", "C003,20260101,8,T6,借,正常"),
        (9, "filtered", "C003,20250106,9,T7,借,冲正"),
        (11, "truncated_row", "C004,20250108"),
    ],
)
def test_each_reject_reason(dirty, line, reason, raw):
    _, rejects, _ = dirty
    assert reason_at(rejects, line) == reason
    assert rejects.loc[rejects["line"] == line, "raw"].item() == raw
    assert set(rejects["source_file"]) == {"dirty.csv"}


def test_dirty_counts_add_up_and_reject_rate_excludes_filtered(dirty):
    accepted, rejects, metrics = dirty
    assert metrics["rows_read"] == 10
    assert metrics["rows_read"] == metrics["rows_accepted"] + metrics["rows_rejected"]
    assert metrics["rows_accepted"] == len(accepted) == 3
    assert metrics["rows_rejected"] == len(rejects) == 7
    assert metrics["rejected_by_reason"]["filtered"] == 1
    assert metrics["reject_rate"] == pytest.approx(6 / 9, abs=1e-6)


def test_sign_flag_thousands_and_first_duplicate_kept(dirty):
    accepted, _, _ = dirty
    by_txn = accepted.set_index("txn_id")["amount"]
    assert by_txn["T1"] == 1234.50  # quoted "1,234.50", first T1 kept
    assert by_txn["T2"] == -100.0  # 贷 -> -|amount|
    assert by_txn["T8"] == 10.0
    assert accepted.loc[accepted["txn_id"] == "T8", "customer_id"].item() == "C004"  # stripped
    assert list(accepted["customer_id"]) == ["C001", "C001", "C004"]


def test_european_decimal_and_filter(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("eu.csv").write_text(
        "kunde;datum;betrag;status\nA;01.02.2024;1.234,50;ok\nA;02.02.2024;-7,25;ok\n"
        "B;03.02.2024;9,00;storno\n",
        encoding="utf-8",
    )
    write_mapping(
        tmp_path,
        files=["eu.csv"],
        delimiter=";",
        date_format="%d.%m.%Y",
        thousands=".",
        decimal=",",
        columns={"customer_id": "kunde", "date": "datum", "amount": "betrag"},
        filter={"column": "status", "keep": ["ok"]},
    )
    accepted, rejects, _ = ingest_pure("mapping.yaml")
    assert accepted["amount"].tolist() == [1234.50, -7.25]
    assert accepted["date"].dt.date.tolist() == [dt.date(2024, 2, 1), dt.date(2024, 2, 2)]
    assert rejects[["line", "reason"]].values.tolist() == [[4, "filtered"]]


# --- encodings ---------------------------------------------------------------------------

TEXTS = {
    "utf-8": (
        "客户号,日期,金额\n张三,2024-01-02,1.5\n李四,2024-01-03,2.5\n",
        "客户号",
        ["张三", "李四"],
    ),
    "latin-1": (
        "Client,Date,Montant\nZoë,2024-01-02,1.5\nJosé,2024-01-03,2.5\n",
        "Client",
        ["José", "Zoë"],
    ),
}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk", "latin-1"])
def test_each_encoding_decodes(tmp_path, monkeypatch, encoding):
    monkeypatch.chdir(tmp_path)
    text, id_column, ids = TEXTS["latin-1" if encoding == "latin-1" else "utf-8"]
    Path("extract.csv").write_bytes(text.encode(encoding))
    header = text.splitlines()[0].split(",")
    write_mapping(
        tmp_path,
        files=["extract.csv"],
        encoding=encoding,
        columns={"customer_id": id_column, "date": header[1], "amount": header[2]},
    )
    accepted, rejects, _ = ingest_pure("mapping.yaml")
    assert len(rejects) == 0
    assert sorted(accepted["customer_id"]) == sorted(ids)
    assert accepted["amount"].sum() == 4.0


def test_wrong_encoding_names_file_and_byte_offset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = "id,date,amount\nA,2024-01-02,1\n客户,2024-01-03,2\n".encode("gb18030")
    Path("gb.csv").write_bytes(data)
    write_mapping(
        tmp_path,
        files=["gb.csv"],
        encoding="utf-8",
        columns={"customer_id": "id", "date": "date", "amount": "amount"},
    )
    offset = len("id,date,amount\nA,2024-01-02,1\n")  # first GB18030 byte
    with pytest.raises(UserError, match=rf"gb\.csv: byte offset {offset} .*try gb18030"):
        ingest_pure("mapping.yaml")


def test_decode_error_offset_across_chunks(tmp_path, monkeypatch):
    # 2-byte GBK characters split across tiny chunks; the bad byte 0xFF sits at offset 9
    monkeypatch.setattr(decode, "CHUNK_BYTES", 3)
    path = tmp_path / "x.txt"
    path.write_bytes("ab客户c".encode("gbk") + b"\xff\xffz")
    assert len("ab客户c".encode("gbk")) == 7
    with pytest.raises(UserError, match=r"byte offset 7 "):
        decode.transcode_to_utf8(path, "gbk", tmp_path / "out.txt")
    good = tmp_path / "good.txt"
    good.write_bytes("客户号\n张三李四\n".encode("gb18030") * 5)
    decode.transcode_to_utf8(good, "gb18030", tmp_path / "good_utf8.txt")
    assert (tmp_path / "good_utf8.txt").read_text(encoding="utf-8") == "客户号\n张三李四\n" * 5


def gb18030_lines(n: int, seed: int) -> bytes:
    """``n`` GB18030 lines of Chinese and ASCII, some long, some CRLF, the last unended."""
    rng = np.random.default_rng(seed)
    words = ["客户号", "张三", "定期存款", "a1", ",", "  ", "🀄", "龘", "x" * 70]
    lines = ["".join(rng.choice(words, size=rng.integers(0, 6))) for _ in range(n)]
    ends = rng.choice(["\n", "\r\n"], size=n)
    return ("".join(line + end for line, end in zip(lines, ends, strict=True)) + "末").encode(
        "gb18030"
    )


def test_pool_decodes_a_file_in_pieces_exactly_like_the_stream(tmp_path, monkeypatch):
    """Pieces cut after newlines, decoded by two spawned processes, give the bytes of the
    whole file decoded at once; a planted bad byte gives the serial decoder's message with
    the planted offset, and the first of two bad bytes is the one reported."""
    monkeypatch.setattr(decode, "CHUNK_BYTES", 64)
    monkeypatch.setattr(decode, "PARALLEL_MIN_BYTES", 0)
    data = gb18030_lines(400, seed=19)
    path = tmp_path / "gb.csv"
    path.write_bytes(data)
    bounds = decode.piece_bounds(path, 64)
    assert len(bounds) > 20 and bounds[0][0] == 0 and bounds[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    assert all(data[stop - 1 : stop] == b"\n" for _, stop in bounds[:-1])
    with decode.decode_pool([path], "gb18030") as pool:
        assert pool is not None
        decode.transcode_to_utf8(path, "gb18030", tmp_path / "out.txt", pool)
        assert (tmp_path / "out.txt").read_bytes() == data.decode("gb18030").encode("utf-8")
        # 0xFF never starts a GB18030 character; planted at two line starts, the later
        # one is not the one named
        planted, later = bounds[7][0], bounds[12][0]
        path.write_bytes(data[:planted] + b"\xff" + data[planted:later] + b"\xff" + data[later:])
        with pytest.raises(UserError) as serial:
            decode.transcode_to_utf8(path, "gb18030", tmp_path / "serial.txt")
        with pytest.raises(UserError) as pooled:
            decode.transcode_to_utf8(path, "gb18030", tmp_path / "pooled.txt", pool)
    assert str(pooled.value) == str(serial.value)
    assert f"byte offset {planted} (bytes ff" in str(pooled.value)


def test_decode_pool_only_for_large_files_in_splittable_encodings(tmp_path, monkeypatch):
    small = tmp_path / "small.csv"
    small.write_bytes(gb18030_lines(10, seed=1))
    assert decode.decode_pool([small], "gb18030") is None  # below PARALLEL_MIN_BYTES
    monkeypatch.setattr(decode, "PARALLEL_MIN_BYTES", 0)
    assert decode.decode_pool([small], "utf-16") is None  # b"\n" can sit inside a character
    with decode.decode_pool([small], "gb18030") as pool:
        assert pool is not None


# --- user errors -------------------------------------------------------------------------


def test_missing_file_empty_glob_and_absent_column(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cols = {"customer_id": "id", "date": "date", "amount": "amount"}
    write_mapping(tmp_path, files=["nope.csv"], columns=cols)
    with pytest.raises(UserError, match=r"mapping\.yaml: files: 'nope\.csv' not found"):
        ingest_pure("mapping.yaml")
    write_mapping(tmp_path, files=["raw/*.csv"], columns=cols)
    with pytest.raises(UserError, match=r"'raw/\*\.csv' matches no file"):
        ingest_pure("mapping.yaml")
    Path("t.csv").write_text("id,day,amount\nA,2024-01-01,1\n", encoding="utf-8")
    write_mapping(tmp_path, files=["t.csv"], columns=cols)
    with pytest.raises(UserError, match=r"t\.csv: column 'date' .* columns found: id, day, amount"):
        ingest_pure("mapping.yaml")


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"colums": {}}, "key 'colums': unknown key"),
        ({"format": "xml"}, "key 'format': expected one of"),
        ({"encoding": "klingon"}, "key 'encoding': unknown encoding"),
        ({"columns": {"customer_id": "id", "date": "d"}}, "key 'columns.amount'"),
        ({"header": False}, r"key 'columns\.\w+': expected a 0-based column position"),
    ],
)
def test_bad_mapping_keys_name_file_and_key(tmp_path, keys, message):
    base = {"files": ["x.csv"], "columns": {"customer_id": "id", "date": "d", "amount": "a"}}
    path = write_mapping(tmp_path, **{**base, **keys})
    with pytest.raises(UserError, match=rf"mapping\.yaml: {message}"):
        load_mapping(path)


def test_failure_writes_nothing_and_keeps_previous_outputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for out in OUTPUTS:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text("previous run\n", encoding="utf-8")
    Path("t.csv").write_text("id,date,amount\nA,2024-01-01,1\n", encoding="utf-8")
    write_mapping(
        tmp_path, files=["t.csv"], columns={"customer_id": "id", "date": "x", "amount": "amount"}
    )
    with pytest.raises(UserError):
        run(params())
    assert all(Path(out).read_text(encoding="utf-8") == "previous run\n" for out in OUTPUTS)
    leftovers = [p for p in tmp_path.rglob("*.tmp")]
    assert leftovers == []


def test_reject_rate_above_limit_fails_keeping_the_previous_run_whole(tmp_path, monkeypatch):
    for name in ("dirty.csv", "dirty.yaml"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    run(params("dirty.yaml", max_reject_rate=1.0))  # a previous run that succeeded
    before = {out: Path(out).read_bytes() for out in OUTPUTS}
    with pytest.raises(
        UserError, match=r"reject rate 66\.67% is above ingest\.max_reject_rate 2\.00%"
    ):
        run(params("dirty.yaml", max_reject_rate=0.02))
    assert {out: Path(out).read_bytes() for out in OUTPUTS} == before  # untouched, together
    failed = pd.read_csv("data/interim/rejects.failed.csv", dtype={"raw": str})
    assert sorted(failed["line"]) == [4, 5, 6, 7, 8, 9, 11]
    run(params("dirty.yaml", max_reject_rate=1.0))  # a success clears the failed rejects
    assert not Path("data/interim/rejects.failed.csv").exists()


def test_first_failed_run_writes_only_the_failed_rejects(tmp_path, monkeypatch):
    for name in ("dirty.csv", "dirty.yaml"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="rejects.failed.csv"):
        run(params("dirty.yaml", max_reject_rate=0.02))
    assert not any(Path(out).exists() for out in OUTPUTS)
    assert Path("data/interim/rejects.failed.csv").is_file()


def test_cleaning_sql_transpiles_to_spark():
    query = sql.clean_transactions_sql(
        date_format="%Y%m%d",
        thousands=",",
        decimal=".",
        extract_date=dt.date(2025, 12, 31),
        negative=("贷",),
        keep=("正常",),
    )
    spark = sqlglot.transpile(query, read="duckdb", write="spark")[0]
    assert "TRY_STRPTIME(" in spark  # left for the Spark engine to map to TRY_TO_TIMESTAMP
    assert sql.spark_date_format("%Y%m%d") == "yyyyMMdd"
    assert "RLIKE" in spark  # regexp_matches -> RLIKE
    sqlglot.parse_one(spark, read="spark")  # valid Spark SQL
