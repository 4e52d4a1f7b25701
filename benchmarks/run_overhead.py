"""Where the time of one ``run`` goes, by component (measured, never asserted by tests).

``run scenarios/baseline.toml --replications 1`` should cost little more than its simulation
and its report; this splits its wall time, in one fresh process, into the imports (the
command line's, then the modules the run needs, the report's apart), the scenario and
parameter draws, the simulation, the frames and files, the report, and the rest::

    python benchmarks/run_overhead.py                       # baseline, 1 replication
    python benchmarks/run_overhead.py --fixed-parameters --replications 4

Timing wraps the command's own functions (``sim.commands.run``) for the run's duration; the
command runs in this process with ``--quiet`` into a temporary folder.
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TIMES: dict[str, float] = {}


def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, adding its wall time to ``TIMES[name]``."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[name] = TIMES.get(name, 0.0) + time.perf_counter() - start
    return wrapper


def clock(name: str, action: Callable[[], Any]) -> Any:
    return timed(name, action)()


def patch() -> None:
    """Wrap the run's phases; the modules are imported already (see :func:`main`)."""
    import sim.analysis.summary as summary
    import sim.commands.run as run
    import sim.reports.forecast as forecast
    import sim.runs.outputs as outputs
    import sim.runs.replications as replications

    run.load_scenario = timed("scenario and draws", run.load_scenario)
    run.scenario_fitted = timed("scenario and draws", run.scenario_fitted)
    run.parameter_draws = timed("scenario and draws", run.parameter_draws)
    replications.run_replications = timed("simulation (backend)", replications.run_replications)
    if hasattr(replications, "run_frame"):   # since #18: the batches tabulated as they arrive
        replications.run_frame = timed("simulation (backend)", replications.run_frame)
    replications.runs_frame = timed("frames", replications.runs_frame)
    summary.summary_frame = timed("frames", summary.summary_frame)
    run.parameters_frame = timed("frames", run.parameters_frame)
    outputs.write_parquet = timed("files", outputs.write_parquet)
    outputs.write_text = timed("files", outputs.write_text)
    outputs.resolved_toml = timed("files", outputs.resolved_toml)
    forecast.write_reports = timed("report", forecast.write_reports)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default=str(ROOT / "scenarios" / "baseline.toml"))
    p.add_argument("--replications", type=int, default=1)
    p.add_argument("--fixed-parameters", action="store_true")
    args = p.parse_args()
    start = time.perf_counter()
    cli = clock("imports: command line", lambda: __import__("sim.commands.cli").commands.cli)
    clock("imports: run's modules", lambda: [__import__(m) for m in (
        "sim.analysis.draws", "sim.runs.replications", "sim.runs.outputs",
        "sim.analysis.summary", "sim.analysis.precision")])
    clock("imports: report", lambda: __import__("sim.reports.forecast"))
    patch()
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["run", args.scenario, "--replications", str(args.replications), "--quiet",
                "--out", str(Path(tmp) / "out")]
        code = clock("command", lambda: cli.main(
            argv + (["--fixed-parameters"] if args.fixed_parameters else [])))
    total = time.perf_counter() - start
    inner = sum(v for k, v in TIMES.items() if not k.startswith(("imports", "command")))
    TIMES["rest of the command"] = TIMES.pop("command") - inner
    for name, t in TIMES.items():
        print(f"{name:28s} {t:7.3f} s")
    print(f"{'total (exit ' + str(code) + ')':28s} {total:7.3f} s")


if __name__ == "__main__":
    main()
