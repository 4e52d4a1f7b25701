"""Nothing lost, nothing mixed, nothing touched (issue 15).

Output folders are written as a unit under a lock; Ctrl-C stops promptly and says what is
left; workers die with their parent; a full or unwritable output is refused before (or
cleanly during) the writing; command-line values pass the schema; only the tool's own
temporary files are ever removed; hostile files end in one ``error:`` line, never a traceback.
Subprocess tests use small scenarios and at most two workers.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from conftest import TINY_BASE, TINY_SWEEP, write_sweep
from sim.analysis.compare import unique_labels
from sim.commands.cli import main
from sim.runs import outputs
from sim.runs.outputs import FolderLock, OutputFolder, remove_leftovers, resolved_toml
from sim.scenario.loading import InputError, load_scenario, safe_name

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "run_scenario.py"
SHORT = 'name = "{name}"\nstart_year = 2024\nhorizon = 2025\nreplications = {reps}\n'
LONG = 'name = "long"\nstart_year = 2010\nhorizon = 2035\nreplications = 40\n'


def scenario(folder: Path, name: str = "r", reps: int = 1, text: str | None = None) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(text or SHORT.format(name=name, reps=reps), encoding="utf-8")
    return path


def run(path: Path, out: Path, *extra: str) -> int:
    return main(["run", str(path), "--out", str(out), "--workers", "1", "--quiet", *extra])


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def beside(out: Path) -> list[str]:
    """What the tool left next to the output folder (staging, old folders, locks)."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


# -- outputs as a unit ------------------------------------------------------------------------


def test_a_second_command_on_a_locked_folder_is_refused_and_touches_nothing(tmp_path, capsys):
    path, out = scenario(tmp_path), tmp_path / "out"
    assert run(path, out) == 0
    before = files(out)
    capsys.readouterr()
    with FolderLock(out):                      # another command is writing out
        assert run(path, out, "--seed", "2") == 2
    assert "another command is writing this folder" in capsys.readouterr().err
    assert files(out) == before


HELD_REPORT = """
import sys, time
from pathlib import Path
from sim.runs import outputs
from sim.commands.cli import main

marker, argv = Path(sys.argv[1]), sys.argv[2:]

def holding(write):
    def held(content, path):
        done = write(content, path)
        if path.name == "report.html":          # the last file of the set
            marker.write_text(str(path))
            time.sleep(120)
        return done
    return held

outputs.write_text = holding(outputs.write_text)
outputs.write_bytes = holding(outputs.write_bytes)     # the report is written as bytes
sys.exit(main(argv))
"""


def test_a_run_killed_after_writing_every_file_leaves_the_old_set_whole(tmp_path):
    """The tester's mixed folder: SIGKILL once the new runs.parquet, summary, scenario.toml
    and report exist. The reader still sees the old set, all of it."""
    path, out, marker = scenario(tmp_path, reps=2), tmp_path / "out", tmp_path / "marker"
    assert run(path, out, "--seed", "1") == 0
    before = files(out)
    proc = subprocess.Popen([sys.executable, "-c", HELD_REPORT, str(marker), "run", str(path),
                             "--out", str(out), "--workers", "1", "--quiet", "--seed", "2"],
                            cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        proc.kill()
    finally:
        proc.kill()
        proc.wait()
    assert Path(marker.read_text()).parent != out          # written in a staging folder
    assert files(out) == before                            # old runs, old seed, old report
    assert run(path, out, "--seed", "3") == 0              # the next run clears the leftovers
    assert beside(out) == []
    assert "seed = 3" in (out / "scenario.toml").read_text()


def test_a_full_disk_mid_write_is_exit_2_and_the_old_results_stay(tmp_path, monkeypatch,
                                                                   capsys):
    path, out = scenario(tmp_path), tmp_path / "out"
    assert run(path, out) == 0
    before = files(out)
    capsys.readouterr()
    original = pl.DataFrame.write_parquet

    def full(self, file, *args, **kwargs):
        if "summary.parquet" in str(file):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))
        return original(self, file, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full)
    assert run(path, out, "--seed", "5") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {out}: cannot write the output: No space left on device")
    assert "as it was before" in err and "Traceback" not in err
    assert files(out) == before and beside(out) == []


@pytest.mark.parametrize("trouble", ["no room", "read-only"])
def test_an_unwritable_or_full_output_is_refused_before_simulating(tmp_path, monkeypatch,
                                                                   capsys, trouble):
    import shutil
    import sim.runs.replications as replications

    def never(*args, **kwargs):
        raise AssertionError("simulated before checking the output")

    monkeypatch.setattr(replications, "run_replications", never)
    if trouble == "no room":
        monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(1, 1, 1000))
    else:
        def read_only(*args, **kwargs):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        monkeypatch.setattr(outputs.tempfile, "mkstemp", read_only)
    out = tmp_path / "out"
    assert run(scenario(tmp_path), out) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {out}: ")
    assert ("not enough free space" if trouble == "no room" else "Read-only file system") in err
    assert not out.exists() and beside(out) == []


def test_files_the_tool_did_not_make_are_kept(tmp_path, capsys):
    path, out = scenario(tmp_path), tmp_path / "out"
    out.mkdir()
    (out / ".session.tmp").write_text("mine")
    (out / "notes.txt").write_text("also mine")
    assert run(path, out) == 0
    assert run(path, out, "--seed", "9") == 0      # replaces the folder: user files carried
    assert (out / ".session.tmp").read_text() == "mine"
    assert (out / "notes.txt").read_text() == "also mine"
    assert remove_leftovers(out, lambda name: True) == 0       # not the tool's own pattern
    (out / ".runs.parquet.ab12cd34.tmp").write_bytes(b"half")   # atomic_write's pattern
    assert remove_leftovers(out, {"runs.parquet"}.__contains__) == 1
    assert (out / ".session.tmp").exists()


def test_a_refused_sweep_folder_keeps_the_users_file(tmp_path, capsys):
    sweep = write_sweep(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".session.tmp").write_text("mine")
    assert main(["sweep", str(sweep), "--workers", "1", "--quiet", "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == [".session.tmp"]


def test_an_interrupt_inside_the_folder_says_what_is_left(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt) as err:
        with OutputFolder(out) as folder:
            folder.write(lambda stage: (stage / "new.txt").write_text("new"))
            raise KeyboardInterrupt
    assert "is as it was before this command" in str(err.value)
    assert [p.name for p in out.iterdir()] == ["old.txt"] and beside(out) == []


# -- prompt interrupts and dead parents -------------------------------------------------------


def _children(pid: int) -> list[int]:
    import psutil

    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _start_with_workers(argv: list[str]) -> tuple[subprocess.Popen, list[int]]:
    """A command in its own process group, once its two workers exist and have started.
    SIGINT is reset to its default first: a test runner started in the background inherits
    it ignored, and a terminal user's process never has it so."""
    proc = subprocess.Popen([sys.executable, str(SCRIPT), *argv], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 90
    while len(_children(proc.pid)) < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the workers never started"
        time.sleep(0.1)
    time.sleep(2)                                    # well inside the replications
    return proc, _children(proc.pid)


@pytest.mark.parametrize("command, how", [("run", "ctrl-c"), ("run", "sigterm"),
                                          ("calibrate", "ctrl-c")])
def test_ctrl_c_with_two_workers_stops_within_seconds(tmp_path, command, how):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) or SIGTERM to the
    parent alone: out of a 40-replication run (or a calibration, with its own pool) within
    seconds, saying what is left."""
    pytest.importorskip("psutil")
    out = tmp_path / "out"
    argv = ["run", str(scenario(tmp_path, text=LONG))] if command == "run" else \
        ["calibrate", "--quick"]
    proc, workers = _start_with_workers([*argv, "--out", str(out), "--workers", "2",
                                         "--quiet"])
    sent = time.monotonic()
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.terminate()
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert time.monotonic() - sent < 15, "did not stop promptly"
    word, code = ("interrupted", 130) if how == "ctrl-c" else ("terminated", 143)
    assert proc.returncode == code, err
    assert err.strip() == f"{word}: {out} is as it was before this command; nothing of " \
                          "it was written"
    assert not out.exists() and beside(out) == []
    time.sleep(1)
    assert not [w for w in workers if _alive(w)]


@pytest.mark.parametrize("command", ["run", "sweep", "calibrate"])
def test_workers_exit_when_the_parent_is_killed(tmp_path, command):
    pytest.importorskip("psutil")
    if command == "run":
        argv = ["run", str(scenario(tmp_path, text=LONG))]
    elif command == "calibrate":                      # its own pool (analysis.calibration)
        argv = ["calibrate", "--quick"]
    else:
        sweep = TINY_SWEEP.replace("replications = 2", "replications = 8")
        base = TINY_BASE.replace("2023", "2010").replace("2025", "2035")
        argv = ["sweep", str(write_sweep(tmp_path, sweep, base))]
    proc, workers = _start_with_workers([*argv, "--out", str(tmp_path / "out"), "--workers",
                                         "2", "--quiet"])
    proc.kill()                                       # the parent alone
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [w for w in workers if _alive(w)]
    for w in left:
        os.kill(w, signal.SIGKILL)
    assert not left, "orphaned workers still running"


# -- command-line values, sweeps --------------------------------------------------------------


@pytest.mark.parametrize("flag, value", [("--seed", str(2**70)),
                                         ("--replications", "1000000000")])
def test_command_line_values_pass_the_schema(tmp_path, capsys, flag, value):
    out = tmp_path / "out"
    assert run(scenario(tmp_path), out, flag, value) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: <command line>: {flag}: Input should be less than or equal")
    assert len(err.splitlines()) == 1 and not out.exists()
    sweep = write_sweep(tmp_path)
    assert main(["sweep", str(sweep), "--quiet", "--out", str(out), flag, value]) == 2
    assert capsys.readouterr().err.startswith(f"error: <command line>: {flag}: ")
    assert not out.exists()


BAD_SWEEPS = [
    ("nan", "values = [1.0, 3.0]", "values = [1.0, nan]", "parameters.1.values.1",
     "finite number"),
    ("inf", "values = [1.0, 3.0]", "values = [inf, 1.0]", "parameters.1.values.0",
     "finite number"),
    ("integer", 'key = "armed_forces.deployment.women_selection_weight"\nvalues = [1.0, 3.0]',
     'key = "armed_forces.deployment.un_contingent.rotation_months"\nvalues = [6.4, 6.2]',
     "parameters.1.values.0", "takes whole numbers; 6.4 is not one"),
    ("integer-levels", 'key = "armed_forces.deployment.women_selection_weight"\n'
     'values = [1.0, 3.0]', 'key = "armed_forces.deployment.un_contingent.rotation_months"\n'
     'low = 3\nhigh = 5\nlevels = 5', "parameters.1.levels", "repeat whole numbers"),
    ("huge-grid", "values = [1.0, 3.0]", "low = 1.0\nhigh = 3.0\nlevels = 1000\n"
     "[[parameters]]\nkey = \"dema.pool.leave_rate\"\nlow = 0.0\nhigh = 0.5\nlevels = 1000\n"
     "[[parameters]]\nkey = \"police.recruitment.women_share\"\nlow = 0.1\nhigh = 0.5\n"
     "levels = 1000", "parameters", "2,000,000,000 points"),
]


@pytest.mark.parametrize("name, old, new, key, problem", BAD_SWEEPS,
                         ids=[b[0] for b in BAD_SWEEPS])
def test_bad_sweep_values_are_refused_before_anything_is_written(tmp_path, capsys, name, old,
                                                                  new, key, problem):
    assert old in TINY_SWEEP
    sweep = write_sweep(tmp_path, TINY_SWEEP.replace(old, new))
    out = tmp_path / "out"
    assert main(["sweep", str(sweep), "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {sweep}: {key}: ") and problem in err, err
    assert not out.exists()


def test_compare_labels_never_collide() -> None:
    labels = unique_labels(["baseline", "baseline", "baseline (2)"])
    assert len(set(labels)) == 3 and labels[2] == "baseline (2)"


# -- pathological files -----------------------------------------------------------------------


def test_deep_nesting_and_long_extends_chains_are_refused(tmp_path, capsys):
    deep = tmp_path / "deep.toml"
    deep.write_text('name = "d"\nx = ' + "[" * 500 + "]" * 500 + "\n")
    (tmp_path / "c0.toml").write_text('name = "chain"\n')
    for i in range(1, 1000):
        (tmp_path / f"c{i}.toml").write_text(f'extends = "c{i - 1}.toml"\n')
    assert main(["validate", str(deep), str(tmp_path / "c999.toml")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"error: {deep.resolve()}: ") and "nested more than 32" in err[0]
    assert "extends: a chain of more than 50 files" in err[1]


def test_project_data_files_are_checked_before_simulating(tmp_path, monkeypatch, capsys):
    from sim.scenario import project_data

    broken = tmp_path / "targets.csv"
    broken.write_bytes(b"target_id,series\n\x00\xff\xfe")
    for bad in (tmp_path / "missing.csv", broken):
        monkeypatch.setattr(project_data, "TARGETS_CSV", bad)
        assert run(scenario(tmp_path), tmp_path / "out") == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {bad}: ") and "Traceback" not in err
        assert not (tmp_path / "out").exists()


def test_a_truncated_result_on_resume_is_run_again(tmp_path, capsys):
    sweep, out = write_sweep(tmp_path), tmp_path / "out"
    assert main(["sweep", str(sweep), "--workers", "1", "--quiet", "--out", str(out)]) == 0
    first = sorted((out / "results").glob("*.parquet"))[0]
    whole = pl.read_parquet(first)
    first.write_bytes(first.read_bytes()[:100])
    assert main(["sweep", str(sweep), "--workers", "1", "--out", str(out)]) == 0
    assert "cannot be read (truncated?); its task runs again" in capsys.readouterr().err
    assert pl.read_parquet(first).equals(whole)


def test_schema_update_of_a_binary_file_is_exit_2(tmp_path, capsys):
    binary = tmp_path / "README.md"
    binary.write_bytes(bytes(range(256)))
    assert main(["schema", "--update", str(binary)]) == 2
    assert capsys.readouterr().err == f"error: {binary}: a binary file, not the README\n"
    assert binary.read_bytes() == bytes(range(256))


def test_messages_escape_control_characters_and_cut_long_values(tmp_path, capsys):
    ansi = scenario(tmp_path, text='name = "\\u001b[2Jred"\n')
    assert main(["validate", str(ansi)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[2Jred" in out
    huge = scenario(tmp_path, "huge", text='name = "' + "n" * 10_000_000 + '"\n')
    assert main(["validate", str(huge)]) == 2
    err = capsys.readouterr().err
    assert len(err) < 2000 and "at most 200 characters" in err and "…" in err


def test_folder_names_keep_letters_and_stay_distinct() -> None:
    assert safe_name("Årø") == "Årø" and safe_name("baseline") == "baseline"
    assert safe_name("..") != safe_name("/") and safe_name("a b") != safe_name("a_b")
    assert "æøå" in safe_name("æøå/x")


def test_the_users_meta_is_kept_in_the_resolved_scenario(tmp_path):
    path = scenario(tmp_path, text='name = "m"\n[meta]\nowner = "analyst"\n')
    text = resolved_toml(load_scenario(path), seed=1)
    assert 'owner = "analyst"' in text and "package_version" in text
    resolved = tmp_path / "resolved.toml"
    resolved.write_text(text, encoding="utf-8")
    assert load_scenario(resolved).meta["owner"] == "analyst"   # and it still validates


def test_a_peer_that_is_not_a_dask_scheduler_is_refused_in_bounded_time(tmp_path, monkeypatch,
                                                                         capsys):
    pytest.importorskip("distributed")
    import socket
    import threading

    from sim.runs import backends

    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True).start()
    monkeypatch.setattr(backends, "TIMEOUT", "1s")
    address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    out, started = tmp_path / "out", time.monotonic()
    try:
        code = main(["sweep", str(write_sweep(tmp_path)), "--dask", address, "--quiet",
                     "--out", str(out)])
    finally:
        server.close()
    assert code == 2 and time.monotonic() - started < 30   # 1 s timeout + 5 s grace, loaded
    assert f"--dask: cannot reach a Dask scheduler at {address}" in capsys.readouterr().err
    assert not out.exists()


def test_a_killed_swap_is_undone_and_a_working_folder_is_never_replaced(tmp_path,
                                                                        monkeypatch):
    out = tmp_path / "out"
    aside = tmp_path / ".out.old-99999"              # killed between the two renames
    aside.mkdir()
    (aside / "runs.parquet").write_text("old")
    (tmp_path / ".out.staging-99999").mkdir()
    with OutputFolder(out):
        pass
    assert (out / "runs.parquet").read_text() == "old" and beside(out) == []
    monkeypatch.chdir(out)
    with pytest.raises(InputError, match="would replace the working folder"):
        with OutputFolder(Path(".")):
            pass
    (out / "mine").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="holds a folder 'mine' that this command did not"):
        with OutputFolder(out, owned=("scenarios",)):
            pass
