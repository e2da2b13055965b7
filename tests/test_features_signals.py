"""Balance and event features on small hand-made extracts whose every value is worked out
by hand in the comments (months are month ends; as_of 2025-07-15)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.duckdb_engine import customer_features, write_customer_features
from features.signals import add_signals, aum_trend, compute_signals, join_signals

AS_OF = dt.date(2025, 7, 15)


def _snap(cid, day, product, balance):
    return {
        "customer_id": cid,
        "date": dt.date.fromisoformat(day),
        "product": product,
        "balance": balance,
    }


@pytest.fixture()
def balances():
    rows = []
    # A: deposit 100 -> 90 -> 80 -> 70 -> 60 over Feb..Jun (4 months of decline), a loan
    # of -500 throughout, and a July snapshot on as_of's month that is *after* as_of
    for day, value in zip(
        ["2025-02-28", "2025-03-31", "2025-04-30", "2025-05-31", "2025-06-30"],
        [100.0, 90.0, 80.0, 70.0, 60.0],
        strict=True,
    ):
        rows += [_snap("A", day, "存款", value), _snap("A", day, "贷款", -500.0)]
    rows.append(_snap("A", "2025-07-31", "存款", 1.0))
    # B: deposit 100 and fund 300 in Jan; the deposit's Apr..Jun are missing: carried for
    # two months (Apr, May), gone in Jun. Fund steady 300 Jan..Jun.
    rows += [
        _snap("B", "2025-01-31", "存款", 100.0),
        _snap("B", "2025-02-28", "存款", 100.0),
        _snap("B", "2025-03-31", "存款", 100.0),
    ]
    rows += [
        _snap("B", d, "基金", 300.0)
        for d in [
            "2025-01-31",
            "2025-02-28",
            "2025-03-31",
            "2025-04-30",
            "2025-05-31",
            "2025-06-30",
        ]
    ]
    # C: one snapshot in May only, then nothing: carried to Jun (k = 0)
    rows.append(_snap("C", "2025-05-31", "存款", 50.0))
    return pd.DataFrame(rows)


@pytest.fixture()
def events():
    def ev(cid, day, kind, resolved=None, score=None):
        return {
            "customer_id": cid,
            "date": dt.date.fromisoformat(day),
            "type": kind,
            "severity": None,
            "score": score,
            "resolved_date": None if resolved is None else dt.date.fromisoformat(resolved),
        }

    return pd.DataFrame(
        [
            ev("A", "2025-07-01", "complaint"),  # 14 days ago, unresolved
            ev("A", "2025-05-01", "complaint", resolved="2025-08-01"),  # resolved after as_of
            ev("A", "2024-09-01", "complaint", resolved="2024-09-05"),  # in 365 d, resolved
            ev("A", "2025-07-16", "complaint"),  # after as_of: not read
            ev("A", "2025-07-15", "survey", score=4.0),  # on as_of: read, the latest
            ev("D", "2025-04-20", "complaint", resolved="2025-07-15"),  # resolved on as_of
            ev("A", "2025-06-01", "survey", score=2.0),
            ev("A", "2025-03-01", "survey", score=5.0),
            ev("D", "2024-01-01", "complaint", resolved="2024-01-03"),  # older than 365 d
            ev("D", "2025-07-10", "service_request", resolved="2025-07-11"),
        ]
    )


def test_balance_features_by_hand(balances):
    f = compute_signals(AS_OF, balances, None).set_index("customer_id")
    a, b, c = f.loc["A"], f.loc["B"], f.loc["C"]
    assert a["aum_latest"] == 60.0  # June; the July row is after as_of
    assert a["aum_change_1m"] == pytest.approx(60 / 70 - 1)
    assert a["aum_change_3m"] == pytest.approx(60 / 90 - 1)
    assert np.isnan(a["aum_change_6m"])  # Dec 2024: before A's first snapshot
    assert a["aum_decline_months"] == 4
    assert a["loan_balance"] == -500.0
    assert a["aum_share_存款"] == 1.0 and a["aum_share_基金"] == 0.0
    # B: Jun = fund 300 only (the deposit carried Apr, May, then gone)
    assert b["aum_latest"] == 300.0
    assert b["aum_change_1m"] == pytest.approx(300 / 400 - 1)
    assert b["aum_change_3m"] == pytest.approx(300 / 400 - 1)  # March: deposit + fund
    assert b["aum_decline_months"] == 1
    assert b["aum_share_基金"] == 1.0
    assert c["aum_latest"] == 50.0 and c["aum_change_1m"] == 0.0  # May carried to Jun
    assert np.isnan(c["aum_change_3m"])  # March: before its first snapshot


def test_event_features_by_hand(events):
    f = compute_signals(AS_OF, None, events).set_index("customer_id")
    assert f.loc["A", "complaints_90d"] == 2  # Jul 1 and May 1
    assert f.loc["A", "complaints_365d"] == 3
    assert f.loc["A", "unresolved_complaints"] == 2  # Jul 1, and May 1 resolved after as_of
    assert f.loc["A", "days_since_unresolved"] == 14
    assert f.loc["A", "last_survey_score"] == 4.0  # the survey on as_of
    assert f.loc["D", "complaints_90d"] == 1  # Apr 20 is in (Apr 16, Jul 15]
    assert f.loc["D", "complaints_365d"] == 1 and f.loc["D", "unresolved_complaints"] == 0
    assert np.isnan(f.loc["D", "last_survey_score"])


def test_neutral_values_for_customers_without_extract_rows(balances, events):
    customers = pd.DataFrame({"customer_id": ["A", "Z"], "frequency": [3, 1]})
    out = add_signals(customers, AS_OF, balances, events).set_index("customer_id")
    z = out.loc["Z"]
    assert np.isnan(z["aum_latest"]) and np.isnan(z["aum_change_3m"])
    assert z["aum_decline_months"] == 0
    assert z["complaints_90d"] == 0 and z["unresolved_complaints"] == 0
    assert np.isnan(z["last_survey_score"]) and np.isnan(z["days_since_unresolved"])
    assert out.index.tolist() == ["A", "Z"]  # rows and order of the customer table
    # nothing configured: the table is unchanged
    same = add_signals(customers, AS_OF, None, balances.iloc[:0])
    pd.testing.assert_frame_equal(same, customers)


def test_balance_features_of_chosen_customers_are_the_whole_tables_rows(balances, events):
    whole = compute_signals(AS_OF, balances, None).set_index("customer_id")
    ids = pd.Series(["C", "A", "Q"])  # Q has no snapshot
    some = compute_signals(AS_OF, balances, None, customers=ids).set_index("customer_id")
    assert sorted(some.index) == ["A", "C"]  # nothing computed for B
    assert list(some.columns) == list(whole.columns)  # the lines of every snapshot
    pd.testing.assert_frame_equal(some, whole.loc[some.index])
    # C alone: its only snapshot is May, but M0 is June (A's and B's snapshots), so May
    # is carried to June and the 1-month change is 0, not NaN
    alone = compute_signals(AS_OF, balances, None, customers=pd.Series(["C"]))
    assert alone["customer_id"].tolist() == ["C"]
    assert alone["aum_change_1m"].tolist() == [0.0] and alone["aum_latest"].tolist() == [50.0]
    # add_signals computes its table's customers only and joins the same values
    table = pd.DataFrame({"customer_id": ["C", "Z"], "frequency": [1, 2]})
    out = add_signals(table, AS_OF, balances, events)
    full = join_signals(table, compute_signals(AS_OF, balances, events), balances=True, events=True)
    pd.testing.assert_frame_equal(out, full)


def test_aum_trend_by_group_by_hand(balances, tmp_path):
    groups = tmp_path / "groups.parquet"
    pd.DataFrame({"customer_id": ["A", "B"], "tier": ["x", "y"]}).to_parquet(groups)
    trend = aum_trend(balances, groups, "tier", AS_OF)
    got = trend.set_index(["month", "group"])
    # June (M0): A 60 (its loan is not an asset), B 300 (the deposit gone), C 50 (May
    # carried) in no group; May: A 70, B 100 + 300 (the March deposit carried), C 50
    assert got.loc[("2025-06-01", "x"), "aum"] == 60.0
    assert got.loc[("2025-06-01", "y"), "aum"] == 300.0
    assert got.loc[("2025-06-01", ""), "aum"] == 50.0
    assert got.loc[("2025-05-01", "y"), "aum"] == 400.0
    assert got.loc[("2025-05-01", ""), "aum"] == 50.0
    # C's first snapshot is in May: nothing for it before
    assert ("2025-04-01", "") not in got.index
    assert got.loc[("2025-02-01", "x"), "customers"] == 1
    assert trend["month"].max() == "2025-06-01"  # the July snapshot is after as_of
    assert aum_trend(None, groups, "tier", AS_OF).empty


def test_a_month_without_any_snapshot_is_not_in_the_series():
    """No one has an April snapshot: the series of M0 = May skips to March (k = 2), the
    1-month change is unknown, and March's balances are carried to May where no May row."""
    rows = [
        _snap("X", "2025-03-31", "存款", 100.0),
        _snap("X", "2025-05-31", "存款", 80.0),
        _snap("Y", "2025-03-31", "存款", 50.0),  # carried two months, to May
        _snap("Z", "2025-05-31", "存款", 10.0),  # first snapshot in May
    ]
    f = compute_signals(AS_OF, pd.DataFrame(rows), None).set_index("customer_id")
    x, y, z = f.loc["X"], f.loc["Y"], f.loc["Z"]
    assert x["aum_latest"] == 80.0 and np.isnan(x["aum_change_1m"])
    assert np.isnan(x["aum_change_3m"])  # February: no month of the series
    assert x["aum_decline_months"] == 2  # May 80 < March 100, March the last series month
    assert y["aum_latest"] == 50.0 and y["aum_decline_months"] == 0  # 50 is not < 50
    assert z["aum_latest"] == 10.0 and z["aum_decline_months"] == 0  # March unknown
    assert f["aum_share_存款"].tolist() == [1.0, 1.0, 1.0]


def _written(tmp_path, transactions, balances, events):
    """The DuckDB engine's table with the signals joined in its query, and the same table
    joined in pandas the old way (:func:`join_signals` over :func:`compute_signals`)."""
    target = tmp_path / "customers.parquet"
    write_customer_features(target, transactions, AS_OF, balances=balances, events=events)
    table = customer_features(transactions, AS_OF)
    signals = compute_signals(AS_OF, balances, events)
    joined = join_signals(table, signals, balances is not None, events is not None)
    return pq.read_table(target), joined


def test_signals_joined_in_the_query_equal_the_pandas_join(balances, events, tmp_path):
    days = ["2025-03-01", "2025-07-01", "2025-07-16"]  # the last is after as_of
    transactions = pd.DataFrame(
        {
            "customer_id": ["A", "A", "Z", "D", "E"],
            "date": pd.to_datetime([days[0], days[1], days[1], days[0], days[2]]),
            "amount": [10.0, 20.0, 5.0, 7.0, 9.0],
        }
    )
    written, joined = _written(tmp_path, transactions, balances, events)
    frame = written.to_pandas()
    pd.testing.assert_frame_equal(frame, joined, check_exact=True)
    got = frame.set_index("customer_id")
    assert got.index.tolist() == ["A", "D", "Z"]  # E's only row is after as_of
    assert got.loc["A", "aum_latest"] == 60.0 and got.loc["A", "aum_decline_months"] == 4
    assert got.loc["A", "complaints_90d"] == 2 and got.loc["D", "complaints_365d"] == 1
    # Z has neither snapshots nor events: the neutral values, NaN written as NaN, not NULL
    assert np.isnan(got.loc["Z", "aum_latest"]) and got.loc["Z", "aum_decline_months"] == 0
    assert got.loc["Z", "unresolved_complaints"] == 0
    assert np.isnan(got.loc["Z", "last_survey_score"])
    assert all(written[c].null_count == 0 for c in ("aum_latest", "last_survey_score"))
    assert frame["unresolved_complaints"].dtype == np.int64
    assert frame["aum_decline_months"].dtype == np.int64
    # events only, every one after as_of: unresolved_complaints stays NaN, as in pandas
    late = events.assign(date=dt.date(2025, 8, 1))
    written, joined = _written(tmp_path, transactions, None, late)
    pd.testing.assert_frame_equal(written.to_pandas(), joined, check_exact=True)
    assert joined["unresolved_complaints"].isna().all()
    assert "aum_latest" not in joined
    # nothing configured: the table alone
    written, joined = _written(tmp_path, transactions, None, None)
    pd.testing.assert_frame_equal(written.to_pandas(), customer_features(transactions, AS_OF))


def test_aum_trend_keeps_a_customer_whose_money_has_gone(balances, tmp_path):
    """D: a deposit of 100 in January only. Carried to February and March, then gone: its
    group's months from April on have AUM 0 and no customer with a positive AUM, and there
    is no row before January (before D's first snapshot)."""
    groups = tmp_path / "groups.parquet"
    pd.DataFrame({"customer_id": ["D"], "tier": ["z"]}).to_parquet(groups)
    rows = pd.concat([balances, pd.DataFrame([_snap("D", "2025-01-31", "存款", 100.0)])])
    got = aum_trend(rows, groups, "tier", AS_OF).set_index(["month", "group"])
    z = got.xs("z", level="group")
    assert z.index.tolist() == [f"2025-0{m}-01" for m in range(1, 7)]
    assert z["aum"].tolist() == [100.0, 100.0, 100.0, 0.0, 0.0, 0.0]
    assert z["customers"].tolist() == [1, 1, 1, 0, 0, 0]
    assert got.loc[("2025-06-01", ""), "aum"] == 410.0  # A 60 + B 300 + C 50, no group
