"""Where a baseline replication spends its time, by agency and phase (never asserted by tests).

Times every phase call (``careers_step``, ``census``, ``intake``, ``deploy``, ``pool_step``) of
every agency and, inside it, the compiled kernels it calls, over ``--replications`` baseline
replications after a warm-up one; prints, per agency and phase, milliseconds a replication in
all, in kernels and in the Python around them, then the SimPy loop's own share (the
replication's time outside every phase) and a bare SimPy timeout loop's rate measured just
before, so a figure can be read against the machine's mood. The wrappers cost ~0.3 us a call
(~3 ms a replication), so the totals sit a little above ``run_speed.py``'s.

    python benchmarks/where_time_goes.py                 # 5 replications
    python benchmarks/where_time_goes.py --replications 10

Why: #18's targets need the time of the part that will be changed, and a profiler's
per-call overhead inflates the Python side by about two (cProfile) while it cannot see into
the kernels at all.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from report_speed import bare_simpy  # noqa: E402
from sim.model import kernels  # noqa: E402
from sim.model.agencies import AGENCY_CLASSES  # noqa: E402
from sim.model.replication import PHASES, build, run_to_end, simulate  # noqa: E402
from sim.scenario.loading import load_scenario  # noqa: E402

SCENARIO = ROOT / "scenarios" / "baseline.toml"

_phase: dict[tuple[str, str], float] = defaultdict(float)
_kernel: dict[tuple[str, str], float] = defaultdict(float)
_current: list[tuple[str, str]] = [("", "")]


def _timed_phases() -> None:
    """Wrap each agency class's phase methods (before ``build`` binds them)."""
    for cls in set(AGENCY_CLASSES.values()):
        for _, method, _, _ in PHASES:
            original = getattr(cls, method, None)
            if original is None:
                continue

            def timed(self, month, original=original, method=method):
                key = _current[0] = (self.name, method)
                start = time.perf_counter()
                original(self, month)
                _phase[key] += time.perf_counter() - start

            setattr(cls, method, timed)


def _timed_kernels(k) -> None:
    """Wrap each kernel of the loaded namespace the rosters call."""
    for name in kernels._KERNELS:
        original = getattr(k, name)

        def timed(*args, original=original):
            start = time.perf_counter()
            out = original(*args)
            _kernel[_current[0]] += time.perf_counter() - start
            return out

        setattr(k, name, timed)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replications", type=int, default=5)
    args = p.parse_args()
    scenario = load_scenario(SCENARIO)
    simulate(scenario, 0)                       # warm-up: loads the kernels
    k = kernels.load()
    if k is None:
        sys.exit("the compiled kernels are not in use here (WPS_SIM_KERNELS=0 or no numba)")
    _timed_kernels(k)
    _timed_phases()
    rate = bare_simpy()
    total = 0.0
    for r in range(1, args.replications + 1):
        env, _ = build(scenario, r)
        start = time.perf_counter()
        run_to_end(env)
        total += time.perf_counter() - start
    n = args.replications
    print(f"bare SimPy {rate:,.0f} events/s; {n} baseline replications, "
          f"{total / n * 1e3:.1f} ms each (ms a replication below)")
    print(f"{'agency':<14}{'phase':<14}{'all':>8}{'kernels':>9}{'Python':>8}")
    for key in sorted(_phase):
        whole, inner = _phase[key] / n * 1e3, _kernel[key] / n * 1e3
        print(f"{key[0]:<14}{key[1]:<14}{whole:8.1f}{inner:9.1f}{whole - inner:8.1f}")
    phases, inner = sum(_phase.values()) / n * 1e3, sum(_kernel.values()) / n * 1e3
    print(f"{'all phases':<28}{phases:8.1f}{inner:9.1f}{phases - inner:8.1f}")
    print(f"{'SimPy loop and processes':<28}{total / n * 1e3 - phases:8.1f}")


if __name__ == "__main__":
    main()
