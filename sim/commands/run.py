"""``run SCENARIO``: replications of one scenario, written under ``outputs/<name>/``.

Like every command module, it imports the model, polars and plotly only when it runs, so
``validate`` and ``--help`` start without loading them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sim.commands.options import add_backend_options, backend_from_args, positive, seed_arg
from sim.scenario.loading import (Fitted, authoring_warnings, fitted_parameters, load_scenario,
                                  output_dir)

if TYPE_CHECKING:
    import polars as pl

    from sim.runs.backends import Backend
    from sim.scenario.schema import Scenario

OUTPUTS = Path("outputs")


def add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--replications", type=positive, metavar="N",
                   help="replications (default: the scenario's)")
    p.add_argument("--seed", type=seed_arg, metavar="S", help="root seed (default: the "
                   "scenario's)")
    add_backend_options(p)
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a scenario and write its outputs",
                       description="Run a scenario's replications and write runs.parquet, "
                                   "summary.parquet, scenario.toml (and the reports) to DIR.")
    p.add_argument("scenario", metavar="SCENARIO", help="scenario TOML file")
    add_run_options(p)
    p.add_argument("--out", metavar="DIR", type=Path,
                   help="output folder (default: outputs/<scenario name>/)")
    p.set_defaults(func=main)


def with_overrides(scenario: Scenario, args: argparse.Namespace) -> Scenario:
    update = {}
    if args.replications is not None:
        update["replications"] = args.replications
    if args.seed is not None:
        update["seed"] = args.seed
    return scenario.model_copy(update=update)


def warn_authoring(path: str, scenario: Scenario, quiet: bool) -> None:
    """What the file may not mean (``authoring_warnings``), on stderr unless quiet."""
    if not quiet:
        for text in authoring_warnings(path, scenario):
            print(f"warning: {text}", file=sys.stderr)


def main(args: argparse.Namespace) -> int:
    from sim.runs.outputs import claim_folder

    scenario = with_overrides(load_scenario(args.scenario), args)
    warn_authoring(args.scenario, scenario, args.quiet)
    out = args.out if args.out is not None else output_dir(OUTPUTS, scenario.name)
    claim_folder(out)
    backend = backend_from_args(args)
    try:
        execute(scenario, Path(out), backend, args.quiet, fitted_parameters(args.scenario))
    finally:
        backend.close()
    if not args.quiet:
        print(f"wrote {out}/")
    return 0


def execute(scenario: Scenario, out: Path, backend: Backend, quiet: bool,
            fitted: Fitted | None = None) -> None:
    """Run and write the scenario's files, then its targets table and report
    (``sim.reports.forecast``)."""
    from sim.runs.outputs import resolved_toml, write_parquet, write_text
    from sim.analysis.precision import warn_imprecise
    from sim.reports.forecast import write_reports
    from sim.analysis.summary import summary_frame

    runs = simulate_runs(scenario, backend, quiet, scenario.name)
    summary = summary_frame(runs)
    write_parquet(runs, out / "runs.parquet")
    write_parquet(summary, out / "summary.parquet")
    write_text(resolved_toml(scenario, seed=scenario.seed, replications=scenario.replications),
               out / "scenario.toml")
    write_reports(scenario, runs, summary, out, fitted)   # targets.csv, report.html
    warn_imprecise(runs, scenario.horizon, quiet)   # MC error of the headline shares


def simulate_runs(scenario: Scenario, backend: Backend, quiet: bool,
                  label: str) -> pl.DataFrame:
    """Replications 0..N-1 of the scenario on the backend (local processes or Dask: the
    same numbers either way), with a progress bar."""
    from sim.runs.replications import run_replications, runs_frame, tqdm_progress

    progress, close = tqdm_progress(scenario.replications, quiet, label)
    try:
        results = run_replications(scenario, range(scenario.replications),
                                   progress=progress, backend=backend)
    finally:
        close()
    return runs_frame(results)
