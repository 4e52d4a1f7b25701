"""The observed figures a calibration is held to (``calibration/observed.csv``, rows with
``use = "calibrate"``), each mapped to the model cell it is comparable with: same measure; an
observed ``stock_start`` in year *y* is the model's end-of-year stock of *y - 1*."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from sim.model.series import BY_ID, SERIES, Series
from sim.scenario.loading import InputError

SERIES_INDEX = {s.id: j for j, s in enumerate(SERIES)}


# -- the observed figures -------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One plan figure and the model cell it is compared with."""

    series: str
    year: int
    measure: str
    value: float
    count: float | None
    precision: float
    note: str
    model_year: int        # the model's year holding the comparable value
    end: bool              # read the year-end stock of a stock_avg series

    @property
    def agency(self) -> str:
        return BY_ID[self.series].agency

    @property
    def label(self) -> str:
        return f"{self.series} {self.year}"

    def cell(self, start_year: int) -> tuple[int, int, bool]:
        return self.model_year - start_year, SERIES_INDEX[self.series], self.end


def comparable(measure: str, year: int, s: Series) -> tuple[int, bool] | None:
    """(model year, read the year-end stock) for an observed measure, or None if incomparable.

    Like is compared with like: the same measure in the same year; a stock at 1 January of
    *y* is the stock at the end of *y - 1*; a stock at a date can be read from a stock series.
    """
    if measure == s.measure:
        return year, False
    if measure == "stock_start" and s.measure == "stock_end":
        return year - 1, False
    if s.kind == "stock" and measure in ("stock_start", "stock_end"):
        return (year - 1 if measure == "stock_start" else year), True
    return None


def load_figures(path: Path, start_year: int) -> tuple[Figure, ...]:
    """The ``calibrate`` rows of observed.csv, each mapped to a comparable model cell."""
    try:
        frame = pl.read_csv(path, schema_overrides={"count": pl.Float64, "note": pl.Utf8,
                                                    "precision": pl.Float64,
                                                    "value": pl.Float64})
    except Exception as err:  # polars raises several kinds for unreadable CSV
        raise InputError(path, None, f"unreadable CSV: {err}") from None
    required = {"series", "year", "measure", "value", "count", "precision", "use"}
    missing = required - set(frame.columns)
    if missing:
        raise InputError(path, sorted(missing)[0], "required column is missing")
    out = []
    for i, row in enumerate(frame.iter_rows(named=True), start=2):
        if row["use"] != "calibrate":
            continue
        where = f"line {i}"
        s = BY_ID.get(row["series"])
        if s is None:
            raise InputError(path, f"{where}: series", f"{row['series']!r} is not a model series")
        mapped = comparable(row["measure"], int(row["year"]), s)
        if mapped is None:
            raise InputError(path, f"{where}: measure", f"{row['measure']} cannot be compared "
                             f"with the model's {s.measure} for {s.id}")
        if mapped[0] < start_year:
            raise InputError(path, f"{where}: year", f"{row['year']} is before the model's "
                             f"start year {start_year}")
        if not (row["precision"] or 0) > 0:
            raise InputError(path, f"{where}: precision", "must be positive")
        out.append(Figure(s.id, int(row["year"]), row["measure"], float(row["value"]),
                          row["count"], float(row["precision"]), row.get("note") or "",
                          *mapped))
    return tuple(out)



def shares(women: np.ndarray, total: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, women / np.where(total > 0, total, 1), np.nan)
