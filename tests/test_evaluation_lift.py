"""Statistics of evaluation.lift against published and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation.lift import (
    economics,
    inconclusive,
    mean_lift,
    newcombe_interval,
    rate_lift,
    shrunk_rate,
    two_proportion_p_value,
    welch_p_value,
    wilson_interval,
)

# Newcombe (1998), Table II, method 10: (x1, n1, x2, n2) -> (low, high)
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
]


@pytest.mark.parametrize(("counts", "expected"), NEWCOMBE_TABLE_II)
def test_newcombe_matches_the_published_examples(counts, expected):
    low, high = newcombe_interval(*counts)
    assert low == pytest.approx(expected[0], abs=5e-5)
    assert high == pytest.approx(expected[1], abs=5e-5)


def test_wilson_by_hand():
    # 0/10: upper = z^2/n / (1 + z^2/n) = 3.8415/10 / 1.38415
    z2 = 1.959963984540054**2
    assert wilson_interval(0, 10) == pytest.approx((0.0, (z2 / 10) / (1 + z2 / 10)))


def test_z_test_by_hand():
    # 60/100 vs 40/100: pooled 0.5, se = sqrt(0.25 * 0.02) = 0.0707, z = 2.828
    z = 0.2 / math.sqrt(0.25 * 0.02)
    assert two_proportion_p_value(60, 100, 40, 100) == pytest.approx(math.erfc(z / math.sqrt(2)))
    assert two_proportion_p_value(0, 10, 0, 10) == 1.0


def test_two_point_lift_on_twenty_thousand_clients():
    rng = np.random.default_rng(7)
    treated = rng.random(10_000) < 0.12
    control = rng.random(10_000) < 0.10
    lift = rate_lift(treated, control)
    assert lift.ci_low < 0.02 < lift.ci_high
    assert lift.ci_low > 0
    assert lift.p_value < 0.01


def test_null_campaign_finds_nothing():
    rng = np.random.default_rng(8)
    found = 0
    for _ in range(40):
        lift = rate_lift(rng.random(2000) < 0.1, rng.random(2000) < 0.1)
        found += not (lift.ci_low < 0 < lift.ci_high)
    assert found <= 5  # about 5% of 40 by chance


def test_money_lift_covers_truth_and_welch_matches_by_hand():
    rng = np.random.default_rng(9)
    treated = rng.gamma(2.0, 55.0, 8000)  # mean 110
    control = rng.gamma(2.0, 50.0, 8000)  # mean 100
    lift = mean_lift(treated, control, seed=1, draws=500)
    assert lift.ci_low < 10 < lift.ci_high and lift.ci_low > 0
    assert lift == mean_lift(treated, control, seed=1, draws=500)  # seeded
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 4.0, 6.0])
    # by hand: t = (2.5 - 4) / sqrt(1.6667/4 + 4/3) = -1.1339, df = 3.2347
    se2 = (5 / 3) / 4 + 4 / 3
    df = se2**2 / (((5 / 3) / 4) ** 2 / 3 + (4 / 3) ** 2 / 2)
    assert df == pytest.approx(3.2347, abs=1e-3)
    from scipy import stats

    assert welch_p_value(a, b) == pytest.approx(2 * stats.t.sf(1.5 / math.sqrt(se2), df))
    assert welch_p_value(np.ones(5), np.ones(5)) == 1.0


def test_economics_and_flags():
    money = economics(value_lift=12.0, treated=1000, cost_per_contact=5.0)
    assert money == {"incremental_value": 12000.0, "cost": 5000.0, "roi": pytest.approx(1.4)}
    assert economics(1.0, 10, 0.0)["roi"] is None
    small = rate_lift(np.ones(50), np.zeros(50))
    assert "too small" in inconclusive(50, small, rate=True)
    rng = np.random.default_rng(3)
    wide = rate_lift(rng.random(150) < 0.5, rng.random(150) < 0.5)
    assert inconclusive(150, wide, rate=True) == "interval too wide to conclude"
    narrow = rate_lift(rng.random(20000) < 0.2, rng.random(20000) < 0.1)
    assert inconclusive(20000, narrow, rate=True) is None


def test_shrinkage_moves_from_prior_to_measurement():
    rng = np.random.default_rng(4)
    narrow = rate_lift(rng.random(50000) < 0.13, rng.random(50000) < 0.10)
    wide = rate_lift(rng.random(60) < 0.13, rng.random(60) < 0.10)
    assert shrunk_rate(None, 0.25) == 0.25
    assert abs(shrunk_rate(narrow, 0.25) - narrow.lift) < 0.01
    assert abs(shrunk_rate(wide, 0.25) - 0.25) < abs(wide.lift - 0.25)
    assert shrunk_rate(wide, 0.25) > 0.15
