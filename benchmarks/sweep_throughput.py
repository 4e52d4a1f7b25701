"""Sweep throughput on 1 and 2 local workers (and optionally a local Dask cluster).

Runs the same sweep into fresh folders with each worker count and prints, for each: wall time
of the tasks, replications per second, tasks per second, and the parallel efficiency
``rate(W) / (W * rate(1))``; then the time to write the summary, sensitivity tables and
report; and whether every run produced identical results (it must).

    python benchmarks/sweep_throughput.py                        # example sweep, 3 replications
    python benchmarks/sweep_throughput.py --replications 6 --workers 1 2 4
    python benchmarks/sweep_throughput.py --dask-local 2         # also a 2-process LocalCluster

The machine's load average is printed with each run: on a shared machine other jobs take
cores away and lower the efficiency; quote it with the figures.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.commands.sweep import finish  # noqa: E402
from sim.runs.sweep import collect, prepare_folder, run_sweep
from sim.runs.backends import backend_for, connect
from sim.runs.sweep_file import load_sweep
from sim.runs.design import make_plan


def timed_run(plan, out: Path, backend) -> float:
    prepare_folder(out, plan)
    start = time.perf_counter()
    failures = run_sweep(plan, out, backend)
    elapsed = time.perf_counter() - start
    if failures:
        raise SystemExit("\n".join(f.describe() for f in failures))
    return elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sweep", default=str(ROOT / "scenarios" / "sweeps" / "example.toml"))
    p.add_argument("--replications", type=int, default=3)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--dask-local", type=int, metavar="N", default=0,
                   help="also run on a LocalCluster of N single-threaded worker processes")
    args = p.parse_args()
    sweep = load_sweep(args.sweep, args.replications)
    plan = make_plan(sweep)
    reps = sum(len(t.replications) for t in plan.tasks)
    print(f"sweep {sweep.spec.name}: {plan.points.height} points x {sweep.spec.replications} "
          f"replications = {reps} replications in {len(plan.tasks)} tasks "
          f"({sweep.base.start_year}-{sweep.base.horizon}, "
          f"agencies: {', '.join(sweep.spec.agencies or ['all'])}); {os.cpu_count()} cores")
    runs: dict[str, tuple[float, Path]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base_rate = None
        for w in args.workers:
            load = os.getloadavg()[0]
            out = Path(tmp) / f"w{w}"
            t = timed_run(plan, out, backend_for(w, None))
            rate = reps / t
            base_rate = base_rate or (rate if w == 1 else None)
            eff = f"{rate / (w * base_rate):6.0%}" if base_rate else "   n/a"
            print(f"{w} worker{'s' if w > 1 else ' '}: {t:7.2f} s  {rate:6.2f} rep/s  "
                  f"{len(plan.tasks) / t:6.2f} tasks/s  efficiency {eff}  (load {load:.2f})")
            runs[f"{w} workers"] = (t, out)
        if args.dask_local:
            from distributed import LocalCluster

            with LocalCluster(n_workers=args.dask_local, threads_per_worker=1,
                              processes=True, dashboard_address=None) as cluster:
                backend = connect(cluster.scheduler_address)
                # Warm up: each worker process imports the model once before timing starts.
                backend.client.run(importlib.import_module, "sim.model.replication")
                load = os.getloadavg()[0]
                out = Path(tmp) / "dask"
                t = timed_run(plan, out, backend)
                rate = reps / t
                eff = f"{rate / (args.dask_local * base_rate):6.0%}" if base_rate else "n/a"
                print(f"Dask LocalCluster ({args.dask_local} processes): {t:7.2f} s  "
                      f"{rate:6.2f} rep/s  efficiency {eff}  (load {load:.2f})")
                runs["dask"] = (t, out)
        first = next(iter(runs.values()))[1]
        start = time.perf_counter()
        finish(first, plan)
        print(f"summary, sensitivity and report: {time.perf_counter() - start:.2f} s")
        reference = collect(first)
        same = all(collect(out).equals(reference) for _, out in runs.values())
        print(f"identical results across runs: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
