"""Speed and memory of the model, measured (never asserted by tests).

Prints, in one run on this machine:
  1. a bare SimPy timeout loop's event rate (the reference);
  2. one baseline replication: wall time (median of --single runs), SimPy events per second,
     and person-level events per second (entries, exits, promotions, completions and
     deployments: each SimPy event of the model acts on a whole group of people at once);
  3. --replications baseline replications on --workers processes: wall time, the rate, and
     peak resident memory of the parent and of the largest worker.

    python benchmarks/run_speed.py                      # the README's figures
    python benchmarks/run_speed.py --replications 100   # a quicker look
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import simpy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.scenario.loading import load_scenario  # noqa: E402
from sim.model.replication import simulate  # noqa: E402
from sim.analysis.summary import summary_frame
from sim.runs.replications import run_replications, runs_frame  # noqa: E402


def bare_simpy(n_events: int = 300_000) -> float:
    env = simpy.Environment()

    def ticker(env: simpy.Environment):
        while True:
            yield env.timeout(1)

    env.process(ticker(env))
    start = time.perf_counter()
    env.run(until=n_events)
    return n_events / (time.perf_counter() - start)


def single(scenario, repeats: int) -> tuple[float, float, float]:
    times, simpy_rate, person_rate = [], [], []
    for r in range(repeats):
        start = time.perf_counter()
        result = simulate(scenario, r)
        t = time.perf_counter() - start
        times.append(t)
        simpy_rate.append(result.simpy_events / t)
        person_rate.append(result.person_events / t)
    return statistics.median(times), statistics.median(simpy_rate), statistics.median(person_rate)


def many(scenario, replications: int, workers: int) -> tuple[float, float, float]:
    start = time.perf_counter()
    results = run_replications(scenario, range(replications), workers)
    summary_frame(runs_frame(results))
    elapsed = time.perf_counter() - start
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return elapsed, parent, child


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default=str(ROOT / "scenarios" / "baseline.toml"))
    p.add_argument("--single", type=int, default=5, help="single-replication repeats")
    p.add_argument("--replications", type=int, default=1000)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    scenario = load_scenario(args.scenario)
    ref = bare_simpy()
    print(f"bare SimPy timeout loop:     {ref:12,.0f} events/s")
    t, simpy_rate, person_rate = single(scenario, args.single)
    print(f"one baseline replication:    {t:12.3f} s  ({scenario.start_year}-{scenario.horizon},"
          f" all three agencies; median of {args.single})")
    print(f"  SimPy events:              {simpy_rate:12,.0f} events/s")
    print(f"  person-level events:       {person_rate:12,.0f} events/s "
          f"({person_rate / ref:.1f}x the bare SimPy rate)")
    elapsed, parent, child = many(scenario, args.replications, args.workers)
    print(f"{args.replications} replications on {args.workers} workers: {elapsed:8.1f} s "
          f"({args.replications / elapsed:.2f} replications/s)")
    print(f"  peak memory: parent {parent:,.0f} MiB, largest worker {child:,.0f} MiB")


if __name__ == "__main__":
    main()
