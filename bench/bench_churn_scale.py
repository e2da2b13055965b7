"""Benchmark: the churn stage on a bank-scale customer table, chunked scoring vs one chunk.

Not a test. Builds, in a temporary directory, what the churn stage reads:

1. a base population from :func:`synthetic.bank.generate` (``--base`` customers, clean
   rows of status 正常), its feature table (:func:`features.customer_features` with the
   client master), a BG/NBD model (``models/transaction_model.json``) and an ltv table
   (``clv`` = 52-week expected transactions x monetary value x 2% margin, its percentile);
2. ``data/processed/customers.parquet`` and ``ltv.parquet`` of ``--customers`` customers:
   each base customer repeated ``--customers / --base`` times with ids ``<id>-<k>`` (sorted
   by customer_id, the same ids in both files);
3. ``data/interim/transactions.parquet`` holding the transactions of the fit sample only
   (the customers :func:`kequn.chunks.sample_customer_ids` picks for ``--fit`` and the seed:
   their base customer's rows under the new id). The stage reads nothing else of it; with
   a real extract of everyone the extra cost is one DuckDB scan that skips the other rows.

Then runs ``python -m kequn churn`` in a child process (``measure.run_measured``) twice:
``scale.chunk_customers = --chunk`` and one chunk (= every customer), with
``scale.fit_customers = --fit``; reports wall time and peak RSS of each, checks the two
churn.parquet / churn.json are equal, and writes a Markdown table (``--out``).

    .venv/bin/python bench/bench_churn_scale.py                      # 2M customers
    .venv/bin/python bench/bench_churn_scale.py --customers 200000 --base 20000 \
        --fit 20000 --chunk 25000 --out /tmp/churn_scale_small.md     # a quick check
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from measure import machine, run_measured

REPO = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2025, 12, 31)


def build_base(workdir: Path, n_base: int, seed: int) -> tuple[pa.Table, pa.Table]:
    """Base customers' feature table and ltv table (Arrow), transactions to base.parquet."""
    import pandas as pd

    from features import customer_features
    from ltv import BetaGeoModel
    from synthetic.bank import generate

    extract = generate(n_customers=n_base, end=AS_OF, seed=seed)
    tx = extract.transactions
    tx = tx.loc[tx["status"] == "正常", ["customer_id", "date", "amount", "product", "channel"]]
    tx = tx.assign(date=tx["date"].dt.date).reset_index(drop=True)
    pq.write_table(pa.Table.from_pandas(tx, preserve_index=False), workdir / "base.parquet")
    customers = customer_features(
        tx, AS_OF, unit_days=7, trend_window_days=90, clients=extract.clients
    )
    history = [customers[c].to_numpy(float) for c in ("frequency", "recency", "T")]
    model = BetaGeoModel().fit(*history)
    (workdir / "models").mkdir(parents=True, exist_ok=True)
    (workdir / "models/transaction_model.json").write_text(model.to_json(), encoding="utf-8")
    expected = model.expected_transactions(52.0, *history)
    clv = np.asarray(expected) * customers["monetary_value"].fillna(0.0).to_numpy() * 0.02
    value = pd.DataFrame(
        {
            "customer_id": customers["customer_id"],
            "clv": clv,
            "value_percentile": pd.Series(clv).rank(pct=True).to_numpy() * 100,
        }
    )
    return (
        pa.Table.from_pandas(customers, preserve_index=False),
        pa.Table.from_pandas(value, preserve_index=False),
    )


def replicate(table: pa.Table, copies: int) -> pa.Table:
    """Each row ``copies`` times in a row, ids ``<id>-<k>`` (sorted when the base is)."""
    rows = pa.array(np.repeat(np.arange(table.num_rows), copies))
    width = len(str(copies - 1))
    suffix = pa.array(np.tile([f"-{k:0{width}d}" for k in range(copies)], table.num_rows))
    out = table.take(rows)
    ids = pc.binary_join_element_wise(out["customer_id"].combine_chunks(), suffix, "")
    return out.set_column(out.schema.get_field_index("customer_id"), "customer_id", ids)


def fit_sample_transactions(workdir: Path, fit: int, seed: int) -> int:
    """transactions.parquet for the fit sample only (module docstring); returns its rows."""
    from kequn.chunks import sample_customer_ids

    customers = workdir / "data/processed/customers.parquet"
    ids = sample_customer_ids(customers, fit, seed)
    with duckdb.connect() as con:
        if ids is None:
            con.execute(f"CREATE TABLE chosen AS SELECT customer_id FROM '{customers}'")
        else:
            con.register("picked", ids.to_frame())
            con.execute("CREATE TABLE chosen AS SELECT customer_id FROM picked")
        target = workdir / "data/interim/transactions.parquet"
        con.execute(
            f"""COPY (
                SELECT c.customer_id, t.date, t.amount, t.product, t.channel
                FROM chosen c JOIN '{workdir / "base.parquet"}' t
                  ON t.customer_id = split_part(c.customer_id, '-', 1)
                ORDER BY c.customer_id, t.date
            ) TO '{target}' (FORMAT parquet)"""
        )
        return con.execute(f"SELECT count(*) FROM '{target}'").fetchall()[0][0]


def run_stage(workdir: Path, chunk: int, fit: int, seed: int) -> dict:
    """One churn stage run in a child process; wall seconds, peak RSS (MB), load averages."""
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params.update(as_of=AS_OF.isoformat(), seed=seed)
    params["scale"] = {"chunk_customers": chunk, "fit_customers": fit}
    (workdir / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True))
    run = run_measured(
        [sys.executable, "-m", "kequn", "churn"], cwd=workdir, capture=True, merge_stderr=True
    )
    if run.returncode != 0:
        raise SystemExit(f"churn stage failed:\n{run.output[-3000:]}")
    phases = {
        name: float(re.search(pattern + r".* done in ([\d.]+) s", run.output).group(1))
        for name, pattern in (
            ("read", r"reading the fit sample"),
            ("fit", r"churn fit on"),
            ("score", r"scoring \d+ customers"),
        )
    }
    return {
        "chunk": chunk,
        "wall": run.wall_s,
        "cpu": run.cpu_s,
        "rss_mb": run.peak_rss_gb * 1e9 / 2**20,
        "load_before": run.load_before,
        "load_after": run.load_after,
        "phases": phases,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2_000_000)
    parser.add_argument("--base", type=int, default=100_000)
    parser.add_argument("--fit", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=250_000)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/churn_scale.md")
    args = parser.parse_args()
    copies = -(-args.customers // args.base)

    with tempfile.TemporaryDirectory(prefix="bench_churn_scale_") as tmp:
        workdir = Path(tmp)
        for folder in ("data/interim", "data/processed", "models", "reports"):
            (workdir / folder).mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        customers, value = build_base(workdir, args.base, args.seed)
        big = replicate(customers, copies)
        pq.write_table(big, workdir / "data/processed/customers.parquet")
        n = big.num_rows
        del big, customers
        pq.write_table(replicate(value, copies), workdir / "data/processed/ltv.parquet")
        del value
        tx_rows = fit_sample_transactions(workdir, args.fit, args.seed)
        print(
            f"built {n} customers ({args.base} x {copies}), {tx_rows} fit-sample transactions "
            f"in {time.perf_counter() - start:.0f} s",
            file=sys.stderr,
        )
        runs = []
        outputs = []
        for chunk in (args.chunk, n):
            runs.append(run_stage(workdir, chunk, args.fit, args.seed))
            print(runs[-1], file=sys.stderr)
            outputs.append(
                (
                    pq.read_table(workdir / "data/processed/churn.parquet"),
                    (workdir / "reports/metrics/churn.json").read_text(encoding="utf-8"),
                )
            )
        same = outputs[0][0].equals(outputs[1][0]) and outputs[0][1] == outputs[1][1]
        fit_customers = re.search(r'"fit_customers": (\d+)', outputs[0][1]).group(1)
        del outputs

    lines = [
        "# Churn stage at bank scale: chunked scoring vs one chunk",
        "",
        f"`bench/bench_churn_scale.py` on {dt.date.today().isoformat()}: {n:,} customers "
        f"({args.base:,} synthetic customers from `synthetic.bank` x {copies}, ids `<id>-<k>`),",
        f"fit on a seeded sample of `scale.fit_customers` = {args.fit:,} "
        f"({fit_customers} drawn; their {tx_rows:,} transactions are the whole",
        "transactions.parquet: the stage reads no other rows). One `python -m kequn churn` "
        "per row, in a child process (bench/measure.py: CPU from wait4, peak RSS of the "
        "process tree).",
        "",
        f"Machine: {machine()}; shared with other engineers, so the load average is given per run.",
        "",
        "| chunk_customers | wall (s) | CPU (s) | peak RSS (MB) | read fit sample (s) | fit (s) "
        "| score (s) | load avg (1 min) before | load avg (1 min) after |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in runs:
        ph = r["phases"]
        lines.append(
            f"| {r['chunk']:,} | {r['wall']:.0f} | {r['cpu']:.0f} | {r['rss_mb']:,.0f} "
            f"| {ph['read']:.0f} | {ph['fit']:.0f} | {ph['score']:.0f} "
            f"| {r['load_before']:.2f} | {r['load_after']:.2f} |"
        )
    lines += [
        "",
        f"churn.parquet and churn.json of the two runs equal: **{'yes' if same else 'NO'}**.",
        "",
    ]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
