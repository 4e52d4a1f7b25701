"""Simulating for the calibration: one evaluation is R replications of one agency at one
parameter point, run on a backend of :mod:`sim.runs.backends`; results never depend on the
number of workers."""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from sim.analysis.calibration.config import build_scenario
from sim.model.census import Tally
from sim.model.replication import simulate
from sim.runs.backends import Backend, backend_for, run_ordered

def _cells_task(base: dict[str, Any], overrides: dict[str, Any], agency: str | None,
                reps: list[int], cells: list[tuple[int, int, bool]]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Women and total in each cell, per replication: arrays ``[rep, cell]``."""
    scenario = build_scenario(base, overrides)
    women = np.empty((len(reps), len(cells)))
    total = np.empty((len(reps), len(cells)))
    for i, r in enumerate(reps):
        t = simulate(scenario, r, agencies=(agency,) if agency else None).tally
        for k, (y, j, end) in enumerate(cells):
            w, n = (t.women_end, t.total_end) if end else (t.women, t.total)
            women[i, k], total[i, k] = w[y, j], n[y, j]
    return women, total


def _tally_task(base: dict[str, Any], overrides: dict[str, Any], reps: list[int]) -> list[Tally]:
    scenario = build_scenario(base, overrides)
    return [simulate(scenario, r).tally for r in reps]


class Simulator:
    """Runs evaluations on a backend (:mod:`sim.runs.backends`, a local pool when
    ``workers > 1``); results never depend on the backend or its workers.

    Each job is split into chunks of replications; chunks are gathered back in job and
    replication order, so the numbers are the same for any number of workers. The base
    scenario data (a few kB) travels with each chunk.
    """

    def __init__(self, base: dict[str, Any], workers: int,
                 tick: Callable[[int], None] | None = None, backend: Backend | None = None):
        self.base, self.tick = base, tick or (lambda n: None)
        self.own = backend is None            # a backend handed in is closed by its owner
        self.backend = backend or backend_for(workers)
        self.workers = self.backend.workers
        self.evaluations = 0

    def close(self) -> None:
        if self.own:
            self.backend.close()

    def __enter__(self) -> "Simulator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _chunks(self, reps: Sequence[int]) -> list[list[int]]:
        reps = list(reps)
        size = max(1, math.ceil(len(reps) / self.workers))
        return [reps[i:i + size] for i in range(0, len(reps), size)]

    def cells(self, jobs: list[dict[str, Any]], agency: str | None, reps: Sequence[int],
              cells: list[tuple[int, int, bool]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each override set in ``jobs``: women and total ``[rep, cell]``."""
        chunks = self._chunks(reps)
        calls = [(self.base, job, agency, c, cells) for job in jobs for c in chunks]
        out = run_ordered(self.backend, _cells_task, calls)
        self.evaluations += len(jobs)
        self.tick(len(jobs))
        n = len(chunks)
        return [(np.vstack([w for w, _ in out[i * n:(i + 1) * n]]),
                 np.vstack([t for _, t in out[i * n:(i + 1) * n]])) for i in range(len(jobs))]

    def tallies(self, jobs: list[tuple[dict[str, Any], list[int]]]) -> list[Tally]:
        """Full-model tallies, one job per override set and its replications, in order."""
        calls = [(self.base, ov, c) for ov, reps in jobs for c in self._chunks(reps)]
        out = [t for part in run_ordered(self.backend, _tally_task, calls) for t in part]
        self.tick(len(jobs))
        return out
