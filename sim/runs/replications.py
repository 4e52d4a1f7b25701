"""Running replications, in parallel, with results independent of the number of workers.

Replication ``r`` draws every random number from streams keyed by ``(seed, r, agency,
process)``, so which worker runs it, and in what order, cannot change a single number.
Replications are handed out in batches to keep per-task overhead small, and collected in
replication order.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Iterable, Mapping, Sequence, overload

import numpy as np
import polars as pl

from sim.model.replication import ReplicationResult, simulate
from sim.runs.backends import Backend, abort, backend_for, run_ordered
from sim.scenario.schema import Scenario
from sim.model.series import SERIES

Progress = Callable[[int], None]


def _batch(scenario: Scenario, replications: list[int]) -> list[ReplicationResult]:
    return [simulate(scenario, r) for r in replications]


def _drawn_batch(jobs: list[tuple[Scenario, int]],
                 agencies: tuple[str, ...] | None = None) -> list[ReplicationResult]:
    """Replications each with its own scenario (a parameter draw)."""
    return [simulate(scenario, r, agencies) for scenario, r in jobs]


drawn_batch = _drawn_batch


def batches(replications: Iterable[int], workers: int, size: int | None = None) -> list[list[int]]:
    reps = list(replications)
    size = size or max(1, min(25, len(reps) // (4 * workers) or 1))
    return [reps[i:i + size] for i in range(0, len(reps), size)]


def run_replications(scenario: Scenario, replications: Iterable[int], workers: int = 1,
                     progress: Progress | None = None,
                     backend: Backend | None = None,
                     scenarios: Mapping[int, Scenario] | None = None) -> list[ReplicationResult]:
    """Simulate the given replications; results come back sorted by replication.

    ``scenarios`` gives replication ``r`` its own scenario (parameter draws, made by
    ``sim.analysis.draws``); without it every replication runs ``scenario``."""
    done = _run_batches(scenario, replications, workers, progress, backend, scenarios, None)
    return sorted((r for out in done for r in out), key=lambda r: r.replication)


def run_frame(scenario: Scenario, replications: Iterable[int], workers: int = 1,
              progress: Progress | None = None, backend: Backend | None = None,
              scenarios: Mapping[int, Scenario] | None = None) -> pl.DataFrame:
    """``runs_frame(run_replications(...))``, with each batch written into the table as it
    arrives and its results dropped: the parent holds one table, not every replication's
    arrays as well. The table is built whole (one chunk), so runs.parquet keeps its bytes
    (polars lays out a file by the frame's chunks).

    ``series`` and ``measure`` are codes (:data:`SERIES_CODES`, :data:`MEASURE_CODES`), not
    text: a byte a row instead of a 16-byte string view, 24 MiB less at 1,000 replications.
    They filter, group and sort as the text does (the categories are in sorted order);
    ``sim.runs.outputs.write_parquet`` writes them as text, so the files are unchanged."""
    reps = sorted(replications)       # batches in order: the table in replication order
    if not reps:
        raise ValueError("no replications to tabulate")
    table = _Table(len(reps))
    row = {r: i for i, r in enumerate(reps)}
    _run_batches(scenario, reps, workers, progress, backend, scenarios,
                 lambda out: table.add(out, row[out[0].replication]))
    return table.frame(coded=True)


def _run_batches(scenario: Scenario, replications: Iterable[int], workers: int,
                 progress: Progress | None, backend: Backend | None,
                 scenarios: Mapping[int, Scenario] | None,
                 keep: Callable[[list[ReplicationResult]], Any] | None) -> list[Any]:
    """Each batch's results (or what ``keep`` makes of them), in batch order."""
    own = backend is None
    chunks = batches(replications, backend.workers if backend else workers)
    if backend is None:
        backend = backend_for(workers if len(chunks) > 1 else 1)
    try:
        on_done = (lambda out: progress(len(out))) if progress else None
        if scenarios is None:
            calls = [(scenario, chunk) for chunk in chunks]
            done = run_ordered(backend, _batch, calls, on_done, keep)
        else:
            done = run_ordered(backend, _drawn_batch, _DrawnJobs(chunks, scenarios),
                               on_done, keep)
    except BaseException:   # an interrupt or a failure: stop the workers, do not wait
        if own:
            abort(backend)
        raise
    if own:
        backend.close()
    return done


class _DrawnJobs(Sequence[tuple[list[tuple[Scenario, int]]]]):
    """The batches' calls of :func:`_drawn_batch`, each made when it is submitted: with
    ``scenarios`` made on lookup, only the batches in flight hold their scenarios."""

    def __init__(self, chunks: list[list[int]], scenarios: Mapping[int, Scenario]):
        self.chunks, self.scenarios = chunks, scenarios

    def __len__(self) -> int:
        return len(self.chunks)

    @overload
    def __getitem__(self, i: int) -> tuple[list[tuple[Scenario, int]]]: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[tuple[list[tuple[Scenario, int]]]]: ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(len(self))[i]]
        return ([(self.scenarios[r], r) for r in self.chunks[i]],)


def runs_frame(results: list[ReplicationResult]) -> pl.DataFrame:
    """One row per replication, year and series (see the README's outputs reference), in the
    order of ``results``; as runs.parquet reads (``series`` and ``measure`` as text)."""
    if not results:
        raise ValueError("no replications to tabulate")
    table = _Table(len(results))
    table.add(results, 0)
    return table.frame()


TALLIED = ("women", "total", "women_end", "total_end", "entries_women", "entries_total",
           "exits_women", "exits_total")
SERIES_CODES = pl.Enum(sorted({s.id for s in SERIES}))
MEASURE_CODES = pl.Enum(sorted({s.measure for s in SERIES}))
#: Columns only the stock series fill (null elsewhere): year-end stocks, entries and exits.
STOCK_COLUMNS = TALLIED[2:]
NAN_TO_NULL = ("share", *STOCK_COLUMNS)


class _Table:
    """The runs table's columns for ``replications`` results, allocated at the first batch
    and filled batch by batch at each batch's place (batches may arrive in any order)."""

    def __init__(self, replications: int):
        self.replications = replications
        self.columns: dict[str, np.ndarray] = {}
        self.years: np.ndarray | None = None

    def add(self, results: list[ReplicationResult], first: int) -> None:
        """Write ``results`` as replications ``first``, ``first + 1``, ... of the table."""
        if self.years is None:
            self._allocate(results[0])
        n_y, n_s = len(self.years), len(SERIES)        # type: ignore[arg-type]
        rows = slice(first * n_y * n_s, (first + len(results)) * n_y * n_s)
        c = self.columns
        c["replication"][rows] = np.repeat([r.replication for r in results], n_y * n_s)
        for name in TALLIED:
            c[name][rows] = np.concatenate([getattr(r.tally, name).ravel() for r in results])
        women, total = c["women"][rows], c["total"][rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            c["share"][rows] = np.where(total > 0, women / np.where(total > 0, total, 1), np.nan)

    def _allocate(self, result: ReplicationResult) -> None:
        self.years = result.tally.years
        n = self.replications * len(self.years) * len(SERIES)
        self.columns = {"replication": np.empty(n, np.int32)}
        for name in TALLIED:
            self.columns[name] = np.empty(n, getattr(result.tally, name).dtype)
        women, total = result.tally.women, result.tally.total
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(total > 0, women / np.where(total > 0, total, 1), np.nan)
        self.columns["share"] = np.empty(n, share.dtype)

    def frame(self, coded: bool = False) -> pl.DataFrame:
        """The table (the columns are handed over: the table is emptied), ``series`` and
        ``measure`` as codes if ``coded`` (see :func:`run_frame`), else as text. Each column
        becomes a polars column in turn (NaN as null where runs.parquet has nulls) and its
        array is let go before the next: the whole table then ``fill_nan`` held seven columns
        twice, 44 MiB more at 1,000 replications."""
        assert self.years is not None
        n_y, n_s, c = len(self.years), len(SERIES), self.columns
        times = n_y * self.replications
        columns = [
            pl.Series("replication", c.pop("replication")),
            pl.Series("year", np.tile(np.repeat(self.years.astype(np.int16), n_s),
                                      self.replications)),
            _per_row("series", [s.id for s in SERIES], times,
                     SERIES_CODES if coded else pl.String()),
            _per_row("measure", [s.measure for s in SERIES], times,
                     MEASURE_CODES if coded else pl.String()),
        ]
        for name in ("women", "total", "share", *STOCK_COLUMNS):
            columns.append(pl.Series(name, c.pop(name), nan_to_null=name in NAN_TO_NULL))
        return pl.DataFrame(columns)


def _per_row(name: str, labels: list[str], times: int, dtype: pl.DataType) -> pl.Series:
    """``labels`` repeated ``times`` over, as ``dtype`` (text or codes): gathered from one small
    column, so that text rows are views into the same few strings (a numpy ``<U39`` tile took
    156 bytes a row)."""
    index = np.tile(np.arange(len(labels), dtype=np.uint32), times)
    return pl.Series(name, labels, dtype).gather(index)


def tqdm_progress(total: int, quiet: bool, desc: str) -> tuple[Progress | None, Callable[[], None]]:
    """A progress bar on a terminal (nothing when quiet or not a terminal)."""
    if quiet or not sys.stderr.isatty():
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="rep", file=sys.stderr)
    return bar.update, bar.close
