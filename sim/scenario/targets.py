"""Targets: the UN DPO gender-parity targets and the plan's national targets.

The figures live in ``calibration/targets.csv`` (one row a target, with the output series it is
held against). :func:`evaluate` turns a run's replications into the forecast for each target:
the share's 5/50/95 percentiles in the target year, the probability of meeting it (the share
of replications at or above it) and the first year the median reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

TARGETS_CSV = Path(__file__).resolve().parents[2] / "calibration" / "targets.csv"


@dataclass(frozen=True)
class UnTarget:
    """One target: women's share of ``series`` at or above ``target`` in ``year``."""

    target_id: str
    series: str | None
    year: int
    target: float
    kind: str          # un_dpo | national
    status: str        # stated | interpolated
    confidence: str
    source: str


def load_targets(path: Path = TARGETS_CSV) -> tuple[UnTarget, ...]:
    frame = pl.read_csv(path, schema_overrides={"series": pl.Utf8, "confidence": pl.Utf8})
    return tuple(UnTarget(r["target_id"], r["series"] or None, int(r["year"]),
                          float(r["target"]), r["kind"], r["status"], r["confidence"] or "",
                          r["source"]) for r in frame.iter_rows(named=True))


def by_id(target_id: str, targets: tuple[UnTarget, ...] | None = None) -> UnTarget:
    for t in targets or load_targets():
        if t.target_id == target_id:
            return t
    raise KeyError(target_id)


TARGET_COLUMNS = {"target_id": pl.Utf8, "series": pl.Utf8, "year": pl.Int64,
                  "target": pl.Float64, "p05": pl.Float64, "p50": pl.Float64,
                  "p95": pl.Float64, "prob_meet": pl.Float64, "first_year_p50": pl.Int64}


def evaluate(runs: pl.DataFrame, targets: tuple[UnTarget, ...], horizon: int) -> pl.DataFrame:
    """One row per modelled target whose year the horizon reaches."""
    rows = []
    for t in targets:
        if t.series is None or t.year > horizon:
            continue
        shares = runs.filter(pl.col("series") == t.series).select("replication", "year", "share")
        in_year = shares.filter(pl.col("year") == t.year)["share"].drop_nulls()
        if in_year.len() == 0:
            continue
        medians = (shares.group_by("year").agg(pl.col("share").median()).sort("year")
                   .filter(pl.col("share") >= t.target))
        rows.append({
            "target_id": t.target_id, "series": t.series, "year": t.year, "target": t.target,
            "p05": in_year.quantile(0.05, "linear"), "p50": in_year.quantile(0.5, "linear"),
            "p95": in_year.quantile(0.95, "linear"),
            "prob_meet": float((in_year >= t.target).mean()),
            "first_year_p50": int(medians["year"][0]) if medians.height else None,
        })
    return pl.DataFrame(rows, schema=TARGET_COLUMNS)
