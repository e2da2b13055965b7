"""The segment stage at bank scale: chunks, exact DuckDB fits, the cluster-fit sample."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import yaml
from scipy.optimize import linear_sum_assignment

from conftest import run_stage
from kequn.chunks import sample_customer_ids
from segmentation import stage
from segmentation.clusters import behaviour_matrix
from segmentation.population import asset_cuts, score_bins, value_cuts
from segmentation.segment import Population, fit_population
from segmentation.synthetic import synthetic_customers
from test_segmentation_stage import OUTPUTS, _transactions, _write_inputs


def _set_scale(workdir, chunk: int, fit: int = 0) -> None:
    params = yaml.safe_load((workdir / "params.yaml").read_text(encoding="utf-8"))
    params["scale"] = {"chunk_customers": chunk, "fit_customers": fit}
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True))


def test_chunks_of_997_give_the_same_outputs_as_one_chunk(tmp_path):
    transactions = _transactions(n_customers=2500, seed=11)
    runs = {997: tmp_path / "small", 1_000_000: tmp_path / "one"}
    for chunk, workdir in runs.items():
        _write_inputs(workdir, transactions, dt.date(2024, 9, 30))
        _set_scale(workdir, chunk)
        done = run_stage("segment", workdir)
        assert done.returncode == 0, done.stderr[-3000:]
    small, one = runs[997], runs[1_000_000]
    segments = "data/processed/segments.parquet"
    assert pq.ParquetFile(small / segments).metadata.num_row_groups == 3  # 2500 / 997
    assert pq.ParquetFile(one / segments).metadata.num_row_groups == 1
    pd.testing.assert_frame_equal(
        pd.read_parquet(small / segments), pd.read_parquet(one / segments), check_exact=True
    )
    for name in OUTPUTS[1:]:  # metrics, plots, cluster model: byte for byte
        assert (small / name).read_bytes() == (one / name).read_bytes(), name
    metrics = json.loads((small / "reports/metrics/segments.json").read_text())
    assert metrics["customers"] == pq.ParquetFile(small / stage.CUSTOMERS).metadata.num_rows > 997
    assert metrics["migration"]["counts"]["same"] > 0  # the review baseline was joined


def _tiers_by_hand(values: np.ndarray, share: float) -> float:
    """Smallest positive value whose strictly-greater values hold < share of the positive
    total (integer values: float sums are exact)."""
    s = pd.Series(values)
    pos = s[(s > 0) & np.isfinite(s)]
    total = pos.sum()
    distinct = np.sort(pos.unique())[::-1]
    before = np.array([pos[pos > v].sum() for v in distinct])
    ok = distinct[before < share * total]
    return float(ok.min()) if len(ok) else np.inf


def _bins_by_hand(values: pd.Series, n_bins: int = 5) -> list[float]:
    """Upper value of each RFM bin: equal-count bins on the distinct values, greedily."""
    counts = values.value_counts().sort_index()
    cum = counts.cumsum().to_numpy()
    n, m = int(cum[-1]), len(counts)
    ends, start = [], 0
    for b in range(n_bins - 1):
        left = n_bins - b
        assigned = cum[start - 1] if start else 0
        target = assigned + (n - assigned) / left
        end = int(np.argmax(cum >= target))
        if end > start and target - cum[end - 1] <= cum[end] - target:
            end -= 1
        end = min(max(end, start), m - left)
        ends.append(end)
        start = end + 1
    ends.append(m - 1)
    return [float(counts.index[e]) for e in ends]


def test_duckdb_cut_offs_and_bins_equal_a_pandas_computation_with_ties():
    rng = np.random.default_rng(3)
    n = 4000
    value = rng.choice(np.arange(-20, 400), size=n).astype("float64")  # ties, negatives
    value[rng.random(n) < 0.2] = 0.0
    value[rng.random(n) < 0.02] = np.nan
    frequency = np.minimum(rng.poisson(0.7, n), 30).astype("float64")  # mostly 0
    balance = np.round(rng.lognormal(8, 2, n), -2)  # rounded: ties
    balance[rng.random(n) < 0.1] = np.nan
    frame = pd.DataFrame({"v": value, "f": frequency, "b": balance})
    with duckdb.connect() as con:
        con.register("frame", frame)
        cuts = value_cuts(con, "frame", "v", (0.5, 0.3), n)
        assert cuts.strategic == _tiers_by_hand(value, 0.5)
        assert cuts.value == _tiers_by_hand(value, 0.8)
        pos = np.sort(np.where(np.isfinite(value) & (value > 0), value, 0))[::-1]
        assert cuts.total == pos.sum()
        top = np.concatenate([[0], np.cumsum(pos)])
        k = (cuts.pareto["share_of_customers"] * n).round().astype(int)
        assert np.array_equal(cuts.pareto["share_of_value"], top[k] / pos.sum())
        assert cuts.concentration == (np.argmax(top >= 0.8 * pos.sum() * (1 - 1e-12))) / n
        assert cuts.top_share == top[n // 5] / pos.sum()

        bins = score_bins(con, "frame", '"f"')
        assert bins.upper.tolist() == _bins_by_hand(frame["f"])
        r = score_bins(con, "frame", '-"v"')  # NaN counts as the worst value
        assert r.upper.tolist() == _bins_by_hand((-frame["v"]).fillna(-np.inf))

        large, medium, known = asset_cuts(con, "frame", "b", 0.9, 0.6)
        below = frame["b"].dropna().rank(method="min") - 1  # customers with less
        share = below / frame["b"].notna().sum()
        assert known == frame["b"].notna().sum()
        assert large == frame["b"].dropna()[share >= 0.9].min()
        assert medium == frame["b"].dropna()[share >= 0.6].min()

        # the hand example of segmentation.value_tiers: 50 | 30 | 10 5 5; a share of
        # exactly 50 % before the 30 keeps it out of the strategic tier
        con.register("hand", pd.DataFrame({"v": [5.0, 50.0, 10.0, 30.0, 5.0]}))
        hand = value_cuts(con, "hand", "v", (0.5, 0.3), 5)
        assert (hand.strategic, hand.value, hand.concentration) == (50.0, 30.0, 0.4)


def _write_synthetic(workdir, n: int) -> pd.DataFrame:
    frame = synthetic_customers(n, seed=4)
    (workdir / "data/processed").mkdir(parents=True)
    features = frame.drop(columns=["clv", "churn_probability", "true_group"])
    features.to_parquet(workdir / stage.CUSTOMERS, index=False)
    frame[["customer_id", "clv"]].to_parquet(workdir / stage.LTV, index=False)
    frame[["customer_id", "churn_probability"]].to_parquet(workdir / stage.CHURN, index=False)
    return frame


def _matched_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Share of rows on which two labellings agree under the best one-to-one id matching."""
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1), dtype=np.int64)
    np.add.at(table, (ia, ib), 1)
    rows, cols = linear_sum_assignment(-table)
    return table[rows, cols].sum() / len(a)


def test_clusters_fitted_on_a_sample_agree_with_the_full_fit(tmp_path, monkeypatch):
    n, fit = 8000, 2000
    monkeypatch.chdir(tmp_path)
    frame = _write_synthetic(tmp_path, n)
    columns = [*pq.read_schema(stage.CUSTOMERS).names, "clv", "churn_probability"]
    settings = {"k_range": [4, 8], "silhouette_sample": 2000}
    labels = {}
    with duckdb.connect() as con:
        for name, ids in [
            ("sample", sample_customer_ids(stage.CUSTOMERS, fit, seed=7)),
            ("full", None),
        ]:
            population = Population(
                chunks=lambda cols: stage.joined_chunks(cols, 1500),
                columns=columns,
                n=n,
                con=con,
                customers=f"read_parquet('{stage.CUSTOMERS}')",
                values=f"read_parquet('{stage.LTV}')",
                fit_ids=ids,
            )
            model = fit_population(population, settings, seed=7)
            labels[name] = model.clusters.predict(behaviour_matrix(frame))
            if name == "sample":  # a hash sample: Binomial(8000, 1/4), sd 39
                assert abs(model.n_fit - fit) < 200
            else:
                assert model.n_fit == n
    # four groups many standard deviations apart: centroids estimated from ~500 customers
    # each move by ~1/sqrt(500) = 0.05 sd, which moves only customers within ~0.05 sd of
    # a boundary between groups -- a few in a thousand at most
    assert _matched_agreement(labels["sample"], labels["full"]) >= 0.99
    assert _matched_agreement(labels["sample"], frame["true_group"].to_numpy()) >= 0.97


def test_ltv_ids_that_do_not_match_the_customers_are_a_one_line_error(tmp_path):
    workdir = tmp_path / "w"
    _write_inputs(workdir, _transactions(n_customers=300, seed=2), dt.date(2024, 9, 30))
    _set_scale(workdir, 100)
    ltv = pd.read_parquet(workdir / stage.LTV)
    ltv.loc[150, "customer_id"] = "X9999"  # second chunk
    ltv.to_parquet(workdir / stage.LTV, index=False)
    done = run_stage("segment", workdir)
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("kequn segment: error: data/processed/ltv.parquet: customer_id")
    assert "rows 101-200" in last and "Traceback" not in done.stderr
    assert not (workdir / stage.SEGMENTS).exists()


def test_churn_with_more_rows_than_the_customers_is_an_error(tmp_path):
    workdir = tmp_path / "w"
    _write_inputs(workdir, _transactions(n_customers=120, seed=2), dt.date(2024, 9, 30))
    churn = pd.read_parquet(workdir / stage.CHURN)
    churn = pd.concat([churn, churn.tail(1).assign(customer_id="ZZZ")])
    churn.to_parquet(workdir / stage.CHURN, index=False)
    done = run_stage("segment", workdir)
    assert done.returncode == 2
    assert "data/processed/churn.parquet" in done.stderr.strip().splitlines()[-1]
