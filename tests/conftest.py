"""Shared fixtures: paths to the bundled test data and one full pipeline run on the sample."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = REPO_ROOT / "tests" / "data"

#: (value, value trimmed) by the ingest's blank set (ingest.sql.BLANKS: space, tab, LF, CR,
#: U+00A0, U+3000) at both ends; other Unicode spaces (em space, zero-width space, vertical
#: tab) and every interior blank are kept
TRIM_CASES = [
    (" a ", "a"),
    ("\ta\t", "a"),
    ("\r\na b\n", "a b"),
    ("\u00a0x\u00a0", "x"),
    ("\u3000客户\u3000", "客户"),
    (" \u3000\t a\u00a0b \r", "a\u00a0b"),
    ("\u200bx\u200b", "\u200bx\u200b"),
    ("\u2003x\u2003", "\u2003x\u2003"),
    ("\x0bx", "\x0bx"),
    (" \u2003 ", "\u2003"),
    ("x", "x"),
    ("   ", ""),
    ("", ""),
    (None, None),
]

#: the ingest's blank set as Python characters (ingest.sql.BLANKS)
BLANK_CHARS = " \t\n\r\u00a0\u3000"

#: characters the random texts are made of: the blanks, code points on either side of each
#: blank and of the byte ranges ingest.sql.FIRST_NOT_BLANK compares, other controls and
#: Unicode spaces, a combining mark, CJK, a BOM and a 4-byte emoji
TEXT_ALPHABET = BLANK_CHARS + (
    "\x01\x08\x0b\x0c\x0e\x1f!\"',a~\x7f\x80\x9f\xa1\xff\u0301\u2003\u200b"
    "\u2fff\u3001\u4e00客户\ufeff\U0001f600"
)


def random_texts(n: int, seed: int, max_length: int = 8) -> list[str]:
    """Every text of up to two characters of TEXT_ALPHABET, then ``n`` random ones of up
    to ``max_length``, half of them with blanks added at one or both ends."""
    alphabet = list(TEXT_ALPHABET)
    texts = [""] + alphabet + [a + b for a in alphabet for b in alphabet]
    rng = np.random.default_rng(seed)
    blanks = list(BLANK_CHARS)
    for _ in range(n):
        body = "".join(rng.choice(alphabet, size=rng.integers(0, max_length + 1)))
        ends = rng.integers(0, 4)  # 0 none, 1 left, 2 right, 3 both
        left = "".join(rng.choice(blanks, size=rng.integers(1, 4))) if ends in (1, 3) else ""
        right = "".join(rng.choice(blanks, size=rng.integers(1, 4))) if ends in (2, 3) else ""
        texts.append(left + body + right)
    return texts


#: CDNOW_sample.txt columns (whitespace separated, no header; tests/data/README.md)
CDNOW_COLUMNS = ["master_id", "sample_id", "date", "cds", "dollars"]


def read_cdnow_sample() -> pd.DataFrame:
    """CDNOW_sample.txt as canonical transactions (customer_id = the master id)."""
    raw = pd.read_csv(
        TEST_DATA / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=CDNOW_COLUMNS,
        dtype={"master_id": str, "date": str},
    )
    return pd.DataFrame(
        {
            "customer_id": raw["master_id"],
            "date": pd.to_datetime(raw["date"], format="%Y%m%d").dt.date,
            "amount": raw["dollars"].astype(float),
        }
    )


def cdnow_sample_summary(end: str = "1997-09-30") -> pd.DataFrame:
    """Per CDNOW_sample customer as of ``end``, straight from the definitions in
    tests/data/README.md (independent of the features package): ``x`` repeat transaction
    days, ``t_x`` and ``T`` in weeks, ``m`` mean value of the repeat days (NaN when x = 0)."""
    raw = pd.read_csv(TEST_DATA / "CDNOW_sample.txt", sep=r"\s+", header=None, names=CDNOW_COLUMNS)
    raw["date"] = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d")
    end = pd.Timestamp(end)
    days = raw[raw["date"] <= end].groupby(["sample_id", "date"], as_index=False)["dollars"].sum()
    by = days.groupby("sample_id")["date"]
    first, last = by.min(), by.max()
    repeat = days[days["date"] > days["sample_id"].map(first)]
    return pd.DataFrame(
        {
            "x": (by.count() - 1).astype(float),
            "t_x": (last - first).dt.days / 7,
            "T": (end - first).dt.days / 7,
            "m": repeat.groupby("sample_id")["dollars"].mean().reindex(first.index),
        }
    )


#: the stages in dvc.yaml order (kequn.cli names)
STAGE_ORDER = [
    "ingest",
    "features",
    "ltv",
    "churn",
    "segment",
    "products",
    "evaluate",
    "targets",
    "report",
]


def write_run_context(root: Path, as_of: dt.date | str | None = None) -> None:
    """``data/processed/context.json`` as the features stage writes it, for tests that build
    a later stage's inputs by hand (dates from ``data/interim/transactions.parquet``)."""
    from kequn.context import make_context, write_context

    dates = pd.to_datetime(
        pd.read_parquet(root / "data/interim/transactions.parquet", columns=["date"])["date"]
    )
    first, last = dates.min().date(), dates.max().date()
    as_of = dt.date.fromisoformat(str(as_of)) if as_of else last
    write_context(
        make_context(as_of, first, last, len(dates)), root / "data/processed/context.json"
    )


def run_stage(
    stage: str, workdir: Path, params: str = "params.yaml"
) -> subprocess.CompletedProcess:
    """Run ``python -m kequn <stage>`` in ``workdir`` and return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "kequn", stage, "--params", params],
        cwd=workdir,
        capture_output=True,
        text=True,
    )


def copy_project_inputs(workdir: Path) -> None:
    """Copy what a pipeline run reads (params, mappings, the bundled sample) into ``workdir``."""
    shutil.copy(REPO_ROOT / "params.yaml", workdir / "params.yaml")
    shutil.copytree(REPO_ROOT / "mappings", workdir / "mappings")
    shutil.copytree(REPO_ROOT / "data" / "sample", workdir / "data" / "sample")


@pytest.fixture(scope="module")
def spark():
    """A small local Spark session, one per test module that asks for it."""
    from kequn.spark import get_session

    session = get_session(
        {"spark": {"master": "local[2]", "shuffle_partitions": 4, "driver_memory": "1g"}}
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory in which every stage has run, in order, on the bundled sample."""
    workdir = tmp_path_factory.mktemp("sample_run")
    copy_project_inputs(workdir)
    for stage in STAGE_ORDER:
        done = run_stage(stage, workdir)
        if done.returncode != 0:
            pytest.fail(f"stage {stage} failed on the sample:\n{done.stderr[-4000:]}")
    return workdir


def many_categories_frame(n_products: int = 70, n_channels: int = 64) -> pd.DataFrame:
    """Random transactions over more categories than one 62-bit mask holds, with names
    that need quoting or escaping in SQL (quotes, a double quote, a backslash, spaces)."""
    rng = np.random.default_rng(11)
    n = 4000
    products = [f"p{i:02d}" for i in range(n_products - 3)] + ["it's", 'say "hi"', "a\\b"]
    channels = [f"渠道 {i}" for i in range(n_channels)]
    return pd.DataFrame(
        {
            "customer_id": rng.choice([f"c{i:03d}" for i in range(150)], n),
            "date": [
                dt.date(2024, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 365, n)
            ],
            "amount": rng.choice([0.0, 1.5, 10.0, 99.99, -5.0], n),
            "product": rng.choice([*products, "", None], n),
            "channel": rng.choice(channels, n),
        }
    )
