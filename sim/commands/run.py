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
from sim.scenario.loading import (Fitted, InputError, authoring_warnings, fitted_parameters,
                                  input_error, load_scenario, output_dir, read_fitted)

if TYPE_CHECKING:
    import polars as pl

    from sim.analysis.draws import ParameterDraws
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
    add_fixed_option(p)


def add_fixed_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fixed-parameters", action="store_true",
                   help="hold the calibrated parameters at the fit and the stated assumptions "
                        "at their values: intervals from chance alone (default: each pair of "
                        "replications draws them from the calibration's posterior and the "
                        "schema's plausible ranges)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a scenario and write its outputs",
                       description="Run a scenario's replications and write runs.parquet, "
                                   "summary.parquet, scenario.toml (and the reports) to DIR.")
    p.add_argument("scenario", metavar="SCENARIO", help="scenario TOML file")
    add_run_options(p)
    p.add_argument("--out", metavar="DIR", type=Path,
                   help="output folder (default: outputs/<scenario name>/)")
    p.set_defaults(func=main)


OVERRIDE_FLAGS = {"replications": "--replications", "seed": "--seed"}
RUN_FILES = ("runs.parquet", "summary.parquet", "parameters.parquet", "scenario.toml",
             "targets.csv", "report.html")


def with_overrides(scenario: Scenario, args: argparse.Namespace) -> Scenario:
    """The scenario with the command line's ``--replications`` and ``--seed``, checked by the
    same schema as a file's values (an error names the flag)."""
    update = {k: getattr(args, k) for k in OVERRIDE_FLAGS if getattr(args, k, None) is not None}
    return checked_overrides(scenario, update)


def checked_overrides(scenario: Scenario, update: dict[str, int]) -> Scenario:
    """``scenario`` with ``update`` applied and validated; errors name the command-line flag."""
    from pydantic import ValidationError

    from sim.scenario.schema import Scenario as Model

    if not update:
        return scenario
    try:
        return Model.model_validate({**scenario.model_dump(mode="python"), **update})
    except ValidationError as err:
        problem = input_error(err, "<command line>")
        flag = OVERRIDE_FLAGS.get(problem.key or "", problem.key)
        raise InputError("<command line>", flag, problem.problem) from None


def run_estimate(scenario: Scenario) -> int:
    """Rough bytes of a run's output folder (replications × years × series rows)."""
    from sim.model.series import SERIES
    from sim.runs.outputs import estimate_bytes

    return estimate_bytes(scenario.replications * len(scenario.years) * len(SERIES))


def warn_authoring(path: str, scenario: Scenario, quiet: bool) -> None:
    """What the file may not mean (``authoring_warnings``), on stderr unless quiet."""
    if not quiet:
        for text in authoring_warnings(path, scenario):
            print(f"warning: {text}", file=sys.stderr)


def main(args: argparse.Namespace) -> int:
    from sim.runs.backends import abort
    from sim.scenario.project_data import check_project_data

    scenario = with_overrides(load_scenario(args.scenario), args)
    warn_authoring(args.scenario, scenario, args.quiet)
    out = args.out if args.out is not None else output_dir(OUTPUTS, scenario.name)
    fitted = scenario_fitted(args.scenario, scenario)
    check_project_data()
    draws = parameter_draws(fitted, args, args.scenario, scenario)
    backend = backend_from_args(args)
    try:
        execute(scenario, Path(out), backend, args.quiet, fitted, draws)
    except BaseException:
        abort(backend)          # an interrupt or error: stop the workers now, do not wait
        raise
    backend.close()
    if not args.quiet:
        print(f"wrote {out}/")
    return 0


def scenario_fitted(path: str | Path, scenario: Scenario) -> Fitted:
    """The calibration a scenario uses; for a resolved scenario (``scenario.toml`` of an
    output folder, which names no calibration) the fitted file its run drew from, recorded in
    ``[meta.uncertainty]``, so that rerunning it draws the same parameters."""
    fitted = fitted_parameters(path)
    recorded = scenario.meta.get("uncertainty", {}) if isinstance(scenario.meta, dict) else {}
    file = recorded.get("fitted") if isinstance(recorded, dict) else None
    if fitted.file is None and isinstance(file, str) and file:
        target = Path(file)
        if not target.is_file():
            raise InputError(path, "meta.uncertainty.fitted", f"no such file: {file}")
        return read_fitted(target)
    return fitted


def parameter_draws(fitted: Fitted, args: argparse.Namespace, path: str | Path,
                    scenario: Scenario) -> ParameterDraws | None:
    """The run's parameter draws (never of a key the scenario's files state), or None with
    ``--fixed-parameters``."""
    if getattr(args, "fixed_parameters", False):
        return None
    from sim.analysis.draws import ParameterDraws, pinned_keys

    draws = ParameterDraws.load(fitted).with_pinned(pinned_keys(path, scenario))
    if not getattr(args, "quiet", False):
        for note in draws.notes:
            print(f"note: {note}", file=sys.stderr)
    return draws


def execute(scenario: Scenario, out: Path, backend: Backend, quiet: bool,
            fitted: Fitted | None = None, draws: ParameterDraws | None = None) -> None:
    """Run the scenario and write its files as one unit (``OutputFolder``): the lock and the
    room are checked before simulating, and a reader never sees half of a folder."""
    from sim.analysis.precision import warn_imprecise
    from sim.runs.outputs import OutputFolder

    with OutputFolder(out, run_estimate(scenario), RUN_FILES) as folder:
        runs = simulate_runs(scenario, backend, quiet, scenario.name, draws)
        folder.write(lambda stage: write_run(scenario, runs, stage, fitted, draws))
        folder.commit()
    warn_imprecise(runs, scenario.horizon, quiet)   # MC error of the headline shares


def parameters_frame(scenario: Scenario, draws: ParameterDraws | None) -> pl.DataFrame:
    """``parameters.parquet``: what each replication drew (no rows with fixed parameters)."""
    import polars as pl

    from sim.analysis.draws import PARAMETER_COLUMNS

    if draws is None:
        return pl.DataFrame(schema=PARAMETER_COLUMNS)
    return draws.table(scenario.seed, range(scenario.replications), scenario)


def uncertainty_meta(fitted: Fitted | None, draws: ParameterDraws | None
                     ) -> dict[str, object]:
    """``[meta.uncertainty]`` of a resolved scenario: how its run treated the parameters (the
    fitted file drawn from, the keys the scenario pinned), so a rerun draws the same."""
    out: dict[str, object] = {"parameters": "fixed" if draws is None else "drawn"}
    if draws is not None:
        if fitted is not None and fitted.file is not None:
            out["fitted"] = str(fitted.file)
        drawable = set(draws.overrides(draws.values(0, 0)))
        out["pinned"] = sorted(draws.pinned & drawable)
    return out


def write_run(scenario: Scenario, runs: pl.DataFrame, out: Path,
              fitted: Fitted | None = None, draws: ParameterDraws | None = None) -> None:
    """The files of a run, into ``out``, then its targets table and report
    (``sim.reports.forecast``).

    ``runs`` gives up its stock-only columns (``STOCK_COLUMNS``, mostly empty: every series
    but the stocks has none) once runs.parquet is written and they are tabulated into the
    report's flow cube, their only other reader: ~40 MiB at 1,000 replications that the
    summary, the targets table and the report no longer sit on (issue #18). runs.parquet is
    written first, before anything else is held beside the runs."""
    from sim.analysis.summary import summary_frame
    from sim.reports.flows import FlowCube
    from sim.reports.forecast import write_reports
    from sim.runs.outputs import resolved_toml, write_parquet, write_text
    from sim.runs.replications import STOCK_COLUMNS

    write_parquet(runs, out / "runs.parquet")
    cube = FlowCube.of(runs)
    for name in STOCK_COLUMNS:
        runs.drop_in_place(name)
    summary = summary_frame(runs)
    parameters = parameters_frame(scenario, draws)
    write_parquet(summary, out / "summary.parquet")
    write_parquet(parameters, out / "parameters.parquet")
    write_text(resolved_toml(scenario, seed=scenario.seed, replications=scenario.replications,
                             uncertainty=uncertainty_meta(fitted, draws)),
               out / "scenario.toml")
    write_reports(scenario, runs, summary, out, fitted,                # targets.csv, report
                  parameters if draws is not None else None,
                  draws.describe() if draws is not None else None, cube)


def simulate_runs(scenario: Scenario, backend: Backend, quiet: bool,
                  label: str, draws: ParameterDraws | None = None) -> pl.DataFrame:
    """Replications 0..N-1 of the scenario on the backend (local processes or Dask: the
    same numbers either way), with a progress bar; each under its own parameter draw unless
    ``draws`` is None."""
    from sim.runs.replications import run_frame, tqdm_progress

    reps = range(scenario.replications)
    per_rep = draws.scenarios(scenario, reps) if draws is not None else None
    progress, close = tqdm_progress(scenario.replications, quiet, label)
    try:
        return run_frame(scenario, reps, progress=progress, backend=backend, scenarios=per_rep)
    finally:
        close()
