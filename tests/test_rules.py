"""The shared business rules: the cumulative-value tier cut, worked by hand and checked
against the segmentation stage's DuckDB computation of the same cut."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from kequn.rules import share_before, tier_cut
from segmentation.population import value_cuts


def test_tier_cut_by_hand():
    # values 50, 30, 10, 5, 5 (total 100): the value before each is 0, 50, 80, 90, 90 %
    values = np.array([5.0, 50.0, 10.0, 30.0, 5.0])
    assert share_before(values).tolist() == pytest.approx([0.9, 0.0, 0.8, 0.5, 0.9])
    assert tier_cut(values, 0.5) == 50.0  # 50 alone makes the top half
    assert tier_cut(values, 0.8) == 30.0  # the next 30 % (before(30) = 50 % < 80 %)
    assert tier_cut(values, 0.95) == 5.0  # both 5s: equal values share a tier
    assert tier_cut(np.array([0.0, -1.0, np.nan]), 0.5) == float("inf")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tier_cut_is_the_segmentation_cut(seed):
    rng = np.random.default_rng(seed)
    values = np.r_[rng.choice([0.0, 1.0, 2.5, 7.0], 400), rng.lognormal(2, 1, 600), -3.0, np.nan]
    frame = pd.DataFrame({"v": values})
    con = duckdb.connect()
    con.register("frame", frame)
    for shares in [(0.5, 0.3), (0.2, 0.5), (0.8, 0.15)]:
        cuts = value_cuts(con, "frame", "v", shares, len(frame))
        assert cuts.strategic == tier_cut(values, shares[0])
        assert cuts.value == tier_cut(values, shares[0] + shares[1])
