"""``schema``: print the scenario reference (every key, default, unit, range, provenance)."""

from __future__ import annotations

import argparse

from sim.reference import scenario_reference


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="print the scenario file reference (Markdown)",
                       description="Print the scenario reference generated from the schema; "
                                   "the README's reference is this output.")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    print(scenario_reference())
    return 0
