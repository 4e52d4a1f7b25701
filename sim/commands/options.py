"""Options shared by several commands: numbers, years, seeds, and where simulations run.

``--workers`` / ``--dask`` / ``--scheduler-file`` are added by :func:`add_backend_options` and
turned into a backend by :func:`backend_from_args`, for every command that simulates (run,
compare, sweep, solve), so they mean the same everywhere.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.runs.backends import Backend


def _whole(text: str, what: str = "a whole number") -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def positive(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def seed_arg(text: str) -> int:
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError("a seed cannot be negative")
    return value


def finite_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def year_arg(text: str) -> int:
    value = _whole(text, "a year")
    if not 1900 <= value <= 2200:
        raise argparse.ArgumentTypeError(f"{value} is not a plausible year")
    return value


def add_backend_options(p: argparse.ArgumentParser) -> None:
    """``--workers W`` or ``--dask local[:N]|ADDRESS`` or ``--scheduler-file PATH``."""
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive, metavar="W", default=None,
                       help="local worker processes (default: all cores); results do not "
                            "depend on it")
    where.add_argument("--dask", metavar="ADDRESS",
                       help="run on Dask: 'local' or 'local:N' starts a cluster of N "
                            "one-thread worker processes here (closed at the end); an "
                            "address (tcp://HOST:8786) connects to a running scheduler")
    where.add_argument("--scheduler-file", type=Path, metavar="PATH",
                       help="run on the Dask scheduler named in this scheduler file (how "
                            "dask-jobqueue and dask-mpi batch jobs connect)")


def backend_from_args(args: argparse.Namespace) -> Backend:
    """The backend :func:`add_backend_options`' options ask for (the caller closes it)."""
    from sim.runs.backends import backend_for, default_workers

    return backend_for(args.workers or default_workers(), args.dask, args.scheduler_file)
