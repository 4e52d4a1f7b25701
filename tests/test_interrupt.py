"""Interrupted writes leave complete files or none; output folders stay inside their root.

A ``run`` is killed with SIGKILL while it writes ``runs.parquet`` (a wrapper holds the process
inside the write, so the kill lands there every time rather than by luck): no runs.parquet is
left, or the earlier complete one is. ``sim.runs.outputs.atomic_write`` is also killed directly
between writing its temporary file and renaming it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.scenario.loading import output_dir
from sim.runs.outputs import atomic_write

ROOT = Path(__file__).resolve().parent.parent

# Runs the command line with DataFrame.write_parquet held up halfway through runs.parquet:
# half the bytes are in the temporary file, a marker says so, and the process waits there.
HELD_RUN = """
import sys, time
from pathlib import Path
import polars as pl
from sim.commands.cli import main

marker, argv = Path(sys.argv[1]), sys.argv[2:]
original = pl.DataFrame.write_parquet

def held(self, file, *args, **kwargs):
    original(self, file, *args, **kwargs)
    if "runs.parquet" in str(file):
        data = Path(file).read_bytes()
        Path(file).write_bytes(data[: len(data) // 2])
        marker.write_text(str(file))
        time.sleep(120)

pl.DataFrame.write_parquet = held
sys.exit(main(argv))
"""

SCENARIO = 'name = "interrupted"\nstart_year = 2024\nhorizon = 2025\nreplications = 2\n'


def _run_args(scenario: Path, out: Path) -> list[str]:
    return ["run", str(scenario), "--out", str(out), "--workers", "1", "--quiet"]


def _kill_while_writing(scenario: Path, out: Path, marker: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", HELD_RUN, str(marker),
                             *_run_args(scenario, out)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, "the run ended before writing runs.parquet"
            assert time.monotonic() < deadline, "the run never reached runs.parquet"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def test_run_killed_while_writing_leaves_no_runs_parquet(tmp_path):
    scenario = tmp_path / "s.toml"
    scenario.write_text(SCENARIO)
    out, marker = tmp_path / "out", tmp_path / "marker"
    _kill_while_writing(scenario, out, marker)
    tmp = Path(marker.read_text())
    # The half-written bytes were there, in the staging folder beside out ...
    assert tmp.parent.name.startswith(".out.staging-") and tmp.parent.parent == out.parent
    assert tmp.exists()
    assert not out.exists()                          # ... and out never appeared
    # Running again completes the folder and clears the killed run's staging folder.
    from sim.commands.cli import main
    assert main(_run_args(scenario, out)) == 0
    assert not tmp.parent.exists() and not list(out.glob(".*.tmp"))
    assert set(pl.read_parquet(out / "runs.parquet")["replication"]) == {0, 1}


def test_run_killed_while_rewriting_keeps_the_complete_file(tmp_path):
    scenario = tmp_path / "s.toml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(ROOT / "run_scenario.py"),
                           *_run_args(scenario, out)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    before = pl.read_parquet(out / "runs.parquet")
    assert before.height > 0 and set(before["replication"]) == {0, 1}
    scenario.write_text(SCENARIO.replace("replications = 2", "replications = 3"))
    _kill_while_writing(scenario, out, tmp_path / "marker")
    after = pl.read_parquet(out / "runs.parquet")       # still complete and readable
    assert after.equals(before)


KILL_INSIDE = """
import os, signal, sys
from pathlib import Path
from sim.runs.outputs import atomic_write

def write(tmp):
    tmp.write_bytes(b"partial")
    os.kill(os.getpid(), signal.SIGKILL)   # dies between writing and renaming

atomic_write(Path(sys.argv[1]), write)
"""


@pytest.mark.parametrize("existing", [None, b"complete old file"])
def test_atomic_write_killed_before_the_rename(tmp_path, existing):
    target = tmp_path / "file.bin"
    if existing is not None:
        target.write_bytes(existing)
    proc = subprocess.run([sys.executable, "-c", KILL_INSIDE, str(target)], cwd=ROOT)
    assert proc.returncode == -signal.SIGKILL
    assert (target.read_bytes() if target.exists() else None) == existing
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "file.bin"]
    assert len(leftovers) == 1 and leftovers[0].endswith(".tmp")   # a hidden temporary only


def test_atomic_write_failure_leaves_nothing(tmp_path):
    target = tmp_path / "file.bin"

    def fail(tmp: Path) -> None:
        tmp.write_bytes(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, fail)
    assert list(tmp_path.iterdir()) == []
    atomic_write(target, lambda tmp: tmp.write_bytes(b"whole"))
    assert target.read_bytes() == b"whole" and [p.name for p in tmp_path.iterdir()] == ["file.bin"]


@settings(derandomize=True, max_examples=200, deadline=None, database=None)
@given(st.one_of(st.text(max_size=40), st.sampled_from(
    ["..", ".", "../../etc", "/etc/passwd", "a/../../b", "~", "\x00", "C:\\Windows", "....",
     "../" * 30, "-", " "])))
def test_output_folder_never_escapes_its_root(tmp_path_factory, name):
    root = tmp_path_factory.getbasetemp() / "outputs"
    out = output_dir(root, name)
    assert out.parent == root.resolve()
    assert out.name not in ("", ".", "..") and not out.name.startswith(".")
