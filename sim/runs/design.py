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

import numpy as np
import polars as pl
from scipy.stats import qmc

from sim.runs.sweep_file import Parameter, Sweep

DESIGN_KEY, POINT_KEY = 0, 1          # spawn keys of the design's and the points' seeds


def _axis(p: Parameter) -> list[float] | np.ndarray:
    """A grid parameter's values: its own, or ``levels`` evenly from ``low`` to ``high``."""
    if p.values is not None:
        return p.values
    assert p.low is not None and p.high is not None and p.levels is not None  # checked on load
    return np.linspace(p.low, p.high, p.levels)


def design_points(sweep: Sweep) -> pl.DataFrame:
    """The points: ``point``, ``block``, ``row``, ``swapped`` and one column per swept key.

    ``block`` is ``grid`` or ``lhs``, or for a Sobol design ``A``, ``B`` or ``AB`` (A with the
    column ``swapped`` taken from B); ``row`` is the row within the block.
    """
    spec, keys = sweep.spec, sweep.keys
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(DESIGN_KEY,)))
    if spec.design == "grid":
        axes = [_axis(p) for p in spec.parameters]
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
        x = np.column_stack([np.round(x[:, i]) if lev.integer else x[:, i]
                             for i, lev in enumerate(sweep.levers)])
        frames.append(pl.DataFrame({"block": [name] * len(x), "row": np.arange(len(x)),
                                    "swapped": np.full(len(x), swapped)}).hstack(
            pl.DataFrame(x, schema=keys, orient="row")))
    points = pl.concat(frames)
    return points.select(pl.int_range(points.height, dtype=pl.Int32).alias("point"),
                         pl.col("block"), pl.col("row").cast(pl.Int32),
                         pl.col("swapped").cast(pl.Int32), *[pl.col(k) for k in keys])


def _scale(sweep: Sweep, u: np.ndarray) -> np.ndarray:
    low = np.array([p.low for p in sweep.spec.parameters])
    high = np.array([p.high for p in sweep.spec.parameters])
    return low + u * (high - low)


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
    content = {
        "sweep": sweep.spec.model_dump(mode="python", exclude={"description"}),
        "base": sweep.base.model_dump(mode="python"),
        "points": hashlib.sha256(points.select(sweep.keys).to_numpy().tobytes()).hexdigest(),
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

    def values(self, point: int) -> dict[str, float]:
        row = self.points.row(point, named=True)
        return {k: row[k] for k in self.sweep.keys}


def make_plan(sweep: Sweep) -> Plan:
    points = design_points(sweep)
    return Plan(sweep, points, tuple(plan_tasks(sweep, points)), fingerprint(sweep, points))

