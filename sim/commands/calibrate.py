"""``calibrate``: fit the free parameters to the plan's figures and report how well they fit.

A full run (no ``--quick``, no ``--until``) also writes the config's fitted file
(``calibration/fitted.toml``), which the baseline layers beneath its own values. A quick or
back-test run writes only into its output folder, so it can never replace the fitted baseline.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from typing import TYPE_CHECKING

from sim.commands.options import add_backend_options, backend_from_args, year_arg

if TYPE_CHECKING:
    from sim.analysis.calibration.fit import Calibration
    from sim.analysis.calibration.figures import Figure

CONFIG = Path("calibration/config.toml")
OUT = Path("outputs/calibration")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="fit the free parameters to the plan's figures",
                       description="Fit the parameters of the calibration config to the plan's "
                                   "figures (calibration/observed.csv) and write report.html, "
                                   "fitted.toml and tables to DIR. A full run without --until "
                                   "also writes the config's fitted file "
                                   "(calibration/fitted.toml).")
    p.add_argument("--config", type=Path, default=CONFIG, metavar="FILE",
                   help=f"calibration config (default: {CONFIG})")
    p.add_argument("--until", type=year_arg, metavar="YEAR",
                   help="fit only figures up to YEAR and back-test the forecast on the later ones")
    p.add_argument("--out", type=Path, default=OUT, metavar="DIR",
                   help=f"output folder (default: {OUT}/)")
    p.add_argument("--quick", action="store_true",
                   help="a coarse fit (the config's quick mode): for a look and for the tests")
    add_backend_options(p)
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=main)


class Display:
    """Stage lines with the elapsed time on stderr, and a count of evaluations on a terminal."""

    def __init__(self, quiet: bool):
        self.quiet, self.start, self.bar = quiet, time.monotonic(), None
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(desc="evaluations", unit="eval", file=sys.stderr)

    def stage(self, text: str) -> None:
        if self.quiet:
            return
        line = f"[{time.monotonic() - self.start:6.0f} s] {text}"
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)

    def tick(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def write(cal: Calibration, out: Path, command: str) -> list[Path]:
    """Every file of the output folder, atomically, into ``out`` (a staging folder)."""
    from sim.reports.calibration import backtest_markdown, fitted_toml, render, tables
    from sim.runs.outputs import write_csv, write_text

    written = [write_text(render(cal), out / "report.html"),
               write_text(fitted_toml(cal), out / "fitted.toml")]
    for name, frame in tables(cal).items():
        written.append(write_csv(frame, out / name))
    if cal.held_out:
        written.append(write_text(backtest_markdown(cal, command), out / "backtest.md"))
    return written


def write_fitted(cal: Calibration) -> Path | None:
    """The config's fitted file (what the baseline layers beneath it), for a full fit only."""
    from sim.reports.calibration import fitted_toml
    from sim.runs.outputs import write_text

    from sim.scenario.loading import InputError

    if cal.mode_name != "full" or cal.until is not None:
        return None
    try:
        return write_text(fitted_toml(cal), cal.cfg.fitted)
    except OSError as err:
        raise InputError(cal.cfg.fitted, None, f"cannot write: {err.strerror or err}; the "
                         "file is as it was (the output folder is complete)") from None


CALIBRATE_FILES = ("report.html", "fitted.toml", "backtest.md")


def main(args: argparse.Namespace) -> int:
    from sim.analysis.calibration.config import load_config
    from sim.analysis.calibration.fit import calibrate
    from sim.runs.backends import abort, children_follow_parent
    from sim.runs.outputs import FIXED_BYTES, OutputFolder
    from sim.scenario.project_data import TARGETS_CSV, check_project_data

    cfg = load_config(args.config)
    check_project_data(cfg.observed, TARGETS_CSV)
    display = Display(args.quiet)
    with OutputFolder(args.out, FIXED_BYTES, CALIBRATE_FILES) as folder:
        backend = backend_from_args(args)
        try:
            with children_follow_parent():     # local workers die with us
                cal = calibrate(cfg, "quick" if args.quick else "full", args.until,
                                backend.workers, display.stage, display.tick, backend)
        except BaseException:
            abort(backend)                     # an interrupt or error: stop the workers now
            raise
        finally:
            display.close()
        backend.close()
        names = folder.write(lambda stage: [p.name for p in write(cal, stage,
                                                                  command_line(args))])
        folder.commit()
    written = [args.out / n for n in names]
    fitted = write_fitted(cal)
    written += [fitted] if fitted else []
    if not args.quiet:
        inside = sum(1 for f in cal.fitted_figures if _inside(cal, f))
        print(f"objective {cal.objective:.2f} (data χ² {cal.chi2_data:.2f}); "
              f"{inside} of {len(cal.fitted_figures)} fitted figures inside the 90% process "
              f"interval")
        for path in written:
            print(f"wrote {path}")
    return 0


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces the fit (for the back-test table's provenance)."""
    words = ["python", "run_scenario.py", "calibrate"]
    if args.config != CONFIG:
        words += ["--config", str(args.config)]
    if args.until is not None:
        words += ["--until", str(args.until)]
    if args.quick:
        words.append("--quick")
    return shlex.join(words)


def _inside(cal: Calibration, f: Figure) -> bool:
    from sim.reports.calibration import interval

    lo, _, hi = interval(cal.process.at(f))
    return lo <= f.value <= hi
