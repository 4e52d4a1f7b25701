"""How much of a forecast's spread comes from the parameters and how much from chance.

With parameter draws (:mod:`sim.analysis.draws`) two replications share each draw (replication
``r`` runs under draw ``r // 2``). By the law of total variance

    Var(share) = E[Var(share | parameters)] + Var(E[share | parameters])
                 chance                        parameters

the chance part is estimated without bias by the mean within-pair variance (half the squared
difference of the pair), and the parameter part as the total variance minus it (floored at 0:
with few draws the estimate can come out negative). Which parameters matter most: the squared
Spearman rank correlation of each draw's mean share with each drawn parameter of the series'
agency, the top three (a rank correlation, so a monotone but nonlinear effect still counts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import polars as pl

from sim.analysis.cells import split_cells
from sim.model.series import BY_ID
from sim.scenario.targets import UnTarget

TOP = 3


@dataclass(frozen=True)
class Split:
    """The variance of one result split by the law of total variance."""

    total: float              # variance over all replications
    chance: float             # mean within-draw variance
    parameters: float         # total - chance, at least 0
    pairs: int                # draws with both replications defined
    top: tuple[tuple[str, float], ...] = ()   # (parameter, squared rank correlation)

    @property
    def share_parameters(self) -> float | None:
        return self.parameters / self.total if self.total > 0 else None


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    # ties: average ranks
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]


def rank_r2(x: np.ndarray, y: np.ndarray) -> float:
    """Squared Spearman correlation (0 where either is constant)."""
    if len(x) < 3:
        return 0.0
    rx, ry = _ranks(x), _ranks(y)
    sx, sy = rx.std(), ry.std()
    if sx == 0 or sy == 0:
        return 0.0
    return float(np.mean((rx - rx.mean()) * (ry - ry.mean())) / (sx * sy)) ** 2


def variance_split(values: np.ndarray, draws: np.ndarray,
                   parameters: Mapping[str, np.ndarray] | None = None) -> Split:
    """Split the variance of ``values`` (one per replication, NaN = undefined) whose
    replications ran under ``draws`` (the draw index of each). ``parameters``: per parameter,
    its value per draw index (``parameters[name][d]``), for the ranking."""
    values, draws = np.asarray(values, float), np.asarray(draws)
    ok = np.isfinite(values)
    if ok.sum() < 2:
        return Split(float("nan"), float("nan"), float("nan"), 0)
    total = float(np.var(values[ok], ddof=1))
    used, means, var = draw_moments(values[ok], draws[ok])
    within = var[~np.isnan(var)]
    chance = float(np.mean(within)) if len(within) else float("nan")
    param = max(total - chance, 0.0) if len(within) else float("nan")
    top: list[tuple[str, float]] = []
    if parameters:
        scores = [(name, rank_r2(np.asarray(p, float)[used], means))
                  for name, p in parameters.items()]
        top = sorted(scores, key=lambda s: -s[1])[:TOP]
    return Split(total, chance, param, len(within), tuple(top))


def draw_moments(values: np.ndarray, draws: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per draw (in sorted order): its index, the mean of its values and their variance
    (``ddof=1``; NaN for a draw with one value), bit for bit ``v.mean()`` and
    ``np.var(v, ddof=1)`` of each draw's values ``v`` (in replication order).

    Draws of one or two values (the design: two replications a draw) are done all at once,
    with the same operations in the same order; a mask per draw had made the split quadratic
    in the replications (1,000 replications: 500 draws, each a pass over all 1,000). Larger
    draws are summed as numpy sums them (pairwise), one by one."""
    order = np.argsort(draws, kind="stable")
    v, d = values[order], draws[order]
    starts = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
    counts = np.diff(np.r_[starts, len(d)])
    means = np.add.reduceat(v, starts) / counts
    dev = v - np.repeat(means, counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.add.reduceat(dev * dev, starts) / (counts - 1)
    var[counts < 2] = np.nan
    for i in np.flatnonzero(counts > 2):
        own = v[starts[i]: starts[i] + counts[i]]
        means[i], var[i] = own.mean(), np.var(own, ddof=1)
    return d[starts], means, var


def draw_parameters(parameters: pl.DataFrame, agency: str | None = None
                    ) -> tuple[dict[int, int], dict[str, np.ndarray]]:
    """From ``parameters.parquet``: each replication's draw, and each parameter's value by
    draw index (only ``agency``'s parameters when given: agencies share no people, so another
    agency's parameter cannot move a series, and ranking it would only rank noise)."""
    if parameters.height == 0:
        return {}, {}
    reps = parameters.select("replication", "draw").unique()
    draw_of = dict(zip(reps["replication"].to_list(), reps["draw"].to_list()))
    n = max(draw_of.values()) + 1
    out: dict[str, np.ndarray] = {}
    if agency is not None and "agency" in parameters.columns:
        parameters = parameters.filter(pl.col("agency") == agency)
    # In the parameters' own order: tied correlations keep it (stable sort), so the same
    # draws give the same top parameters every time.
    per_draw = parameters.group_by("parameter", "draw", maintain_order=True).agg(
        pl.col("value").first())
    for (name,), part in per_draw.partition_by("parameter", as_dict=True).items():
        arr = np.full(n, np.nan)
        arr[part["draw"].to_numpy()] = part["value"].to_numpy()
        out[str(name)] = arr
    return draw_of, out


UNCERTAINTY_COLUMNS = {"target_id": pl.Utf8, "uncertainty": pl.Utf8, "sd": pl.Float64,
                       "sd_chance": pl.Float64, "var_share_parameters": pl.Float64,
                       "top_parameters": pl.Utf8}


def uncertainty_frame(runs: pl.DataFrame, targets: Sequence[UnTarget],
                      parameters: pl.DataFrame | None) -> pl.DataFrame:
    """Per modelled target (``target_id``, ``series``, ``year``): the total sd of the share,
    the chance sd, the share of the variance from the parameters and the top parameters
    (``name (r²)``; empty with fixed parameters). The cells come from the runs in one pass,
    each agency's parameters are read once."""
    draw_of, values = draw_parameters(parameters) if parameters is not None else ({}, {})
    cells = split_cells(runs, [(t.series, t.year) for t in targets if t.series is not None],
                        ("replication", "share"), by_replication=True)
    by_agency: dict[str, dict[str, np.ndarray]] = {}
    rows = []
    for t in targets:
        if t.series is None or (part := cells.get((t.series, t.year))) is None:
            continue
        shares = part["share"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
        if not draw_of:
            sd = float(np.nanstd(shares, ddof=1)) if np.isfinite(shares).sum() > 1 else None
            rows.append({"target_id": t.target_id, "uncertainty": "chance only",
                         "sd": sd, "sd_chance": sd, "var_share_parameters": None,
                         "top_parameters": None})
            continue
        own = values
        if parameters is not None and t.series in BY_ID:
            agency = BY_ID[t.series].agency
            if agency not in by_agency:
                by_agency[agency] = draw_parameters(parameters, agency)[1]
            own = by_agency[agency]
        draws = np.array([draw_of.get(r, -1 - r) for r in part["replication"].to_list()])
        rows.append(_split_row(t.target_id, variance_split(shares, draws, own)))
    return pl.DataFrame(rows, schema=UNCERTAINTY_COLUMNS)


def _split_row(target_id: str, split: Split) -> dict[str, str | float | None]:
    share = split.share_parameters
    return {"target_id": target_id, "uncertainty": "parameters and chance",
            "sd": _sqrt(split.total), "sd_chance": _sqrt(split.chance),
            "var_share_parameters": share,
            "top_parameters": "; ".join(f"{n} ({r2:.2f})" for n, r2 in split.top
                                        if r2 > 0) or None}


def _sqrt(v: float) -> float | None:
    return float(np.sqrt(v)) if np.isfinite(v) else None
