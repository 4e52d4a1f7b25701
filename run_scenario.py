#!/usr/bin/env python3
"""Command line of the simulator: see ``python run_scenario.py --help``."""

import sys

from sim.commands.cli import process_main

if __name__ == "__main__":
    sys.exit(process_main())
