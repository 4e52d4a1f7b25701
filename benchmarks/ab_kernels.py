"""Two versions of the compiled kernels in one process, replication by replication (never
asserted by tests).

``ab_replication.py`` runs two source trees in alternate fresh processes; on this shared
machine its rounds still scatter by ±30%, too much to see a change worth a few percent. A
change confined to ``sim/model/kernels.py`` can be compared more closely: this loads the other
tree's kernels beside this tree's, builds each replication with this tree's engine, gives its
rosters one or the other set of kernels, and alternates them (A B, then B A), so both meet the
machine's moods alike. It prints the median and the total of the B/A ratios of CPU time, and
checks that both give the same tally (the kernels must agree count for count).

    git worktree add /tmp/before HEAD      # before editing the kernels
    python benchmarks/ab_kernels.py /tmp/before --rounds 12

The other tree's kernels must take the same arguments as this tree's (only their insides
changed); they compile into that tree's own numba cache on first use. This tree's kernels are
numba's compilation too (``kernels.load_jit``), not the install's ahead-of-time build, so that
both sides are compiled alike.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.model import kernels  # noqa: E402
from sim.model.census import tally  # noqa: E402
from sim.model.replication import build, run_to_end  # noqa: E402
from sim.scenario.loading import load_scenario  # noqa: E402
from sim.scenario.schema import Scenario  # noqa: E402


def other_kernels(tree: Path) -> SimpleNamespace:
    """The compiled kernels of the source tree ``tree``, loaded under another module name."""
    spec = importlib.util.spec_from_file_location("other_kernels",
                                                  tree / "sim" / "model" / "kernels.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["other_kernels"] = module
    spec.loader.exec_module(module)
    loaded = module._compile()
    if loaded is None:
        sys.exit(f"{tree}: its kernels could not be compiled here")
    return loaded


def replication(scenario: Scenario, r: int, k: SimpleNamespace) -> tuple[float, list]:
    """CPU seconds of replication ``r`` run with the kernels ``k``, and its tally's arrays."""
    env, built = build(scenario, r)
    for agency in built:
        agency.roster.k = k
    start = time.process_time()
    run_to_end(env)
    seconds = time.process_time() - start
    return seconds, [v for v in vars(tally(scenario, built)).values()
                     if isinstance(v, np.ndarray)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a", type=Path, help="the other source tree (e.g. a git worktree)")
    p.add_argument("--rounds", type=int, default=12)
    args = p.parse_args()
    a, b = other_kernels(args.a.resolve()), kernels.load_jit()
    if b is None:
        sys.exit("this tree's kernels are not in use (WPS_SIM_KERNELS=0 or no numba)")
    scenario = load_scenario(ROOT / "scenarios" / "baseline.toml")
    replication(scenario, 0, a)                 # warm-up: loads both sets of kernels
    replication(scenario, 0, b)
    ratios, total_a, total_b = [], 0.0, 0.0
    for i in range(args.rounds):
        order = (a, b) if i % 2 == 0 else (b, a)
        (t1, c1), (t2, c2) = (replication(scenario, i + 1, k) for k in order)
        if not all(np.array_equal(x, y, equal_nan=True) for x, y in zip(c1, c2)):
            sys.exit(f"replication {i + 1}: the two sets of kernels give different counts")
        t_a, t_b = (t1, t2) if i % 2 == 0 else (t2, t1)
        ratios.append(t_b / t_a)
        total_a += t_a
        total_b += t_b
        print(f"round {i + 1:2d}   A {t_a:.3f} s   B {t_b:.3f} s   B/A {t_b / t_a:.3f}")
    print(f"B/A: median {statistics.median(ratios):.3f}, range {min(ratios):.3f}-"
          f"{max(ratios):.3f}, totals {total_b / total_a:.3f} ({args.rounds} rounds)")


if __name__ == "__main__":
    main()
