"""``python -m sim COMMAND ...``: the same command line as ``python run_scenario.py``, for an
installed package (no clone needed, any working folder)."""

import sys

from sim.commands.cli import process_main

if __name__ == "__main__":
    sys.exit(process_main(prog="python -m sim"))
