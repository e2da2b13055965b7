"""Ingest's fast reader (DuckDB's CSV parser + line alignment) against the slow one.

The slow reader splits every physical line with SQL and is the reference: on the same files
both must give the same accepted rows and the same rejects (line numbers and raw text
included). Counts are also checked against the generator's own record of what it wrote.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import TEST_DATA
from ingest import lines, read
from synthetic import bank as synthetic
from test_ingest import ingest_pure, write_mapping

FIXTURES = TEST_DATA / "ingest"


def slow_only(monkeypatch) -> None:
    """Make every text file go through the slow, line-by-line SQL reader."""
    monkeypatch.setattr(read, "_insert_parsed_file", lambda *args, **kwargs: None)


def both_paths(monkeypatch, mapping: str):
    """(accepted, rejects, metrics) read fast, then slow; the fast path must be taken."""
    taken = []
    original = read._insert_parsed_file
    with monkeypatch.context() as patch:
        patch.setattr(
            read,
            "_insert_parsed_file",
            lambda *a, **k: taken.append(original(*a, **k)) or taken[-1],
        )
        fast = ingest_pure(mapping)
    assert taken and all(rows is not None for rows in taken)  # no file fell back
    with monkeypatch.context() as patch:
        slow_only(patch)
        slow = ingest_pure(mapping)
    return fast, slow


def assert_same(fast, slow) -> None:
    (fast_acc, fast_rej, fast_metrics), (slow_acc, slow_rej, slow_metrics) = fast, slow
    pd.testing.assert_frame_equal(fast_acc, slow_acc)
    pd.testing.assert_frame_equal(fast_rej, slow_rej)
    assert fast_metrics == slow_metrics


def test_fast_and_slow_paths_agree_on_dirty_fixture(tmp_path, monkeypatch):
    for name in ("dirty.csv", "dirty.yaml"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    fast, slow = both_paths(monkeypatch, "dirty.yaml")
    assert_same(fast, slow)
    assert len(fast[1]) == 7  # the seven hand-counted rejects of test_ingest.py


EDGES = (
    "id,date,amount,note\r\n"  # line 1, CRLF line ends throughout
    'A,2024-01-01,"1,000.50",x\r\n'  # 2: quoted thousands
    "\r\n"  # 3: empty line, skipped
    "B,2024-01-02,2\r\n"  # 4: truncated_row
    "   \r\n"  # 5: blanks only, skipped
    ",,,\r\n"  # 6: delimiters only, skipped
    'C,2024-01-03,3,"say ""hi"""\r\n'  # 7: escaped quotes
    "D,2024-01-04,4,x,extra\r\n"  # 8: extra_fields
    'E,2024-01-05,5,ab"c\r\n'  # 9: a stray quote inside an unquoted field (accepted)
    '"",2024-01-06,6,""\r\n'  # 10: quoted empty id: blank_customer_id, not skipped
    "F,2024-01-07,7,y"  # 11: no newline at the end
)


def test_edge_cases_line_numbers_and_raw_text(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("edges.csv").write_bytes(EDGES.encode("utf-8"))
    write_mapping(
        tmp_path,
        files=["edges.csv"],
        thousands=",",
        columns={"customer_id": "id", "date": "date", "amount": "amount"},
    )
    fast, slow = both_paths(monkeypatch, "mapping.yaml")
    assert_same(fast, slow)
    accepted, rejects, metrics = fast
    assert accepted["customer_id"].tolist() == ["A", "C", "E", "F"]
    assert accepted["amount"].tolist() == [1000.5, 3.0, 5.0, 7.0]
    assert rejects[["line", "reason", "raw"]].values.tolist() == [
        [4, "truncated_row", "B,2024-01-02,2"],
        [8, "extra_fields", "D,2024-01-04,4,x,extra"],
        [10, "blank_customer_id", '"",2024-01-06,6,""'],
    ]
    assert metrics["rows_read"] == 7 == metrics["rows_accepted"] + metrics["rows_rejected"]


def test_quoted_newline_reads_the_file_as_rfc4180_records(tmp_path, monkeypatch):
    # a quoted field spanning two lines breaks the row <-> line alignment: the file is read
    # as RFC 4180 records instead: line 3 is one record with amount "2\n0" (not a number)
    monkeypatch.chdir(tmp_path)
    Path("nl.csv").write_text(
        'id,date,amount\nA,2024-01-01,1\nB,2024-01-02,"2\n0"\nC,2024-01-03,3\n', encoding="utf-8"
    )
    write_mapping(
        tmp_path,
        files=["nl.csv"],
        columns={"customer_id": "id", "date": "date", "amount": "amount"},
    )
    calls = []
    original = read._insert_records
    monkeypatch.setattr(
        read,
        "_insert_records",
        lambda con, file_id, *a: calls.append(file_id) or original(con, file_id, *a),
    )
    accepted, rejects, metrics = ingest_pure("mapping.yaml")
    assert calls == [0]  # the whole file went through the record reader
    assert accepted["customer_id"].tolist() == ["A", "C"]
    assert rejects[["line", "reason", "raw"]].values.tolist() == [
        [3, "bad_amount", 'B,2024-01-02,"2\n0"'],
    ]
    assert metrics["rows_read"] == 3


def test_generated_bank_extract_matches_generator_truth_on_both_paths(tmp_path, monkeypatch):
    # GB18030 monthly files with quoted amounts, dirty rows of every kind, reversals and a
    # truncated last line; the generator records what ingest must report
    extract = synthetic.generate(300, "2025-01-01", "2025-06-30", seed=7)
    extract = synthetic.add_dirty_rows(extract, rate=0.02, seed=7)
    synthetic.write_bank_extract(extract, tmp_path / "bank")
    truth = json.loads((tmp_path / "bank" / "true_params.json").read_text("utf-8"))
    expected = truth["expected_ingest"]
    monkeypatch.chdir(tmp_path)
    mapping = yaml.safe_load(
        (Path(__file__).parents[1] / "mappings" / "sample_transactions.yaml").read_text("utf-8")
    )
    mapping.update(files=["bank/transactions_*.csv"], extract_date=truth["extract_date"])
    Path("mapping.yaml").write_text(yaml.safe_dump(mapping, allow_unicode=True), "utf-8")
    fast, slow = both_paths(monkeypatch, "mapping.yaml")
    assert_same(fast, slow)
    accepted, rejects, metrics = fast
    assert metrics["rows_read"] == expected["rows_read"]
    assert metrics["rows_read"] == metrics["rows_accepted"] + metrics["rows_rejected"]
    assert metrics["rows_accepted"] == expected["rows_accepted"] == len(accepted)
    for reason, count in expected["rejected_by_reason"].items():
        assert metrics["rejected_by_reason"][reason] == count, reason
    assert metrics["customers"] == expected["customers"]
    # every reject's raw text is its line in the source file (decoded independently)
    for source, group in rejects.groupby("source_file"):
        text = Path(source).read_bytes().decode("gb18030").split("\n")
        assert group["raw"].tolist() == [text[line - 1] for line in group["line"]]
    # the accepted amounts are the generator's 正常 rows
    normal = extract.transactions[extract.transactions["status"] == "正常"]
    assert accepted["amount"].sum() == pytest.approx(normal["amount"].sum())


STREAM_FILES = {
    "a.csv": (
        "txn,id,date,amount\n"  # 1
        "T1,A,2024-01-01,1\n"  # 2: accepted
        "\n"  # 3: empty, skipped
        "T2,B,2024-01-02,2,extra\n"  # 4: the parser rejects it: extra_fields
        "T1,C,2024-01-03,3\n"  # 5: duplicate_txn_id of line 2 (found after two skips)
        " , ,  ,\n"  # 6: blanks and delimiters only, skipped
        "T3,D,2024-01-04,x\n"  # 7: bad_amount
        "T3,E,2024-01-05,5\n"  # 8: accepted, the first accepted T3
        "T4,F,2024-01-06,6\n"  # 9: accepted
        '"","",2024-01-07,7\n'  # 10: quoted empty id: blank_customer_id
    ),
    "b.csv": (
        "txn,id,date,amount\n"
        "T4,G,2024-01-08,8\n"  # 2: duplicate_txn_id of a.csv line 9
        "T5,H,2024-01-09,9\n"  # 3: accepted
    ),
    "c.csv": (  # a quoted newline: read as RFC 4180 records
        "txn,id,date,amount\n"
        'T5,I,2024-01-10,"1\n0"\n'  # 2-3: bad_amount, not a duplicate of b.csv line 3
        "T6,J,2024-01-11,11\n"  # 4: accepted
        "T6,K,2024-01-12,12\n"  # 5: duplicate_txn_id
    ),
}


def test_streamed_cleaning_equals_cleaning_the_raw_view(tmp_path, monkeypatch):
    # the stage classifies rows as the CSV parser streams and resolves duplicates after;
    # the reference reads the raw fields into a view and cleans it with the one query the
    # Spark engine runs. Skipped lines, parser rejects, a fallback file and duplicates
    # across files all bear on the line numbers and on which duplicate is kept
    import duckdb

    from ingest import load_mapping

    monkeypatch.chdir(tmp_path)
    for name, text in STREAM_FILES.items():
        Path(name).write_text(text, "utf-8")
    write_mapping(
        tmp_path,
        files=["*.csv"],
        columns={"customer_id": "id", "date": "date", "amount": "amount", "txn_id": "txn"},
    )
    taken = {}
    original = read._insert_parsed_file

    def recorded(con, file_id, *a, **k):
        taken[file_id] = original(con, file_id, *a, **k)
        return taken[file_id]

    monkeypatch.setattr(read, "_insert_parsed_file", recorded)
    streamed = ingest_pure("mapping.yaml")
    assert {i: rows is not None for i, rows in taken.items()} == {0: True, 1: True, 2: False}
    assert_same(streamed, ingest_pure("mapping.yaml", streamed=False))
    accepted, rejects, metrics = streamed
    assert accepted["customer_id"].tolist() == ["A", "E", "F", "H", "J"]
    assert rejects[["source_file", "line", "reason"]].values.tolist() == [
        ["a.csv", 4, "extra_fields"],
        ["a.csv", 5, "duplicate_txn_id"],
        ["a.csv", 7, "bad_amount"],
        ["a.csv", 10, "blank_customer_id"],
        ["b.csv", 2, "duplicate_txn_id"],
        ["c.csv", 2, "bad_amount"],
        ["c.csv", 5, "duplicate_txn_id"],
    ]
    assert rejects["raw"].tolist()[:2] == ["T2,B,2024-01-02,2,extra", "T1,C,2024-01-03,3"]
    assert metrics["rows_read"] == 12 == metrics["rows_accepted"] + metrics["rows_rejected"]
    # the per-file table holds classified rows, not the raw fields
    con = duckdb.connect()
    from ingest.clean import read_clean_transactions

    read_clean_transactions(con, load_mapping("mapping.yaml"), dt.date(2030, 1, 1))
    columns = [r[0] for r in con.execute("DESCRIBE extract_parsed_0").fetchall()]
    assert "first_reason" in columns and "n_fields" not in columns


@pytest.mark.parametrize("block", [3, 7, 1 << 20])
def test_line_scan_and_fetch_across_blocks(tmp_path, monkeypatch, block):
    monkeypatch.setattr(lines, "BLOCK_BYTES", block)
    path = tmp_path / "t.txt"
    path.write_bytes("头,1\r\n\r\nab\n\nlast 行".encode())
    scan = lines.scan_lines(path)
    assert scan.lines == 5
    assert scan.blank.tolist() == [2, 4]
    assert lines.fetch_lines(path, np.array([1, 3, 5])) == ["头,1", "ab", "last 行"]
    with pytest.raises(ValueError, match="line 6"):
        lines.fetch_lines(path, np.array([6]))


def test_converted_files_are_removed_with_the_connection(tmp_path, monkeypatch):
    import duckdb

    from ingest import load_mapping, read_extract
    from ingest.clean import TRANSACTION_ROLES

    monkeypatch.chdir(tmp_path)
    Path("gb.csv").write_bytes("客户,日期,金额\n张三,2024-01-02,1\n".encode("gb18030"))
    write_mapping(
        tmp_path,
        files=["gb.csv"],
        encoding="gb18030",
        columns={"customer_id": "客户", "date": "日期", "amount": "金额"},
    )
    con = duckdb.connect()
    read_extract(load_mapping("mapping.yaml"), con, TRANSACTION_ROLES)
    (text_file,) = con.execute("SELECT text_file FROM extract_files").fetchall()[0]
    assert Path(text_file).read_text("utf-8") == "客户,日期,金额\n张三,2024-01-02,1\n"
    con.close()
    del con
    assert not Path(text_file).exists()


def test_reading_the_files_reports_progress_in_bytes(tmp_path, monkeypatch, caplog):
    import logging

    import duckdb

    from ingest import load_mapping, read_extract
    from ingest.clean import TRANSACTION_ROLES

    monkeypatch.chdir(tmp_path)
    sizes = []
    for i, rows in enumerate((3, 40, 7)):
        body = "".join(f"c{r},2024-01-{1 + r % 28:02d},{r}.5\n" for r in range(rows))
        Path(f"part{i}.csv").write_text("id,date,amount\n" + body, "utf-8")
        sizes.append(Path(f"part{i}.csv").stat().st_size)
    write_mapping(
        tmp_path,
        files=["part*.csv"],
        columns={"customer_id": "id", "date": "date", "amount": "amount"},
    )
    with caplog.at_level(logging.INFO, logger="kequn.ingest"):
        read_extract(load_mapping("mapping.yaml"), duckdb.connect(), TRANSACTION_ROLES)
    seen = [r.getMessage() for r in caplog.records if r.getMessage().startswith("bytes read")]
    total = sum(sizes)
    # three files (fewer than a report every 10): one line at the end, every byte counted
    assert len(seen) == 1
    assert seen[0].startswith(
        f"bytes read from the extract files: {total:,}/{total:,} (100%) in 3 chunk(s), "
    )
