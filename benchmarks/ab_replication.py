"""Two versions of the engine side by side: CPU time of a baseline replication (never
asserted by tests).

On a shared machine whose speed moves by tens of percent within a minute, a figure scaled by
a bare SimPy loop (``run_speed.py``) tells versions apart only roughly. This alternates them
instead: each round runs version A, then version B, each in a fresh process (its kernels
already compiled and cached), and prints the median CPU time of ``--replications`` baseline
replications of each (after one warm-up replication) and their ratio. The median and the
total of the ratios over the rounds are the comparison.

    git worktree add /tmp/before <commit>
    python benchmarks/ab_replication.py /tmp/before . --rounds 14 --replications 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

_CHILD = """
import statistics, sys, time
from sim.model.replication import simulate
from sim.scenario.loading import load_scenario
scenario = load_scenario('scenarios/baseline.toml')
simulate(scenario, 0)
times = []
for r in range(int(sys.argv[1])):
    start = time.process_time()
    simulate(scenario, r)
    times.append(time.process_time() - start)
print(statistics.median(times))
"""


def replication_seconds(tree: Path, replications: int) -> float:
    """Median CPU seconds of a baseline replication with the engine of ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(replications)], cwd=tree,
                         env=env, check=True, capture_output=True, text=True)
    return float(out.stdout.split()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a", type=Path, help="a source tree (e.g. a git worktree of a commit)")
    p.add_argument("b", type=Path, help="another source tree")
    p.add_argument("--rounds", type=int, default=14)
    p.add_argument("--replications", type=int, default=3)
    args = p.parse_args()
    for tree in (args.a, args.b):               # compile and cache each tree's kernels first
        replication_seconds(tree.resolve(), 1)
    ratios, total_a, total_b = [], 0.0, 0.0
    for i in range(args.rounds):
        a = replication_seconds(args.a.resolve(), args.replications)
        b = replication_seconds(args.b.resolve(), args.replications)
        ratios.append(b / a)
        total_a, total_b = total_a + a, total_b + b
        print(f"round {i + 1:2d}   A {a:.3f} s   B {b:.3f} s   B/A {b / a:.3f}", flush=True)
    print(f"B/A: median {statistics.median(ratios):.3f}, range {min(ratios):.3f}-"
          f"{max(ratios):.3f}, totals {total_b / total_a:.3f} ({args.rounds} rounds)")


if __name__ == "__main__":
    main()
