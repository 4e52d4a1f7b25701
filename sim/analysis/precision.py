"""Numerical hygiene: is the number of replications enough for the headline shares?

The headline numbers are women's shares of the series held against targets
(``calibration/targets.csv``) in the targets' years. Across ``n`` independent replications the
Monte Carlo standard error of a mean share is ``sd / sqrt(n)``; since it shrinks as
``1 / sqrt(n)``, bringing it to ``0.5`` percentage points takes about
``n * (se / 0.005) ** 2`` replications (rounded up). After a run, :func:`warn_imprecise`
prints one warning line on stderr when any headline's error is above that, naming the worst
and the replications needed.

The warning follows ``--quiet``, which promises nothing but errors: a warning is not an error,
and the figures stay available either way (``share_se`` in ``summary.parquet``, and
:func:`headline_precision` for reports).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Sequence, TextIO, cast

import numpy as np
import polars as pl

from sim.analysis.cells import Cell, split_cells
from sim.scenario.targets import UnTarget, load_targets

MAX_SE = 0.005     # the largest acceptable MC standard error of a headline share (0.5 points)


@dataclass(frozen=True)
class Precision:
    """The Monte Carlo error of one headline share (a series in a target year)."""

    series: str
    year: int
    replications: int
    share_mean: float
    se: float          # NaN when fewer than two replications have a share

    @property
    def needed(self) -> int | None:
        """Replications for an error of at most ``MAX_SE`` (``None``: cannot tell yet)."""
        if math.isnan(self.se):
            return None
        return needed_replications(self.replications, self.se)

    @property
    def too_coarse(self) -> bool:
        return math.isnan(self.se) or self.se > MAX_SE


def needed_replications(n: int, se: float, max_se: float = MAX_SE) -> int:
    """``n * (se / max_se) ** 2`` rounded up (at least ``n``): the error falls as 1/sqrt(n)."""
    exact = round(n * (se / max_se) ** 2, 9)     # no rounding up of float noise
    return max(n, math.ceil(exact))


def headline_precision(runs: pl.DataFrame, horizon: int,
                       targets: tuple[UnTarget, ...] | None = None) -> list[Precision]:
    """The MC error of every modelled target's share in its year, once per (series, year);
    the cells split from the runs in one pass (:mod:`sim.analysis.cells`)."""
    keys = list(dict.fromkeys((t.series, t.year)
                              for t in (targets if targets is not None else load_targets())
                              if t.series is not None and t.year <= horizon))
    cells = split_cells(runs, keys, ("share",))
    out: list[Precision] = []
    for series, year in keys:
        if (cell := cells.get((series, year))) is None:
            continue
        shares = cell["share"].drop_nulls().drop_nans()
        if shares.len() == 0:
            continue
        n = shares.len()
        # A float column's std and mean are floats (polars types them for every dtype).
        se = float(cast(float, shares.std()) / math.sqrt(n)) if n > 1 else math.nan
        out.append(Precision(series, year, n, float(cast(float, shares.mean())), se))
    return out


def warning_text(rows: list[Precision]) -> str | None:
    """One line about the headlines whose error is too large, or ``None`` if all are fine."""
    coarse = [r for r in rows if r.too_coarse]
    if not coarse:
        return None
    unknown = [r for r in coarse if r.needed is None]
    if unknown:
        return (f"warning: with {unknown[0].replications} replication the Monte Carlo error of "
                f"the {len(unknown)} headline shares cannot be estimated; use at least 2 (and "
                f"check the warning again)")
    worst = max(coarse, key=lambda r: r.se)
    needed = max(r.needed for r in coarse if r.needed is not None)
    return (f"warning: Monte Carlo standard error above {MAX_SE * 100:g} points on "
            f"{len(coarse)} of {len(rows)} headline shares (worst: {worst.series} {worst.year}, "
            f"{worst.se * 100:.2f} points with {worst.replications} replications); "
            f"about {needed} replications are needed (--replications {needed})")


def warn_imprecise(runs: pl.DataFrame, horizon: int, quiet: bool = False,
                   stream: TextIO | None = None) -> list[Precision]:
    """Check the headline shares of a run; warn on stderr unless ``quiet``."""
    rows = headline_precision(runs, horizon)
    text = warning_text(rows)
    if text and not quiet:
        print(text, file=stream or sys.stderr)
    return rows


def running_se(runs: pl.DataFrame, series: str, year: int) -> tuple[list[int], list[float]]:
    """The Monte Carlo standard error of the mean share after the first ``n`` replications,
    for ``n = 2 .. N`` (in replication order): how the headline's error actually narrowed."""
    return running_ses(runs, [(series, year)]).get((series, year), ([], []))


def running_ses(runs: pl.DataFrame, cells: Sequence[Cell]
                ) -> dict[Cell, tuple[list[int], list[float]]]:
    """:func:`running_se` of several cells, split from the runs in one pass."""
    parts = split_cells(runs, cells, ("share",), by_replication=True)
    return {cell: _narrowing(part["share"].drop_nulls().drop_nans().to_numpy())
            for cell, part in parts.items()}


def _narrowing(shares: np.ndarray) -> tuple[list[int], list[float]]:
    """Running sums as one cumulative sum each: the same additions, in the same order, as a
    loop over the replications, without a Python step per replication."""
    shares = shares.astype(float)
    n = np.arange(1, len(shares) + 1, dtype=float)
    total, total_sq = np.cumsum(shares), np.cumsum(shares * shares)
    var = np.maximum(total_sq - total * total / n, 0.0)[1:] / (n[1:] - 1)
    return n[1:].astype(int).tolist(), np.sqrt(var / n[1:]).tolist()
