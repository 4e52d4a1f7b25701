"""``validate FILE...``: check scenario files without running anything."""

from __future__ import annotations

import argparse
import sys

from pathlib import Path

from sim.scenario.loading import (InputError, authoring_warnings, load_scenario, read_toml,
                                  shown)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check scenario or sweep files without running them",
                       description="Check scenario files (schema, ranges, dates, extends "
                                   "chains) and sweep files without running. Warnings (a plain "
                                   "value replacing a calibrated lever's past, a horizon before "
                                   "the targets) go to stderr. Exit 0 if all are valid, 2 if "
                                   "not.")
    p.add_argument("files", nargs="+", metavar="FILE", help="scenario or sweep TOML files")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    bad = 0
    for f in args.files:
        try:
            line = check(f)
        except InputError as err:
            print(f"error: {err}", file=sys.stderr)
            bad += 1
        else:
            print(line)
    return 2 if bad else 0


def is_sweep_file(path: str) -> bool:
    """A sweep file names a base scenario and the parameters it varies (an unreadable file is
    left to the scenario loader, whose message says why)."""
    try:
        data = read_toml(Path(path))
    except InputError:
        return False
    return "base" in data and any(k in data for k in ("parameters", "levers", "uncertainties"))


def check(path: str) -> str:
    """Validate one scenario or sweep file; its warnings go to stderr; the ok line returned."""
    if is_sweep_file(path):
        from sim.runs.sweep_file import load_sweep

        sweep = load_sweep(path)
        return (f"ok: {shown(path, 1000)} (sweep {shown(sweep.spec.name)}: {sweep.spec.design}, "
                f"{len(sweep.levers)} levers, {sweep.spec.replications} replications per point)")
    s = load_scenario(path)
    for text in authoring_warnings(path, s):
        print(f"warning: {text}", file=sys.stderr)
    return (f"ok: {shown(path, 1000)} ({shown(s.name)}, {s.start_year}-{s.horizon}, "
            f"{s.replications} replications)")
