"""Peak memory of a run's parent process: tabulating N replications, writing every file.

What ``run`` holds in the parent grows with the replications: their results as they come back
from the workers, the runs table, the summary, the targets table, the report and the files
written from them. This measures that peak (the high-water mark of a fresh process) without
simulating N replications: a few real results are simulated once (fixed parameters) and
pickled, and a stand-in backend hands them back, copied and renumbered, batch by batch as a
pool would (the command's own batching, each batch's arrays new, as unpickled from a worker).
The parent then runs the command's own path with drawn parameters, ``run``'s default
(``sim.commands.run.simulate_runs``, which makes each batch's scenarios, and ``write_run``:
runs, summary and parameters tables, targets.csv, the report), so the figure is the parent's,
not a worker's; the simulation's numbers are fabricated, the shapes and sizes are the real
ones::

    python benchmarks/memory.py                   # N = 400 and 1,000
    python benchmarks/memory.py --replications 200

Another script can call :func:`parent_peak_mib`.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import pickle
import resource
import subprocess
import sys
import tempfile
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCENARIO = ROOT / "scenarios" / "baseline.toml"
# The child runs in the environment this script was started in: polars, once loaded here (the
# real results are simulated in this process), writes its own allocator setting
# (``_RJEM_MALLOC_CONF``) into ``os.environ``, which the command's own would then not replace.
LAUNCH_ENV = dict(os.environ)
REAL = 2          # replications really simulated, then reused


def peak_rss_mib() -> float:
    """This process's peak resident memory so far. On Linux ``VmHWM``: ``ru_maxrss`` of a
    process started by another keeps the starting process's peak across the exec (a child of
    a 430 MiB parent reads 430 MiB before doing anything). Elsewhere ``ru_maxrss`` (macOS
    reports bytes, Linux kB)."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status
                        if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024


class ReplayBackend:
    """A backend that simulates nothing: each call's replications get a copy of one of the
    real results, renumbered, as a worker's batch would arrive (new arrays each time)."""

    workers = 2
    capacity = 4

    def __init__(self, real: list[Any]):
        self.real = real

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        reps = args[1] if len(args) > 1 else [r for _, r in args[0]]
        fut: Future = Future()
        fut.set_result([self.result(r) for r in reps])
        return fut

    def result(self, replication: int) -> Any:
        real = self.real[replication % len(self.real)]
        return dataclasses.replace(real, replication=replication,
                                   tally=copy.deepcopy(real.tally))

    def wait_any(self, futures: list[Future]) -> list[Future]:
        return list(futures)

    def close(self) -> None:
        pass


def simulated(path: Path) -> None:
    """``REAL`` real replications of the baseline, pickled to ``path``."""
    from sim.model.replication import simulate
    from sim.scenario.loading import load_scenario

    scenario = load_scenario(SCENARIO)
    path.write_bytes(pickle.dumps([simulate(scenario, r) for r in range(REAL)]))


def child(results: Path, replications: int) -> None:
    """The parent's path for ``replications``, in this (fresh) process; prints MiB figures."""
    from sim.commands.run import parameter_draws, scenario_fitted, simulate_runs, write_run
    from sim.scenario.loading import load_scenario

    scenario = load_scenario(SCENARIO).model_copy(update={"replications": replications})
    fitted = scenario_fitted(SCENARIO, scenario)
    draws = parameter_draws(fitted, argparse.Namespace(quiet=True), SCENARIO, scenario)
    real = pickle.loads(results.read_bytes())
    before = peak_rss_mib()
    runs = simulate_runs(scenario, ReplayBackend(real), True, "memory", draws)
    with tempfile.TemporaryDirectory() as tmp:
        write_run(scenario, runs, Path(tmp), fitted, draws)
    print(f"{before:.1f} {peak_rss_mib():.1f}")


def measured(replications: int, results: Path) -> tuple[float, float]:
    """(peak before the work, peak overall) in MiB, of a fresh process."""
    out = subprocess.run([sys.executable, __file__, "--child", str(replications),
                          "--results", str(results)], check=True, capture_output=True,
                         text=True, env=LAUNCH_ENV).stdout.split()
    return float(out[0]), float(out[1])


def parent_peak_mib(n_replications: int, results: Path | None = None) -> float:
    """The parent's peak resident memory (MiB) for a run of ``n_replications``, measured in a
    fresh process; ``results`` is a pickle written by :func:`simulated` (made here if None)."""
    if results is not None:
        return measured(n_replications, results)[1]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.pickle"
        simulated(path)
        return measured(n_replications, path)[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replications", type=int, nargs="*", default=[400, 1000])
    p.add_argument("--child", type=int, help=argparse.SUPPRESS)
    p.add_argument("--results", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child is not None:
        child(args.results, args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.pickle"
        simulated(path)
        for n in args.replications:
            start, peak = measured(n, path)
            print(f"{n:6,d} replications: parent peak {peak:6.1f} MiB "
                  f"({start:.1f} MiB after the imports, {peak - start:+.1f} MiB for the work)")


if __name__ == "__main__":
    main()
