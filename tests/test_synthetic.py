"""The synthetic extract: deterministic, faithful to its generative process, honest files.

Expected values come from the generative truth: BG/NBD E[X(t)] from Fader, Hardie & Lee
(2005) eq. (9) written out here with SciPy's hyp2f1, the Gamma-Gamma mean p gamma / (q-1),
and the dirty rows re-classified from the written bytes by simple independent rules.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import hyp2f1

from conftest import REPO_ROOT
from synthetic.bank import (
    add_dirty_rows,
    generate,
    write_bank_extract,
    write_csv_utf8,
    write_parquet,
)

SAMPLE = REPO_ROOT / "data" / "sample"
START, END = dt.date(2023, 1, 1), dt.date(2025, 12, 31)


@pytest.fixture(scope="module")
def small():
    return generate(4000, START, END, seed=7)


@pytest.fixture(scope="module")
def written(small, tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    extract = add_dirty_rows(small, rate=0.005, seed=7)
    write_bank_extract(extract, out)
    return extract, out


def bgnbd_expected_x(t: float, r: float, alpha: float, a: float, b: float) -> float:
    """E[X(t)] of BG/NBD, Fader, Hardie & Lee (2005) eq. (9)."""
    z = t / (alpha + t)
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))


def test_same_seed_same_frames_and_other_seed_differs(small):
    again = generate(4000, START, END, seed=7)
    pd.testing.assert_frame_equal(small.transactions, again.transactions)
    pd.testing.assert_frame_equal(small.clients, again.clients)
    pd.testing.assert_frame_equal(small.customers, again.customers)
    assert small.params == again.params
    other = generate(4000, START, END, seed=8)
    assert len(other.transactions) != len(small.transactions)
    assert not np.allclose(other.customers["lambda"], small.customers["lambda"])


def test_written_files_are_byte_identical_across_runs(written, tmp_path):
    extract, out = written
    write_bank_extract(add_dirty_rows(generate(4000, START, END, seed=7), 0.005, 7), tmp_path)
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in tmp_path.iterdir())
    for name in names:
        assert (out / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_dates_stay_in_the_period_and_start_at_acquisition(small):
    tx, customers = small.transactions, small.customers
    assert tx["date"].min() >= pd.Timestamp(START)
    assert tx["date"].max() <= pd.Timestamp(END)
    first = tx.groupby("customer_id")["date"].min()
    truth = customers.set_index("customer_id")["first_date"]
    pd.testing.assert_series_equal(first.sort_index(), truth.sort_index(), check_names=False)
    # event 0 is the acquisition day; events per customer are 1 + x (the repeat count)
    day0 = tx[tx["event"] == 0]
    assert (day0["date"].to_numpy() == truth[day0["customer_id"]].to_numpy()).all()
    events = tx.groupby("customer_id")["event"].nunique()
    x = customers.set_index("customer_id")["x"]
    assert (events.sort_index() == x.sort_index() + 1).all()
    # every month of the period gets new clients, more early than late
    new_per_month = customers["first_date"].dt.to_period("M").value_counts().sort_index()
    assert len(new_per_month) == 36
    assert new_per_month.iloc[:6].sum() > new_per_month.iloc[-6:].sum()
    # ids: 10-digit strings, leading zeros kept, unique txn ids
    assert customers["customer_id"].str.fullmatch(r"0\d{9}").all()
    assert tx["txn_id"].is_unique


def test_repeat_transactions_match_bgnbd_expectation(small):
    """Mean X(104 weeks) of customers observed >= 104 weeks vs eq. (9), within 4 SE."""
    m = small.params["transaction_model"]
    tx, customers = small.transactions, small.customers
    t_weeks = 104
    long = customers.loc[customers["T_weeks"] >= t_weeks, ["customer_id", "first_date"]]
    rows = tx.merge(long, on="customer_id")
    in_window = (rows["date"] - rows["first_date"]).dt.days < 7 * t_weeks
    repeats = rows.loc[in_window & (rows["event"] > 0)].groupby("customer_id")["event"].nunique()
    x = repeats.reindex(long["customer_id"], fill_value=0).to_numpy()
    expected = bgnbd_expected_x(t_weeks, m["r"], m["alpha"], m["a"], m["b"])
    standard_error = x.std(ddof=1) / np.sqrt(x.size)
    assert x.size > 1000
    assert abs(x.mean() - expected) < 4 * standard_error, (x.mean(), expected, standard_error)


def test_spend_per_day_matches_gamma_gamma_mean(small):
    """Mean over customers of their mean unscaled spend per day -> E[z] = p gamma / (q - 1)."""
    s = small.params["spend_model"]["unscaled"]
    tx = small.transactions
    normal = tx[tx["status"] == "正常"]
    per_day = normal.groupby(["customer_id", "event"])["amount"].sum().reset_index()
    per_customer = per_day.groupby("customer_id")["amount"].mean()
    scale = small.customers.set_index("customer_id")["spend_scale"]
    z = (per_customer / scale[per_customer.index]).to_numpy()
    expected = s["p"] * s["gamma"] / (s["q"] - 1)
    assert abs(z.mean() - expected) < 4 * z.std(ddof=1) / np.sqrt(z.size)
    corporate = small.customers["client_type"] == "对公"
    assert 0.07 < corporate.mean() < 0.13


def test_channel_drift_moves_the_counter_share(small):
    tx = small.transactions.merge(small.customers[["customer_id", "channel_drift"]])
    early = tx["date"] < pd.Timestamp("2024-06-01")
    late = tx["date"] >= pd.Timestamp("2025-10-01")
    counter = tx["channel"] == "柜面"
    to_counter = tx["channel_drift"] == "to_counter"
    away = tx["channel_drift"] == "away"
    assert counter[to_counter & late].mean() > counter[to_counter & early].mean() + 0.2
    assert counter[away & late].mean() < counter[away & early].mean() - 0.1


def test_benchmark_writers_round_trip(small, tmp_path):
    import pyarrow.parquet as pq

    write_parquet(small, tmp_path / "t.parquet")
    write_csv_utf8(small, tmp_path / "t.csv")
    table = pq.read_table(tmp_path / "t.parquet")
    assert str(table.schema.field("date").type) == "date32[day]"
    cols = ["txn_id", "customer_id", "date", "amount", "product", "channel", "status"]
    from_csv = pd.read_csv(tmp_path / "t.csv", dtype={"txn_id": str, "customer_id": str})
    for got in (table.to_pandas(), from_csv):
        assert list(got.columns) == cols
        assert got["customer_id"].tolist() == small.transactions["customer_id"].tolist()
        np.testing.assert_array_equal(got["amount"], small.transactions["amount"])
        dates = pd.to_datetime(got["date"]).to_numpy()
        np.testing.assert_array_equal(dates, small.transactions["date"].to_numpy())


def classify(fields: list[str], seen: set[str]) -> str:
    """Reject reason of one raw row by plain rules (independent of the generator)."""
    if len(fields) != 7:
        return "truncated_row"
    txn_id, customer_id, date, amount = fields[:4]
    try:
        day = dt.datetime.strptime(date, "%Y%m%d").date()
    except ValueError:
        return "bad_date"
    if not customer_id.strip():
        return "blank_customer_id"
    try:
        float(amount.replace(",", ""))
    except ValueError:
        return "bad_amount"
    if day > END:
        return "date_after_extract"
    if txn_id in seen:
        return "duplicate_txn_id"
    seen.add(txn_id)
    return "ok" if fields[6] == "正常" else "filtered"


def read_rows(out):
    for path in sorted(out.glob("transactions_*.csv")):
        text = path.read_bytes().decode("gb18030")
        reader = csv.reader(io.StringIO(text))
        assert next(reader) == "流水号 客户号 交易日期 交易金额 产品类别 渠道 交易状态".split()
        yield from reader


def test_dirty_rows_written_equal_those_recorded(written):
    extract, out = written
    recorded = json.loads((out / "true_params.json").read_text(encoding="utf-8"))
    seen: set[str] = set()
    reasons, accepted = [], []
    for fields in read_rows(out):
        reason = classify(fields, seen)
        reasons.append(reason)
        if reason == "ok":
            accepted.append((fields[0], float(fields[3].replace(",", ""))))
    counts = pd.Series(reasons).value_counts().to_dict()
    for kind, n in recorded["dirty_rows"].items():
        assert counts.get(kind, 0) == n, kind
    assert counts["filtered"] == recorded["counts"]["rows_reversal"]
    assert len(reasons) == recorded["counts"]["rows_written"]
    assert 0.004 < sum(recorded["dirty_rows"].values()) / len(reasons) < 0.006
    # what survives is exactly the clean 正常 rows
    clean = extract.transactions[extract.transactions["status"] == "正常"]
    got = pd.DataFrame(accepted, columns=["txn_id", "amount"]).sort_values("txn_id")
    assert got["txn_id"].tolist() == sorted(clean["txn_id"].tolist())
    want = clean.set_index("txn_id")["amount"].loc[got["txn_id"]].to_numpy()
    np.testing.assert_allclose(got["amount"].to_numpy(), want, atol=0.0)
    last = sorted(out.glob("transactions_*.csv"))[-1].read_bytes()
    assert not last.endswith(b"\n")


def test_files_are_gb18030_not_utf8(written):
    _, out = written
    for name in ["clients.csv", *sorted(p.name for p in out.glob("transactions_*.csv"))[:3]]:
        data = (out / name).read_bytes()
        assert "客户号" in data.decode("gb18030")
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
    assert (out / "do_not_contact.csv").read_bytes().decode("utf-8").startswith("客户号\n")


def test_open_dates_before_first_transaction(written):
    extract, out = written
    clients = pd.read_csv(out / "clients.csv", encoding="gb18030", dtype=str)
    first = extract.customers.set_index("customer_id")["first_date"]
    opened = pd.to_datetime(clients.set_index("客户号")["开户日期"], format="%Y%m%d")
    assert (opened[first.index].to_numpy() <= first.to_numpy()).all()
    assert (opened[first.index].to_numpy() == first.to_numpy()).mean() > 0.2  # same-day opens
    balance = clients["资产余额"].str.replace(",", "").astype(float)
    assert (balance > 0).all()
    assert clients["客户号"].str.fullmatch(r"\d{10}").all()


def test_bundled_sample_do_not_contact_is_a_subset_of_clients():
    clients = pd.read_csv(SAMPLE / "clients.csv", encoding="gb18030", dtype=str)
    dnc = pd.read_csv(SAMPLE / "do_not_contact.csv", encoding="utf-8", dtype=str)
    recorded = json.loads((SAMPLE / "true_params.json").read_text(encoding="utf-8"))
    assert list(dnc.columns) == ["客户号"]
    assert dnc["客户号"].isin(clients["客户号"]).all()
    assert 100 <= len(dnc) <= 1000
    transacting = pd.read_parquet(SAMPLE / "true_customers.parquet")["customer_id"]
    some = dnc["客户号"].isin(transacting).sum()
    assert 0 < some < len(dnc) == recorded["counts"]["do_not_contact"]


@pytest.mark.slow
def test_bundled_sample_is_what_the_generator_writes(tmp_path):
    """The committed data/sample equals a fresh `python -m synthetic --out ...`."""
    recorded = json.loads((SAMPLE / "true_params.json").read_text(encoding="utf-8"))
    customers, seed = recorded["counts"]["customers"], recorded["seed"]
    extract = generate(customers, recorded["start"], recorded["end"], seed)
    write_bank_extract(add_dirty_rows(extract, recorded["dirty_rate"], seed), tmp_path)
    names = sorted(p.name for p in SAMPLE.iterdir() if p.name != "README.md")
    assert names == sorted(p.name for p in tmp_path.iterdir())
    for name in names:
        assert (SAMPLE / name).read_bytes() == (tmp_path / name).read_bytes(), name
