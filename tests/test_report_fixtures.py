"""A small, realistic pipeline run written by hand for the report tests (no other stage runs).

:func:`make_run` writes every file the ``report`` stage reads -- the four per-customer
tables, the five metrics JSON files, the plot tables and ``rejects.csv`` -- into a
directory, with columns and keys as docs/outputs.md (and the real sample run) have them.
The values are drawn from a seeded generator, so tests can recompute every summary figure
independently from the frames.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

AS_OF = dt.date(2025, 12, 31)
N_CUSTOMERS = 240
RFM = ["champions", "loyal", "potential_loyalists", "new", "at_risk", "hibernating", "lost"]
CLUSTERS = {
    1: ("high-value, multi-channel, loyal", "高价值·多渠道·忠诚"),
    2: ("low-value, mobile-first, at-risk", "低价值·手机银行为主·流失风险"),
    3: ("low-value, counter-first, new", "低价值·柜面为主·新客"),
}
REJECTS = {"bad_date": 3, "bad_amount": 2, "duplicate_txn_id": 2, "filtered": 4, "truncated_row": 1}
CAMPAIGNS = {
    "retention": {
        "rows": 40,
        "contacts": 36,
        "control": 4,
        "expected_value": 5200.5,
        "cost": 180.0,
        "expected_net_return": 5020.5,
        "suppressed": 2,
        "overlap_removed": 1,
    },
    "growth": {
        "rows": 30,
        "contacts": 27,
        "control": 3,
        "expected_value": 2100.0,
        "cost": 81.0,
        "expected_net_return": 2019.0,
        "suppressed": 1,
        "overlap_removed": 0,
    },
    "winback": {
        "rows": 12,
        "contacts": 11,
        "control": 1,
        "expected_value": 130.0,
        "cost": 22.0,
        "expected_net_return": 108.0,
        "suppressed": 0,
        "overlap_removed": 3,
    },
    "vip_care": {
        "rows": 5,
        "contacts": 5,
        "control": 0,
        "expected_value": 900.0,
        "cost": 100.0,
        "expected_net_return": 800.0,
        "suppressed": 0,
        "overlap_removed": 0,
    },
}


def _tiers(value: np.ndarray) -> np.ndarray:
    """strategic: top customers holding the first 50 % of value; value: the next 30 %."""
    order = np.argsort(-value, kind="stable")
    before = np.concatenate([[0.0], np.cumsum(value[order])[:-1]]) / value.sum()
    tiers = np.where(before < 0.5, "strategic", np.where(before < 0.8, "value", "basic"))
    out = np.empty(len(value), dtype=object)
    out[order] = tiers
    out[value <= 0] = "basic"
    return out


def customer_tables(seed: int = 7) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = N_CUSTOMERS
    ids = [f"{i:010d}" for i in range(1, n + 1)]
    tenure = rng.integers(30, 1000, n)
    since = np.minimum(tenure, rng.exponential(120, n).astype(int))
    as_of = pd.Timestamp(AS_OF)
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "first_date": (as_of - pd.to_timedelta(tenure, unit="D")).date,
            "last_date": (as_of - pd.to_timedelta(since, unit="D")).date,
            "days_since_last": since,
            "tenure_days": tenure,
            "frequency": rng.poisson(5, n),
            "total_value": rng.lognormal(8, 1.2, n).round(2),
            "client_type": np.where(rng.random(n) < 0.1, "对公", "个人"),
        }
    )
    clv = rng.lognormal(6, 1.5, n)
    clv[rng.choice(n, 20, replace=False)] = 0.0
    ltv = pd.DataFrame(
        {
            "customer_id": ids,
            "clv": clv,
            "revenue_contribution": clv * 50,
            "probability_alive": rng.random(n),
        }
    )
    p = rng.beta(2, 2, n)
    level = np.select([p >= 0.7, p >= 0.5, p >= 0.3], ["red", "orange", "yellow"], "none")
    churn = pd.DataFrame({"customer_id": ids, "churn_probability": p, "warning_level": level})
    cluster = rng.integers(1, 4, n)
    segments = pd.DataFrame(
        {
            "customer_id": pd.array(ids, dtype="string"),
            "value_tier": _tiers(clv),
            "tier_value": clv,
            "r_score": rng.integers(1, 6, n).astype("int8"),
            "f_score": rng.integers(1, 6, n).astype("int8"),
            "m_score": rng.integers(1, 6, n).astype("int8"),
            "rfm_segment": rng.choice(RFM, n),
            "cluster_id": cluster,
            "cluster_name": [CLUSTERS[c][0] for c in cluster],
            "cluster_name_zh": [CLUSTERS[c][1] for c in cluster],
            "tier_change": rng.choice(
                ["upgrade", "downgrade", "same", "new"], n, p=[0.1, 0.15, 0.6, 0.15]
            ),
        }
    )
    return {"customers": customers, "ltv": ltv, "churn": churn, "segments": segments}


#: products.json of the fixture run: per line the backtest against the popularity baseline
PRODUCT_METRICS = {
    "as_of": AS_OF.isoformat(),
    "horizon_days": 90,
    "model": "logistic",
    "lines": {
        line: {
            "auc": auc,
            "pr_auc": 0.3,
            "lift_at_10": lift,
            "baseline_auc": 0.5,
            "baseline_lift_at_10": 1.0,
            "take_up_rate": rate,
            "top_decile_take_up_rate": rate * lift,
            "cutoffs": ["2025-10-02", "2025-07-03", "2025-04-03"],
            "spread": 0.02,
        }
        for line, auc, lift, rate in (
            ("deposit", 0.853, 4.07, 0.104),
            ("loan", 0.85, 4.71, 0.034),
            ("fee", 0.836, 3.73, 0.106),
        )
    },
    "mean": {
        "auc": 0.846,
        "lift_at_10": 4.17,
        "baseline_auc": 0.5,
        "baseline_lift_at_10": 1.0,
        "take_up_rate": 0.0813,
        "top_decile_take_up_rate": 0.324,
    },
}


def metrics() -> dict[str, dict]:
    rejected = sum(REJECTS.values())
    return {
        "ingest": {
            "rows_read": 5000,
            "rows_accepted": 5000 - rejected,
            "rows_rejected": rejected,
            "rejected_by_reason": {**REJECTS, "blank_customer_id": 0},
            "reject_rate": (rejected - REJECTS["filtered"]) / (5000 - REJECTS["filtered"]),
            "customers": N_CUSTOMERS,
            "first_date": "2023-01-01",
            "last_date": AS_OF.isoformat(),
            "files": ["data/raw/t.csv"],
        },
        "ltv": {
            "as_of": AS_OF.isoformat(),
            "backtest_cutoff": "2025-07-02",
            "model": "pareto_nbd",
            "choice": {"requested": "auto", "model": "pareto_nbd", "reason": "lowest MAE"},
            "backtest": {
                "bgnbd": {
                    "mae_value": 16000.0,
                    "value_error": 0.12,
                    "spearman": 0.77,
                    "gini": 0.95,
                },
                "pareto_nbd": {
                    "mae_value": 15476.5,
                    "value_error": 0.105,
                    "spearman": 0.78,
                    "gini": 0.966,
                },
                "gbm": {
                    "mae_value": 18582.0,
                    "value_error": 0.003,
                    "spearman": 0.74,
                    "gini": 0.952,
                },
            },
            "baselines": {
                "past_value_repeats": {
                    "mae_value": 21835.2,
                    "value_error": 0.318,
                    "spearman": 0.70,
                    "gini": 0.939,
                }
            },
        },
        "churn": {
            "as_of": AS_OF.isoformat(),
            "horizon_days": 90,
            "chosen": "gbm",
            "requested": "auto",
            "windows": {"backtest_features_as_of": "2025-10-02"},
            "backtest": {
                name: {"calibrated": {"roc_auc": auc, "pr_auc": auc + 0.02, "brier": 0.3 - auc / 4}}
                for name, auc in (("btyd", 0.956), ("gbm", 0.957), ("survival", 0.892))
            },
        },
        "segments": {"as_of": AS_OF.isoformat(), "customers": N_CUSTOMERS},
        "products": PRODUCT_METRICS,
        "targets": {
            "as_of": AS_OF.isoformat(),
            "campaigns": CAMPAIGNS,
            "rows_total": sum(c["rows"] for c in CAMPAIGNS.values()),
            "expected_value_total": sum(c["expected_value"] for c in CAMPAIGNS.values()),
            "cost_total": sum(c["cost"] for c in CAMPAIGNS.values()),
            "suppressed_total": sum(c["suppressed"] for c in CAMPAIGNS.values()),
        },
    }


def plot_tables(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    clv = np.sort(tables["ltv"]["clv"].to_numpy())[::-1]
    shares = np.linspace(0, 1, 11)
    gain = pd.DataFrame({"share_of_customers": shares, "model": np.sqrt(shares), "random": shares})
    merged = tables["segments"].astype({"customer_id": str}).merge(tables["ltv"], on="customer_id")
    size = merged.groupby("cluster_id").size()
    value = merged.groupby("cluster_id")["clv"].sum()
    profiles = pd.DataFrame(
        {
            "cluster": size.index,
            "cluster_name": [CLUSTERS[c][0] for c in size.index],
            "cluster_name_zh": [CLUSTERS[c][1] for c in size.index],
            "size": size.to_numpy(),
            "size_share": (size / size.sum()).to_numpy(),
            "value_share": (value / value.sum()).to_numpy(),
            "mean_clv": merged.groupby("cluster_id")["clv"].mean().to_numpy(),
            "mean_churn_probability": [0.2, 0.8, 0.5],
            "mean_days_since_last": [20.0, 300.0, 40.0],
        }
    )
    km_days = np.arange(0, 271, 30)
    return {
        "ltv_calibration": pd.DataFrame(
            {
                "frequency": range(6),
                "actual": [1.9, 1.3, 1.6, 1.9, 2.0, 2.4],
                "predicted": [1.6, 1.5, 1.6, 1.8, 2.1, 2.3],
            }
        ),
        "ltv_deciles": pd.DataFrame(
            {
                "decile": range(1, 11),
                "actual": np.geomspace(1e6, 10, 10),
                "predicted": np.geomspace(1.1e6, 12, 10),
            }
        ),
        "ltv_gain": gain,
        "churn_roc": pd.concat(
            [
                pd.DataFrame(
                    {"false_positive_rate": shares, "true_positive_rate": shares**k, "model": m}
                )
                for m, k in (("btyd", 0.3), ("gbm", 0.25), ("survival", 0.5))
            ],
            ignore_index=True,
        ),
        "churn_calibration": pd.DataFrame({"predicted": shares[1:], "observed": shares[1:] * 0.97}),
        "churn_gain": gain,
        "churn_km": pd.DataFrame(
            {
                "days": np.tile(km_days, 2),
                "survival": np.tile(np.exp(-km_days / 100), 2),
                "group": np.repeat(["all", "clv_top_20"], len(km_days)),
            }
        ),
        "pareto": pd.DataFrame(
            {
                "share_of_customers": np.arange(len(clv) + 1) / len(clv),
                "share_of_value": np.concatenate([[0], np.cumsum(clv)]) / clv.sum(),
            }
        ),
        "cluster_profiles": profiles,
    }


def rejects_frame() -> pd.DataFrame:
    reasons = [r for r, n in REJECTS.items() for _ in range(n)]
    return pd.DataFrame(
        {
            "source_file": "data/raw/t.csv",
            "line": range(2, len(reasons) + 2),
            "reason": reasons,
            "raw": "x,y,z",
        }
    )


def make_run(root: Path, language: str = "en", currency: str = "CNY") -> Path:
    """Write the whole fixture run into ``root`` (and a params.yaml); return ``root``."""
    tables = customer_tables()
    for name, frame in tables.items():
        path = root / "data" / "processed" / f"{name}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False)
    for name, data in metrics().items():
        path = root / "reports" / "metrics" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    for name, frame in plot_tables(tables).items():
        path = root / "reports" / "plots" / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
    rejects = root / "data" / "interim" / "rejects.csv"
    rejects.parent.mkdir(parents=True, exist_ok=True)
    rejects_frame().to_csv(rejects, index=False)
    write_params(root, language, currency)
    return root


def write_params(root: Path, language: str, currency: str = "CNY") -> dict:
    params = {
        "seed": 1,
        "churn": {"horizon_days": 90},
        "ltv": {"horizon_months": 12},
        "report": {"language": language, "currency": currency},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    return params


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def run_report(root: Path, language: str, currency: str = "CNY") -> str:
    """Run the report stage in ``root`` (in this process); return the page text."""
    from reporting import stage

    params = write_params(root, language, currency)
    with working_directory(root):
        stage.run(params)
    return (root / "reports" / "report.html").read_text(encoding="utf-8")


def test_fixture_run_is_consistent(tmp_path: Path) -> None:
    """The fixture itself obeys the contracts the report relies on."""
    root = make_run(tmp_path)
    ingest = json.loads((root / "reports/metrics/ingest.json").read_text(encoding="utf-8"))
    assert ingest["rows_read"] == ingest["rows_accepted"] + ingest["rows_rejected"]
    segments = pd.read_parquet(root / "data/processed/segments.parquet")
    ltv = pd.read_parquet(root / "data/processed/ltv.parquet")
    assert set(segments["value_tier"]) == {"strategic", "value", "basic"}
    top = ltv["clv"].max()
    assert segments.loc[ltv["clv"].to_numpy() == top, "value_tier"].item() == "strategic"
    assert len(pd.read_csv(root / "data/interim/rejects.csv")) == sum(REJECTS.values())
