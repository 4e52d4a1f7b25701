"""Sweeps: the file's validation, the designs, seeds, worker/Dask independence, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from conftest import TINY_SWEEP, write_sweep
from sim.runs import sweep as sweep_mod
from sim.commands.cli import main
from sim.scenario.loading import InputError
from sim.model.series import SERIES
from sim.runs.sweep import collect, prepare_folder, run_sweep
from sim.runs import backends
from sim.runs.backends import PoolBackend
from sim.runs.sweep_file import load_sweep
from sim.runs.design import make_plan

ROOT = Path(__file__).resolve().parent.parent
AF_SERIES = [s.id for s in SERIES if s.agency == "armed_forces"]

@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_sweep(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def reference(tiny, tmp_path_factory) -> tuple[Path, pl.DataFrame]:
    """The uninterrupted one-worker run every other run must reproduce."""
    out = tmp_path_factory.mktemp("ref") / "out"
    assert main(["sweep", str(tiny), "--workers", "1", "--quiet", "--out", str(out)]) == 0
    return out, collect(out)


# -- the run and its files ----------------------------------------------------------------


def test_a_sweep_writes_points_results_summary_and_report(reference, tiny):
    out, results = reference
    points = pl.read_parquet(out / "points.parquet")
    assert points.height == 4
    assert sorted(points.select("armed_forces.conscription.volunteer_rate_women",
                                "armed_forces.deployment.women_selection_weight").rows()) == \
        [(0.03, 1.0), (0.03, 3.0), (0.2, 1.0), (0.2, 3.0)]
    assert len(list((out / "results").glob("*.parquet"))) == 8     # 4 points x 2 replications
    # One row per point, replication, year and Armed Forces series; nothing else.
    assert results.height == 4 * 2 * 3 * len(AF_SERIES)
    assert set(results["series"].unique()) == set(AF_SERIES)
    assert results.select(pl.struct("point", "replication", "year", "series")
                          .is_unique().all()).item()
    assert {"point", "replication", "year", "series", "women", "total"} <= set(results.columns)
    # The summary's median is the median of the results it summarises.
    summary = pl.read_parquet(out / "summary.parquet")
    pick = (pl.col("point") == 3) & (pl.col("year") == 2025) & (
        pl.col("series") == "armed_forces.military")
    shares = results.filter(pick)["share"].to_numpy()
    assert summary.filter(pick)["share_p50"].item() == pytest.approx(np.median(shares))
    # The report has the 2-D grid's heatmap and a tornado for each default target.
    html = (out / "report.html").read_text()
    assert '"type":"heatmap"' in html and "Tornado" in html
    sens = pl.read_parquet(out / "sensitivity.parquet")
    assert set(sens["measure"]) == {"tornado_effect"}
    assert "un.military_contingents.2025" in set(sens["target_id"])
    assert not list(out.rglob(".*.tmp"))


def test_the_swept_values_reach_the_model(tiny):
    sweep = load_sweep(tiny)
    plan = make_plan(sweep)
    s = sweep.scenario(plan.values(3), plan.tasks[0].seed)
    rate = s.armed_forces.conscription.volunteer_rate_women
    # ``from = 2024-01-01``: the base value holds before the date, the swept one after.
    before = sweep.base.armed_forces.conscription.volunteer_rate_women.at(2023 * 12 + 6)
    # Cutting the linear segment at the date may move the value by a rounding step.
    assert rate.at(2023 * 12 + 6) == pytest.approx(before, rel=1e-12)
    assert before != pytest.approx(0.2)
    assert rate.at(2024 * 12) == pytest.approx(0.2)
    # Without ``from`` the lever is replaced wholesale.
    weight = s.armed_forces.deployment.women_selection_weight
    assert weight.is_constant and weight.at(2000 * 12) == 3.0


def test_results_are_identical_on_one_and_two_workers_and_on_dask(reference, tiny, tmp_path):
    _, expected = reference
    two = tmp_path / "two"
    assert main(["sweep", str(tiny), "--workers", "2", "--quiet", "--out", str(two)]) == 0
    assert collect(two).equals(expected)

    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, host="127.0.0.1",
                      protocol="tcp", dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        dask = tmp_path / "dask"
        assert main(["sweep", str(tiny), "--dask", cluster.scheduler_address, "--quiet",
                     "--out", str(dask)]) == 0
    assert collect(dask).equals(expected)


def test_a_sweep_killed_with_sigkill_resumes_to_the_same_results(reference, tiny, tmp_path):
    _, expected = reference
    out = tmp_path / "killed"
    cmd = [sys.executable, str(ROOT / "run_scenario.py"), "sweep", str(tiny), "--workers", "1",
           "--quiet", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not list((out / "results").glob("*.parquet")) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list((out / "results").glob("*.parquet")))
    assert 1 <= done_before < 8, "killed mid-sweep"
    assert not (out / "summary.parquet").exists()
    # A temporary file of a write the kill interrupted is cleaned up, never read.
    (out / "results" / ".p000003-r00001-00001.parquet.abc12xyz.tmp").write_bytes(b"half")

    assert main(["sweep", str(tiny), "--workers", "1", "--quiet", "--out", str(out)]) == 0
    resumed = collect(out)
    assert resumed.equals(expected)            # nothing lost, nothing duplicated
    assert len(list((out / "results").glob("*.parquet"))) == 8
    assert not list((out / "results").glob(".*.tmp"))


def test_a_folder_made_by_another_sweep_is_refused(reference, tiny, capsys):
    out, expected = reference
    before = sorted(p.name for p in (out / "results").iterdir())
    code = main(["sweep", str(tiny), "--seed", "8", "--workers", "1", "--quiet",
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert str(out) in err and "different sweep" in err
    assert sorted(p.name for p in (out / "results").iterdir()) == before
    assert collect(out).equals(expected)


def test_a_failing_task_is_retried_once_then_reported_keeping_finished_work(
        tiny, reference, tmp_path, monkeypatch, capsys):
    _, expected = reference
    real = sweep_mod.run_task
    calls: dict[tuple[int, int], int] = {}

    def flaky(scenario, task, agencies):
        key = (task.point, task.replications[0])
        calls[key] = calls.get(key, 0) + 1
        if task.point == 1 and calls[key] == 1:
            raise RuntimeError("a worker hiccup")          # fails once, then succeeds
        if task.point == 2:
            raise RuntimeError("this point always fails")
        return real(scenario, task, agencies)

    monkeypatch.setattr(sweep_mod, "run_task", flaky)
    out = tmp_path / "failing"
    code = main(["sweep", str(tiny), "--workers", "1", "--quiet", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert calls[(1, 0)] == 2 and calls[(1, 1)] == 2      # retried once, then fine
    assert calls[(2, 0)] == 2 and calls[(2, 1)] == 2      # retried once, then reported
    assert "point 2: armed_forces.conscription.volunteer_rate_women = 0.2, " \
           "armed_forces.deployment.women_selection_weight = 1" in err
    assert "this point always fails" in err
    assert len(list((out / "results").glob("*.parquet"))) == 6
    assert not (out / "summary.parquet").exists()

    monkeypatch.setattr(sweep_mod, "run_task", real)
    assert main(["sweep", str(tiny), "--workers", "1", "--quiet", "--out", str(out)]) == 0
    assert collect(out).equals(expected)


def test_a_worker_process_killed_mid_task_is_retried_on_a_fresh_pool(tiny, reference, tmp_path):
    """A dead worker breaks a process pool; the retries run on a new one."""
    _, expected = reference
    sweep = load_sweep(tiny)
    plan = make_plan(sweep)
    out = tmp_path / "pool"
    prepare_folder(out, plan)
    backend = PoolBackend(2)
    backend.pool.submit(abs, 1).result()                          # the pool is up
    victim = backend.pool.submit(time.sleep, 0.5)
    for pid in list(backend.pool._processes):
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(BrokenProcessPool):
        victim.result()
    failures = run_sweep(plan, out, backend)
    assert failures == []
    assert collect(out).equals(expected)


# -- bad input: a clear message naming the file and key, exit 2, nothing written ----------

BAD = [
    ("nokey", TINY_SWEEP.replace('key = "armed_forces.deployment.women_selection_weight"',
                            'key = "armed_forces.deployment.nope"'),
     "parameters.1.key", "not a parameter of the scenario schema"),
    ("range", TINY_SWEEP.replace("values = [1.0, 3.0]", "low = 2.0\nhigh = 1.0\nlevels = 3"),
     "parameters.1", "low (2) must be below high (1)"),
    ("schema", TINY_SWEEP.replace("values = [0.03, 0.2]", "values = [0.03, 1.5]"),
     "parameters.0", "1.5 is above the maximum 1"),
    ("from", TINY_SWEEP.replace('key = "armed_forces.deployment.women_selection_weight"',
                           'key = "armed_forces.careers.early_years"\nfrom = 2026-01-01'),
     "parameters.1.from", "not a dated lever"),
    ("sobol", TINY_SWEEP.replace('design = "grid"', 'design = "sobol"\nsamples = 10')
     .replace("values = [0.03, 0.2]", "low = 0.03\nhigh = 0.2")
     .replace("values = [1.0, 3.0]", "low = 1.0\nhigh = 3.0"),
     "sweep.toml", "power of two"),
    ("unknown", "workers = 3\n" + TINY_SWEEP, "workers", "unknown key"),
    ("design", TINY_SWEEP.replace('"grid"', '"random"'), "design", "Input should be"),
    ("base", TINY_SWEEP.replace('"base.toml"', '"missing.toml"'), "base", "no such scenario file"),
    ("seed", TINY_SWEEP.replace('key = "armed_forces.deployment.women_selection_weight"',
                           'key = "seed"'), "parameters.1.key", "cannot be swept"),
    ("target", 'targets = ["un.military_contingents.2028"]\n' + TINY_SWEEP, "targets.0",
     "not modelled by this sweep"),
    ("override", TINY_SWEEP + "\n[overrides]\nhorizon = 1990\n", "overrides.horizon",
     "greater than or equal to 2025"),
]


@pytest.mark.parametrize("name,text,key,problem", BAD, ids=[b[0] for b in BAD])
def test_bad_sweep_files_are_refused_clearly(tmp_path, capsys, name, text, key, problem):
    path = write_sweep(tmp_path, text)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--workers", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}") and key in err and problem in err, err
    assert "Traceback" not in err
    assert not out.exists()


def test_an_unreachable_dask_scheduler_is_an_input_error(tiny, tmp_path, monkeypatch, capsys):
    with pytest.raises(InputError, match="cannot reach a Dask scheduler"):
        backends.connect("tcp://127.0.0.1:9", timeout="1s")
    monkeypatch.setattr(backends, "TIMEOUT", "1s")
    out = tmp_path / "out"
    assert main(["sweep", str(tiny), "--dask", "tcp://127.0.0.1:9", "--out", str(out)]) == 2
    assert "--dask: cannot reach a Dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err
    assert not out.exists()


# -- designs and seeds --------------------------------------------------------------------


def _sampled(folder: Path, design: str, samples: int, extra: str = "") -> Path:
    text = (TINY_SWEEP.replace('design = "grid"', f'design = "{design}"\nsamples = {samples}')
            .replace("values = [0.03, 0.2]", "low = 0.03\nhigh = 0.2")
            .replace("values = [1.0, 3.0]", "low = 1.0\nhigh = 3.0") + extra)
    return write_sweep(folder, text)


def test_latin_hypercube_puts_one_point_in_each_stratum(tmp_path):
    sweep = load_sweep(_sampled(tmp_path, "latin_hypercube", 16))
    points = make_plan(sweep).points
    assert points.height == 16
    for p in sweep.spec.parameters:
        u = (points[p.key].to_numpy() - p.low) / (p.high - p.low)
        assert sorted(np.floor(u * 16).astype(int)) == list(range(16))


def test_sobol_design_holds_the_saltelli_blocks(tmp_path):
    sweep = load_sweep(_sampled(tmp_path, "sobol", 8))
    points = make_plan(sweep).points
    keys = sweep.keys
    assert points.height == 8 * (2 + len(keys))
    a = points.filter(pl.col("block") == "A").sort("row").select(keys).to_numpy()
    b = points.filter(pl.col("block") == "B").sort("row").select(keys).to_numpy()
    for i in range(len(keys)):
        ab = points.filter((pl.col("block") == "AB") & (pl.col("swapped") == i)).sort("row")
        ab = ab.select(keys).to_numpy()
        expected = a.copy()
        expected[:, i] = b[:, i]
        np.testing.assert_array_equal(ab, expected)
    assert not np.array_equal(a, b)


def test_whole_number_levers_are_rounded(tmp_path):
    text = TINY_SWEEP.replace('key = "armed_forces.deployment.women_selection_weight"\n'
                         'values = [1.0, 3.0]',
                         'key = "armed_forces.deployment.un_contingent.rotation_months"\n'
                         'low = 3\nhigh = 12')
    text = text.replace('design = "grid"', 'design = "latin_hypercube"\nsamples = 6').replace(
        "values = [0.03, 0.2]", "low = 0.03\nhigh = 0.2")
    sweep = load_sweep(write_sweep(tmp_path, text))
    plan = make_plan(sweep)
    months = plan.points["armed_forces.deployment.un_contingent.rotation_months"].to_numpy()
    assert np.array_equal(months, np.round(months)) and months.min() >= 3 and months.max() <= 12
    s = sweep.scenario(plan.values(0), 1)
    assert s.armed_forces.deployment.un_contingent.rotation_months == int(months[0])


def test_seeds_are_common_or_independent_and_never_depend_on_workers(tmp_path, tiny):
    common = make_plan(load_sweep(tiny))
    assert {t.seed for t in common.tasks} == {7}
    assert {t.replications for t in common.tasks if t.point == 0} == {(0,), (1,)}
    indep_path = write_sweep(tmp_path, TINY_SWEEP.replace("seed = 7", 'seed = 7\n'
                                                     'random_numbers = "independent"'))
    indep = make_plan(load_sweep(indep_path))
    seeds = {t.point: t.seed for t in indep.tasks}
    assert len(set(seeds.values())) == 4 and 7 not in seeds.values()
    assert seeds == {t.point: t.seed for t in make_plan(load_sweep(indep_path)).tasks}
    assert indep.fingerprint != common.fingerprint


def test_tasks_batch_replications_and_the_fingerprint_follows_the_sweep(tmp_path):
    path = write_sweep(tmp_path, TINY_SWEEP.replace("replications_per_task = 1\n", ""))
    plan = make_plan(load_sweep(path, replications=23))
    sizes = [len(t.replications) for t in plan.tasks if t.point == 0]
    assert sizes == [8, 8, 7]                    # at most 10, as even as possible
    assert make_plan(load_sweep(path, replications=23)).fingerprint == plan.fingerprint
    assert make_plan(load_sweep(path, replications=24)).fingerprint != plan.fingerprint
    record = tmp_path / "o"
    prepare_folder(record, plan)
    assert json.loads((record / "sweep.json").read_text())["fingerprint"] == plan.fingerprint


# -- XLRM form and categorical factors ----------------------------------------------------

XLRM = TINY_SWEEP.replace(
    "[[parameters]]\nkey = \"armed_forces.conscription.volunteer_rate_women\"",
    "[[levers]]\nkey = \"armed_forces.conscription.volunteer_rate_women\"").replace(
    "[[parameters]]\nkey = \"armed_forces.deployment.women_selection_weight\"",
             "[[uncertainties]]\nkey = \"armed_forces.deployment.women_selection_weight\"") + """
[[levers]]
key = "armed_forces.conscription.equal_from"
values = ["2025-07-01", 2027-01-01, "never"]
"""
EQUAL = "armed_forces.conscription.equal_from"


@pytest.mark.parametrize("design,samples", [("grid", None), ("latin_hypercube", 6),
                                            ("sobol", 4)])
def test_a_categorical_lever_works_in_every_design(tmp_path, design, samples):
    text = XLRM
    if samples is not None:
        text = (text.replace('design = "grid"', f'design = "{design}"\nsamples = {samples}')
                .replace("values = [0.03, 0.2]", "low = 0.03\nhigh = 0.2")
                .replace("values = [1.0, 3.0]", "low = 1.0\nhigh = 3.0"))
    sweep = load_sweep(write_sweep(tmp_path, text))
    assert sweep.spec.roles == ["lever", "lever", "uncertainty"]
    assert sweep.keys[1] == EQUAL and sweep.categorical == [EQUAL]   # levers, then uncertainties
    points = make_plan(sweep).points
    levels = points[EQUAL].to_list()
    assert points[EQUAL].dtype == pl.Utf8 and set(levels) <= {"2025-07-01", "2027-01-01", "never"}
    if design == "grid":                      # 2 x 2 x 3, every level with every other value
        assert points.height == 12 and sorted(levels) == sorted(
            ["2025-07-01", "2027-01-01", "never"] * 4)
    elif design == "latin_hypercube":         # stratified: each level equally often
        assert sorted(levels) == sorted(["2025-07-01", "2027-01-01", "never"] * 2)
    else:                                     # Saltelli blocks: AB_1 takes the level from B
        a = points.filter(pl.col("block") == "A").sort("row")[EQUAL].to_list()
        b = points.filter(pl.col("block") == "B").sort("row")[EQUAL].to_list()
        ab = points.filter((pl.col("block") == "AB") & (pl.col("swapped") == 1)).sort("row")
        assert ab[EQUAL].to_list() == b and points.height == 4 * 5 and a != b
    plan = make_plan(sweep)
    for point in range(points.height):        # the level reaches the scenario as a date/None
        values = plan.values(point)
        s = sweep.scenario(values, 1).armed_forces.conscription.equal_from
        assert (s is None) if values[EQUAL] == "never" else str(s) == values[EQUAL]


def test_a_bad_categorical_value_is_refused_clearly(tmp_path, capsys):
    path = write_sweep(tmp_path, XLRM.replace('"never"]', '"someday"]'))
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--workers", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}") and "levers.1.values.2" in err, err
    assert "'someday'" in err and "Traceback" not in err
    assert not out.exists()


def test_parameters_and_levers_together_are_refused(tmp_path, capsys):
    path = write_sweep(tmp_path, TINY_SWEEP + '\n[[levers]]\nkey = "%s"\nvalues = ["never"]\n'
                       % EQUAL)
    assert main(["sweep", str(path), "--workers", "1", "--out", str(tmp_path / "o")]) == 2
    assert "not both" in capsys.readouterr().err


def test_a_categorical_grid_sweep_reports_the_difference_by_level(tmp_path):
    path = write_sweep(tmp_path, XLRM.replace("values = [1.0, 3.0]", "values = [1.0]"))
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--workers", "1", "--quiet", "--replications", "1",
                 "--out", str(out)]) == 0
    sens = pl.read_parquet(out / "sensitivity.parquet")
    assert {"method", "reliability", "n_needed", "level"} <= set(sens.columns)
    diff = sens.filter((pl.col("measure") == "level_difference") & (pl.col("parameter") == EQUAL))
    assert set(diff["level"]) == {"2025-07-01", "2027-01-01", "never"}
    html = (out / "report.html").read_text()
    assert "By level of each categorical factor" in html and "vs 2025-07-01" in html
    assert (out / "discovery.csv").read_text().startswith("target_id,series,year,probability")
