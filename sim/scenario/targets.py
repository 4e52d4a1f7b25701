"""Targets: the UN DPO gender-parity targets and the plan's national targets.

The figures live in ``calibration/targets.csv`` (one row a target, with the output series it is
held against); :mod:`sim.analysis.attainment` holds a run against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from sim.scenario.project_data import TARGETS_CSV


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
