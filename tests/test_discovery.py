"""Scenario discovery: PRIM against boxes known in advance, on synthetic data."""

from __future__ import annotations

import numpy as np

from sim.analysis.discovery import prim


def test_prim_finds_a_known_box():
    rng = np.random.default_rng(1)
    x = rng.random((500, 2))
    y = (x[:, 0] >= 0.2) & (x[:, 0] <= 0.6) & (x[:, 1] >= 0.5)
    box = prim([x[:, 0], x[:, 1]], ["a", "b"], y)
    assert box is not None
    a, b = box.limits
    # 500 uniform points: neighbouring points are ~1/500 apart along an axis inside the
    # 0.4 x 0.5 box (100 of its points per 0.1 of width), and a peel removes 5% of the box;
    # 0.03 allows one peel's overshoot on each side.
    assert abs(a.low - 0.2) < 0.03 and abs(a.high - 0.6) < 0.03
    assert abs(b.low - 0.5) < 0.03 and b.high > 0.97 and a.restricted and b.restricted
    assert box.density > 0.95 and box.coverage > 0.9
    assert box.n == int((np.column_stack([x[:, 0] >= a.low, x[:, 0] <= a.high,
                                          x[:, 1] >= b.low, x[:, 1] <= b.high])).all(1).sum())


def test_prim_drops_a_categorical_level_and_leaves_an_inert_factor_alone():
    rng = np.random.default_rng(2)
    n = 600
    level = rng.choice(["2025-07-01", "2027-01-01", "never"], n)
    z, inert = rng.random(n), rng.random(n)
    y = (z >= 0.4) & (level != "never")
    box = prim([level, z, inert], ["equal_from", "z", "inert"], y)
    assert box is not None
    lev, zlim, other = box.limits
    assert lev.levels == ("2025-07-01", "2027-01-01") and lev.restricted
    assert abs(zlim.low - 0.4) < 0.03          # as above: one peel of ~600/3*2 points
    assert not other.restricted                # the inert factor is not cut
    assert box.density > 0.95 and box.coverage > 0.9


def test_prim_without_meeting_points_has_no_box():
    x = np.linspace(0, 1, 50)
    assert prim([x], ["x"], np.zeros(50, bool)) is None
