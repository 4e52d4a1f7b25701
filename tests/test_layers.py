"""The package's layering (docs/architecture.md), checked by import-linter's contract in
pyproject.toml: scenario -> model -> runs -> analysis -> reports -> commands, one way only."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("lint-imports") is None
                                and not (Path(sys.executable).parent / "lint-imports").exists(),
                                reason="import-linter is not installed")


def lint(config: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "lint-imports"
    return subprocess.run([str(exe) if exe.exists() else "lint-imports", "--config", str(config)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_lower_layers_never_import_higher_ones():
    result = lint(ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_contract_does_see_imports(tmp_path):
    """The same check with two layers swapped must fail: the model imports the scenario."""
    config = tmp_path / "swapped.toml"
    config.write_text('[tool.importlinter]\nroot_package = "sim"\n\n'
                      '[[tool.importlinter.contracts]]\nname = "swapped"\ntype = "layers"\n'
                      'layers = ["sim.scenario", "sim.model"]\n')
    result = lint(config)
    assert result.returncode != 0 and "sim.model" in result.stdout, result.stdout
