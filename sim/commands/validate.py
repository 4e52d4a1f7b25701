"""``validate FILE...``: check scenario files without running anything."""

from __future__ import annotations

import argparse
import sys

from sim.scenario.loading import InputError, load_scenario, shown


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check scenario files without running them",
                       description="Check scenario files (schema, ranges, dates, extends "
                                   "chains) without running. Exit 0 if all are valid, 2 if not.")
    p.add_argument("files", nargs="+", metavar="FILE", help="scenario TOML files")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    bad = 0
    for f in args.files:
        try:
            s = load_scenario(f)
        except InputError as err:
            print(f"error: {err}", file=sys.stderr)
            bad += 1
        else:
            print(f"ok: {shown(f, 1000)} ({shown(s.name)}, {s.start_year}-{s.horizon}, "
                  f"{s.replications} replications)")
    return 2 if bad else 0
