"""Interval arithmetic shared by every analysis: the one normal quantile and the one binomial
interval, so that a "90% interval" means the same thing in every table and report."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike

# The standard library's normal quantile, not SciPy's: the same value to 1e-15, without the
# second of importing scipy.stats on every report.
Z90 = NormalDist().inv_cdf(0.95)   # two-sided 90% normal intervals: estimate ± Z90 × SE


def wilson(hits: ArrayLike, n: ArrayLike,
           confidence: float = 0.90) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion ``hits / n`` (arrays or scalars).

    Unlike ``p ± z se`` it does not collapse to a point at 0% or 100%: 0 of 20 replications
    meeting a target still leaves a chance of up to about 12%. With ``n = 0`` nothing is known:
    the interval is 0 to 1.
    """
    hits, n = np.asarray(hits, dtype=float), np.asarray(n, dtype=float)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    m = np.maximum(n, 1)
    p = hits / m
    centre = (p + z * z / (2 * m)) / (1 + z * z / m)
    half = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m)) / (1 + z * z / m)
    # Exact at the ends (none or all met), where rounding would leave 1e-16 off.
    lo = np.where(hits <= 0, 0.0, np.clip(centre - half, 0, 1))
    hi = np.where(hits >= n, 1.0, np.clip(centre + half, 0, 1))
    return np.where(n <= 0, 0.0, lo), np.where(n <= 0, 1.0, hi)
