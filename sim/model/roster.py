"""The people of one agency, as columns of numpy arrays (one row a person).

Processes act on whole groups at once (everyone whose attrition clock ran out this month, a
rotation's worth of deployees), so a SimPy event carries many person-level events. A person who
leaves keeps their row with ``stage = GONE`` until the yearly compaction, which keeps row
indices stable within a year.

Every move between stages is counted in ``transitions[year, from + 1, to + 1, woman]`` (index 0
is "outside the agency"), which is what stocks reconcile against.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

GONE = -1
NOWHERE = -1


class Roster:
    """Struct-of-arrays population with stable rows between compactions."""

    def __init__(self, n_stages: int, n_destinations: int, first_year: int, n_years: int,
                 kernels: SimpleNamespace | None = None):
        self.k = kernels         # compiled kernels (sim.model.kernels), or None: numpy
        self.n_stages = n_stages
        self.n_destinations = n_destinations
        self.gone_code = 2 * n_stages
        self.first_year = first_year
        self.n = 0
        self._alloc(4096)
        self.transitions = np.zeros((n_years + 1, n_stages + 1, n_stages + 1, 2), np.int64)
        self.heads = np.zeros((n_stages, 2), np.int64)   # kept equal to counts()
        self.moved = 0                                     # kept equal to transitions.sum()
        self._streams: dict[int, tuple[np.random.Generator, np.ndarray]] = {}

    def _alloc(self, cap: int) -> None:
        def grow(old: np.ndarray | None, dtype, fill, shape=()) -> np.ndarray:
            arr = np.full((cap, *shape), fill, dtype)
            if old is not None:
                arr[: self.n] = old[: self.n]
            return arr

        g = getattr
        self.cap = cap
        self._columns: tuple[np.ndarray, ...] | None = None
        self.woman = grow(g(self, "woman", None), np.bool_, False)
        self.stage = grow(g(self, "stage", None), np.int8, GONE)
        self.code = grow(g(self, "code", None), np.int16, self.gone_code)
        self.since = grow(g(self, "since", None), np.float64, 0.0)
        self.until = grow(g(self, "until", None), np.float64, np.inf)
        self.e_exit = grow(g(self, "e_exit", None), np.float64, np.inf)
        self.h_exit = grow(g(self, "h_exit", None), np.float64, 0.0)
        self.e_prom = grow(g(self, "e_prom", None), np.float64, np.inf)
        self.h_prom = grow(g(self, "h_prom", None), np.float64, 0.0)
        self.t_ref = grow(g(self, "t_ref", None), np.float64, 0.0)
        self.r_exit = grow(g(self, "r_exit", None), np.float64, 0.0)
        self.r_prom = grow(g(self, "r_prom", None), np.float64, 0.0)
        self.review = grow(g(self, "review", None), np.float64, np.inf)
        self.rest_until = grow(g(self, "rest_until", None), np.float64, -np.inf)
        self.dest = grow(g(self, "dest", None), np.int8, NOWHERE)
        self.pool = grow(g(self, "pool", None), np.bool_, False)
        self.dep_year = grow(g(self, "dep_year", None), np.int16, -1)
        self.dep_year_dest = grow(g(self, "dep_year_dest", None), np.int16, -1,
                                  (max(self.n_destinations, 1),))

    _COLUMNS = ("woman", "stage", "code", "since", "until", "e_exit", "h_exit", "e_prom",
                "h_prom", "t_ref", "r_exit", "r_prom", "review", "rest_until", "dest", "pool",
                "dep_year", "dep_year_dest")

    def year_index(self, month: float) -> int:
        return int(month) // 12 - self.first_year

    # -- entering, moving, leaving ---------------------------------------------------------

    def add(self, women: int, men: int, stage: int, month: float, attrition: np.random.Generator,
            promotion: np.random.Generator, *, until: float = np.inf,
            since: np.ndarray | None = None, count: bool = True) -> slice:
        """Append ``women`` then ``men`` to ``stage``; returns their rows."""
        k = women + men
        if self.n + k > self.cap:
            self._alloc(max(2 * self.cap, self.n + k))
        rows = slice(self.n, self.n + k)
        if self.k is not None:
            self._add_compiled(rows, women, men, stage, month, attrition, promotion, until,
                               since, count)
            return rows
        self.n += k
        self.woman[rows] = np.arange(k) < women
        self.stage[rows] = stage
        self.code[rows] = 2 * stage + self.woman[rows]
        self.since[rows] = month if since is None else since
        self.until[rows] = until
        self._fresh_clocks(rows, k, month, attrition, promotion)
        self.rest_until[rows] = -np.inf
        self.dest[rows] = NOWHERE
        self.pool[rows] = False
        self.dep_year[rows] = -1
        self.dep_year_dest[rows] = -1
        self._count_entries(women, men, stage, month, count)
        return rows

    def _add_compiled(self, rows: slice, women: int, men: int, stage: int, month: float,
                      attrition: np.random.Generator, promotion: np.random.Generator,
                      until: float, since: np.ndarray | None, count: bool) -> None:
        assert self.k is not None
        given = self._NO_SINCE if since is None else np.asarray(since, np.float64)
        self.k.add_rows(self.n, women, men, stage, float(month), float(until), given,
                        self.stream(attrition), self.stream(promotion), self.columns(),
                        self.transitions[self.year_index(month)], self.heads, count)
        self.n += women + men
        if count:
            self.moved += women + men

    _NO_SINCE = np.empty(0)

    def stream(self, rng: np.random.Generator) -> np.ndarray:
        """``rng`` as the kernels take it (``kernels.stream``), made once per generator (the
        roster keeps the generator alive with it)."""
        known = self._streams.get(id(rng))
        if known is None:
            assert self.k is not None
            known = self._streams[id(rng)] = (rng, self.k.stream(rng))
        return known[1]

    def _count_entries(self, women: int, men: int, stage: int, month: float,
                       count: bool) -> None:
        self.heads[stage] += (men, women)
        if count:
            y = self.year_index(month)
            self.transitions[y, 0, stage + 1, 1] += women
            self.transitions[y, 0, stage + 1, 0] += men
            self.moved += women + men

    def move(self, rows: np.ndarray, stage: int, month: float, event_month: float,
             attrition: np.random.Generator, promotion: np.random.Generator,
             until: float = np.inf) -> None:
        """Move people to another stage: fresh clocks, tenure in stage restarts."""
        if self.k is not None:
            clock_exit = attrition.exponential(size=len(rows))
            clock_prom = promotion.exponential(size=len(rows))
            self.moved += self.k.move_rows(rows, stage, float(month), float(until),
                                           clock_exit, clock_prom, self.gone_code,
                                           self.transitions[self.year_index(event_month)],
                                           self.heads, self.columns())
            return
        self._count(rows, stage, event_month)
        self.stage[rows] = stage
        self.code[rows] = 2 * stage + self.woman[rows]
        self.since[rows] = month
        self.until[rows] = until
        self._fresh_clocks(rows, len(rows), month, attrition, promotion)

    def _fresh_clocks(self, rows, k: int, month: float, attrition: np.random.Generator,
                      promotion: np.random.Generator) -> None:
        """New clocks at ``month``; the careers step reviews them at the next tick."""
        self.e_exit[rows] = attrition.exponential(size=k)
        self.h_exit[rows] = 0.0
        self.e_prom[rows] = promotion.exponential(size=k)
        self.h_prom[rows] = 0.0
        self.t_ref[rows] = month
        self.r_exit[rows] = 0.0
        self.r_prom[rows] = 0.0
        self.review[rows] = month + 1

    def remove(self, rows: np.ndarray, event_month: float) -> None:
        """People leave the agency (attrition, dropout, end of service)."""
        if self.k is not None:
            self.moved += self.k.remove_rows(rows, self.gone_code,
                                             self.transitions[self.year_index(event_month)],
                                             self.heads, self.columns())
            return
        self._count(rows, GONE, event_month)
        self.stage[rows] = GONE
        self.code[rows] = self.gone_code
        self.e_exit[rows] = np.inf
        self.e_prom[rows] = np.inf
        self.until[rows] = np.inf
        self.review[rows] = np.inf
        self.r_exit[rows] = 0.0
        self.r_prom[rows] = 0.0
        self.dest[rows] = NOWHERE
        self.pool[rows] = False

    def _count(self, rows: np.ndarray, to: int, event_month: float) -> None:
        if len(rows) == 0:
            return
        y = self.year_index(event_month)
        codes = self.code[rows]
        counts = np.bincount(codes, minlength=self.gone_code + 1)[: self.gone_code].reshape(-1, 2)
        self.moved += int(counts.sum())
        self.transitions[y, 1:, to + 1, :] += counts
        self.heads -= counts
        if to != GONE:
            self.heads[to] += counts.sum(axis=0)

    def columns(self) -> tuple[np.ndarray, ...]:
        """The columns in ``_COLUMNS`` order (as the kernels unpack them); the same arrays
        until the roster grows."""
        if self._columns is None:
            self._columns = tuple(getattr(self, name) for name in self._COLUMNS)
        return self._columns

    def compact(self) -> None:
        """Drop the rows of people who have left (once a year)."""
        if self.k is not None:
            self.n = int(self.k.compact(self.n, self.columns()))
            return
        keep = np.flatnonzero(self.stage[: self.n] != GONE)
        if len(keep) == self.n:
            return
        for name in self._COLUMNS:
            col = getattr(self, name)
            col[: len(keep)] = col[keep]
        self.n = len(keep)

    # -- views -----------------------------------------------------------------------------

    def alive(self) -> np.ndarray:
        return self.stage[: self.n] != GONE

    def counts(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Head counts by stage and gender: array ``[stage, woman]``."""
        codes = self.code[: self.n] if mask is None else self.code[: self.n][mask]
        return np.bincount(codes, minlength=self.gone_code + 1)[: self.gone_code].reshape(-1, 2)
