"""From the agencies' monthly counts to the yearly series of ``sim.model.series``.

The census arrays hold head counts by month, stage and gender; flows and distinct deployees
by year. :func:`tally` turns them into one :class:`Tally` per replication: women and total per
year and series in the series' own measure, plus, for stock series, the year-end stock and the
entries and exits that reconcile it (``end[y] - end[y-1] == entries[y] - exits[y]``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.model.agencies import Agency
from sim.scenario.schema import Scenario
from sim.model.series import SERIES, Series


@dataclass(frozen=True)
class Tally:
    """Arrays of shape ``[year, series]`` (years ``start_year..horizon``, series as SERIES)."""

    years: np.ndarray
    women: np.ndarray
    total: np.ndarray
    women_end: np.ndarray      # stock series only (NaN elsewhere)
    total_end: np.ndarray
    entries_women: np.ndarray
    entries_total: np.ndarray
    exits_women: np.ndarray
    exits_total: np.ndarray


def tally(scenario: Scenario, agencies: list[Agency]) -> Tally:
    by_name = {a.name: a for a in agencies}
    years = np.arange(scenario.start_year, scenario.horizon + 1)
    shape = (len(years), len(SERIES))
    cols = {k: np.full(shape, np.nan) for k in ("women", "total", "women_end", "total_end",
                                                  "entries_women", "entries_total",
                                                  "exits_women", "exits_total")}
    for j, s in enumerate(SERIES):
        if s.agency not in by_name:
            continue
        a = by_name[s.agency]
        women, total = _measure(a, s, len(years))
        cols["women"][:, j], cols["total"][:, j] = women, total
        if s.kind == "stock":
            _stock_flows(a, s, len(years), cols, j)
    return Tally(years, **cols)


def _stages(a: Agency, s: Series) -> np.ndarray:
    return np.array([a.s(x) for x in s.stages], np.int64)


def _yearly_end(monthly: np.ndarray, n_years: int) -> np.ndarray:
    """The count at the first month of the next year, i.e. at the end of each year."""
    return monthly[12: 12 * n_years + 1: 12]


def _yearly_avg(monthly: np.ndarray, n_years: int) -> np.ndarray:
    return monthly[: 12 * n_years].reshape(n_years, 12, *monthly.shape[1:]).mean(axis=1)


def _measure(a: Agency, s: Series, n_years: int) -> tuple[np.ndarray, np.ndarray]:
    if s.kind == "stock":
        monthly = a.stock[:, _stages(a, s), :].sum(axis=1)
        by_year = _yearly_avg(monthly, n_years) if s.measure == "stock_avg" else \
            _yearly_end(monthly, n_years)
    elif s.kind == "pool":
        by_year = _yearly_end(a.pool_stock, n_years)
    elif s.kind == "posted":
        monthly = a.posted.sum(axis=1) if s.destination is None else \
            a.posted[:, a.dest_names.index(s.destination)]
        by_year = _yearly_end(monthly, n_years)
    elif s.kind == "deployed":
        by_year = a.deployed_any[:n_years] if s.destination is None else \
            a.deployed[:n_years, a.dest_names.index(s.destination)]
    elif s.kind == "intake":
        by_year = a.roster.transitions[:n_years, 0, _stages(a, s) + 1, :].sum(axis=1)
    elif s.kind == "completed":
        by_year = a.completed[:n_years, _stages(a, s), :].sum(axis=1)
    else:
        raise ValueError(f"unknown series kind {s.kind}")
    by_year = by_year.astype(np.float64)
    return by_year[:, 1], by_year.sum(axis=1)


def _stock_flows(a: Agency, s: Series, n_years: int, cols: dict, j: int) -> None:
    inside = np.zeros(len(a.stages) + 1, bool)
    inside[_stages(a, s) + 1] = True
    t = a.roster.transitions[:n_years]
    entries = t[:, ~inside][:, :, inside].sum(axis=(1, 2))
    exits = t[:, inside][:, :, ~inside].sum(axis=(1, 2))
    end = _yearly_end(a.stock[:, _stages(a, s), :].sum(axis=1), n_years)
    for name, arr in (("entries", entries), ("exits", exits)):
        cols[f"{name}_women"][:, j] = arr[:, 1]
        cols[f"{name}_total"][:, j] = arr.sum(axis=1)
    cols["women_end"][:, j] = end[:, 1]
    cols["total_end"][:, j] = end.sum(axis=1)
