"""The one binomial interval and the one normal quantile (sim.analysis.intervals)."""

import math

import numpy as np
import pytest
from scipy import stats

from sim.analysis.intervals import Z90, wilson


def test_z90_is_the_normal_95th_percentile():
    assert Z90 == pytest.approx(1.6448536, abs=1e-6)


def test_wilson_interval_does_not_collapse_at_zero():
    lo, hi = wilson(0, 20)
    z2 = Z90 ** 2
    assert lo == 0.0 and hi == pytest.approx(z2 / (20 + z2))   # 0 of 20: up to ~12%
    lo, hi = wilson(50, 100)
    assert lo < 0.5 < hi and hi - lo == pytest.approx(2 * Z90 * math.sqrt(0.25 / 100), rel=0.02)


def test_wilson_interval_matches_known_values_at_95_percent():
    lo, hi = wilson(np.array([0, 10, 5]), np.array([10, 10, 10]), confidence=0.95)
    # 0 of 10: upper bound z^2/n / (1 + z^2/n) with z = 1.96.
    z2 = stats.norm.ppf(0.975) ** 2
    assert lo[0] == 0 and hi[0] == pytest.approx(z2 / 10 / (1 + z2 / 10))
    assert hi[1] == 1 and lo[1] == pytest.approx(1 - hi[0])
    assert lo[2] == pytest.approx(0.2366, abs=1e-4) and hi[2] == pytest.approx(0.7634, abs=1e-4)


def test_wilson_with_no_trials_knows_nothing():
    lo, hi = wilson(np.array([0]), np.array([0]))
    assert lo[0] == 0.0 and hi[0] == 1.0
