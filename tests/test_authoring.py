"""Authoring help: the messages a scenario author meets (sim.scenario.loading, validate)."""

from pathlib import Path

import pytest

from sim.commands.cli import main
from sim.scenario.loading import InputError, authoring_warnings, load_scenario

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scenarios" / "baseline.toml"


def scenario(tmp_path: Path, body: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(f'name = "authoring"\nextends = "{BASELINE}"\n{body}')
    return path


def error_of(path: Path) -> str:
    with pytest.raises(InputError) as err:
        load_scenario(path)
    return str(err.value)


def test_a_misspelt_key_gets_a_did_you_mean(tmp_path):
    text = error_of(scenario(tmp_path, "[armed_forces.recruitment]\nwomen_shar = 0.3\n"))
    assert "women_shar: unknown key; did you mean armed_forces.recruitment.women_share?" in text


def test_a_key_in_the_wrong_section_is_pointed_to_its_home(tmp_path):
    text = error_of(scenario(tmp_path, "[armed_forces]\nwomen_attrition_ratio = 1.0\n"))
    assert "belongs under another section: armed_forces.careers.women_attrition_ratio" in text


def test_an_impossible_date_is_named_with_its_line(tmp_path):
    text = error_of(scenario(tmp_path, "[armed_forces.recruitment]\n"
                                       "women_share = [[2027-13-01, 0.3]]\n"))
    assert "line 4: 2027-13-01 is not a date (month must be in 1..12)" in text
    assert "Unclosed array" not in text


def test_a_missing_parent_says_where_it_was_looked_for(tmp_path):
    path = tmp_path / "child.toml"
    path.write_text('name = "x"\nextends = "nothere.toml"\n')
    text = error_of(path)
    assert f"no such file: nothere.toml (looked for {(tmp_path / 'nothere.toml').resolve()})" \
        in text


def test_a_plain_value_over_a_calibrated_lever_is_a_warning(tmp_path, capsys):
    path = scenario(tmp_path, "[armed_forces.recruitment]\nwomen_share = 0.35\n")
    warnings = authoring_warnings(path, load_scenario(path))
    assert any("armed_forces.recruitment.women_share = 0.35 replaces the calibrated value"
               in w for w in warnings), warnings
    dated = scenario(tmp_path, "[armed_forces.recruitment]\n"
                               "women_share = [[2026-01-01, 0.35]]\n", "dated.toml")
    assert authoring_warnings(dated, load_scenario(dated)) == []     # from a date: fine
    assert main(["validate", str(path)]) == 0
    assert "warning:" in capsys.readouterr().err


def test_a_horizon_before_the_targets_is_a_warning(tmp_path):
    path = scenario(tmp_path, "horizon = 2027\n")
    warnings = authoring_warnings(path, load_scenario(path))
    assert any("horizon = 2027 ends before the targets of 2028, 2030" in w for w in warnings)


def test_the_shipped_scenarios_raise_no_warnings():
    for path in sorted((ROOT / "scenarios").glob("*.toml")):
        assert authoring_warnings(path, load_scenario(path)) == [], path


def test_validate_takes_sweep_files(capsys):
    assert main(["validate", str(ROOT / "scenarios" / "sweeps" / "example.toml")]) == 0
    assert "ok:" in capsys.readouterr().out
