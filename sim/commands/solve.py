"""``solve BASE --lever KEY --target ID``: the smallest lever value that meets a target."""

from __future__ import annotations

import argparse
import sys

from typing import TYPE_CHECKING

from sim.commands.options import (add_backend_options, backend_from_args, finite_number,
                                  positive, seed_arg)
from sim.scenario.dated import parse_date
from sim.scenario.loading import InputError

if TYPE_CHECKING:
    from sim.analysis.solve import Evaluation


def _date(text: str):
    try:
        return parse_date(int(text) if text.isdigit() else text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "solve", help="find the smallest lever value that meets a target",
        description="Bisection on paired replications for the smallest value of --lever at "
                    "which women's share of the target's series reaches the target in --by "
                    "with probability --prob; or the answer that it is not reachable.")
    p.add_argument("base", metavar="BASE.toml", help="base scenario file")
    p.add_argument("--lever", required=True, metavar="KEY",
                   help="dotted scenario key, e.g. armed_forces.conscription.volunteer_rate_women")
    p.add_argument("--target", required=True, metavar="TARGET_ID",
                   help="a target id of calibration/targets.csv, e.g. un.military_contingents.2028")
    p.add_argument("--prob", type=finite_number, default=0.8, metavar="P",
                   help="probability of meeting the target (default 0.8)")
    p.add_argument("--by", type=int, metavar="YEAR", help="year (default: the target's)")
    p.add_argument("--low", type=finite_number, metavar="X", help="bottom of the lever's range "
                   "(default: the schema's minimum)")
    p.add_argument("--high", type=finite_number, metavar="Y", help="top of the lever's range "
                   "(default: the schema's maximum)")
    p.add_argument("--from", dest="start", type=_date, metavar="DATE",
                   help="the lever takes the value from this date (default: the whole run)")
    p.add_argument("--tolerance", type=finite_number, metavar="T",
                   help="stop when the bracket is this narrow (default: 1%% of the range)")
    p.add_argument("--replications", type=positive, metavar="N",
                   help="paired replications per lever value (default: the scenario's)")
    p.add_argument("--seed", type=seed_arg, metavar="S", help="root seed (default: the "
                   "scenario's)")
    add_backend_options(p)
    p.add_argument("--quiet", action="store_true", help="print only the answer")
    from sim.commands.run import add_fixed_option

    add_fixed_option(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from sim.analysis.solve import question, solve
    from sim.runs.backends import abort
    from sim.scenario.targets import by_id, load_targets

    from sim.commands.run import OVERRIDE_FLAGS, checked_overrides
    from sim.scenario.loading import load_scenario
    from sim.scenario.project_data import check_project_data

    check_project_data()
    update = {k: getattr(args, k) for k in OVERRIDE_FLAGS if getattr(args, k) is not None}
    checked_overrides(load_scenario(args.base), update)   # --seed, --replications by the schema
    try:
        target = by_id(args.target)
    except KeyError:
        known = ", ".join(t.target_id for t in load_targets() if t.series)
        raise InputError("--target", None, f"no target {args.target!r}; known: {known}") from None
    q = question(args.base, args.lever, target, prob=args.prob, by=args.by, low=args.low,
                 high=args.high, tolerance=args.tolerance, replications=args.replications,
                 seed=args.seed, start=args.start, fixed_parameters=args.fixed_parameters)

    def show(e: Evaluation) -> None:
        if not args.quiet:
            print(f"  {q.lever.key} = {e.value:<12.6g} P(meet in {q.by}) = {e.prob:6.1%} "
                  f"[{e.prob_low:.0%}-{e.prob_high:.0%}]  median share {e.median_share:.1%}",
                  file=sys.stderr)

    backend = backend_from_args(args)
    try:
        solution = solve(q, backend, show)
    except BaseException:   # an interrupt: stop the workers, do not wait for them
        abort(backend)
        raise
    backend.close()
    print(solution.describe())
    return 0
