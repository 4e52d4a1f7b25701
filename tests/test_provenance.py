"""Every output records the versions that made it; a sweep resumes only under the same numpy."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pytest

from conftest import write_sweep
from sim import __version__
from sim.commands.cli import main
from sim.runs.design import make_plan
from sim.runs.outputs import resolved_toml
from sim.runs.provenance import library_versions
from sim.runs.sweep import SWEEP_JSON, prepare_folder
from sim.runs.sweep_file import load_sweep
from sim.scenario.loading import load_scenario

KEYS = {"python", "wps-deploy-sim", "numpy", "numba", "scipy", "polars", "simpy", "pydantic"}


def test_library_versions_name_this_process_s_libraries():
    found = library_versions()
    assert set(found) == KEYS
    assert found["numpy"] == np.__version__ and found["wps-deploy-sim"] == __version__
    assert "unknown" not in found.values()


def test_a_resolved_scenario_records_the_versions_and_still_loads(baseline_path, tmp_path):
    text = resolved_toml(load_scenario(baseline_path), seed=1)
    assert tomllib.loads(text)["meta"]["versions"] == library_versions()
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    assert load_scenario(path).meta["versions"]["numpy"] == np.__version__


@pytest.fixture
def started(tmp_path):
    """A sweep folder prepared (nothing simulated yet) and the sweep file it came from."""
    sweep_file = write_sweep(tmp_path)
    out = tmp_path / "out"
    assert prepare_folder(out, make_plan(load_sweep(sweep_file))) is False
    return sweep_file, out


def test_sweep_json_records_the_versions(started):
    _, out = started
    assert json.loads((out / SWEEP_JSON).read_text())["versions"] == library_versions()


def test_a_sweep_started_under_another_numpy_is_not_resumed(started, capsys):
    sweep_file, out = started
    record = out / SWEEP_JSON
    data = json.loads(record.read_text())
    data["versions"]["numpy"] = "1.0.0"
    record.write_text(json.dumps(data))
    assert main(["sweep", str(sweep_file), "--workers", "1", "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {record}: versions.numpy: this sweep was started with numpy "
                          f"1.0.0 and this environment has numpy {np.__version__}"), err
    assert "Traceback" not in err
    assert not list((out / "results").glob("*.parquet")), "nothing was simulated"
