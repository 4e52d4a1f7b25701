"""Sensitivity of a sweep's outputs to its levers: Sobol indices, tornado bars, best points.

An output is women's share of one series in one year (by default, the year of each modelled
UN or national target). At each point the model gives one value per replication, so each output
is a matrix ``Y[point, replication]``.

**How replication noise is handled.** The analysis is of the *mean over the sweep's
replications* at each point, ``f(x) = mean_r Y[x, r]``. That mean still carries Monte Carlo
noise, which no lever explains. We estimate its variance from the replications (with common
random numbers, the sweep default, only the point-by-replication interaction counts: a
replication's luck shared by every point cancels between points) and report it as the *noise
share* of the variance between point means. In the indices the noise stays in the denominator,
so first-order indices are shares of the variance actually observed and ``1 - sum(S_i)`` holds
the noise as well as the interactions; Jansen's total estimator, which would count the noise
of two points as a lever's effect, has the estimated noise taken out. The intervals resample
the design's rows (each carries its own noise) for sampled designs, and the replications
(one draw for every point, keeping them paired) for grids, whose points are fixed; so they
include the replication noise either way.

**Sobol indices** (``sobol`` designs): first-order by Saltelli et al. (2010) and total by
Jansen (1999), on the A, B and AB_i blocks of the design -- the estimators of
``scipy.stats.sobol_indices``, computed here on the sweep's own results.

**Tornado** (any design): for each lever, the output's mean at the low end of its range minus
the mean at the high end (a grid's extreme levels; otherwise the points in the lowest and
highest quarter of the range), with the other levers averaged over the design.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import polars as pl

from sim.analysis.attainment import prob_meet
from sim.analysis.intervals import wilson
from sim.runs.design import Plan
from sim.runs.sweep_file import Output

BOOTSTRAP = 500
CONFIDENCE = 0.90
BEST = 5


@dataclass(frozen=True)
class Interval:
    """An estimate with its bootstrap interval (``CONFIDENCE`` two-sided, percentile)."""

    estimate: float
    low: float
    high: float


def output_matrix(results: pl.DataFrame, output: Output, n_points: int,
                  replications: int) -> np.ndarray:
    """``Y[point, replication]``: the output's share (NaN where undefined, e.g. nobody sent)."""
    rows = results.filter((pl.col("series") == output.series) & (pl.col("year") == output.year))
    y = np.full((n_points, replications), np.nan)
    share = rows["share"].fill_null(np.nan).to_numpy()
    y[rows["point"].to_numpy(), rows["replication"].to_numpy()] = share
    return y


def _interval(estimate: float, draws: np.ndarray) -> Interval:
    draws = draws[np.isfinite(draws)]
    if not len(draws):
        return Interval(estimate, np.nan, np.nan)
    tail = (1 - CONFIDENCE) / 2 * 100
    lo, hi = np.percentile(draws, [tail, 100 - tail])
    return Interval(float(estimate), float(lo), float(hi))


def _means(y: np.ndarray, reps: np.ndarray | None = None) -> np.ndarray:
    with _quiet():
        return np.nanmean(y if reps is None else y[:, reps], axis=1)


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence numpy's "mean of empty slice" warnings: an all-NaN point stays NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def noise_variance(y: np.ndarray, common: bool) -> float:
    """The variance of the replication noise in a point's mean (NaN if R < 2).

    With common random numbers a replication's draw shifts every point alike; that shared part
    cancels between points, so only the point-by-replication interaction is noise here (the
    residual of a two-way layout). With independent random numbers it is the within-point
    variance. Either way it is divided by R, as the analysis uses means over R replications.
    """
    y = y[np.all(np.isfinite(y), axis=1)]
    points, reps = y.shape
    if reps < 2 or points < 2:
        return float("nan")
    if common:
        resid = y - y.mean(axis=1, keepdims=True) - y.mean(axis=0, keepdims=True) + y.mean()
        noise = np.sum(resid ** 2) / ((points - 1) * (reps - 1))
    else:
        noise = np.mean(np.var(y, axis=1, ddof=1))
    return float(noise / reps)


def noise_share(y: np.ndarray, common: bool) -> float:
    """Share of the variance between point means that is replication noise."""
    f = _means(y)
    f = f[np.isfinite(f)]
    spread = np.var(f, ddof=1) if len(f) > 1 else 0.0
    return noise_variance(y, common) / spread if spread > 0 else float("nan")


# -- Sobol indices ------------------------------------------------------------------------


def saltelli_jansen(f_a: np.ndarray, f_b: np.ndarray, f_ab: np.ndarray,
                    noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """First-order (Saltelli 2010) and total (Jansen 1999) indices; ``f_ab`` is ``[d, N]``.

    Rows where any block is undefined are dropped. Outputs are centred first, as in
    ``scipy.stats.sobol_indices``, which lowers the first-order estimator's variance.
    ``noise`` is the variance of the replication noise in each value: Jansen's
    ``(f_A - f_AB)^2`` counts the noise of both points (``2 * noise``) as if a lever had
    caused it, so it is taken out; the first-order estimator is unbiased by such noise.
    """
    ok = np.isfinite(f_a) & np.isfinite(f_b) & np.all(np.isfinite(f_ab), axis=0)
    f_a, f_b, f_ab = f_a[ok], f_b[ok], f_ab[:, ok]
    if len(f_a) < 2:
        nan = np.full(f_ab.shape[0], np.nan)
        return nan, nan
    mean = np.mean(np.concatenate([f_a, f_b]))
    f_a, f_b, f_ab = f_a - mean, f_b - mean, f_ab - mean
    var = np.var(np.concatenate([f_a, f_b]))
    if var <= 0:
        nan = np.full(f_ab.shape[0], np.nan)
        return nan, nan
    first = np.mean(f_b * (f_ab - f_a), axis=-1) / var
    total = (0.5 * np.mean((f_a - f_ab) ** 2, axis=-1) - noise) / var
    return first, total


@dataclass(frozen=True)
class SobolIndices:
    output: Output
    keys: tuple[str, ...]
    first: tuple[Interval, ...]
    total: tuple[Interval, ...]
    noise: float          # share of Var(f) that is replication noise
    samples: int


def sobol_blocks(plan: Plan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point numbers of the A rows, the B rows, and the AB_i rows (``[d, N]``), by row."""
    pts = plan.points

    def block(name: str, swapped: int = -1) -> np.ndarray:
        sel = pts.filter((pl.col("block") == name) & (pl.col("swapped") == swapped)).sort("row")
        return sel["point"].to_numpy()

    a, b = block("A"), block("B")
    ab = np.stack([block("AB", i) for i in range(len(plan.sweep.keys))])
    return a, b, ab


def sobol(plan: Plan, y: np.ndarray, output: Output, rng: np.random.Generator,
          n_boot: int = BOOTSTRAP) -> SobolIndices:
    """Sobol indices of one output with bootstrap intervals over the design's rows.

    Each row's values carry their own replication noise, so resampling rows carries that
    noise into the intervals; replications are not resampled on top (that would count the
    noise twice and push the total indices up).
    """
    a, b, ab = sobol_blocks(plan)
    f = _means(y)
    common = plan.sweep.spec.random_numbers == "common"
    noise = noise_variance(y, common)
    noise = 0.0 if not np.isfinite(noise) else noise
    first, total = saltelli_jansen(f[a], f[b], f[ab], noise)
    n = len(a)
    draws_first = np.empty((n_boot, len(first)))
    draws_total = np.empty((n_boot, len(first)))
    for i in range(n_boot):
        rows = rng.integers(0, n, n)
        draws_first[i], draws_total[i] = saltelli_jansen(f[a[rows]], f[b[rows]],
                                                         f[ab[:, rows]], noise)
    base = np.concatenate([a, b])
    return SobolIndices(
        output, tuple(plan.sweep.keys),
        tuple(_interval(first[k], draws_first[:, k]) for k in range(len(first))),
        tuple(_interval(total[k], draws_total[:, k]) for k in range(len(first))),
        noise_share(y[base], common), n)


# -- tornado ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TornadoBar:
    key: str
    low_range: tuple[float, float]      # the lever values counted as "low"
    high_range: tuple[float, float]
    low_mean: Interval
    high_mean: Interval
    effect: Interval                    # high mean - low mean


def _ends(x: np.ndarray, grid: bool) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the points at the low and the high end of one lever's values."""
    distinct = np.unique(x)
    if grid or len(distinct) <= 4:
        return x == distinct[0], x == distinct[-1]
    lo, hi = distinct[0], distinct[-1]
    quarter = (hi - lo) / 4
    return x <= lo + quarter, x >= hi - quarter


def tornado(plan: Plan, y: np.ndarray, rng: np.random.Generator,
            n_boot: int = BOOTSTRAP) -> list[TornadoBar]:
    """One bar per lever, largest effect first (see the module for the definition).

    The intervals resample the design's rows for sampled designs (each row carries its own
    noise) and, for a grid, whose points are fixed, the replications (one draw for all points,
    so common random numbers stay paired).
    """
    sampled = plan.sweep.spec.design != "grid"
    n: int
    reps: int
    n, reps = y.shape
    f = _means(y)
    boots = []
    for _ in range(n_boot):
        if sampled:
            boots.append((f, rng.integers(0, n, n)))
        else:
            boots.append((_means(y, rng.integers(0, reps, reps)), np.arange(n)))
    bars = []
    for key in plan.sweep.keys:
        x = plan.points[key].to_numpy()
        low, high = _ends(x, not sampled)
        est = [_masked_mean(f, low), _masked_mean(f, high)]
        draws = np.array([[_masked_mean(fb[rows], low[rows]), _masked_mean(fb[rows], high[rows])]
                          for fb, rows in boots])
        bars.append(TornadoBar(key, (x[low].min(), x[low].max()), (x[high].min(), x[high].max()),
                               _interval(est[0], draws[:, 0]), _interval(est[1], draws[:, 1]),
                               _interval(est[1] - est[0], draws[:, 1] - draws[:, 0])))
    return sorted(bars, key=lambda b: -abs(b.effect.estimate) if np.isfinite(
        b.effect.estimate) else 0)


def _masked_mean(f: np.ndarray, mask: np.ndarray) -> float:
    v = f[mask]
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else float("nan")


# -- best points --------------------------------------------------------------------------


def best_points(y: np.ndarray, output: Output, n: int = BEST) -> pl.DataFrame:
    """The points most likely to meet the output's target (or with the highest mean share):
    ``point, mean, p05, p95, prob_meet`` with a Wilson interval on ``prob_meet``."""
    with _quiet():
        mean = np.nanmean(y, axis=1)
        p05, p95 = np.nanpercentile(y, [5, 95], axis=1)
    frame = pl.DataFrame({"point": np.arange(len(y), dtype=np.int32), "mean": mean,
                          "p05": p05, "p95": p95})
    if output.target is not None:
        hits, count = prob_meet(y, output.target.target, axis=1)
        lo, hi = wilson(hits, count, confidence=CONFIDENCE)
        frame = frame.with_columns(pl.Series("prob_meet", hits / np.maximum(count, 1)),
                                   pl.Series("prob_low", lo), pl.Series("prob_high", hi))
        order = ["prob_meet", "mean"]
    else:
        order = ["mean"]
    return frame.fill_nan(None).sort(order, descending=True, nulls_last=True).head(n)


# -- everything for one sweep -------------------------------------------------------------


@dataclass(frozen=True)
class OutputAnalysis:
    output: Output
    y: np.ndarray
    tornado: list[TornadoBar]
    sobol: SobolIndices | None
    best: pl.DataFrame
    noise: float


@dataclass(frozen=True)
class Analysis:
    outputs: tuple[OutputAnalysis, ...]

    def table(self) -> pl.DataFrame:
        """One row per output, lever and measure (``first``, ``total``, ``tornado``)."""
        rows = []
        for oa in self.outputs:
            base = {"series": oa.output.series, "year": oa.output.year,
                    "target_id": oa.output.target.target_id if oa.output.target else None,
                    "noise_share": oa.noise}
            for bar in oa.tornado:
                rows.append({**base, "parameter": bar.key, "measure": "tornado_effect",
                             **_cols(bar.effect)})
            if oa.sobol is not None:
                for key, s1, st in zip(oa.sobol.keys, oa.sobol.first, oa.sobol.total):
                    rows.append({**base, "parameter": key, "measure": "sobol_first", **_cols(s1)})
                    rows.append({**base, "parameter": key, "measure": "sobol_total", **_cols(st)})
        return pl.DataFrame(rows, schema={
            "series": pl.Utf8, "year": pl.Int64, "target_id": pl.Utf8, "noise_share": pl.Float64,
            "parameter": pl.Utf8, "measure": pl.Utf8, "estimate": pl.Float64,
            "low": pl.Float64, "high": pl.Float64}).fill_nan(None)


def _cols(i: Interval) -> dict[str, float]:
    return {"estimate": i.estimate, "low": i.low, "high": i.high}


def analyse(plan: Plan, results: pl.DataFrame) -> Analysis:
    """Tornado bars, Sobol indices (``sobol`` designs) and best points for every output."""
    spec = plan.sweep.spec
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(2,)))
    out = []
    for output in plan.sweep.outputs:
        y = output_matrix(results, output, plan.points.height, spec.replications)
        out.append(OutputAnalysis(
            output, y, tornado(plan, y, rng),
            sobol(plan, y, output, rng) if spec.design == "sobol" else None,
            best_points(y, output), noise_share(y, spec.random_numbers == "common")))
    return Analysis(tuple(out))
