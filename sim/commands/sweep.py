"""``sweep FILE``: a sweep's points and replications, resumable, locally or on a Dask cluster.

Writes into DIR (default ``outputs/sweeps/<name>/``): ``sweep.json`` (the resolved sweep and
its fingerprint), ``points.parquet``, ``base_scenario.toml``, ``results/`` (one parquet file a
finished task) and, once every task has finished, ``summary.parquet``,
``sensitivity.parquet``, ``discovery.csv`` and ``report.html``. Rerunning the command resumes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sim.commands.options import add_backend_options, backend_from_args, positive, seed_arg
from sim.scenario.loading import InputError, output_dir

if TYPE_CHECKING:
    from sim.runs.backends import Backend
    from sim.runs.design import Plan

OUTPUTS = Path("outputs") / "sweeps"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run a sweep of lever values (resumable; local or Dask)",
                       description="Run every point of a sweep file's design, resuming "
                                   "whatever an earlier attempt on the same DIR finished.")
    p.add_argument("sweep", metavar="FILE", help="sweep TOML file (see docs/sweeps.md)")
    add_backend_options(p)
    p.add_argument("--replications", type=positive, metavar="N",
                   help="replications per point (default: the sweep file's)")
    p.add_argument("--seed", type=seed_arg, metavar="S", help="sweep seed (default: the file's)")
    p.add_argument("--out", metavar="DIR", type=Path,
                   help="output folder (default: outputs/sweeps/<sweep name>/)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from sim.runs.design import make_plan
    from sim.runs.outputs import FolderLock, preflight
    from sim.runs.sweep_file import load_sweep
    from sim.scenario.project_data import check_project_data

    check_project_data()
    sweep = load_sweep(args.sweep, args.replications, args.seed)
    out = Path(args.out) if args.out is not None else output_dir(OUTPUTS, sweep.spec.name)
    the_plan = make_plan(sweep)
    preflight(out, estimate(the_plan))
    with FolderLock(out):
        backend = backend_from_args(args)  # before any writing: a bad --dask leaves nothing
        try:
            return _run(args, out, the_plan, backend)
        except KeyboardInterrupt as err:   # Ctrl-C or SIGTERM (the subclass is kept)
            raise type(err)(f"the finished tasks are kept in {out / 'results'}; rerun "
                            "the same command to resume") from None
        except OSError as err:   # a full disk, a folder made read-only while running
            raise InputError(out, None, f"cannot write: {err.strerror or err}; the finished "
                             "tasks are kept; rerun the same command to resume") from None


def estimate(the_plan: Plan) -> int:
    """Rough bytes of a sweep's folder: a result row per point, replication, year, series."""
    from sim.model.series import SERIES
    from sim.runs.outputs import estimate_bytes

    base = the_plan.sweep.base
    rows = len(the_plan.points) * the_plan.sweep.spec.replications * len(base.years)
    return estimate_bytes(rows * len(SERIES))


def _run(args: argparse.Namespace, out: Path, the_plan: Plan, backend: Backend) -> int:
    """Prepare (or resume) the folder, run what is missing, and finish the tables."""
    from sim.runs.backends import abort
    from sim.runs.replications import tqdm_progress
    from sim.runs.sweep import finished, prepare_folder, run_sweep, unreadable

    try:
        resumed = prepare_folder(out, the_plan)
    except BaseException:
        abort(backend)
        raise
    if not args.quiet:
        for bad in unreadable(out):
            print(f"note: {bad} cannot be read (truncated?); its task runs again",
                  file=sys.stderr)
    todo = [t for t in the_plan.tasks if t.name not in finished(out)]
    if resumed and not args.quiet:
        print(f"resuming {out}: {len(the_plan.tasks) - len(todo)} of {len(the_plan.tasks)} "
              "tasks already done", file=sys.stderr)
    progress, close = tqdm_progress(sum(len(t.replications) for t in todo), args.quiet,
                                    the_plan.sweep.spec.name)
    try:
        failures = run_sweep(the_plan, out, backend, progress)
    finally:
        close()
    if failures:
        for f in failures:
            print(f"error: {f.describe()}", file=sys.stderr)
        print(f"error: {len(failures)} of {len(the_plan.tasks)} tasks failed; the finished "
              f"ones are kept in {out / 'results'}; rerun the same command to retry the rest",
              file=sys.stderr)
        return 1
    finish(out, the_plan)
    if not args.quiet:
        print(f"wrote {out}/")
    return 0


def finish(out: Path, the_plan: Plan) -> None:
    """The summary, the sensitivity tables and the report, from every task's results."""
    from sim.runs.outputs import write_parquet, write_text
    from sim.analysis.sensitivity import analyse
    from sim.runs.sweep import SUMMARY, collect
    from sim.analysis.summary import summarize
    from sim.reports.sweep import report

    results = collect(out)
    write_parquet(summarize(results), out / SUMMARY)
    analysis = analyse(the_plan, results)
    write_parquet(analysis.table(), out / "sensitivity.parquet")
    spec = the_plan.sweep.spec
    roles = {p.key: r for p, r in zip(spec.factors, spec.roles)}
    write_text(analysis.discovery_table(roles).write_csv(), out / "discovery.csv")
    write_text(report(the_plan, analysis), out / "report.html")
