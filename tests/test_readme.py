"""The README keeps its promises: two Quickstart commands, a generated reference in sync."""

from __future__ import annotations

import re
from pathlib import Path

from sim.commands.schema import readme_block

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_quickstart_is_exactly_two_commands_run_then_test():
    section = README.split("## Quickstart", 1)[1]
    block = re.search(r"```(?:sh|bash|shell)?\n(.*?)```", section, re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip()]
    assert len(commands) == 2
    assert "run_scenario.py run scenarios/baseline.toml" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    section = README.split("## Quickstart", 1)[1]
    block = re.search(r"```(?:sh|bash|shell)?\n(.*?)```", section, re.S).group(1)
    test_command = [line for line in block.splitlines() if line.strip()][1].strip()
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert test_command in ci


def test_scenario_reference_matches_the_schema():
    assert readme_block() in README, \
        "README reference is stale: run `python run_scenario.py schema --update README.md`"
