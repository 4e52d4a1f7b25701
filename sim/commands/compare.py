"""``compare A.toml B.toml [C.toml ...]``: scenarios side by side, paired replication by
replication.

Every scenario runs with the same seed and replications (the first scenario's, or ``--seed`` and
``--replications``), so the differences written to ``differences.parquet`` and shown in
``report.html`` are paired (common random numbers; see ``sim.analysis.compare``). All files are
loaded and checked before anything runs, and the output folder is written as a unit
(``sim.runs.outputs.OutputFolder``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sim.commands.options import backend_from_args
from sim.commands.run import (OUTPUTS, OVERRIDE_FLAGS, add_run_options, checked_overrides,
                              parameter_draws, scenario_fitted, simulate_runs, uncertainty_meta,
                              warn_authoring)
from sim.scenario.loading import (Fitted, InputError, load_scenario,
                                  output_dir, safe_name, shown)

if TYPE_CHECKING:
    import polars as pl

    from sim.analysis.compare import Pairing
    from sim.analysis.draws import ParameterDraws
    from sim.runs.backends import Backend


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare scenarios with paired replications",
                       description="Run two or more scenarios with common random numbers (the "
                                   "same seed and replications) and write the paired "
                                   "differences (differences.parquet), each scenario's targets "
                                   "(targets.csv), the paired effect on each target "
                                   "(target_effects.csv) and report.html to DIR. The first "
                                   "scenario is the reference.")
    p.add_argument("scenarios", nargs="+", metavar="SCENARIO",
                   help="scenario TOML files; the first is the reference")
    add_run_options(p)
    p.add_argument("--out", metavar="DIR", type=Path,
                   help="output folder (default: outputs/compare/<a>_vs_<b>...)")
    p.set_defaults(func=main)


COMPARE_FILES = ("runs.parquet", "summary.parquet", "differences.parquet", "targets.csv",
                 "target_effects.csv", "parameters.parquet", "scenarios", "report.html")


def main(args: argparse.Namespace) -> int:
    if len(args.scenarios) < 2:
        raise InputError("<command line>", "SCENARIO", "give at least two scenario files to "
                         "compare (the first is the reference)")
    from sim.analysis.compare import common_years, pair
    from sim.runs.backends import abort
    from sim.runs.outputs import OutputFolder
    from sim.scenario.project_data import check_project_data

    scenarios = [load_scenario(f) for f in args.scenarios]
    for f, s in zip(args.scenarios, scenarios):
        warn_authoring(f, s, args.quiet)
    update = {k: getattr(args, k) for k in OVERRIDE_FLAGS if getattr(args, k) is not None}
    checked_overrides(scenarios[0], update)          # --seed, --replications by the schema
    pairing = pair(scenarios, args.seed, args.replications)
    out = args.out if args.out is not None else output_dir(
        OUTPUTS / "compare", "_vs_".join(s.name for s in pairing.scenarios))
    fitted = scenario_fitted(args.scenarios[0], scenarios[0])
    check_project_data()
    from sim.analysis.draws import pinned_keys

    # One draw per replication for every scenario (the reference's calibration); each scenario
    # pins the keys its own files state.
    first = parameter_draws(fitted, args, args.scenarios[0], scenarios[0])
    draws = {label: first.with_pinned(pinned_keys(f, s)) if first is not None else None
             for label, f, s in zip(pairing.labels, args.scenarios, scenarios)}
    warnings: list[str] = []
    with OutputFolder(Path(out), estimate(pairing), COMPARE_FILES) as folder:
        if not args.quiet:
            for note in pairing.notes:
                print(f"note: {shown(note, 1000)}", file=sys.stderr)
        backend = backend_from_args(args)
        try:
            runs = run_all(pairing, backend, args.quiet, draws)
        except BaseException:
            abort(backend)          # an interrupt or error: stop the workers now
            raise
        backend.close()
        if not common_years(runs):
            raise InputError(args.scenarios[1], "horizon", "no simulated year in common with "
                             f"{args.scenarios[0]}")
        folder.write(lambda stage: warnings.extend(write_outputs(pairing, runs, stage, fitted,
                                                                 draws)))
        folder.commit()
    if not args.quiet:
        for text in warnings:
            print(text, file=sys.stderr)
    if not args.quiet:
        print(f"wrote {out}/")
    return 0


def estimate(pairing: Pairing) -> int:
    """Rough bytes of the comparison's folder (runs and differences of every scenario)."""
    from sim.commands.run import run_estimate

    return 2 * sum(run_estimate(s) for s in pairing.scenarios)


def run_all(pairing: Pairing, backend: Backend, quiet: bool,
            draws: dict[str, ParameterDraws | None] | None = None) -> dict[str, pl.DataFrame]:
    """Each scenario's replications 0..N-1 under the common seed, in the order given. With
    ``draws`` (the reference's calibration), replication r of every scenario runs under the
    same parameter draw (it depends on the seed and r only), except where a scenario sets a
    value itself."""
    draws = draws or {}
    return {label: simulate_runs(scenario, backend, quiet, label, draws.get(label))
            for label, scenario in zip(pairing.labels, pairing.scenarios)}


def write_outputs(pairing: Pairing, runs: dict[str, pl.DataFrame], out: Path,
                  fitted: Fitted | None = None,
                  draws: dict[str, ParameterDraws | None] | None = None) -> list[str]:
    """Every file of a comparison; the tables first, the report (built from them) last.
    Returns the Monte Carlo precision warnings (also shown in the report)."""
    import polars as pl

    from sim.analysis.compare import common_years, paired_differences, target_effects
    from sim.reports.compare import comparison_report
    from sim.runs.outputs import resolved_toml, write_csv, write_parquet, write_text
    from sim.analysis.attainment import target_table
    from sim.scenario.project_data import load_observed
    from sim.analysis.precision import headline_precision, warning_text
    from sim.analysis.summary import summary_frame
    from sim.scenario.targets import load_targets

    years = common_years(runs)
    runs = {k: v.filter(pl.col("year").is_in(years)) for k, v in runs.items()}
    reference = pairing.labels[0]
    horizon = years[-1]
    targets, observed = load_targets(), load_observed()
    fitted = fitted or Fitted()
    from sim.commands.run import parameters_frame

    draws = draws or {}
    drawn = any(d is not None for d in draws.values())
    summaries = {k: summary_frame(v) for k, v in runs.items()}
    parameters = {k: parameters_frame(s, draws.get(k)) for k, s in zip(pairing.labels,
                                                                         pairing.scenarios)}
    tables = {k: target_table(v, targets, horizon,
                              parameters[k] if draws.get(k) is not None else None)
              for k, v in runs.items()}
    differences = paired_differences(runs, reference)
    effects = target_effects(runs, reference, targets, horizon, pairing.seed)

    def stacked(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
        return pl.concat([f.select(pl.lit(k).alias("scenario"), pl.all())
                          for k, f in frames.items()])

    write_parquet(stacked(runs), out / "runs.parquet")
    write_parquet(stacked(summaries), out / "summary.parquet")
    write_parquet(differences, out / "differences.parquet")
    write_csv(stacked(tables), out / "targets.csv")
    write_csv(effects, out / "target_effects.csv")
    write_parquet(stacked(parameters), out / "parameters.parquet")
    for i, (label, scenario) in enumerate(zip(pairing.labels, pairing.scenarios), start=1):
        write_text(resolved_toml(scenario, seed=scenario.seed,
                                 replications=scenario.replications,
                                 uncertainty=uncertainty_meta(fitted, draws.get(label))),
                   out / "scenarios" / f"{i}_{safe_name(label)}.toml")
    warnings = [f"{label}: {text}" for label, frame in runs.items()
                if (text := warning_text(headline_precision(frame, horizon, targets)))]
    write_text(comparison_report(pairing, summaries, differences, tables, effects, targets,
                                 observed, fitted, years, warnings, drawn=drawn),
               out / "report.html")
    return warnings
