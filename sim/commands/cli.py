"""The command line: ``python run_scenario.py COMMAND ...``, ``python -m sim COMMAND ...`` or
``wps-sim COMMAND ...`` (the same parser; only the program name in messages differs).

Each command lives in its own module under ``sim.commands`` and registers its parser. Bad
input of any kind ends in one line naming the file, the key and the problem, and exit code 2.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import signal
import sys
from typing import NoReturn

from sim import __version__
from sim.scenario.loading import InputError

COMMANDS = ("validate", "run", "schema", "calibrate", "sweep", "solve", "compare")

EPILOG = """examples:
  python run_scenario.py run scenarios/baseline.toml
  python run_scenario.py validate scenarios/*.toml
  python run_scenario.py run scenarios/baseline.toml --replications 50 --workers 2 --out /tmp/x
"""


def parser(prog: str = "run_scenario.py") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Forecast women's share among the personnel Denmark deploys abroad "
                    "(Armed Forces, DEMA, police) against the UN DPO 2028 targets.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"sim.commands.{name}").register(sub)
    return p


EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so the same clean-up as Ctrl-C runs."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: list[str] | None = None, prog: str = "run_scenario.py") -> int:
    args = parser(prog).parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _terminate)
    # What is alive when a command starts (modules, classes, the schema) lives as long as it
    # does: frozen, the garbage collector stops walking it on every full collection (one took
    # 70 ms of ``run --replications 1``, issue #18). Unfrozen at the end, so that a process
    # calling main() more than once (the tests) gets its collector back as it was.
    gc.freeze()
    try:
        return int(args.func(args) or 0)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt as err:
        # The output layer says what is left (OutputFolder, the sweep); the default is the
        # truth for every command that had not started writing.
        what = str(err) or "nothing was written"
        name = "terminated" if isinstance(err, Terminated) else "interrupted"
        print(f"{name}: {what}", file=sys.stderr)
        return EXIT_TERMINATED if name == "terminated" else EXIT_INTERRUPTED
    finally:
        gc.unfreeze()
        signal.signal(signal.SIGTERM, previous)


def process_main(argv: list[str] | None = None, prog: str = "run_scenario.py") -> NoReturn:
    """:func:`main` as the last act of a process (``run_scenario.py``, ``python -m sim``,
    ``wps-sim``): the process ends as soon as it returns, with its exit code.

    Why: once a command has returned, every file it writes is complete and closed, and every
    worker pool or cluster it started is shut down (each command closes its backend itself).
    The interpreter's own shutdown would then only free what is left: numba's and LLVM's
    state, polars, ~800 modules. That took 0.2-0.3 s after ``run --replications 1``, a
    tenth of it, even with everything frozen out of the garbage collector (issue #18). Output
    streams and logging are flushed first.
    """
    code = main(argv, prog)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):   # a closed or broken pipe: nothing more can be said
            pass
    os._exit(code)


def console() -> int:
    """The ``wps-sim`` console script (``[project.scripts]`` in pyproject.toml)."""
    return process_main(prog="wps-sim")
