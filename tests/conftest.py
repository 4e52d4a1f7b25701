"""Shared fixtures: the repository root and small, fast scenarios."""

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
