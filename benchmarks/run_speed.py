"""Speed and memory of the model, measured (never asserted by tests).

Prints, in one run on this machine, each timing beside the rate of a bare SimPy timeout loop
measured just before and after it (these machines are shared: a figure is only comparable with
the bare rate of its own moment, and ``scaled`` restates it at 0.9M bare events/s):

  1. one baseline replication, compiled kernels and the numpy reference path, in this process
     (median of ``--single`` and ``--reference`` runs, after a warm-up run that loads the
     kernels; a bare loop between every two, so each replication is also scaled by its own
     moment, and the median of those is given too);
  2. ``run --replications 1`` end to end in a fresh process (imports, simulation, every
     output file, the report; median of 3 after a warm-up);
  3. ``run --replications N`` on ``--workers`` processes in a fresh process: wall time, the
     parent's peak resident memory and the largest worker's;
  4. building the report of that N-replication run alone (``report_speed.report_seconds``).

    python benchmarks/run_speed.py                      # the README's figures (N = 1,000)
    python benchmarks/run_speed.py --replications 100   # a quicker look
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

# The environment a user's shell would give the commands timed here, taken before anything is
# imported: polars writes its own allocator setting (``_RJEM_MALLOC_CONF``, freed pages kept
# 0.5-1 s) into this process's environment when it loads, and a child inheriting it would not
# run as a user's ``run_scenario.py`` runs (``sim.commands`` sets pages to go back at once;
# with polars' setting a 1,000-replication run's parent peaked at 249-269 MiB instead of
# ~218). ``PYTHONDONTWRITEBYTECODE``, set in some sandboxes, is left out too: it would make
# every run compile the package's sources again (~0.1-0.2 s).
LAUNCH_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

from report_speed import bare_simpy, report_seconds  # noqa: E402
from sim.model import kernels  # noqa: E402
from sim.model.replication import simulate  # noqa: E402
from sim.scenario.loading import load_scenario  # noqa: E402

SCENARIO = ROOT / "scenarios" / "baseline.toml"
REFERENCE_RATE = 900_000     # bare SimPy events/s the targets are stated at

# Runs the command in a fresh process, as run_scenario.py does (process_main, which ends the
# process when the command is done), and reports its own peak memory (``memory.peak_rss_mib``)
# and its workers' just before that end, from a wrapper around the command's ``main``.
_RUN = """
import json, resource, sys
import sim.commands.cli as cli
command = cli.main
def measured(argv, prog):
    code = command(argv, prog)
    sys.path.insert(0, "benchmarks")
    from memory import peak_rss_mib
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"parent": peak_rss_mib(), "workers": workers}))
    return code
cli.main = measured
cli.process_main(sys.argv[1:])
"""


def bracketed(measure: Callable[[], float]) -> tuple[float, float]:
    """A timing and the mean bare SimPy rate measured just before and just after it."""
    before = bare_simpy()
    value = measure()
    return value, (before + bare_simpy()) / 2


def one_replication(scenario, repeats: int, compiled: bool) -> tuple[float, float, float]:
    """Median time of a replication, median bare rate, and the median of each replication's
    time scaled by the bare rate measured just before and just after it: on a shared machine
    whose speed moves within seconds, pairing each replication with its own moment is what
    makes the scaled figure comparable."""
    kernels.use(compiled)
    try:
        simulate(scenario, 0)                       # warm-up: loads the kernels
        times, rates, scaled = [], [], []
        before = bare_simpy()
        for r in range(repeats):
            start = time.perf_counter()
            simulate(scenario, r)
            times.append(time.perf_counter() - start)
            after = bare_simpy()
            rates.append((before + after) / 2)
            scaled.append(times[-1] * rates[-1] / REFERENCE_RATE)
            before = after
        return statistics.median(times), statistics.median(rates), statistics.median(scaled)
    finally:
        kernels.use(None)


def command(args: list[str]) -> dict[str, float]:
    """``run_scenario.py`` ``args`` in a fresh process, in a user's environment
    (:data:`LAUNCH_ENV`): its wall time (from the interpreter's start, imports included),
    peak memory and workers' peak memory."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _RUN, *args], cwd=ROOT, check=True,
                          capture_output=True, text=True, env=LAUNCH_ENV)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    found["wall"] = time.perf_counter() - start
    return found


def line(label: str, seconds: float, rate: float, extra: str = "") -> None:
    scaled = seconds * rate / REFERENCE_RATE
    print(f"{label:<38}{seconds:9.3f} s   bare SimPy {rate:9,.0f}/s   "
          f"scaled to 0.9M: {scaled:7.3f} s{extra}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--single", type=int, default=5, help="compiled single-replication runs")
    p.add_argument("--reference", type=int, default=3, help="numpy-path runs (0: skip)")
    p.add_argument("--replications", type=int, default=1000)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    scenario = load_scenario(SCENARIO)

    kernels.use(True)
    print(f"compiled kernels: {kernels.load().path}")     # ahead-of-time, else jit
    kernels.use(None)
    t, rate, scaled = one_replication(scenario, args.single, True)
    line("one replication, compiled kernels", t, rate,
         f"   (median of {args.single}; each scaled by its own moment: {scaled:.3f} s)")
    if args.reference:
        t_ref, rate_ref, scaled_ref = one_replication(scenario, args.reference, False)
        line("one replication, numpy reference", t_ref, rate_ref,
             f"   (median of {args.reference}, {scaled_ref:.3f} s paired; compiled is "
             f"{scaled_ref / scaled:.1f}x faster)")

    with tempfile.TemporaryDirectory() as tmp:
        one = ["run", str(SCENARIO), "--replications", "1", "--quiet", "--out",
               str(Path(tmp) / "one")]
        command(one)                                # warm-up: file cache, kernels cache
        t_one, rate = bracketed(lambda: statistics.median(command(one)["wall"]
                                                          for _ in range(3)))
        line("run --replications 1, end to end", t_one, rate, "   (median of 3)")

        out = Path(tmp) / "many"
        many = ["run", str(SCENARIO), "--replications", str(args.replications), "--workers",
                str(args.workers), "--quiet", "--out", str(out)]
        found: dict[str, float] = {}
        t_many, rate = bracketed(lambda: found.update(command(many)) or found["wall"])
        line(f"run --replications {args.replications} on {args.workers} workers", t_many, rate,
             f"   ({args.replications / t_many:.1f} replications/s)")
        print(f"  peak memory: parent {found['parent']:,.0f} MiB, "
              f"largest worker {found['workers']:,.0f} MiB")

        t_report, rate = bracketed(lambda: report_seconds(out, 3))
        line(f"report of {args.replications} replications", t_report, rate, "   (median of 3)")


if __name__ == "__main__":
    main()
