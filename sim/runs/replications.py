"""Running replications, in parallel, with results independent of the number of workers.

Replication ``r`` draws every random number from streams keyed by ``(seed, r, agency,
process)``, so which worker runs it, and in what order, cannot change a single number.
Replications are handed out in batches to keep per-task overhead small, and collected in
replication order.
"""

from __future__ import annotations

import sys
from typing import Callable, Iterable, Mapping

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
    own = backend is None
    chunks = batches(replications, backend.workers if backend else workers)
    if backend is None:
        backend = backend_for(workers if len(chunks) > 1 else 1)
    try:
        on_done = (lambda out: progress(len(out))) if progress else None
        if scenarios is None:
            done = run_ordered(backend, _batch, [(scenario, chunk) for chunk in chunks], on_done)
        else:
            done = run_ordered(backend, _drawn_batch,
                               [([(scenarios[r], r) for r in chunk],) for chunk in chunks],
                               on_done)
    except BaseException:   # an interrupt or a failure: stop the workers, do not wait
        if own:
            abort(backend)
        raise
    if own:
        backend.close()
    return sorted((r for out in done for r in out), key=lambda r: r.replication)


def runs_frame(results: list[ReplicationResult]) -> pl.DataFrame:
    """One row per replication, year and series (see the README's outputs reference)."""
    if not results:
        raise ValueError("no replications to tabulate")
    years = results[0].tally.years
    n_y, n_s = len(years), len(SERIES)
    reps = np.repeat([r.replication for r in results], n_y * n_s)

    def stack(name: str) -> np.ndarray:
        return np.concatenate([getattr(r.tally, name).ravel() for r in results])

    women, total = stack("women"), stack("total")
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, women / np.where(total > 0, total, 1), np.nan)
    frame = pl.DataFrame({
        "replication": reps.astype(np.int32),
        "year": np.tile(np.repeat(years, n_s), len(results)).astype(np.int16),
        "series": np.tile([s.id for s in SERIES], n_y * len(results)),
        "measure": np.tile([s.measure for s in SERIES], n_y * len(results)),
        "women": women,
        "total": total,
        "share": share,
        "women_end": stack("women_end"),
        "total_end": stack("total_end"),
        "entries_women": stack("entries_women"),
        "entries_total": stack("entries_total"),
        "exits_women": stack("exits_women"),
        "exits_total": stack("exits_total"),
    })
    return frame.with_columns(pl.col("share").fill_nan(None),
                              *[pl.col(c).fill_nan(None) for c in
                                ("women_end", "total_end", "entries_women", "entries_total",
                                 "exits_women", "exits_total")])


def tqdm_progress(total: int, quiet: bool, desc: str) -> tuple[Progress | None, Callable[[], None]]:
    """A progress bar on a terminal (nothing when quiet or not a terminal)."""
    if quiet or not sys.stderr.isatty():
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="rep", file=sys.stderr)
    return bar.update, bar.close
