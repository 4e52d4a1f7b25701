"""Shared fixtures: the repository root and small, fast scenarios and sweeps."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def baseline_path() -> Path:
    return ROOT / "scenarios" / "baseline.toml"


# A sweep small enough for any test: 4 grid points, Armed Forces only, 2023-2025.
TINY_BASE = f"""name = "tiny"
extends = "{ROOT / 'scenarios' / 'baseline.toml'}"
start_year = 2023
horizon = 2025
"""

TINY_SWEEP = """name = "tiny-sweep"
base = "base.toml"
design = "grid"
replications = 2
replications_per_task = 1
seed = 7
agencies = ["armed_forces"]

[[parameters]]
key = "armed_forces.conscription.volunteer_rate_women"
values = [0.03, 0.2]
from = 2024-01-01

[[parameters]]
key = "armed_forces.deployment.women_selection_weight"
values = [1.0, 3.0]
"""


def write_sweep(folder: Path, text: str = TINY_SWEEP, base: str = TINY_BASE) -> Path:
    """The sweep file ``text`` with its base scenario beside it, in ``folder``."""
    (folder / "base.toml").write_text(base)
    path = folder / "sweep.toml"
    path.write_text(text)
    return path
