"""Whether a target is met: the one rule every command uses.

A replication meets a target when women's share of the target's series, in the target's year,
is at or above the target share. A replication in which the group is empty (nobody in that
category that year, so the share is undefined) says nothing about the share: it is **left
out**, and the probability of meeting is ``hits / n`` over the replications with a defined
share, with ``n`` reported beside it. When every replication is empty the probability is
undefined (``None``), not zero.

``run`` (targets.csv and the report), ``compare`` (the change in the probability), ``sweep``
(best points) and ``solve`` (the bisection) all call :func:`prob_meet` or :func:`meets`.
"""

from __future__ import annotations

import math
from typing import Sequence, overload

import numpy as np
import polars as pl

from sim.analysis.cells import split_cells
from sim.scenario.targets import UnTarget


def meets(shares: np.ndarray, target: float) -> np.ndarray:
    """Per replication: 1.0 met, 0.0 not met, NaN where the share is undefined."""
    shares = np.asarray(shares, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(shares), (shares >= target).astype(float), np.nan)


@overload
def prob_meet(shares: np.ndarray, target: float, axis: None = None
              ) -> tuple[np.floating, np.integer]: ...
@overload
def prob_meet(shares: np.ndarray, target: float, axis: int) -> tuple[np.ndarray, np.ndarray]: ...
def prob_meet(shares: np.ndarray, target: float, axis: int | None = None
              ) -> tuple[np.ndarray, np.ndarray] | tuple[np.floating, np.integer]:
    """``(hits, n)``: replications meeting the target and replications with a defined share
    (along ``axis``; all of them when None). The probability is ``hits / n`` where ``n > 0``."""
    m = meets(shares, target)
    return np.nansum(m, axis=axis), np.sum(np.isfinite(m), axis=axis)


@overload
def probability(hits: float | np.floating, n: int | np.integer) -> float | None: ...
@overload
def probability(hits: np.ndarray, n: np.ndarray) -> np.ndarray: ...
def probability(hits: np.ndarray | float | np.floating, n: np.ndarray | int | np.integer
                ) -> np.ndarray | float | None:
    """``hits / n``, undefined (None for scalars, NaN in arrays) where ``n`` is 0."""
    if np.ndim(n) == 0:
        return float(hits) / float(n) if n else None
    n = np.asarray(n, dtype=float)
    return np.where(n > 0, np.asarray(hits, dtype=float) / np.maximum(n, 1), np.nan)


ON_TRACK = 0.8    # P(met) at or above: on track
OFF_TRACK = 0.2   # P(met) at or below: off track; in between: at risk


def verdict(p: float | None) -> str:
    """The plain-words verdict of a probability of meeting a target (thresholds above)."""
    if p is None or not math.isfinite(p):
        return "not measurable"
    return "on track" if p >= ON_TRACK else "off track" if p <= OFF_TRACK else "at risk"


def women_needed(target: float, group: float | None) -> int | None:
    """Women a group of ``group`` people must hold to reach the target share (whole persons,
    rounded up, as deployment's ``target_share`` does)."""
    if group is None or not math.isfinite(group):
        return None
    return math.ceil(round(target * group, 9))


def headline_targets(targets: Sequence[UnTarget]) -> list[UnTarget]:
    """The targets a verdict is given for: per category (UN military contingents, ..., a
    national target), its latest stated year (2028 for the UN's, 2028 or 2030 for the
    national ones), in the order of ``targets``."""
    latest: dict[str, UnTarget] = {}
    for t in targets:
        category = t.target_id.rsplit(".", 1)[0]
        if t.status == "stated" and (category not in latest or t.year > latest[category].year):
            latest[category] = t
    return list(latest.values())


TARGET_COLUMNS = {"target_id": pl.Utf8, "series": pl.Utf8, "year": pl.Int64,
                  "target": pl.Float64, "p05": pl.Float64, "p50": pl.Float64,
                  "p95": pl.Float64, "prob_meet": pl.Float64, "first_year_p50": pl.Int64,
                  "women_p05": pl.Float64, "women_p50": pl.Float64, "women_p95": pl.Float64,
                  "total_p50": pl.Float64}


def yearly_medians(runs: pl.DataFrame, series: set[str]) -> dict[str, pl.DataFrame]:
    """Per series the targets read: its median share by year (sorted), in one group_by over
    the runs rather than one filter of every row per target (issue #18)."""
    medians = (runs.select("series", "year", "share")   # not a copy of every column's rows
               .filter(pl.col("series").is_in(sorted(series)))
               .group_by("series", "year").agg(pl.col("share").median()).sort("series", "year"))
    return {str(k[0]): v for k, v in medians.partition_by(
        "series", as_dict=True, maintain_order=True, include_key=False).items()}


def evaluate(runs: pl.DataFrame, targets: Sequence[UnTarget], horizon: int) -> pl.DataFrame:
    """One row per modelled target whose year the horizon reaches: the share's 5/50/95
    percentiles in the target year, the probability of meeting it and the first year the
    median reaches it."""
    modelled = [t for t in targets if t.series is not None and t.year <= horizon]
    cells = split_cells(runs, [(t.series, t.year) for t in modelled if t.series is not None],
                        ("share", "women", "total"))
    yearly = yearly_medians(runs, {t.series for t in modelled if t.series is not None})
    rows = []
    for t in modelled:
        assert t.series is not None
        if (group := cells.get((t.series, t.year))) is None:
            continue
        in_year = group["share"].drop_nulls()
        if in_year.len() == 0:
            continue
        hits, n = prob_meet(in_year.to_numpy(), t.target)
        medians = yearly[t.series].filter(pl.col("share") >= t.target)
        rows.append({
            "target_id": t.target_id, "series": t.series, "year": t.year, "target": t.target,
            "p05": in_year.quantile(0.05, "linear"), "p50": in_year.quantile(0.5, "linear"),
            "p95": in_year.quantile(0.95, "linear"),
            "prob_meet": probability(hits, n),
            "first_year_p50": int(medians["year"][0]) if medians.height else None,
            "women_p05": group["women"].quantile(0.05, "linear"),
            "women_p50": group["women"].quantile(0.5, "linear"),
            "women_p95": group["women"].quantile(0.95, "linear"),
            "total_p50": group["total"].quantile(0.5, "linear"),
        })
    return pl.DataFrame(rows, schema=TARGET_COLUMNS)


def target_table(runs: pl.DataFrame, targets: Sequence[UnTarget], horizon: int,
                 parameters: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per target the horizon reaches: the forecast (:func:`evaluate`) plus the
    target's kind, status and confidence, the Monte Carlo error of ``prob_meet``, and the
    targets no model series stands for (formed police units), with empty forecasts; then
    what the spread includes (``uncertainty``: "parameters and chance" when ``parameters``,
    the run's parameter draws, are given, else "chance only") and its split
    (:func:`sim.analysis.uncertainty.uncertainty_frame`)."""
    from sim.analysis.uncertainty import uncertainty_frame

    forecast = evaluate(runs, tuple(targets), horizon)
    n = runs["replication"].n_unique()
    info = pl.DataFrame([{"target_id": t.target_id, "kind": t.kind, "status": t.status,
                          "confidence": t.confidence, "modelled": t.series is not None,
                          "series_": t.series, "year_": t.year, "target_": t.target}
                         for t in targets if t.year <= horizon],
                        schema={"target_id": pl.Utf8, "kind": pl.Utf8, "status": pl.Utf8,
                                "confidence": pl.Utf8, "modelled": pl.Boolean,
                                "series_": pl.Utf8, "year_": pl.Int64, "target_": pl.Float64})
    table = info.join(forecast, on="target_id", how="left", maintain_order="left")
    return table.with_columns(
        pl.col("series").fill_null(pl.col("series_")),
        pl.col("year").fill_null(pl.col("year_")),
        pl.col("target").fill_null(pl.col("target_")),
        (pl.col("prob_meet") * (1 - pl.col("prob_meet")) / n).sqrt().alias("prob_meet_se"),
        pl.lit(n, pl.Int64).alias("n_replications"),
        pl.col("prob_meet").map_elements(verdict, return_dtype=pl.Utf8).fill_null(
            "not measurable").alias("verdict"),
        pl.struct("target", "total_p50").map_elements(
            lambda r: women_needed(r["target"], r["total_p50"]), return_dtype=pl.Int64
        ).alias("women_needed"),
    ).select("target_id", "series", "year", "target", "p05", "p50", "p95", "prob_meet",
             "first_year_p50", "prob_meet_se", "n_replications", "kind", "status", "confidence",
             "modelled", "verdict", "women_p05", "women_p50", "women_p95", "total_p50",
             "women_needed").join(
        uncertainty_frame(runs, [t for t in targets if t.year <= horizon], parameters),
        on="target_id", how="left", maintain_order="left")
