"""The command line: help for every command, clean refusals, ``validate`` over many files.

The top-level help is checked through ``python run_scenario.py`` in a real process (that is
what a user types); subcommands in-process, through ``sim.commands.cli.main``, which is the same
code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim import __version__
from sim.commands.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "run_scenario.py"


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def test_top_level_help_lists_every_command() -> None:
    done = run_script("--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: run_scenario.py")
    for name in COMMANDS:
        assert f"\n    {name} " in done.stdout or f"\n    {name}\n" in done.stdout, name
    assert "examples:" in done.stdout and done.stderr == ""


@pytest.mark.parametrize("command", COMMANDS)
def test_subcommand_help(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: run_scenario.py {command}")
    assert "options:" in out and "-h, --help" in out


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"run_scenario.py {__version__}"


def test_unknown_subcommand_exits_2_without_traceback(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["frobnicate", "scenarios/baseline.toml"])
    assert done.value.code == 2
    out, err = capsys.readouterr()
    assert "invalid choice: 'frobnicate'" in err and err.startswith("usage: run_scenario.py")
    assert "Traceback" not in err and out == ""


@pytest.mark.parametrize("argv, message", [
    ([], "required: COMMAND"),
    (["validate"], "required: FILE"),
    (["run"], "required: SCENARIO"),
    (["run", "scenarios/baseline.toml", "--replications", "0"], "0 must be at least 1"),
    (["run", "scenarios/baseline.toml", "--workers", "two"], "'two' is not a whole number"),
    (["run", "scenarios/baseline.toml", "--seed", "-5"], "a seed cannot be negative"),
    (["validate", "--frobnicate", "x.toml"], "unrecognized arguments: --frobnicate"),
], ids=["no-command", "validate-no-file", "run-no-scenario", "zero-replications",
        "workers-not-a-number", "negative-seed", "unknown-option"])
def test_bad_arguments_exit_2_with_usage(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: run_scenario.py") and message in err
    assert "Traceback" not in err


def test_validate_reports_each_bad_file_and_each_good_one(tmp_path: Path, capsys) -> None:
    typo = tmp_path / "typo.toml"
    typo.write_text('name = "t"\n[dema.pool]\nleave_rat = 0.1\n', encoding="utf-8")
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")
    missing = tmp_path / "missing.toml"
    good = ROOT / "scenarios" / "baseline.toml"
    other = ROOT / "scenarios" / "no_reform.toml"
    files = [typo, good, empty, missing, other]
    assert main(["validate", *map(str, files)]) == 2
    out, err = capsys.readouterr()
    assert out.splitlines()[0].startswith(f"ok: {good} (baseline,")
    assert out.splitlines()[1].startswith(f"ok: {other} (no_reform,")
    assert len(out.splitlines()) == 2
    assert err.splitlines() == [
        f"error: {typo.resolve()}: dema.pool.leave_rat: unknown key; "
        "did you mean dema.pool.leave_rate?",
        f"error: {empty.resolve()}: the file is empty",
        f"error: {missing.resolve()}: no such file",
    ]


def test_validate_of_shipped_scenarios_is_ok(capsys) -> None:
    files = sorted((ROOT / "scenarios").glob("*.toml"))
    assert len(files) >= 2
    assert main(["validate", *map(str, files)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert [line.split(" ")[1] for line in out.splitlines()] == list(map(str, files))


def test_validate_in_a_real_process_exits_2_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(bytes(range(256)))
    done = run_script("validate", str(bad), "scenarios/baseline.toml")
    assert done.returncode == 2
    assert done.stderr == f"error: {bad.resolve()}: a binary file, not TOML text\n"
    assert done.stdout.startswith("ok: scenarios/baseline.toml (baseline,")


def test_a_run_loads_none_of_what_only_other_commands_need(tmp_path: Path) -> None:
    """``run`` in a fresh process, report included, without the modules it does not use:
    plotly.io's serializer and validators (with narwhals and PIL; the page writes Plotly's
    JSON itself), scipy's linear algebra and statistics, numba itself (the install built the
    kernels ahead of time: sim.model.ahead_of_time), the calibration's objective."""
    tiny = tmp_path / "tiny.toml"
    tiny.write_text(f'name = "tiny"\nextends = "{ROOT / "scenarios" / "baseline.toml"}"\n'
                    "start_year = 2023\nhorizon = 2025\n", encoding="utf-8")
    unused = ("plotly.io", "_plotly_utils.basevalidators", "narwhals", "PIL", "scipy.linalg",
              "scipy.stats", "scipy.optimize", "numba", "llvmlite",
              "sim.analysis.calibration.objective")
    probe = ("import sys\nfrom sim.commands.cli import main\n"
             f"code = main(['run', {str(tiny)!r}, '--replications', '1', '--quiet', '--out', "
             f"{str(tmp_path / 'out')!r}])\n"
             f"print(code, [m for m in {unused!r} if m in sys.modules])\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["0", "[]"], done.stdout
    assert (tmp_path / "out" / "report.html").stat().st_size > 1_000_000


def test_process_main_ends_the_process_with_the_code_and_every_line_written(tmp_path) -> None:
    """run_scenario.py, ``python -m sim`` and ``wps-sim`` end the process as soon as the
    command returns (``os._exit``: no interpreter shutdown, issue #18), so the exit code must
    be the command's and what it printed into a pipe must all arrive; main() itself returns
    and leaves the collector as it found it."""
    import gc

    gc.unfreeze()       # what an earlier test froze (loading the kernels freezes numba's)
    assert main(["validate", str(ROOT / "scenarios" / "baseline.toml")]) == 0
    assert gc.get_freeze_count() == 0
    ok = subprocess.run([sys.executable, "-m", "sim", "validate",
                         str(ROOT / "scenarios" / "baseline.toml")],
                        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == subprocess.run(
        [sys.executable, "-c", "import sys; from sim.commands.cli import main; "
         f"sys.exit(main(['validate', {str(ROOT / 'scenarios' / 'baseline.toml')!r}]))"],
        capture_output=True, text=True, cwd=ROOT, timeout=120).stdout
    assert ok.stdout.strip()
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nhorizon = "soon"\n')
    failed = subprocess.run([sys.executable, "-m", "sim", "validate", str(bad)],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert failed.returncode == 2
    assert "horizon" in failed.stderr and "Traceback" not in failed.stderr


def test_the_command_line_has_polars_return_freed_memory_at_once() -> None:
    """The commands set polars' allocator to hand freed memory back at once (issue #18), before
    polars loads, and keep a setting the user made."""
    probe = ("import os\nimport sim.commands.cli\nimport polars\n"
             "print(os.environ['_RJEM_MALLOC_CONF'])\n")
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "dirty_decay_ms:0,muzzy_decay_ms:0" in done.stdout
    mine = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**env, "_RJEM_MALLOC_CONF": "narenas:1"})
    assert "narenas:1" in mine.stdout and "dirty_decay_ms:0" not in mine.stdout
