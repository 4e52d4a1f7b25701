"""Bad scenario files: every class of bad input ends in one clean line and exit code 2.

Each case writes a small scenario (or a broken file) to a temporary folder and runs the real
command line in-process, ``validate`` and ``run``. The message must name the file, the dotted
key (or the TOML line) and the problem, come without a traceback, and ``run`` must write
nothing at all. The second half checks that a hostile scenario ``name`` can never place output
outside the outputs root.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sim.commands.cli import main
from sim.scenario.loading import InputError, output_dir, safe_name

GOOD = 'name = "case"\n'


@dataclass(frozen=True)
class Case:
    """One bad input: the files to write, the one to check, and what the message must say."""

    id: str
    files: dict[str, str | bytes]           # file name -> text or raw bytes
    problem: str                            # regular expression the problem must match
    key: str | None = None                  # dotted key the message names
    line: int | None = None                 # or the TOML line it names
    target: str = "case.toml"               # the file given on the command line
    blamed: str | None = None               # the file the message names (default: target)
    setup: dict[str, str] = field(default_factory=dict)   # symlinks: name -> points to


def scenario(body: str) -> dict[str, str]:
    return {"case.toml": GOOD + body}


CASES = [
    # -- unknown keys --------------------------------------------------------------------
    Case("unknown-key-top-level", scenario("typo = 1\n"), "unknown key", key="typo"),
    Case("unknown-key-nested", scenario("[armed_forces.conscription]\ntypo = 1\n"),
         "unknown key", key="armed_forces.conscription.typo"),
    Case("unknown-block", scenario("[navy]\nships = 3\n"), "unknown key", key="navy"),
    Case("unknown-destination-key", scenario("[police.deployment.un_ipo]\npostions = 3\n"),
         "unknown key", key="police.deployment.un_ipo.postions"),
    # -- wrong types ---------------------------------------------------------------------
    Case("string-for-integer", scenario('horizon = "2030"\n'), "valid integer",
         key="horizon"),
    Case("string-for-number", scenario('[armed_forces.careers]\nearly_years = "2"\n'),
         "valid number", key="armed_forces.careers.early_years"),
    Case("string-for-dated-lever", scenario('[armed_forces.conscription]\nplaces = "many"\n'),
         "not a number", key="armed_forces.conscription.places"),
    Case("boolean-for-count", scenario("[police.initial]\nofficers = true\n"),
         "valid integer", key="police.initial.officers"),
    Case("boolean-for-dated-lever", scenario("[dema.pool]\nleave_rate = false\n"),
         "not a number", key="dema.pool.leave_rate"),
    Case("fraction-for-integer", scenario("replications = 2.5\n"), "valid integer",
         key="replications"),
    Case("table-for-scalar", scenario("[armed_forces.conscription.cohort_men]\nx = 1\n"),
         "valid integer", key="armed_forces.conscription.cohort_men"),
    Case("table-for-dated-lever", scenario("[dema.pool.leave_rate]\nfrom = 2025\n"),
         "dated table", key="dema.pool.leave_rate"),
    Case("scalar-for-block", scenario("armed_forces = 3\n"), "valid dictionary",
         key="armed_forces"),
    Case("list-for-text", scenario('description = ["a", "b"]\n'), "valid string",
         key="description"),
    Case("date-for-number", scenario("seed = 2025-07-01\n"), "valid integer", key="seed"),
    Case("name-missing", {"case.toml": 'description = "no name"\n'}, "required key",
         key="name"),
    Case("name-empty", {"case.toml": 'name = ""\n'}, "at least 1 character", key="name"),
    Case("name-300-characters", {"case.toml": f'name = "{"n" * 300}"\n'},
         "at most 200 characters", key="name"),
    # -- values outside their range ------------------------------------------------------
    Case("share-above-one", scenario("[armed_forces.conscription]\nfit_rate_men = 1.5\n"),
         "less than or equal to 1", key="armed_forces.conscription.fit_rate_men"),
    Case("share-below-zero", scenario("[police.academy]\nwomen_share = -0.1\n"),
         "below the minimum 0", key="police.academy.women_share"),
    Case("dated-share-above-one-later",
         scenario("[armed_forces.conscription]\n"
                  "volunteer_rate_women = [[2020-01-01, 0.5], [2026-01-01, 1.2]]\n"),
         "above the maximum 1", key="armed_forces.conscription.volunteer_rate_women"),
    Case("negative-count", scenario("[armed_forces.initial]\nleaders = -3\n"),
         "greater than or equal to 0", key="armed_forces.initial.leaders"),
    Case("negative-dated-count", scenario("[dema.pool]\nexternal_recruits = -5\n"),
         "below the minimum 0", key="dema.pool.external_recruits"),
    Case("negative-positions", scenario("[police.deployment.un_ipo]\npositions = -1\n"),
         "below the minimum 0", key="police.deployment.un_ipo.positions"),
    Case("negative-seed", scenario("seed = -1\n"), "greater than or equal to 0", key="seed"),
    Case("horizon-out-of-range", scenario("horizon = 2100\n"), "less than or equal to 2060",
         key="horizon"),
    Case("zero-month-service", scenario("[dema.conscription]\nservice_months = 0\n"),
         "below the minimum 1", key="dema.conscription.service_months"),
    Case("off-for-lever-that-cannot-be-off",
         scenario('[armed_forces.careers]\npromotion_rate = "off"\n'), "cannot be \"off\"",
         key="armed_forces.careers.promotion_rate"),
    # -- impossible dates ----------------------------------------------------------------
    Case("february-30-toml-date",
         scenario("[armed_forces.conscription]\nequal_from = 2025-02-30\n"),
         "2025-02-30 is not a date", line=3),
    Case("month-13-string", scenario('[dema.conscription]\nequal_from = "2025-13-01"\n'),
         "not a valid date", key="dema.conscription.equal_from"),
    Case("date-word", scenario('[dema.conscription]\nequal_from = "soon"\n'),
         "not a valid date", key="dema.conscription.equal_from"),
    Case("malformed-date-in-dated-lever",
         scenario('[armed_forces.conscription]\nplaces = [[2020, 4000], ["2025-02-30", 5000]]\n'),
         "change 2: '2025-02-30' is not a valid date", key="armed_forces.conscription.places"),
    Case("year-out-of-range-in-dated-lever",
         scenario("[armed_forces.careers]\npromotion_rate = [[1850, 0.1]]\n"),
         "outside 1900-2200", key="armed_forces.careers.promotion_rate"),
    Case("unsorted-dates-in-dated-lever",
         scenario("[police.academy]\nintake = [[2030, 900], [2020, 700]]\n"),
         "dates of the changes must increase", key="police.academy.intake"),
    # -- extends -------------------------------------------------------------------------
    Case("extends-cycle-two-files",
         {"a.toml": 'name = "a"\nextends = "b.toml"\n',
          "b.toml": 'name = "b"\nextends = "a.toml"\n'},
         r"cycle of extends: a\.toml -> b\.toml -> a\.toml", key="extends", target="a.toml",
         blamed="b.toml"),
    Case("extends-itself", {"case.toml": GOOD + 'extends = "case.toml"\n'},
         r"cycle of extends: case\.toml -> case\.toml", key="extends"),
    Case("extends-missing-target", {"case.toml": GOOD + 'extends = "nothere.toml"\n'},
         "no such file: nothere.toml", key="extends"),
    Case("extends-not-a-string", {"case.toml": GOOD + "extends = 3\n"},
         "must be a file name", key="extends"),
    Case("error-in-parent-names-parent",
         {"parent.toml": 'name = "p"\n[dema.pool]\nleave_rat = 0.1\n',
          "case.toml": GOOD + 'extends = "parent.toml"\n'},
         "unknown key", key="dema.pool.leave_rat", blamed="parent.toml"),
    Case("calibration-missing-file", {"case.toml": GOOD + 'calibration = "fit.toml"\n'},
         "no such file: fit.toml", key="calibration"),
    Case("error-in-fitted-file-names-it",
         {"fit.toml": "[parameters.armed_forces.careers]\nwomen_attrition_ratio = 25.0\n",
          "case.toml": GOOD + 'calibration = "fit.toml"\n'},
         "above the maximum 20", key="armed_forces.careers.women_attrition_ratio",
         blamed="fit.toml"),
    # -- unreadable files ----------------------------------------------------------------
    Case("malformed-toml", {"case.toml": GOOD + "\nhorizon = = 2030\n"},
         "malformed TOML", line=3),
    Case("duplicate-key-toml", {"case.toml": GOOD + "seed = 1\nseed = 2\n"},
         "malformed TOML", line=3),
    Case("unclosed-table-header", {"case.toml": GOOD + "[armed_forces\n"},
         "malformed TOML", line=2),
    Case("empty-file", {"case.toml": ""}, "empty"),
    Case("whitespace-only-file", {"case.toml": "  \n\t\n"}, "empty"),
    Case("random-bytes", {"case.toml": random.Random(2).randbytes(512)},
         "binary|not UTF-8"),
    Case("nul-bytes", {"case.toml": b'name = "x"\n\x00\x00\x00'}, "binary"),
    Case("invalid-utf8", {"case.toml": b'name = "\xff\xfe caf\xe9"\n'}, r"not UTF-8 .*byte 8"),
    Case("utf16-text", {"case.toml": 'name = "x"\n'.encode("utf-16")}, "binary|not UTF-8"),
    Case("missing-path", {}, "no such file"),
    Case("directory-as-path", {"case.toml/inner.toml": GOOD}, "not a file"),
    Case("name-too-long-for-the-system", {}, "cannot be read", target="x" * 300 + ".toml"),
    Case("symlink-loop", {}, "cannot be read", setup={"case.toml": "case.toml"}),
]


def write_case(case: Case, folder: Path) -> Path:
    for name, content in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    for name, points_to in case.setup.items():
        os.symlink(points_to, folder / name)
    return folder / case.target


def assert_clean_error(case: Case, folder: Path, err: str) -> None:
    """One line: ``error: FILE: KEY: PROBLEM`` (or the TOML line), no traceback."""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    blamed = folder / (case.blamed or case.target)
    assert line.startswith(f"error: {blamed}: "), line
    rest = line[len(f"error: {blamed}: "):]
    if case.key:
        assert rest.startswith(f"{case.key}: "), line
    if case.line:
        assert re.search(rf"\bline {case.line}\b", rest), line
    assert re.search(case.problem, rest), line


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path.resolve() / "scenarios"
    path.mkdir()
    return path


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_validate_reports_bad_input_cleanly(case: Case, folder: Path, capsys) -> None:
    path = write_case(case, folder)
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert_clean_error(case, folder, err)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_run_writes_nothing_on_bad_input(case: Case, folder: Path, tmp_path: Path,
                                         monkeypatch, capsys) -> None:
    path = write_case(case, folder)
    out_dir = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out_dir), "--replications", "1",
                 "--workers", "1", "--quiet"]) == 2
    assert_clean_error(case, folder, capsys.readouterr().err)
    assert not out_dir.exists()
    # Without --out the default outputs/ folder (relative to the working folder) stays unmade.
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert main(["run", str(path), "--replications", "1", "--workers", "1", "--quiet"]) == 2
    assert_clean_error(case, folder, capsys.readouterr().err)
    assert list(cwd.iterdir()) == []


def test_validate_of_a_good_file_says_ok(folder: Path, capsys) -> None:
    path = folder / "good.toml"
    path.write_text(GOOD + "horizon = 2030\n", encoding="utf-8")
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"ok: {path} (case, 2010-2030,") and err == ""


# -- hostile names ------------------------------------------------------------------------

HOSTILE = ["../../etc/x", "/abs/path", "..", ".", "...", "a/b\\c", "<script>alert(1)</script>",
           "", "." * 40, "n" * 300, "Ærø 名前 🚀", "\x00nul", "~", "$HOME", "-rf", ".hidden",
           "C:\\Windows\\system32", "a\nb", "../" * 50 + "x"]


@pytest.mark.parametrize("name", HOSTILE, ids=[repr(n)[:24] for n in HOSTILE])
def test_output_dir_stays_inside_root(name: str, tmp_path: Path) -> None:
    root = tmp_path / "outputs"
    out = output_dir(root, name)
    assert out.resolve().is_relative_to(root.resolve())
    assert out.parent == root.resolve()                     # exactly one level below
    assert out.name not in ("", ".", "..") and not out.name.startswith(".")
    assert re.fullmatch(r"\w[\w.-]*", out.name) and len(out.name) <= 80
    assert out.name == safe_name(name) and output_dir(root, name) == out   # deterministic


def test_output_dir_refuses_a_symlink_leading_out_of_root(tmp_path: Path) -> None:
    root = tmp_path / "outputs"
    root.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, root / "evil")
    with pytest.raises(InputError) as err:
        output_dir(root, "evil")
    assert err.value.key == "name" and "output folder" in err.value.problem


SHORT_RUN = "start_year = 2024\nhorizon = 2025\nreplications = 1\n"
RUN_NAMES = ["../../etc/x", "/abs/path", "a/b\\c<script>.."]


@pytest.mark.parametrize("name", RUN_NAMES, ids=["parent-dirs", "absolute", "separators"])
def test_run_with_hostile_name_writes_only_under_outputs(name: str, tmp_path: Path,
                                                         monkeypatch, capsys) -> None:
    cwd = tmp_path / "deep" / "er" / "cwd"
    cwd.mkdir(parents=True)
    path = tmp_path / "hostile.toml"
    path.write_text(f"name = '{name}'\n" + SHORT_RUN, encoding="utf-8")   # a literal string
    monkeypatch.chdir(cwd)
    assert main(["run", str(path), "--workers", "1", "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    outputs = (cwd / "outputs").resolve()
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != path]
    assert {p.parent for p in written} == {outputs / safe_name(name)}
    assert {p.name for p in written} >= {"runs.parquet", "summary.parquet", "scenario.toml"}
    assert not Path("/abs").exists()
