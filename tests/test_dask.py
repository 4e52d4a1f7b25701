"""Dask: a local cluster, a scheduler file, a cluster that grows, refusals; the same numbers as
the local pool, bit for bit."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from conftest import write_sweep
from sim.commands.cli import main
from sim.runs import backends
from sim.scenario.loading import InputError

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_sweep(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def pool_run(tiny, tmp_path_factory) -> Path:
    """The sweep on the local process pool: what every Dask run must reproduce."""
    out = tmp_path_factory.mktemp("pool") / "out"
    assert main(["sweep", str(tiny), "--workers", "2", "--quiet", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def scheduler_file(tmp_path_factory) -> Path:
    """An in-process cluster (one worker, two threads) and the scheduler file naming it."""
    path = tmp_path_factory.mktemp("sched") / "scheduler.json"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        client.write_scheduler_file(str(path))
        yield path


def same_files(a: Path, b: Path, name: str) -> None:
    assert pl.read_parquet(a / name).equals(pl.read_parquet(b / name))
    assert (a / name).read_bytes() == (b / name).read_bytes()


def test_a_local_dask_cluster_gives_the_pool_s_summary_bit_for_bit(tiny, pool_run, tmp_path):
    out = tmp_path / "dask"
    assert main(["sweep", str(tiny), "--dask", "local:2", "--quiet", "--out", str(out)]) == 0
    same_files(out, pool_run, "summary.parquet")


def test_a_scheduler_file_connects_sweep_run_and_compare(tiny, pool_run, scheduler_file,
                                                          tmp_path, baseline_path):
    out = tmp_path / "sweep"
    assert main(["sweep", str(tiny), "--scheduler-file", str(scheduler_file), "--quiet",
                 "--out", str(out)]) == 0
    same_files(out, pool_run, "summary.parquet")
    short = tmp_path / "short.toml"
    short.write_text(f'name = "short"\nextends = "{baseline_path}"\nstart_year = 2023\n'
                     'horizon = 2025\n')
    local, dask = tmp_path / "local", tmp_path / "dask"
    common = ["--replications", "3", "--quiet"]
    assert main(["run", str(short), *common, "--workers", "1", "--out", str(local)]) == 0
    assert main(["run", str(short), *common, "--scheduler-file", str(scheduler_file),
                 "--out", str(dask)]) == 0
    same_files(local, dask, "runs.parquet")
    assert main(["compare", str(short), str(short), *common, "--scheduler-file",
                 str(scheduler_file), "--out", str(tmp_path / "cmp")]) == 0
    assert (tmp_path / "cmp" / "differences.parquet").is_file()


def test_tasks_in_flight_follow_a_growing_cluster():
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        backend = backends.connect(cluster.scheduler_address)
        try:
            assert (backend.workers, backend.capacity) == (1, 2)
            cluster.scale(3)
            backend.client.wait_for_workers(3, timeout=60)
            assert (backend.workers, backend.capacity) == (3, 6)
        finally:
            backend.close()


class FakeClient:
    """Answers ``run`` as a cluster whose one worker has another numpy."""

    def run(self, fn):
        theirs = dict(fn(), numpy="0.0.1")
        return {"tcp://10.0.0.9:4000": theirs}

    def close(self):
        pass


def test_workers_with_another_numpy_are_refused():
    with pytest.raises(InputError) as err:
        backends.DaskBackend(FakeClient())
    message = str(err.value)
    assert message.startswith("--dask: worker tcp://10.0.0.9:4000 runs numpy 0.0.1 (here ")
    assert "same versions" in message


@pytest.mark.parametrize("args, message", [
    (["--dask", "local:0"], "error: --dask: 'local:0': local:N needs a whole number N"),
    (["--dask", "local:two"], "error: --dask: 'local:two': local:N needs a whole number N"),
    (["--scheduler-file", "{tmp}/none.json"], "error: {tmp}/none.json: no such scheduler file"),
    (["--scheduler-file", "{tmp}/bad.json"], "error: {tmp}/bad.json: address: not a Dask "
                                             "scheduler file"),
])
def test_bad_dask_options_exit_2_without_traceback(tiny, tmp_path, capsys, args, message):
    (tmp_path / "bad.json").write_text('{"id": "no address here"}')
    args = [a.format(tmp=tmp_path) for a in args]
    out = tmp_path / "out"
    assert main(["sweep", str(tiny), *args, "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message.format(tmp=tmp_path)), err
    assert "Traceback" not in err and not out.exists()


@pytest.mark.parametrize("command", ["run", "compare", "sweep", "solve"])
def test_workers_and_dask_are_mutually_exclusive(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "x.toml", "--workers", "2", "--dask", "local"])
    assert done.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_the_calibration_simulator_gives_the_same_cells_on_dask(scheduler_file, baseline_path):
    """calibrate's evaluations on a Dask cluster equal the in-process ones, number for number
    (``calibrate --dask`` / ``--scheduler-file`` hands the backend to this Simulator)."""
    import numpy as np

    from sim.analysis.calibration.simulator import Simulator
    from sim.scenario.loading import resolve

    base = resolve(baseline_path, calibrated=False)
    base.update(start_year=2020, horizon=2025)
    jobs = [{}, {"dema": {"careers": {"women_attrition_ratio": 1.0}}}]
    cells = [(2, 0, False), (3, 5, True)]
    with Simulator(base, 1) as inline:
        expected = inline.cells(jobs, "dema", range(3), cells)
    backend = backends.backend_for(1, scheduler_file=scheduler_file)
    try:
        with Simulator(base, 1, backend=backend) as on_dask:
            got = on_dask.cells(jobs, "dema", range(3), cells)
    finally:
        backend.close()
    for (w1, t1), (w2, t2) in zip(expected, got):
        np.testing.assert_array_equal(w1, w2)
        np.testing.assert_array_equal(t1, t2)
