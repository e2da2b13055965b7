"""Ingest rules found by the reliability test: each bad case of issue 19 has a test here."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import BLANK_CHARS, TRIM_CASES, random_texts
from ingest import clean_transactions, ingest_metrics, load_mapping, read_extract
from ingest import sql as ingest_sql
from ingest.clean import TRANSACTION_ROLES, read_clean_transactions
from kequn.errors import UserError

HEADER = "id,date,amount,txn\n"


def ingest_text(tmp_path: Path, body: str, **keys):
    """Write ``t.csv`` (HEADER + body) and a mapping with ``keys``; read and clean it."""
    (tmp_path / "t.csv").write_text(HEADER + body, encoding="utf-8")
    mapping = {
        "files": [str(tmp_path / "t.csv")],
        "columns": {"customer_id": "id", "date": "date", "amount": "amount", "txn_id": "txn"},
        "date_format": "%Y%m%d",
        "thousands": ",",
        "extract_date": "2025-12-31",
        **keys,
    }
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(mapping), encoding="utf-8")
    loaded = load_mapping(path)
    con = duckdb.connect()
    files, accepted, rejects = read_clean_transactions(con, loaded, loaded.extract_date)
    return accepted.df(), rejects.df(), ingest_metrics(con, files)


def reasons(rejects: pd.DataFrame) -> dict[int, str]:
    return dict(zip(rejects["line"].astype(int), rejects["reason"], strict=True))


def test_misgrouped_thousands_is_rejected_not_read_as_digits(tmp_path):
    accepted, rejects, _ = ingest_text(
        tmp_path, 'A,20250101,"1,2,3",T1\nA,20250102,"1,234.50",T2\nA,20250103,"12,34",T3\n'
    )
    assert reasons(rejects) == {2: "bad_amount", 4: "bad_amount"}
    assert accepted["amount"].tolist() == [1234.5]


def test_seven_digit_date_is_rejected(tmp_path):
    accepted, rejects, _ = ingest_text(tmp_path, "A,2023011,5,T1\nA,20230110,5,T2\n")
    assert reasons(rejects) == {2: "bad_date"}
    assert accepted["date"].tolist() == [pd.Timestamp("2023-01-10")]


def test_dates_before_the_window_are_rejected(tmp_path):
    body = "A,18000101,5,T1\nA,19890101,5,T2\nA,19900101,5,T3\n"
    _, rejects, _ = ingest_text(tmp_path, body)
    assert reasons(rejects) == {2: "date_before_min"}  # default window starts 1900-01-01
    _, rejects, _ = ingest_text(tmp_path, body, min_date="1990-01-01")
    assert reasons(rejects) == {2: "date_before_min", 3: "date_before_min"}


def test_trailing_tab_in_id_is_trimmed_like_spaces(tmp_path):
    accepted, rejects, _ = ingest_text(tmp_path, "A\t,20250101,5,T1\n A ,20250102,6,T2\n")
    assert rejects.empty
    assert accepted["customer_id"].tolist() == ["A", "A"]


def test_strip_removes_only_the_blank_set_at_both_ends():
    """Each value trimmed exactly as TRIM_CASES says (DuckDB)."""
    values = [value for value, _ in TRIM_CASES]
    con = duckdb.connect()
    con.register("t", pd.DataFrame({"i": range(len(values)), "x": pd.Series(values, dtype=object)}))
    got = [
        r[0] for r in con.execute(f"SELECT {ingest_sql.strip('x')} FROM t ORDER BY i").fetchall()
    ]
    assert got == [trimmed for _, trimmed in TRIM_CASES]


def test_strip_equals_trim_with_the_blank_set_on_random_texts():
    """strip's fast path (no trim when neither end is a blank) gives, for every text,
    what Python's str.strip(blanks) and DuckDB's trim(x, blanks) give."""
    texts = random_texts(20_000, seed=19)
    changed = sum(t != t.strip(BLANK_CHARS) for t in texts)
    assert 0.3 * len(texts) < changed < 0.8 * len(texts)  # both branches are exercised
    con = duckdb.connect()
    frame = pd.DataFrame({"i": range(len(texts) + 1), "x": pd.Series(texts + [None], dtype=object)})
    con.register("t", frame)
    got = con.execute(
        f"SELECT {ingest_sql.strip('x')}, trim(x, {ingest_sql.BLANKS}) FROM t ORDER BY i"
    ).fetchall()
    assert [fast for fast, _ in got] == [t.strip(BLANK_CHARS) for t in texts] + [None]
    assert [fast for fast, _ in got] == [slow for _, slow in got]


def number_by_the_rule(text: str | None, thousands: str, decimal: str) -> float | None:
    """The amount rule written out in Python's ``re``: after stripping blanks and spaces,
    ``t`` (no separators, decimal mark as ".") must be a plain number, and a text holding a
    separator must group digits by three: ``A(t) AND (no separator OR G(s))``."""
    import re

    if text is None:
        return None
    s = text.strip(BLANK_CHARS).replace(" ", "")
    t = s.replace(thousands, "") if thousands else s
    t = t.replace(decimal, ".") if decimal != "." else t
    plain = re.fullmatch(r"[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)", t)
    grouped = not thousands or thousands not in s
    if thousands and not grouped:
        t_, d_ = re.escape(thousands), re.escape(decimal)
        grouped = re.fullmatch(rf"[+-]?[0-9]{{1,3}}({t_}[0-9]{{3}})+({d_}[0-9]*)?", s) is not None
    return float(t) if plain and grouped else None


@pytest.mark.parametrize("thousands, decimal", [(",", "."), ("", "."), (".", ","), (" ", ",")])
def test_parse_number_equals_the_two_pattern_rule_on_random_texts(thousands, decimal):
    """parse_number (one regular expression per value) gives the value of the rule
    ``A(t) AND (no separator OR G(s))`` for every text of digits, signs, marks and blanks,
    accepting some and rejecting some."""
    rng = np.random.default_rng(1919)
    alphabet = list("0123456789") * 3 + list("+-.,  e")
    texts = ["", "1,234.50", "1.234,50", "1 234,5", "1,2,3", "+.5", "-7.", "12,34"]
    for _ in range(20_000):
        body = "".join(rng.choice(alphabet, size=rng.integers(1, 10)))
        texts.append(" " * rng.integers(0, 2) + body + " " * rng.integers(0, 2))
    con = duckdb.connect()
    frame = pd.DataFrame({"i": range(len(texts) + 1), "x": pd.Series(texts + [None], dtype=object)})
    con.register("t", frame)
    expr = ingest_sql.parse_number("x", thousands, decimal)
    got = [r[0] for r in con.execute(f"SELECT {expr} FROM t ORDER BY i").fetchall()]
    expected = [number_by_the_rule(t, thousands, decimal) for t in texts + [None]]
    assert got == expected
    accepted = sum(v is not None for v in expected)
    assert 0.05 * len(texts) < accepted < 0.95 * len(texts)  # both outcomes are exercised


def test_cleaning_trims_ids_and_products_by_the_blank_set(tmp_path):
    """Through the whole cleaning query: NBSP / ideographic space trimmed, a zero-width
    space kept, an interior space kept, an id of blanks only rejected as blank."""
    body = (
        "\u00a0A\u3000,20250101,5,T1, x y\u3000\n"
        "\u200bB,20250102,6,T2,p\n"
        "\u3000\u00a0 ,20250103,7,T3,p\n"
    )
    (tmp_path / "t.csv").write_text("id,date,amount,txn,product\n" + body, encoding="utf-8")
    mapping = {
        "files": [str(tmp_path / "t.csv")],
        "columns": {
            "customer_id": "id",
            "date": "date",
            "amount": "amount",
            "txn_id": "txn",
            "product": "product",
        },
        "date_format": "%Y%m%d",
        "extract_date": "2025-12-31",
    }
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8")
    loaded = load_mapping(path)
    con = duckdb.connect()
    read_extract(loaded, con, TRANSACTION_ROLES)
    accepted, rejects = clean_transactions(con, loaded, loaded.extract_date)
    accepted, rejects = accepted.df(), rejects.df()
    assert accepted["customer_id"].tolist() == ["A", "\u200bB"]
    assert accepted["product"].tolist() == ["x y", "p"]
    assert reasons(rejects) == {4: "blank_customer_id"}


def test_ids_longer_than_the_limit_are_rejected(tmp_path):
    body = f"{'X' * 9},20250101,5,T1\n{'Y' * 8},20250101,5,T2\nZ,20250101,5,{'T' * 9}\n"
    accepted, rejects, _ = ingest_text(tmp_path, body, max_id_length=8)
    assert reasons(rejects) == {2: "id_too_long", 4: "id_too_long"}
    assert accepted["customer_id"].tolist() == ["Y" * 8]
    _, rejects, _ = ingest_text(tmp_path, f"{'X' * 65},20250101,5,T1\n")
    assert reasons(rejects) == {2: "id_too_long"}  # default 64


@pytest.mark.parametrize(
    ("rule", "expected_rejects", "kept"),
    [
        ("keep", {}, [-3.0, 0.0, 5.0]),
        ("reject", {2: "negative_amount", 3: "zero_amount"}, [5.0]),
        ("return", {3: "zero_amount"}, [-3.0, 5.0]),
    ],
)
def test_non_positive_amount_rule(tmp_path, rule, expected_rejects, kept):
    body = "A,20250101,-3,T1\nA,20250102,0,T2\nA,20250103,5,T3\n"
    accepted, rejects, metrics = ingest_text(tmp_path, body, non_positive_amounts=rule)
    assert reasons(rejects) == expected_rejects
    assert accepted["amount"].tolist() == kept
    assert metrics["amounts_negative"] == sum(a < 0 for a in kept)
    assert metrics["amounts_zero"] == sum(a == 0 for a in kept)


#: returns netted off (hand-worked): A's return of 30 goes to its latest purchase of at
#: least 30 (T2, 40 -> 10); A's next return of 15 would take T2 past its 40, so it is not
#: netted; B's return precedes every purchase of B; C's return of 25 undoes T4 in full.
NETTING_BODY = (
    "A,20250101,100,T1\n"
    "A,20250105,40,T2\n"
    "A,20250110,-30,R1\n"
    "A,20250111,-15,R2\n"
    "B,20250102,-5,R3\n"
    "B,20250103,20,T3\n"
    "C,20250104,25,T4\n"
    "C,20250106,-25,R4\n"
    "A,20250112,0,T5\n"
)


def test_returns_net_off_against_the_purchase_they_return(tmp_path):
    accepted, rejects, metrics = ingest_text(tmp_path, NETTING_BODY, non_positive_amounts="net")
    assert dict(zip(accepted["txn_id"], accepted["amount"], strict=True)) == {
        "T1": 100.0,
        "T2": 10.0,
        "T3": 20.0,
    }
    assert reasons(rejects) == {5: "unmatched_return", 6: "unmatched_return", 10: "zero_amount"}
    # netted returns (lines 4, 9) and the purchase returned in full (line 8) are excluded
    assert (metrics["rows_read"], metrics["rows_accepted"]) == (9, 3)
    assert (metrics["rows_excluded"], metrics["rows_rejected"]) == (3, 3)
    assert metrics["rejected_by_reason"]["unmatched_return"] == 2
    assert metrics["amounts_negative"] == 0


def test_netting_matches_the_product_when_it_is_mapped(tmp_path):
    """The same return of 30 against two purchases of 40: it goes to the latest purchase
    of its own product (P1 on 01-02), not to the later purchase of another product."""
    (tmp_path / "p.csv").write_text(
        "id,date,amount,txn,prod\n"
        "A,20250101,40,T1,P2\n"
        "A,20250102,40,T2,P1\n"
        "A,20250103,40,T3,P2\n"
        "A,20250110,-30,R1,P1\n"
        "A,20250111,-30,R2,P3\n",
        encoding="utf-8",
    )
    columns = {"customer_id": "id", "date": "date", "amount": "amount", "txn_id": "txn"}
    mapping = {
        "files": [str(tmp_path / "p.csv")],
        "columns": {**columns, "product": "prod"},
        "date_format": "%Y%m%d",
        "extract_date": "2025-12-31",
        "non_positive_amounts": "net",
    }
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(mapping), encoding="utf-8")
    loaded = load_mapping(tmp_path / "m.yaml")
    con = duckdb.connect()
    read_extract(loaded, con, TRANSACTION_ROLES)
    accepted, rejects = (r.df() for r in clean_transactions(con, loaded, loaded.extract_date))
    assert accepted["amount"].tolist() == [40.0, 10.0, 40.0]
    assert reasons(rejects) == {6: "unmatched_return"}  # no purchase of P3


def test_retail_cancellations_net_or_are_rejected_unmatched(tmp_path):
    """In the retail fixture neither cancellation has an earlier purchase of its stock
    code by its customer, so under ``net`` both are rejected, not silently dropped."""
    accepted, rejects, metrics = _retail(tmp_path, non_positive_amounts="net")
    assert reasons(rejects) == {
        14: "unmatched_return",
        15: "unmatched_return",
        17: "bad_date",
        19: "bad_amount",
    }
    assert metrics["rows_read"] == 19
    assert (metrics["rows_excluded"], metrics["rows_rejected"], metrics["rows_accepted"]) == (
        3,
        4,
        12,
    )
    assert not (accepted["amount"] < 0).any()


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"min_date": "1800-13-01"}, "key 'min_date': expected YYYY-MM-DD"),
        ({"min_date": "2026-01-01"}, "key 'min_date': 2026-01-01 must be before extract_date"),
        ({"max_id_length": 0}, "key 'max_id_length': expected a positive whole number"),
        ({"non_positive_amounts": "drop"}, "key 'non_positive_amounts': expected one of"),
    ],
)
def test_new_mapping_keys_are_validated(tmp_path, keys, message):
    with pytest.raises(UserError, match=message):
        ingest_text(tmp_path, "A,20250101,5,T1\n", **keys)


def test_quoted_newline_is_one_record_and_rows_read_counts_records(tmp_path):
    body = (
        'A,20250101,5,"T1"\n'
        'B,20250102,6,"T2 first line\nsecond line, with a comma"\n'
        "\n"
        'C,20250103,"1,2,3",T3\n'
        'D,20250104,7,"T4 ""quoted""\r\nagain"\n'
        "E,20250105,8,T5\n"
    )
    accepted, rejects, metrics = ingest_text(tmp_path, body)
    assert metrics["rows_read"] == 5  # records, not the 7 non-blank physical lines
    assert metrics["rows_read"] == metrics["rows_accepted"] + metrics["rows_rejected"]
    assert reasons(rejects) == {6: "bad_amount"}  # numbered by the record's first line
    assert rejects["raw"].item() == 'C,20250103,"1,2,3",T3'
    assert accepted["customer_id"].tolist() == ["A", "B", "D", "E"]
    assert accepted["txn_id"].tolist()[1:3] == [
        "T2 first line\nsecond line, with a comma",
        'T4 "quoted"\r\nagain',
    ]


def _stage_params(mapping: str, **keys) -> dict:
    return {"ingest": {"mapping": mapping, "clients_mapping": "", "max_reject_rate": 1.0, **keys}}


@pytest.mark.parametrize(
    "pattern", ["{outside}/secret.csv", "../outside/secret.csv", "../*/secret.csv"]
)
def test_files_outside_the_project_are_refused_without_echo(tmp_path, monkeypatch, pattern):
    from ingest.stage import run

    project, outside = tmp_path / "project", tmp_path / "outside"
    project.mkdir()
    outside.mkdir()
    (outside / "secret.csv").write_text("id,date,amount\nTOPSECRET,x,y\n", encoding="utf-8")
    monkeypatch.chdir(project)
    files = [pattern.format(outside=outside)]
    mapping = {"files": files, "columns": {"customer_id": "id", "date": "d", "amount": "a"}}
    Path("m.yaml").write_text(yaml.safe_dump(mapping), encoding="utf-8")
    with pytest.raises(UserError) as caught:
        run(_stage_params("m.yaml"))
    message = str(caught.value)
    assert "outside the project" in message and "ingest.allowed_roots" in message
    assert "TOPSECRET" not in message
    assert not Path("data").exists()  # nothing written, no rejects.csv
    # listed in allowed_roots, the same file is read (and its bad header reported)
    with pytest.raises(UserError, match="not found; columns found: id, date, amount"):
        run(_stage_params("m.yaml", allowed_roots=[str(outside)]))


def test_allowed_roots_is_validated(tmp_path, monkeypatch):
    from ingest.read import allowed_roots

    monkeypatch.chdir(tmp_path)
    assert allowed_roots(None) == (tmp_path,)
    with pytest.raises(UserError, match="ingest.allowed_roots.*list of folder paths"):
        allowed_roots("/data")
    with pytest.raises(UserError, match="ingest.allowed_roots: 'nope' is not a folder"):
        allowed_roots(["nope"])


def test_dvc_ingest_deps_cover_every_mapping_glob():
    from conftest import REPO_ROOT
    from ingest.read import untracked_patterns

    dvc = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    deps = [str(d) for d in dvc["stages"]["ingest"]["deps"]]
    assert "mappings" in deps
    mappings = sorted((REPO_ROOT / "mappings").glob("*.yaml"))
    assert mappings
    for path in mappings:
        files = yaml.safe_load(path.read_text(encoding="utf-8"))["files"]
        assert untracked_patterns(files, deps) == [], path.name


def test_untracked_patterns_finds_what_deps_miss():
    from ingest.read import untracked_patterns

    deps = ["data/raw", "data/sample/clients.csv"]
    patterns = ["data/raw/2025/*.csv", "data/sample/clients.csv", "data/*.csv", "elsewhere/x.csv"]
    assert untracked_patterns(patterns, deps) == ["data/*.csv", "elsewhere/x.csv"]


# --- a line-level retail extract (tests/data/ingest/online_retail.csv, UCI layout) -------


def _retail(tmp_path, **changes):
    from conftest import TEST_DATA

    keys = yaml.safe_load((TEST_DATA / "ingest/online_retail.yaml").read_text("utf-8"))
    keys = {**keys, "files": [str(TEST_DATA / "ingest/online_retail.csv")], **changes}
    path = tmp_path / "retail.yaml"
    path.write_text(yaml.safe_dump(keys), encoding="utf-8")
    loaded = load_mapping(path)
    con = duckdb.connect()
    files = read_extract(loaded, con, TRANSACTION_ROLES)
    accepted, rejects = clean_transactions(con, loaded, loaded.extract_date)
    return accepted.df(), rejects.df(), ingest_metrics(con, files)


def test_retail_lines_map_without_preprocessing_and_reconcile(tmp_path):
    accepted, rejects, metrics = _retail(tmp_path)
    # 19 records: 3 guest lines excluded, 2 rejected, 14 accepted lines in 10 invoices
    assert metrics["rows_read"] == 19
    assert (metrics["rows_excluded"], metrics["rows_rejected"], metrics["rows_accepted"]) == (
        3,
        2,
        14,
    )
    assert metrics["rows_read"] == (
        metrics["rows_accepted"] + metrics["rows_excluded"] + metrics["rows_rejected"]
    )
    assert reasons(rejects) == {17: "bad_date", 19: "bad_amount"}  # 13/1/2010, "eight"
    assert metrics["reject_rate"] == pytest.approx(2 / 16)  # excluded rows are out of scope
    by_invoice = accepted.set_index("txn_id")["amount"]
    assert by_invoice["536365"] == pytest.approx(6 * 2.55 + 6 * 3.39 + 8 * 2.75)
    assert by_invoice["536370"] == pytest.approx(24 * 3.75 + 3 * 18)
    assert by_invoice["536381"] == pytest.approx(36 * 1.06)  # its bad-date line rejected
    assert by_invoice["C536379"] == pytest.approx(-27.5)  # a cancellation, kept negative
    assert len(accepted) == 10 and accepted["txn_id"].is_unique
    assert accepted.set_index("txn_id").loc["536365", "product"] == "85123A"  # first line's
    assert metrics["amounts_negative"] == 2  # lines


def test_retail_cancellations_excluded_by_prefix(tmp_path):
    rules = [{"column": "CustomerID", "blank": True}, {"column": "InvoiceNo", "prefix": "C"}]
    accepted, _, metrics = _retail(tmp_path, exclude=rules)
    assert metrics["rows_excluded"] == 5
    assert not accepted["txn_id"].str.startswith("C").any()
    rules = [{"column": "CustomerID", "blank": True}, {"column": "Quantity", "below": 0}]
    assert _retail(tmp_path, exclude=rules)[2]["rows_excluded"] == 5


def test_lines_without_grouping_are_duplicate_txn_ids(tmp_path):
    _, rejects, metrics = _retail(tmp_path, group_lines=False)
    assert (rejects["reason"] == "duplicate_txn_id").sum() == 4


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"columns": {"customer_id": "id", "date": "d", "amount": "UnitPrice"}}, "unit price"),
        ({"amount": {"add": ["a", "b"]}}, "key 'amount': expected {multiply"),
        ({"exclude": [{"column": "a", "starts": "C"}]}, r"exclude\[0\]"),
        ({"exclude": [{"column": "a", "regex": "("}]}, "not a regular expression"),
        ({"group_lines": True}, "needs columns.txn_id"),
    ],
)
def test_line_level_keys_are_validated(tmp_path, keys, message):
    mapping = {"files": ["x.csv"], "columns": {"customer_id": "id", "date": "d"}, **keys}
    if "amount" not in keys and "amount" not in mapping["columns"]:
        mapping["columns"]["amount"] = "amt"
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(mapping), encoding="utf-8")
    with pytest.raises(UserError, match=message):
        load_mapping(path)


def test_debit_minus_credit(tmp_path):
    (tmp_path / "t.csv").write_text(
        "id,date,debit,credit\nA,20250101,10,\nA,20250102,,4\nA,20250103,5,1\nA,20250104,,\n",
        encoding="utf-8",
    )
    mapping = {
        "files": [str(tmp_path / "t.csv")],
        "columns": {"customer_id": "id", "date": "date"},
        "amount": {"subtract": ["debit", "credit"]},
        "date_format": "%Y%m%d",
    }
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(mapping), encoding="utf-8")
    loaded = load_mapping(tmp_path / "m.yaml")
    con = duckdb.connect()
    read_extract(loaded, con, TRANSACTION_ROLES)
    accepted, rejects = clean_transactions(con, loaded, dt.date(2030, 1, 1))
    assert accepted.df()["amount"].tolist() == [10.0, -4.0, 4.0]
    assert reasons(rejects.df()) == {5: "bad_amount"}


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("online_retail.csv.gz", "csv"),
        ("online_retail.zip", "csv"),
        ("online_retail.xlsx", "excel"),
    ],
)
def test_compressed_and_excel_retail_fixtures_reconcile_like_the_csv(tmp_path, name, fmt):
    from conftest import TEST_DATA

    plain = _retail(tmp_path)
    other = _retail(tmp_path, files=[str(TEST_DATA / "ingest" / name)], format=fmt)
    assert other[2]["rows_read"] == 19
    for key in ("rows_read", "rows_accepted", "rows_excluded", "rows_rejected", "customers"):
        assert other[2][key] == plain[2][key], key
    pd.testing.assert_frame_equal(other[0], plain[0])
    assert other[1][["line", "reason", "raw"]].equals(plain[1][["line", "reason", "raw"]])


def test_zip_with_two_files_is_refused(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "two.zip", "w") as archive:
        archive.writestr("a.csv", HEADER)
        archive.writestr("b.csv", HEADER)
    (tmp_path / "m.yaml").write_text(
        yaml.safe_dump(
            {
                "files": [str(tmp_path / "two.zip")],
                "columns": {"customer_id": "id", "date": "date", "amount": "amount"},
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(UserError, match="two.zip: a zip archive must hold exactly one file"):
        read_extract(load_mapping(tmp_path / "m.yaml"), duckdb.connect(), TRANSACTION_ROLES)


def test_fixed_width_fixture_reconciles(tmp_path):
    from conftest import TEST_DATA

    mapping = {
        "files": [str(TEST_DATA / "ingest/fixed_width.txt")],
        "format": "fixed",
        "header": False,
        "widths": [10, 8, 11, 10],
        "columns": {"customer_id": 0, "date": 1, "amount": 2, "channel": 3},
        "date_format": "%Y%m%d",
        "extract_date": "2025-12-31",
    }
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(mapping), encoding="utf-8")
    loaded = load_mapping(tmp_path / "m.yaml")
    con = duckdb.connect()
    files = read_extract(loaded, con, TRANSACTION_ROLES)
    accepted, rejects = (r.df() for r in clean_transactions(con, loaded, loaded.extract_date))
    metrics = ingest_metrics(con, files)
    assert metrics["rows_read"] == 7  # the blank line 4 is skipped, as in every format
    assert metrics["rows_read"] == metrics["rows_accepted"] + metrics["rows_rejected"]
    assert reasons(rejects) == {
        3: "blank_customer_id",
        5: "bad_date",
        6: "bad_amount",
        7: "truncated_row",
        8: "extra_fields",
    }
    assert accepted["amount"].tolist() == [1234.5, -7.25]
    assert accepted["channel"].tolist() == ["RETAIL", "ONLINE"]


def test_fixed_width_needs_widths(tmp_path):
    columns = {"customer_id": 0, "date": 1, "amount": 2}
    mapping = {"files": ["x"], "format": "fixed", "header": False, "columns": columns}
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(mapping), encoding="utf-8")
    with pytest.raises(UserError, match="key 'widths': format: fixed needs widths"):
        load_mapping(tmp_path / "m.yaml")
