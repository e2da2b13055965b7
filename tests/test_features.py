"""Customer features (DuckDB SQL) against independent computations on CDNOW and hand-made data."""

from __future__ import annotations

import datetime as dt
import io
import math
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
import sqlglot

from conftest import TEST_DATA, many_categories_frame, read_cdnow_sample
from features import customer_features, split_at, sql
from features.duckdb_engine import write_customer_features
from features.reference import customer_features_pandas
from kequn.errors import UserError

AS_OF = dt.date(1997, 9, 30)
END = dt.date(1998, 6, 30)
D = dt.date


def read_cdnow_master() -> pd.DataFrame:
    raw = pd.read_csv(TEST_DATA / "CDNOW_master.txt", sep=r"\s+", dtype=str)
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"],
            "date": pd.to_datetime(raw["date"], format="%Y%m%d").dt.date,
            "amount": raw["dollar_value"].astype(float),
        }
    )


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return read_cdnow_sample()


@pytest.fixture(scope="module")
def cdnow_features(cdnow: pd.DataFrame) -> pd.DataFrame:
    return customer_features(cdnow, AS_OF, unit_days=7)


def plain_python_btyd(rows: list[tuple[str, dt.date, float]], as_of: dt.date) -> dict:
    """x, t_x, T in weeks by the definitions in tests/data/README.md, with sets and loops."""
    days: dict[str, set] = defaultdict(set)
    for customer, day, _ in rows:
        if day <= as_of:
            days[customer].add(day)
    out = {}
    for customer, seen in days.items():
        first, last = min(seen), max(seen)
        out[customer] = (len(seen) - 1, (last - first).days / 7, (as_of - first).days / 7)
    return out


def test_cdnow_sample_btyd_summary_matches_the_definitions(cdnow, cdnow_features):
    rows = list(cdnow.itertuples(index=False, name=None))
    expected = plain_python_btyd(rows, AS_OF)
    got = cdnow_features.set_index("customer_id")
    assert len(got) == len(expected) == 2357
    assert int((got["frequency"] > 0).sum()) == sum(x > 0 for x, _, _ in expected.values()) == 946
    for customer, (x, t_x, big_t) in expected.items():
        assert got.at[customer, "frequency"] == x
        assert got.at[customer, "recency"] == pytest.approx(t_x, abs=1e-12)
        assert got.at[customer, "T"] == pytest.approx(big_t, abs=1e-12)
    assert list(cdnow_features["customer_id"]) == sorted(expected)


def test_cdnow_hand_checked_customers(cdnow_features):
    got = cdnow_features.set_index("customer_id")
    # 00004: 1997-01-01 29.33, 01-18 29.73, 08-02 14.96 (and 12-12 26.48, after as_of)
    c = got.loc["00004"]
    assert (c.first_date, c.last_date) == (D(1997, 1, 1), D(1997, 8, 2))
    assert (c.n_transactions, c.n_days, c.frequency) == (3, 3, 2)
    assert c.recency == pytest.approx(213 / 7) and c["T"] == pytest.approx(272 / 7)
    assert c.total_value == pytest.approx(74.02)
    assert c.mean_value == pytest.approx(74.02 / 3)
    assert c.monetary_value == pytest.approx((29.73 + 14.96) / 2)
    assert c.gap_mean_days == pytest.approx(106.5)  # gaps 17 and 196 days
    assert c.gap_std_days == pytest.approx(math.sqrt((17 - 106.5) ** 2 + (196 - 106.5) ** 2))
    assert (c.days_since_last, c.tenure_days) == (59, 272)
    # window 90 days: recent (07-02, 09-30] holds 08-02; prior (04-03, 07-02] nothing
    assert (c.recent_value, c.recent_n_days, c.prior_value, c.prior_n_days) == (14.96, 1, 0, 0)
    assert c.value_trend == 1.0
    # 00018: one purchase on 1997-01-04 -> x = 0, monetary 0, no gaps
    c = got.loc["00018"]
    assert (c.frequency, c.recency, c.monetary_value) == (0, 0.0, 0.0)
    assert math.isnan(c.gap_mean_days) and math.isnan(c.gap_std_days)
    assert c["T"] == pytest.approx(269 / 7)


def test_dtypes_are_stable(cdnow_features):
    dtypes = cdnow_features.dtypes
    for name in ["n_transactions", "n_days", "frequency", "days_since_last", "recent_n_days"]:
        assert dtypes[name] == np.int64, name
    for name in ["recency", "T", "total_value", "monetary_value", "gap_std_days", "value_trend"]:
        assert dtypes[name] == np.float64, name
    assert isinstance(cdnow_features["first_date"].iloc[0], dt.date)
    assert isinstance(cdnow_features["customer_id"].iloc[0], str)


def test_same_day_transactions_count_once():
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b"],
            "date": [D(2024, 1, 1), D(2024, 1, 1), D(2024, 1, 8), D(2024, 1, 8), D(2024, 1, 3)],
            "amount": [10.0, 5.0, 7.0, 1.0, 4.0],
        }
    )
    got = customer_features(tx, D(2024, 1, 15), unit_days=7).set_index("customer_id")
    a = got.loc["a"]
    assert (a.n_transactions, a.n_days, a.frequency) == (4, 2, 1)
    assert (a.recency, a["T"]) == (1.0, 2.0)
    assert a.mean_value == 23 / 2
    assert a.monetary_value == 8.0  # the repeat day 01-08: 7 + 1
    assert a.gap_mean_days == 7.0 and math.isnan(a.gap_std_days)
    assert got.loc["b", "n_days"] == 1


def test_nothing_after_as_of_is_read(cdnow):
    later = pd.DataFrame(
        {
            "customer_id": ["00004", "99999"],
            "date": [AS_OF + dt.timedelta(days=1), D(1998, 1, 1)],
            "amount": [1e9, 5.0],
        }
    )
    clean = cdnow[cdnow["date"] <= AS_OF]
    with_later = pd.concat([clean, later], ignore_index=True)
    pd.testing.assert_frame_equal(
        customer_features(with_later, AS_OF), customer_features(clean, AS_OF)
    )


def test_windows_value_trend_and_gap_spread():
    as_of = D(2024, 12, 31)
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "b", "c"],
            # a: prior window (-180, -90] and recent (-90, 0]; b: only prior; c: older than both
            "date": [
                D(2024, 7, 10),
                D(2024, 10, 2),
                D(2024, 12, 30),
                D(2024, 8, 1),
                D(2024, 9, 1),
                D(2023, 1, 1),
            ],
            "amount": [30.0, 10.0, -5.0, 4.0, 6.0, 9.0],
        }
    )
    got = customer_features(tx, as_of, trend_window_days=90).set_index("customer_id")
    # recent: (2024-10-02, 2024-12-31]; prior: (2024-07-04, 2024-10-02]
    a = got.loc["a"]
    assert (a.recent_value, a.recent_n_days, a.prior_value, a.prior_n_days) == (-5, 1, 40, 2)
    assert a.value_trend == pytest.approx((-5 - 40) / (5 + 40))
    assert a.gap_mean_days == pytest.approx((84 + 89) / 2)
    assert a.gap_std_days == pytest.approx(np.std([84, 89], ddof=1))
    assert got.loc["b", "value_trend"] == -1.0
    assert got.loc["c", "value_trend"] == 0.0 and got.loc["c", "recent_n_days"] == 0


def test_value_trend_is_bounded_with_signed_amounts(cdnow):
    signed = cdnow.copy()
    flip = np.random.default_rng(7).random(len(signed)) < 0.4
    signed.loc[flip, "amount"] *= -1
    trend = customer_features(signed, AS_OF, trend_window_days=60)["value_trend"]
    assert trend.between(-1, 1).all()
    assert (trend == -1).any() and (trend == 1).any() and (trend == 0).any()


def test_products_channels_shares_and_main_channel():
    as_of = D(2024, 12, 31)
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b", "c"],
            "date": [
                D(2024, 1, 5),
                D(2024, 11, 1),
                D(2024, 12, 1),
                D(2024, 12, 2),
                D(2024, 12, 2),
                D(2024, 12, 3),
            ],
            "amount": [60.0, 20.0, 15.0, 5.0, 8.0, 0.0],
            "product": ["存款", "贷款", "贷款", None, "存款", "理财"],
            "channel": ["branch", "app", "app", "atm", "", "app"],
        }
    )
    got = customer_features(tx, as_of, trend_window_days=90).set_index("customer_id")
    a = got.loc["a"]
    assert (a.n_products, a.recent_n_products, a.prior_n_products) == (2, 1, 0)
    assert a.share_product_存款 == pytest.approx(0.6)
    assert a.share_product_贷款 == pytest.approx(0.35)
    assert a.share_product_理财 == 0.0
    assert a.share_channel_branch == pytest.approx(0.6)
    assert a.share_channel_app == pytest.approx(0.35)
    assert (a.main_channel, a.recent_main_channel, a.prior_main_channel) == ("branch", "app", "")
    b = got.loc["b"]  # blank channel: no channel at all
    assert (b.main_channel, b.share_channel_app, b.share_product_存款) == ("", 0.0, 1.0)
    c = got.loc["c"]  # total value 0: shares 0, channel still the only one present
    assert (c.share_product_理财, c.main_channel) == (0.0, "app")
    assert [n for n in got.columns if n.startswith("share_channel_")] == [
        "share_channel_app",
        "share_channel_atm",
        "share_channel_branch",
    ]


def test_main_channel_tie_goes_to_first_name():
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a"],
            "date": [D(2024, 1, 1), D(2024, 1, 2)],
            "amount": [0.1 + 0.2, 0.3],
            "channel": ["web", "app"],
        }
    )
    assert customer_features(tx, D(2024, 1, 2))["main_channel"].iloc[0] == "app"


def test_clients_are_left_joined():
    tx = pd.DataFrame(
        {"customer_id": ["a", "b"], "date": [D(2024, 1, 1)] * 2, "amount": [1.0, 2.0]}
    )
    clients = pd.DataFrame(
        {
            "customer_id": ["b", "z"],
            "region": ["上海", "北京"],
            "asset_balance": [5e5, 1.0],
            "open_date": [D(2020, 3, 1), D(2021, 1, 1)],
        }
    )
    got = customer_features(tx, D(2024, 1, 31), clients=clients).set_index("customer_id")
    assert list(got.index) == ["a", "b"]
    assert got.loc["b", "region"] == "上海" and got.loc["b", "open_date"] == D(2020, 3, 1)
    assert got.loc["a", "region"] is None and math.isnan(got.loc["a", "asset_balance"])
    assert got.loc["a", "client_type"] is None and got.loc["a", "close_date"] is None
    with pytest.raises(UserError, match="more than once"):
        customer_features(tx, D(2024, 1, 31), clients=pd.concat([clients, clients]))


def test_parquet_path_and_frame_give_the_same_table(cdnow, tmp_path):
    path = tmp_path / "transactions.parquet"
    cdnow.to_parquet(path, index=False)
    pd.testing.assert_frame_equal(customer_features(path, AS_OF), customer_features(cdnow, AS_OF))
    with pytest.raises(UserError, match="missing column"):
        customer_features(cdnow.drop(columns="amount"), AS_OF)


def test_two_runs_write_identical_bytes(cdnow):
    def parquet_bytes() -> bytes:
        buffer = io.BytesIO()
        customer_features(cdnow, AS_OF).to_parquet(buffer, index=False)
        return buffer.getvalue()

    assert parquet_bytes() == parquet_bytes()


def test_holdout_split_adds_up(cdnow):
    calibration, holdout = split_at(cdnow, AS_OF, END, unit_days=7)
    assert list(holdout["customer_id"]) == list(calibration["customer_id"])
    assert holdout["holdout_transactions"].dtype == np.int64
    # independent totals over [first purchase, end] for the calibration customers
    upto_end = cdnow[cdnow["date"] <= END]
    days_upto_end = upto_end.groupby("customer_id")["date"].nunique()
    value_upto_end = upto_end.groupby("customer_id")["amount"].sum()
    ids = calibration["customer_id"]
    total_days = calibration["n_days"].to_numpy() + holdout["holdout_transactions"].to_numpy()
    np.testing.assert_array_equal(total_days, days_upto_end.loc[ids].to_numpy())
    np.testing.assert_allclose(
        calibration["total_value"].to_numpy() + holdout["holdout_value"].to_numpy(),
        value_upto_end.loc[ids].to_numpy(),
    )
    # 00004 bought once more, on 1997-12-12 (26.48); customers silent afterwards get zeros
    h = holdout.set_index("customer_id")
    assert (h.at["00004", "holdout_transactions"], h.at["00004", "holdout_value"]) == (1, 26.48)
    silent = set(ids) - set(
        cdnow.loc[(cdnow["date"] > AS_OF) & (cdnow["date"] <= END), "customer_id"]
    )
    assert silent and (h.loc[sorted(silent), "holdout_transactions"] == 0).all()
    assert (h.loc[sorted(silent), "holdout_value"] == 0.0).all()


def test_sql_matches_the_pandas_reference_on_cdnow_master():
    tx = read_cdnow_master()
    rng = np.random.default_rng(3)
    tx["product"] = rng.choice(["存款", "贷款", "理财", None], len(tx))
    tx["channel"] = rng.choice(["app", "branch", "atm"], len(tx))
    for as_of in (AS_OF, END + dt.timedelta(days=30)):
        got = customer_features(tx, as_of, unit_days=7, trend_window_days=60)
        want = customer_features_pandas(tx, as_of, unit_days=7, trend_window_days=60)
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9, atol=1e-9)
    assert len(got) == tx["customer_id"].nunique()


def test_every_query_transpiles_to_spark():
    for name, query in sql.all_queries(AS_OF, unit_days=7, trend_window_days=90).items():
        spark = sqlglot.transpile(
            query, read="duckdb", write="spark", error_level=sqlglot.ErrorLevel.RAISE
        )
        assert len(spark) == 1, name
        # the Spark text parses back as Spark SQL and reads the same relations
        tree = sqlglot.parse_one(spark[0], read="spark")
        named = {cte.alias for cte in tree.find_all(sqlglot.exp.CTE)}
        tables = {table.name for table in tree.find_all(sqlglot.exp.Table)} - named
        expected = {
            "duplicate_clients": {sql.CLIENTS},
            "customers_categories_clients": {sql.SOURCE, sql.CLIENTS},
        }.get(name, {sql.SOURCE})
        assert tables == expected, name
        assert "read_parquet" not in spark[0].lower(), name


def test_same_day_rows_in_any_order_and_windows_count_days_once():
    """The row-ordered pass: same-day rows (listed in any order) make one day; hand values."""
    as_of = D(2024, 12, 31)
    rows = [
        # customer a: days 03-01 (2 rows), 06-01 (1 row), 11-01 (3 rows), 12-20 (2 rows)
        ("a", D(2024, 11, 1), 1.0),
        ("a", D(2024, 3, 1), 10.0),
        ("a", D(2024, 12, 20), 2.0),
        ("a", D(2024, 11, 1), 3.0),
        ("a", D(2024, 6, 1), 4.0),
        ("a", D(2024, 3, 1), 20.0),
        ("a", D(2024, 12, 20), 5.0),
        ("a", D(2024, 11, 1), 6.0),
        # customer b: three rows on one day only
        ("b", D(2024, 12, 31), 1.0),
        ("b", D(2024, 12, 31), 2.0),
        ("b", D(2024, 12, 31), 3.0),
    ]
    tx = pd.DataFrame(rows, columns=["customer_id", "date", "amount"])
    for seed in range(3):
        shuffled = tx.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        got = customer_features(shuffled, as_of, trend_window_days=90).set_index("customer_id")
        a = got.loc["a"]
        assert (a.n_transactions, a.n_days, a.frequency) == (8, 4, 3)
        assert a.total_value == 51.0 and a.mean_value == 51.0 / 4
        assert a.monetary_value == pytest.approx((4.0 + 10.0 + 7.0) / 3)  # days after 03-01
        gaps = [92, 153, 49]  # 03-01 -> 06-01 -> 11-01 -> 12-20
        assert a.gap_mean_days == pytest.approx(np.mean(gaps))
        assert a.gap_std_days == pytest.approx(np.std(gaps, ddof=1))
        # recent (10-02, 12-31]: 11-01 and 12-20; prior (07-04, 10-02]: nothing
        assert (a.recent_n_days, a.recent_value, a.prior_n_days) == (2, 17.0, 0)
        b = got.loc["b"]
        assert (b.n_transactions, b.n_days, b.frequency, b.monetary_value) == (3, 1, 0, 0.0)
        assert math.isnan(b.gap_mean_days) and b.recent_n_days == 1 and b.total_value == 6.0


def test_channel_without_product_column_and_blank_products():
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "date": [D(2024, 1, 1), D(2024, 1, 2), D(2024, 1, 2)],
            "amount": [1.0, 3.0, 2.0],
            "channel": ["web", "app", None],
        }
    )
    got = customer_features(tx, D(2024, 1, 2)).set_index("customer_id")
    assert (got["n_products"] == 0).all()
    assert not [c for c in got.columns if c.startswith("share_product_")]
    assert got.loc["a", "main_channel"] == "app" and got.loc["b", "main_channel"] == ""
    assert got.loc["a", "share_channel_web"] == 0.25
    blank = tx.assign(product=["", None, "   "])
    got = customer_features(blank, D(2024, 1, 2)).set_index("customer_id")
    # "" and None are blank; "   " is a category of its own (only empty strings are blank)
    assert got.loc["a", "n_products"] == 0 and got.loc["b", "n_products"] == 1
    assert got.loc["b", "share_product_   "] == 1.0


def test_client_master_extra_columns_keep_left_join_semantics():
    tx = pd.DataFrame(
        {"customer_id": ["a", "b", "c"], "date": [D(2024, 1, 1)] * 3, "amount": [1.0] * 3}
    )
    clients = pd.DataFrame(
        {
            "customer_id": [3, "a", "c"],  # ids compared as text
            "segment_code": [7, 1, 2],
            "vip": ["x", None, "y"],
            "close_date": ["2030-01-31", None, "not a date"],
        }
    )
    got = customer_features(tx, D(2024, 1, 31), clients=clients)
    assert list(got.columns[-8:]) == [
        "client_type",
        "industry",
        "region",
        "open_date",
        "asset_balance",
        "close_date",
        "segment_code",
        "vip",
    ]
    g = got.set_index("customer_id")
    # b has no master row: the integer column becomes float with NaN, as a left merge gives
    assert g["segment_code"].dtype == np.float64
    assert g.loc["a", "segment_code"] == 1.0 and math.isnan(g.loc["b", "segment_code"])
    assert g.loc["c", "vip"] == "y" and g.loc["a", "vip"] is None
    assert g.loc["a", "close_date"] is None and g.loc["c", "close_date"] is None
    assert g.loc["b", "client_type"] is None and math.isnan(g.loc["b", "asset_balance"])


def test_more_categories_than_one_mask_holds_match_the_reference():
    tx = many_categories_frame()
    as_of = D(2024, 12, 31)
    got = customer_features(tx, as_of, trend_window_days=60)
    want = customer_features_pandas(tx, as_of, trend_window_days=60)
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9, atol=1e-9)
    assert got["n_products"].max() > 10 and (got["recent_n_products"] > 0).any()
    for name in ("it's", 'say "hi"', "a\\b"):
        assert f"share_product_{name}" in got.columns
    # categories past the first 62 (the second mask) are counted and can be the main channel
    late = sorted(tx["channel"].unique())[62:]
    assert got["main_channel"].isin(late).any()


def test_write_customer_features_writes_the_frame_atomically(cdnow, tmp_path):
    target = tmp_path / "out" / "customers.parquet"
    clients = pd.DataFrame({"customer_id": ["00004", "00018"], "region": ["华东", "华北"]})
    written = write_customer_features(target, cdnow, AS_OF, unit_days=7, clients=clients)
    frame = customer_features(cdnow, AS_OF, unit_days=7, clients=clients)
    pd.testing.assert_frame_equal(pd.read_parquet(target), frame)
    assert written == {
        "customers": len(frame),
        "repeat_customers": int((frame["frequency"] > 0).sum()),
    }
    before = target.read_bytes()
    write_customer_features(target, cdnow, AS_OF, unit_days=7, clients=clients)
    assert target.read_bytes() == before  # a rerun writes the same bytes
    with pytest.raises(UserError, match="more than once"):
        write_customer_features(target, cdnow, AS_OF, clients=pd.concat([clients, clients]))
    assert target.read_bytes() == before  # the previous output is untouched
    assert sorted(p.name for p in target.parent.iterdir()) == ["customers.parquet"]


def test_amounts_beyond_64_bit_decimals_are_summed_exactly():
    assert sql.money_type(None) == sql.money_type(12.5) == sql.SMALL_MONEY
    assert sql.money_type(float(sql.SMALL_MONEY_LIMIT)) == sql.MONEY
    # 2.5e12 does not fit DECIMAL(18, 6); the rows are then cast to DECIMAL(38, 6)
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "date": [D(2024, 1, 1), D(2024, 2, 1), D(2024, 2, 1), D(2024, 1, 1)],
            "amount": [2.5e12, 0.25, -1e12, 7.0],
            "channel": ["对公柜面", "app", "对公柜面", "app"],
        }
    )
    got = customer_features(tx, D(2024, 3, 1)).set_index("customer_id")
    want = customer_features_pandas(tx, D(2024, 3, 1)).set_index("customer_id")
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12, atol=0)
    assert got.loc["a", "monetary_value"] == 0.25 - 1e12
    assert got.loc["a", "main_channel"] == "对公柜面" and got.loc["b", "total_value"] == 7.0
