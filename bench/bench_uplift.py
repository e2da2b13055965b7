"""Benchmarks of the campaign review: a 64,000-row three-arm response extract evaluated per
arm against control (wall time), and, on the bundled sample's past campaign, the Qini
coefficient of the uplift ranking against the risk x value ranking.

    PYTHONPATH=src python bench/bench_uplift.py [--qini]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from evaluation.campaigns import evaluate_campaigns  # noqa: E402
from evaluation.responses import load_response_mapping, read_responses  # noqa: E402
from evaluation.uplift import qini_coefficient  # noqa: E402

MAPPING = """
files: ["{file}"]
columns: {{customer_id: id, campaign: campaign, group: grp, contact_date: day}}
date_format: "%Y%m%d"
groups: {{control: [C], sms: [S], call: [P]}}
outcomes:
  responded: {{column: responded, kind: rate, "yes": ["1"]}}
  revenue: {{column: revenue, kind: money}}
"""


def response_timing(rows: int = 64_000, seed: int = 1) -> float:
    """Seconds to read and evaluate a ``rows``-row, three-arm response extract."""
    rng = np.random.default_rng(seed)
    arm = rng.choice(["C", "S", "P"], size=rows)
    hit = rng.random(rows) < np.select([arm == "S", arm == "P"], [0.12, 0.15], 0.10)
    revenue = np.where(hit, rng.gamma(2.0, 500.0, rows), 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "responses.csv"
        lines = ["id,campaign,grp,day,responded,revenue"] + [
            f"K{i},R1,{a},20251101,{int(h)},{v:.2f}"
            for i, (a, h, v) in enumerate(zip(arm, hit, revenue, strict=True))
        ]
        file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        (Path(tmp) / "m.yaml").write_text(MAPPING.format(file=file.as_posix()), encoding="utf-8")
        start = time.perf_counter()
        mapping = load_response_mapping(Path(tmp) / "m.yaml")
        frame, _ = read_responses(mapping, dt.date(2025, 12, 31))
        evaluate_campaigns(
            frame,
            {"responded": "rate", "revenue": "money"},
            {"R1": 2.0},
            source="responses",
            seed=1,
        )
        return time.perf_counter() - start


def sample_qini_comparison(seed: int = 1) -> dict[str, float | str]:
    """Hold-out Qini of the uplift and risk x value rankings on the planted campaign
    (the bundled sample's generator, 20,000 customers)."""
    from evaluation.uplift import backtest_uplift, pre_features, risk_value_score
    from synthetic.bank import generate
    from synthetic.campaigns import plant_campaign

    extract = generate(20_000, seed=20261123)
    campaign = plant_campaign(extract.transactions, extract.customers)
    normal = extract.transactions[extract.transactions["status"] == "正常"]
    clients = extract.customers[["customer_id", "client_type"]]
    when = campaign["contact_date"].iloc[0]
    features = pre_features(normal, campaign["customer_id"], when, clients)
    treated = (campaign["arm"] == "treatment").to_numpy()
    result, _ = backtest_uplift(
        features.to_numpy(),
        treated,
        campaign["responded"].to_numpy(),
        risk_value_score(features),
        seed=seed,
    )
    oracle = qini_coefficient(
        campaign["true_uplift"].to_numpy(), treated, campaign["responded"].to_numpy()
    )
    return {**result.as_dict(), "qini_true_uplift_all_clients": oracle}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qini", action="store_true", help="also the sample's Qini comparison")
    args = parser.parse_args()
    print(f"64,000-row three-arm response extract: {response_timing():.2f} s")
    if args.qini:
        for name, value in sample_qini_comparison().items():
            print(f"{name}: {value}")


if __name__ == "__main__":
    main()
