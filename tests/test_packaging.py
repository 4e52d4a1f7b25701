"""The package stands on its own: ``python -m sim``, data found through importlib.resources
from any folder, every data file shipped, honest and pinned version floors.

(The real wheel is built, installed into a fresh venv and run from an unrelated folder by
``.ci/run``; these are the fast checks.)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

from sim.commands.cli import COMMANDS
from sim.scenario import project_data

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def python(code_or_args: list[str], cwd: Path, path: Path = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(path))
    return subprocess.run([sys.executable, *code_or_args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


def test_python_m_sim_is_the_command_line_from_any_folder(tmp_path):
    done = python(["-m", "sim", "--help"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m sim")
    for name in COMMANDS:
        assert f"\n    {name} " in done.stdout or f"\n    {name}\n" in done.stdout, name
    bad = python(["-m", "sim", "validate", "nowhere.toml"], cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr == f"error: {tmp_path / 'nowhere.toml'}: no such file\n"


def test_the_console_script_is_declared():
    assert PYPROJECT["project"]["scripts"] == {"wps-sim": "sim.commands.cli:console"}


def test_a_source_checkout_reads_the_repository_s_own_files():
    assert project_data.DATA_ROOT == ROOT
    for path in (project_data.OBSERVED_CSV, project_data.TARGETS_CSV, project_data.FITTED_TOML,
                 project_data.CALIBRATION_CONFIG):
        assert path.is_file() and path.read_bytes(), path


def test_an_installed_layout_finds_the_shipped_copy_through_importlib_resources(tmp_path):
    """sim/ with the data where the wheel puts them (sim/_data/...), imported from elsewhere."""
    site = tmp_path / "site"
    shutil.copytree(ROOT / "sim", site / "sim", ignore=shutil.ignore_patterns("__pycache__"))
    for folder in ("calibration", "scenarios"):
        shutil.copytree(ROOT / folder, site / "sim" / "_data" / folder)
    code = ("from sim.scenario import project_data as p\n"
            "from sim.scenario.targets import load_targets\n"
            "from sim.scenario.loading import load_scenario\n"
            "print(p.DATA_ROOT)\n"
            "print(len(p.load_observed()), len(load_targets()))\n"
            "print(load_scenario(p.SCENARIOS_DIR / 'baseline.toml').name)\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = python(["-c", code], cwd=elsewhere, path=site)
    assert done.returncode == 0, done.stderr
    root, counts, name = done.stdout.splitlines()
    assert Path(root) == site / "sim" / "_data"
    assert min(int(n) for n in counts.split()) > 0 and name == "baseline"


def test_every_data_file_is_shipped_in_the_wheel():
    """Each file of calibration/ and scenarios/ matches the package data of its package."""
    tools = PYPROJECT["tool"]["setuptools"]
    folders = {v: k for k, v in tools["package-dir"].items()}
    assert set(folders) >= {"calibration", "scenarios"}
    assert set(tools["package-dir"]) <= set(tools["packages"])
    for folder, package in folders.items():
        patterns = tools["package-data"][package]
        for path in (ROOT / folder).iterdir():
            if path.is_file():
                assert any(fnmatch(path.name, p) for p in patterns), f"{path} is not shipped"


def _floors() -> dict[str, str]:
    project = PYPROJECT["project"]
    found = {}
    for spec in project["dependencies"] + project["optional-dependencies"]["test"]:
        spec_re = r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?>=([0-9.]+)(?:,<[0-9.]+)?"   # floor, cap
        name, floor = re.fullmatch(spec_re, spec).groups()
        found[name.lower()] = floor
    return found


def _pins(name: str) -> dict[str, str]:
    lines = (ROOT / "constraints" / name).read_text(encoding="utf-8").splitlines()
    return dict(line.lower().replace("_", "-").split("==") for line in lines
                if line and not line.startswith("#"))


def test_the_lowest_constraints_pin_every_floor():
    pins = _pins("lowest.txt")
    for name, floor in _floors().items():
        assert pins.get(name) == floor + ".0" * (2 - floor.count(".")), name


def test_the_floors_are_the_versions_whose_features_the_code_uses():
    floors = _floors()
    assert floors["scipy"] == "1.15"     # qmc engines take rng= from 1.15.0
    assert floors["polars"] == "1.17"    # DataFrame.join(maintain_order=) from 1.17.0


def test_the_reproduce_constraints_pin_the_recorded_libraries():
    pins = _pins("reproduce.txt")
    assert {"numpy", "scipy", "polars", "simpy", "pydantic"} <= set(pins)
    assert "wps-deploy-sim" not in pins
