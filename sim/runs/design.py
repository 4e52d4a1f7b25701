"""A sweep's design: the points, each replication's seed, the tasks, and the folder's mark.

The design places the points (``grid``, ``latin_hypercube`` or ``sobol``) as a table
(``points.parquet``); a ``sobol`` design holds the Saltelli blocks A, B and AB_i that
:mod:`sim.analysis.sensitivity` needs. Each task is several replications of one point; its
scenario seed and replication indices are fixed here, from the sweep seed alone (see
:func:`point_seed`), and the task size depends only on the sweep file, so the results are the
same on one worker, eight, or a Dask cluster, and a resumed sweep cuts the work the same way as
the first attempt.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy.stats import qmc

from sim.runs.sweep_file import Parameter, Sweep

DESIGN_KEY, POINT_KEY = 0, 1          # spawn keys of the design's and the points' seeds


def _axis(p: Parameter) -> list[float] | np.ndarray:
    """A grid parameter's values: its own, or ``levels`` evenly from ``low`` to ``high``; a
    categorical factor's level numbers (0, 1, ... in the file's order)."""
    if p.categorical:
        return list(range(len(p.values or ())))
    if p.values is not None:
        return p.values  # type: ignore[return-value]   # numbers: checked on load
    assert p.low is not None and p.high is not None and p.levels is not None  # checked on load
    return np.linspace(p.low, p.high, p.levels)


def design_points(sweep: Sweep) -> pl.DataFrame:
    """The points: ``point``, ``block``, ``row``, ``swapped`` and one column per swept key.

    ``block`` is ``grid`` or ``lhs``, or for a Sobol design ``A``, ``B`` or ``AB`` (A with the
    column ``swapped`` taken from B); ``row`` is the row within the block. A categorical
    factor's column holds its level as text; the designs place its levels as their math
    allows: a grid crosses every level; a Latin hypercube maps its stratified uniform column
    to the k levels by ``floor(k u)``, so each level comes equally often (to within one point
    when k does not divide the samples); a Sobol design maps its uniform columns the same way
    (the indices of such a factor are then approximate: its levels are steps, not a range).
    """
    spec, keys = sweep.spec, sweep.keys
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(DESIGN_KEY,)))
    if spec.design == "grid":
        axes = [_axis(p) for p in spec.factors]
        x = np.array(list(itertools.product(*axes)), dtype=float)
        blocks = [("grid", x, -1)]
    elif spec.design == "latin_hypercube":
        u = qmc.LatinHypercube(d=len(keys), rng=rng).random(spec.samples)
        blocks = [("lhs", _scale(sweep, u), -1)]
    else:
        u = qmc.Sobol(d=2 * len(keys), scramble=True, rng=rng).random(spec.samples)
        a, b = _scale(sweep, u[:, :len(keys)]), _scale(sweep, u[:, len(keys):])
        blocks = [("A", a, -1), ("B", b, -1)]
        for i in range(len(keys)):
            ab = a.copy()
            ab[:, i] = b[:, i]
            blocks.append(("AB", ab, i))
    frames = []
    for name, x, swapped in blocks:
        columns = []
        for i, (lev, p) in enumerate(zip(sweep.levers, spec.factors)):
            if p.categorical:
                labels = np.array(p.labels)
                columns.append(pl.Series(keys[i], labels[x[:, i].astype(int)], pl.Utf8))
            else:
                columns.append(pl.Series(keys[i], np.round(x[:, i]) if lev.integer
                                         else x[:, i], pl.Float64))
        frames.append(pl.DataFrame({"block": [name] * len(x), "row": np.arange(len(x)),
                                    "swapped": np.full(len(x), swapped)}).hstack(columns))
    points = pl.concat(frames)
    return points.select(pl.int_range(points.height, dtype=pl.Int32).alias("point"),
                         pl.col("block"), pl.col("row").cast(pl.Int32),
                         pl.col("swapped").cast(pl.Int32), *[pl.col(k) for k in keys])


def _scale(sweep: Sweep, u: np.ndarray) -> np.ndarray:
    """Unit-cube columns to lever values; a categorical column to level numbers."""
    out = np.empty_like(u)
    for i, p in enumerate(sweep.spec.factors):
        if p.categorical:
            k = len(p.values or ())
            out[:, i] = np.minimum(np.floor(u[:, i] * k), k - 1)
        else:
            assert p.low is not None and p.high is not None   # checked on load
            out[:, i] = p.low + u[:, i] * (p.high - p.low)
    return out


def point_seed(sweep: Sweep, point: int) -> int:
    """The scenario seed of a point.

    ``common`` (the default): the sweep seed itself, so replication ``r`` of every point draws
    from the same streams (common random numbers). Differences between points are then the
    levers' effect with most of the Monte Carlo noise cancelled, which makes tornado bars,
    Sobol indices and goal-seeking much sharper for the same work. ``independent``: a seed per
    point from ``SeedSequence(seed, spawn_key=(1, point))``, for analyses that need points to
    be statistically independent. Either way a replication's streams are a function of
    ``(sweep seed, point, replication)`` fixed before any task is submitted.
    """
    if sweep.spec.random_numbers == "common":
        return sweep.spec.seed
    state = np.random.SeedSequence(sweep.spec.seed, spawn_key=(POINT_KEY, point))
    return int(state.generate_state(1, np.uint64)[0] >> np.uint64(1))


@dataclass(frozen=True)
class Task:
    """Several replications of one point: the unit of work, of retry and of resume."""

    point: int
    seed: int
    replications: tuple[int, ...]

    @property
    def name(self) -> str:
        return f"p{self.point:06d}-r{self.replications[0]:05d}-{self.replications[-1]:05d}"


def plan_tasks(sweep: Sweep, points: pl.DataFrame) -> list[Task]:
    size = sweep.replications_per_task()
    reps = range(sweep.spec.replications)
    return [Task(p, point_seed(sweep, p), tuple(reps[i:i + size]))
            for p in points["point"].to_list() for i in range(0, len(reps), size)]


def fingerprint(sweep: Sweep, points: pl.DataFrame) -> str:
    """What the results depend on: the resolved sweep, the base scenario and the points."""
    spec = sweep.spec
    # Fields added with the XLRM form are left out while unused, so a sweep written before
    # them keeps its fingerprint (and its folder can still be resumed).
    unused = {k for k, v in (("levers", spec.levers), ("uncertainties", spec.uncertainties),
                             ("discovery_probability", spec.discovery_probability - 0.8))
              if not v}
    table = points.select(sweep.keys)
    content = {
        "sweep": spec.model_dump(mode="python", exclude={"description"} | unused),
        "base": sweep.base.model_dump(mode="python"),
        "points": hashlib.sha256(table.write_csv().encode() if sweep.categorical
                                 else table.to_numpy().tobytes()).hexdigest(),
    }
    text = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()



@dataclass(frozen=True)
class Plan:
    """The sweep's points, its tasks, and the fingerprint its folder is marked with."""

    sweep: Sweep
    points: pl.DataFrame
    tasks: tuple[Task, ...]
    fingerprint: str

    def values(self, point: int) -> dict[str, Any]:
        """The point's factor values (numbers; a categorical factor's level as text)."""
        row = self.points.row(point, named=True)
        return {k: row[k] for k in self.sweep.keys}


def make_plan(sweep: Sweep) -> Plan:
    points = design_points(sweep)
    return Plan(sweep, points, tuple(plan_tasks(sweep, points)), fingerprint(sweep, points))

