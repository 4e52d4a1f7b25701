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
highest quarter of the range), with the other levers averaged over the design. A categorical
factor's "ends" are its first and last level in the sweep file's order, and each of its
levels gets its mean share (with the difference from the first level) in :func:`by_level`.

**SALib** (Herman & Usher 2017; Iwanaga et al. 2022): on a ``latin_hypercube`` design the
delta moment-independent index (Borgonovo 2007, Plischke et al. 2013) and the first-order
index SALib's delta module estimates alongside it, both with bootstrap intervals; on a
``sobol`` design SALib's Sobol analysis of the same A, B and AB_i rows, as a cross-check of our
noise-corrected estimator (SALib's total indices carry the replication noise, ours do not).
A categorical factor enters SALib as its level number (the indices are then approximate).

**Reliability.** Every index gets a flag (:func:`reliability`): ``negative`` when it is below
-0.05 or its whole interval is below 0 (a share of variance cannot be negative: too few
samples or too much noise), ``unreliable`` when its interval's half-width exceeds 0.05 and the
index itself, ``ok`` otherwise; and the sample size it would need for a half-width of 0.05,
from the half-width's ``1/sqrt(N)`` scaling: ``N x (half-width / 0.05)^2``.

**Scenario discovery**: PRIM boxes of the factor ranges where points meet each target
(:mod:`sim.analysis.discovery`).
"""

from __future__ import annotations

import warnings
import io
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import polars as pl

from sim.analysis.attainment import prob_meet
from sim.analysis.discovery import Box, prim
from sim.analysis.intervals import wilson
from sim.runs.design import Plan
from sim.runs.sweep_file import Output

SALIB_RESAMPLES = 100
TARGET_HALF_WIDTH = 0.05      # an index is known well enough when its interval is +-0.05
NEGATIVE = -0.05

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


@dataclass(frozen=True)
class Reliability:
    """How far an index can be trusted: ``ok``, ``unreliable`` or ``negative``, a note, and
    the sample size it would need for an interval half-width of ``TARGET_HALF_WIDTH``."""

    flag: str
    note: str
    n_needed: int | None


def reliability(i: Interval, n: int, target: float = TARGET_HALF_WIDTH) -> Reliability:
    """The flag of an index estimated from ``n`` samples (base samples, points or rows).

    The interval's half-width shrinks like ``1/sqrt(n)``, so the ``n`` that would bring it to
    ``target`` is ``n (half-width / target)^2``.
    """
    half = (i.high - i.low) / 2
    if not (np.isfinite(half) and np.isfinite(i.estimate)):
        return Reliability("unreliable", "no interval could be estimated", None)
    needed = n if half <= target else int(np.ceil(n * (half / target) ** 2))
    if i.estimate < NEGATIVE or i.high < 0:
        return Reliability("negative", f"{i.estimate:.2f} is below zero, which a share of "
                           "variance cannot be: too few samples or too much replication "
                           f"noise; about {needed:,} would give +-{target:g}", needed)
    if half > target and half > abs(i.estimate):
        return Reliability("unreliable", f"its interval (+-{half:.2f}) is wider than the "
                           f"index; about {needed:,} would give +-{target:g}", needed)
    return Reliability("ok", "", needed)


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
    low_range: tuple[Any, Any]          # the lever values counted as "low" (levels: text)
    high_range: tuple[Any, Any]
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
            boots.append((f, rng.integers(0, n, size=n)))
        else:
            boots.append((_means(y, rng.integers(0, reps, size=reps)), np.arange(n)))
    bars = []
    factors = {p.key: p for p in plan.sweep.spec.factors}
    for key in plan.sweep.keys:
        x = plan.points[key].to_numpy()
        if factors[key].categorical:           # first and last level in the file's order
            labels = factors[key].labels
            low, high = x == labels[0], x == labels[-1]
        else:
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


# -- categorical factors: the share by level -----------------------------------------------


@dataclass(frozen=True)
class LevelMean:
    key: str
    level: str
    points: int
    mean: Interval           # mean share over the level's points
    difference: Interval     # minus the first level's
    on_track: float | None   # share of the level's points whose chance of meeting >= p


def by_level(plan: Plan, y: np.ndarray, output: Output, rng: np.random.Generator,
             probability: float, n_boot: int = BOOTSTRAP) -> list[LevelMean]:
    """For each categorical factor, the mean share at each level (over the other factors'
    values in the design) and its difference from the first level, with intervals that
    resample replications (grids) or design rows (sampled designs), as the tornado does.
    Draws nothing when there is no categorical factor."""
    factors = [p for p in plan.sweep.spec.factors if p.categorical]
    if not factors:
        return []
    n: int
    reps: int
    n, reps = y.shape
    f = _means(y)
    sampled = plan.sweep.spec.design != "grid"
    boots: list[tuple[np.ndarray, np.ndarray]] = []
    for _ in range(n_boot):
        if sampled:
            boots.append((f, rng.integers(0, n, size=n)))
        else:
            boots.append((_means(y, rng.integers(0, reps, size=reps)), np.arange(n)))
    track = None
    if output.target is not None:
        hits, count = prob_meet(y, output.target.target, axis=1)
        track = (count > 0) & (hits >= probability * count)
    out = []
    for p in factors:
        x = plan.points[p.key].to_numpy()
        masks = [x == lev for lev in p.labels]
        first = _masked_mean(f, masks[0])
        first_draws = np.array([_masked_mean(fb[r], masks[0][r]) for fb, r in boots])
        for lev, m in zip(p.labels, masks):
            est = _masked_mean(f, m)
            draws = np.array([_masked_mean(fb[r], m[r]) for fb, r in boots])
            out.append(LevelMean(p.key, lev, int(m.sum()), _interval(est, draws),
                                 _interval(est - first, draws - first_draws),
                                 float(track[m].mean()) if track is not None and m.any()
                                 else None))
    return out


# -- SALib --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SalibIndex:
    """An index from SALib: ``method`` is ``salib_delta`` (delta moment-independent),
    ``salib_delta_first`` (first order, from SALib's delta module), ``salib_sobol_first`` or
    ``salib_sobol_total``; ``n`` the sample size it rests on (points, or Sobol base rows)."""

    method: str
    key: str
    value: Interval
    n: int

    @property
    def reliability(self) -> Reliability:
        return reliability(self.value, self.n)


def factor_matrix(plan: Plan) -> np.ndarray:
    """The points' factor values as numbers: a categorical factor as its level number."""
    cols = []
    for p in plan.sweep.spec.factors:
        x = plan.points[p.key].to_numpy()
        cols.append(np.array([p.labels.index(v) for v in x], float) if p.categorical
                    else x.astype(float))
    return np.column_stack(cols)


def _problem(plan: Plan, x: np.ndarray) -> dict[str, Any]:
    lo, hi = np.nanmin(x, axis=0), np.nanmax(x, axis=0)
    return {"num_vars": x.shape[1], "names": list(plan.sweep.keys),
            "bounds": [[a, b if b > a else a + 1.0] for a, b in zip(lo, hi)]}


def _ci(est: float, half: float) -> Interval:
    return Interval(float(est), float(est - half), float(est + half))


def salib_delta(plan: Plan, y: np.ndarray, seed: int) -> list[SalibIndex]:
    """Delta and first-order indices of the point means (any sampled design; used on Latin
    hypercubes), with SALib's bootstrap intervals at ``CONFIDENCE``."""
    from SALib.analyze import delta

    x, f = factor_matrix(plan), _means(y)
    ok = np.isfinite(f)
    if ok.sum() < 10 or np.var(f[ok]) <= 0:
        return []
    # SALib prints notes (bin merges, a "balanced" variant too small for its bins) to stdout
    # and stderr.
    with _quiet(), warnings.catch_warnings(), redirect_stdout(io.StringIO()), \
            redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        res = delta.analyze(_problem(plan, x[ok]), x[ok], f[ok], num_resamples=SALIB_RESAMPLES,
                            conf_level=CONFIDENCE, seed=seed, method="all")
    n = int(ok.sum())
    out = []
    for k, key in enumerate(plan.sweep.keys):
        out.append(SalibIndex("salib_delta", key,
                              _ci(res["delta_raw"][k], res["delta_raw_conf"][k]), n))
        out.append(SalibIndex("salib_delta_first", key, _ci(res["S1"][k], res["S1_conf"][k]),
                              n))
    return out


def salib_sobol(plan: Plan, y: np.ndarray, seed: int) -> list[SalibIndex]:
    """SALib's Sobol analysis (first order and total, bootstrap intervals) of the design's
    own A, AB_i and B rows, in the order SALib's Saltelli sampler makes them."""
    from SALib.analyze import sobol as salib

    a, b, ab = sobol_blocks(plan)
    f = _means(y)
    rows = np.column_stack([f[a], *f[ab], f[b]])          # [N, d + 2]
    rows = rows[np.all(np.isfinite(rows), axis=1)]
    if len(rows) < 2 or np.var(rows) <= 0:
        return []
    with _quiet(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = salib.analyze(_problem(plan, factor_matrix(plan)), rows.ravel(),
                            calc_second_order=False, num_resamples=SALIB_RESAMPLES,
                            conf_level=CONFIDENCE, seed=seed)
    n = len(rows)
    out = []
    for k, key in enumerate(plan.sweep.keys):
        out.append(SalibIndex("salib_sobol_first", key, _ci(res["S1"][k], res["S1_conf"][k]), n))
        out.append(SalibIndex("salib_sobol_total", key, _ci(res["ST"][k], res["ST_conf"][k]), n))
    return out


# -- scenario discovery -------------------------------------------------------------------


def discover(plan: Plan, y: np.ndarray, output: Output, probability: float) -> Box | None:
    """The PRIM box of the factor ranges whose points meet the output's target (chance over
    the replications at least ``probability``); None without a target or a meeting point."""
    if output.target is None:
        return None
    hits, count = prob_meet(y, output.target.target, axis=1)
    meets = (count > 0) & (hits >= probability * count)
    columns = [plan.points[k].to_numpy() for k in plan.sweep.keys]
    return prim(columns, plan.sweep.keys, meets)


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
    levels: list[LevelMean] = field(default_factory=list)
    salib: list[SalibIndex] = field(default_factory=list)
    box: Box | None = None

    def flagged(self) -> list[tuple[str, str, Interval, Reliability]]:
        """Every index that is negative or unreliable: (method and measure, lever, value,
        flag)."""
        out = []
        if self.sobol is not None:
            for key, s1, st in zip(self.sobol.keys, self.sobol.first, self.sobol.total):
                for name, i in (("Sobol first order", s1), ("Sobol total", st)):
                    r = reliability(i, self.sobol.samples)
                    if r.flag != "ok":
                        out.append((name, key, i, r))
        for s in self.salib:
            if s.reliability.flag != "ok":
                out.append((SALIB_NAMES[s.method], s.key, s.value, s.reliability))
        return out


SALIB_NAMES = {"salib_delta": "SALib delta", "salib_delta_first": "SALib first order (delta)",
               "salib_sobol_first": "SALib Sobol first order",
               "salib_sobol_total": "SALib Sobol total"}


@dataclass(frozen=True)
class Analysis:
    outputs: tuple[OutputAnalysis, ...]
    probability: float = 0.8          # a point meets a target at this chance (discovery)

    def table(self) -> pl.DataFrame:
        """One row per output, lever and measure (``first``, ``total``, ``tornado``, SALib's,
        a categorical factor's ``level_mean``/``level_difference``), with the ``method``,
        each index's ``reliability`` flag and the ``n_needed`` for a +-0.05 interval."""
        rows = []
        for oa in self.outputs:
            base = {"series": oa.output.series, "year": oa.output.year,
                    "target_id": oa.output.target.target_id if oa.output.target else None,
                    "noise_share": oa.noise}
            for bar in oa.tornado:
                rows.append({**base, "parameter": bar.key, "measure": "tornado_effect",
                             **_cols(bar.effect), "method": "tornado"})
            if oa.sobol is not None:
                n = oa.sobol.samples
                for key, s1, st in zip(oa.sobol.keys, oa.sobol.first, oa.sobol.total):
                    rows.append({**base, "parameter": key, "measure": "sobol_first", **_cols(s1),
                                 "method": "saltelli_jansen", **_rel(s1, n)})
                    rows.append({**base, "parameter": key, "measure": "sobol_total", **_cols(st),
                                 "method": "saltelli_jansen", **_rel(st, n)})
            for s in oa.salib:
                rows.append({**base, "parameter": s.key, "measure": s.method, **_cols(s.value),
                             "method": s.method.rsplit("_", 1)[0] if s.method.endswith(
                                 ("_first", "_total")) else s.method, **_rel(s.value, s.n)})
            for lm in oa.levels:
                for measure, i in (("level_mean", lm.mean), ("level_difference", lm.difference)):
                    rows.append({**base, "parameter": lm.key, "measure": measure, **_cols(i),
                                 "method": "by_level", "level": lm.level})
        return pl.DataFrame(rows, schema={
            "series": pl.Utf8, "year": pl.Int64, "target_id": pl.Utf8, "noise_share": pl.Float64,
            "parameter": pl.Utf8, "measure": pl.Utf8, "estimate": pl.Float64,
            "low": pl.Float64, "high": pl.Float64, "method": pl.Utf8, "reliability": pl.Utf8,
            "n_needed": pl.Int64, "level": pl.Utf8}).fill_nan(None)

    def discovery_table(self, roles: dict[str, str]) -> pl.DataFrame:
        """``discovery.csv``: per target and factor, the PRIM box's limits (numeric
        ``low``/``high``, or the categorical ``levels`` joined by ``|``), whether the box
        restricts the factor, and the box's coverage, density and point counts."""
        rows = []
        for oa in self.outputs:
            t = oa.output.target
            if t is None:
                continue
            base = {"target_id": t.target_id, "series": oa.output.series,
                    "year": oa.output.year, "probability": self.probability}
            box = oa.box
            if box is None:
                rows.append({**base, "status": "no point meets the target"})
                continue
            status = "every point meets the target" if box.density == 1 and box.mass == 1 \
                else "box"
            for lim in box.limits:
                rows.append({**base, "status": status, "factor": lim.factor,
                             "role": roles.get(lim.factor), "restricted": lim.restricted,
                             "low": lim.low, "high": lim.high,
                             "levels": "|".join(lim.levels) if lim.levels is not None else None,
                             "coverage": box.coverage, "density": box.density, "n": box.n,
                             "n_meeting": box.n_meeting, "n_points": len(oa.y)})
        return pl.DataFrame(rows, schema={
            "target_id": pl.Utf8, "series": pl.Utf8, "year": pl.Int64,
            "probability": pl.Float64, "status": pl.Utf8, "factor": pl.Utf8, "role": pl.Utf8,
            "restricted": pl.Boolean, "low": pl.Float64, "high": pl.Float64,
            "levels": pl.Utf8, "coverage": pl.Float64, "density": pl.Float64, "n": pl.Int64,
            "n_meeting": pl.Int64, "n_points": pl.Int64})


def _cols(i: Interval) -> dict[str, float]:
    return {"estimate": i.estimate, "low": i.low, "high": i.high}


def _rel(i: Interval, n: int) -> dict[str, Any]:
    r = reliability(i, n)
    return {"reliability": r.flag, "n_needed": r.n_needed}


def analyse(plan: Plan, results: pl.DataFrame) -> Analysis:
    """Tornado bars, Sobol indices (``sobol`` designs) and best points for every output."""
    spec = plan.sweep.spec
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(2,)))
    salib_seed = int(np.random.SeedSequence(spec.seed, spawn_key=(3,)).generate_state(1)[0])
    p = spec.discovery_probability
    out = []
    for output in plan.sweep.outputs:
        y = output_matrix(results, output, plan.points.height, spec.replications)
        bars = tornado(plan, y, rng)
        levels = by_level(plan, y, output, rng, p)
        indices = sobol(plan, y, output, rng) if spec.design == "sobol" else None
        salib = (salib_delta(plan, y, salib_seed) if spec.design == "latin_hypercube" else
                 salib_sobol(plan, y, salib_seed) if spec.design == "sobol" else [])
        out.append(OutputAnalysis(
            output, y, bars, indices, best_points(y, output),
            noise_share(y, spec.random_numbers == "common"), levels, salib,
            discover(plan, y, output, p)))
    return Analysis(tuple(out), p)
