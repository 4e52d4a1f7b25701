"""Scenario discovery: PRIM boxes of the factor ranges in which a sweep's points meet a target.

PRIM, the Patient Rule Induction Method of Friedman & Fisher (1999, "Bump hunting in
high-dimensional data", Statistics and Computing 9: 123-143), as used for scenario discovery by
Bryant & Lempert (2010) and EMA Workbench. Each point of the sweep is a case with ``y = 1``
when it meets the target (its chance of meeting it over its replications is at least the
sweep's ``discovery_probability``) and ``0`` otherwise. Starting from the box holding every
point, PRIM *peels*: it tries cutting the ``alpha`` share of the box's points at the low or the
high end of each numeric factor, or dropping one level of a categorical factor, and keeps the
cut that raises the share of meeting points in the box most per point removed (EMA
Workbench's ``lenient1`` objective, so a categorical level that removes many points competes
fairly with a thin numeric slice). It stops when the box would hold fewer than ``min_mass`` of
the points. Each step's box is on the *peeling trajectory*; the box reported is the one with
the largest ``coverage x density`` on it:

- **coverage**: the share of all meeting points that lie in the box;
- **density**: the share of the box's points that meet the target.

Pasting (growing the box back) is not done: the boxes are those of the peeling alone. (The
``prim`` package on PyPI fails on categorical factors with pandas 3, which is why this small
implementation exists; it is tested on synthetic data with a known box.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence, cast

import numpy as np

ALPHA = 0.05
MIN_MASS = 0.05


@dataclass(frozen=True)
class Limit:
    """A box's limit on one factor: a numeric range or a set of categorical levels."""

    factor: str
    low: float | None = None
    high: float | None = None
    levels: tuple[str, ...] | None = None
    restricted: bool = False        # narrower than the factor's values in the sweep

    def describe(self) -> str:
        if self.levels is not None:
            return "{" + ", ".join(self.levels) + "}"
        return f"{self.low:.4g} to {self.high:.4g}"


@dataclass(frozen=True)
class Box:
    """A PRIM box with its quality."""

    limits: tuple[Limit, ...]
    coverage: float
    density: float
    n: int                           # points in the box
    n_meeting: int                   # of which meet the target
    mass: float                      # share of all points in the box
    trajectory: list[tuple[float, float, float]] = field(default_factory=list, repr=False)

    @property
    def restricted(self) -> list[Limit]:
        return [lim for lim in self.limits if lim.restricted]


def _inside(columns: Sequence[np.ndarray], categorical: Sequence[bool],
            limits: list[tuple[float, float] | frozenset[str]]) -> np.ndarray:
    mask = np.ones(len(columns[0]), dtype=bool)
    for x, cat, lim in zip(columns, categorical, limits):
        if cat:
            mask &= np.isin(x, list(lim))       # type: ignore[arg-type]
        else:
            lo, hi = cast(tuple[float, float], lim)
            mask &= (x >= lo) & (x <= hi)
    return mask


def prim(columns: Sequence[np.ndarray], names: Sequence[str], y: np.ndarray,
         alpha: float = ALPHA, min_mass: float = MIN_MASS) -> Box | None:
    """The PRIM box of the cases ``y`` (booleans) over the factor ``columns`` (numeric arrays,
    or arrays of strings for categorical factors); None if no case meets."""
    y = np.asarray(y, dtype=bool)
    n_all, hits = len(y), int(y.sum())
    if hits == 0 or n_all == 0:
        return None
    categorical = [x.dtype.kind in "OUS" for x in columns]
    start: list[tuple[float, float] | frozenset[str]] = [
        frozenset(np.unique(x).tolist()) if cat else (float(np.min(x)), float(np.max(x)))
        for x, cat in zip(columns, categorical)]
    limits = list(start)
    inside = _inside(columns, categorical, limits)
    min_n = max(1, int(np.ceil(min_mass * n_all)))
    trajectory = [(list(limits), inside.copy())]
    while True:
        mean_now = y[inside].mean()
        best: tuple[float, int, list[tuple[float, float] | frozenset[str]], np.ndarray] | None
        best = None
        for i, (x, cat) in enumerate(zip(columns, categorical)):
            xb = x[inside]
            candidates: list[tuple[float, float] | frozenset[str]] = []
            if cat:
                levels = limits[i]
                assert isinstance(levels, frozenset)
                if len(levels) > 1:
                    candidates = [levels - {lev} for lev in sorted(levels)]
            else:
                lo, hi = cast(tuple[float, float], limits[i])
                q_lo, q_hi = np.quantile(xb, [alpha, 1 - alpha])
                above, below = xb[xb > q_lo], xb[xb < q_hi]   # a tied end goes whole
                if len(above):
                    candidates.append((float(above.min()), hi))
                if len(below):
                    candidates.append((lo, float(below.max())))
            for cand in candidates:
                trial = list(limits)
                trial[i] = cand
                box = inside & _inside([x], [cat], [cand])
                n_box, removed = int(box.sum()), int(inside.sum() - box.sum())
                if n_box < min_n or removed == 0:
                    continue
                gain = (y[box].mean() - mean_now) / removed
                if best is None or gain > best[0] or (gain == best[0] and n_box > best[1]):
                    best = (gain, n_box, trial, box)
        if best is None:
            break
        limits, inside = best[2], best[3]
        trajectory.append((list(limits), inside.copy()))
    steps = [(float(y[m].sum() / hits), float(y[m].mean()), float(m.mean()))
             for _, m in trajectory]
    k = int(np.argmax([c * d for c, d, _ in steps]))
    chosen, mask = trajectory[k]
    out = []
    for name, x, cat, lim, full in zip(names, columns, categorical, chosen, start):
        if cat:
            assert isinstance(lim, frozenset)
            order = [v for v in dict.fromkeys(x.tolist()) if v in lim]
            out.append(Limit(name, levels=tuple(sorted(order)), restricted=lim != full))
        else:
            lo, hi = cast(tuple[float, float], lim)
            out.append(Limit(name, lo, hi, restricted=lim != full))
    coverage, density, mass = steps[k]
    return Box(tuple(out), coverage, density, int(mask.sum()), int(y[mask].sum()), mass,
               steps)
