"""Loading scenarios: ``extends`` chains, overrides, fitted parameters beneath scenarios.

A scenario is schema defaults, then the fitted calibration, then the ``extends`` chain from its
root down to the file asked for, then in-memory overrides. These tests build small chains in a
temporary folder and check that each layer changes exactly what it states.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

import pytest

from sim.scenario.dated import Dated, month_number
from sim.scenario.loading import InputError, check_key, dotted, load_scenario, merge, resolve
from sim.runs.outputs import resolved_toml
from sim.scenario.schema import Scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


def m(year: int, month: int = 1) -> float:
    return month_number(dt.date(year, month, 1))


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def flat(data: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of nested dicts by dotted key (dated levers are leaves)."""
    if not isinstance(data, dict) or set(data) == {"linear"}:
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(flat(value, f"{prefix}.{key}" if prefix else key))
    return out


def differences(a: Scenario, b: Scenario) -> set[str]:
    fa, fb = flat(a.model_dump(mode="python")), flat(b.model_dump(mode="python"))
    return {k for k in fa if fa[k] != fb[k]}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path.resolve()


# -- extends --------------------------------------------------------------------------------


def test_child_changes_only_what_it_states(folder: Path) -> None:
    write(folder, "parent.toml", 'name = "parent"\nhorizon = 2040\n'
          "[armed_forces.conscription]\ncohort_men = 30000\n")
    child = write(folder, "child.toml", 'name = "child"\nextends = "parent.toml"\n'
                  "[armed_forces.conscription]\ncohort_women = 20000\n")
    p, c = load_scenario(folder / "parent.toml"), load_scenario(child)
    assert differences(p, c) == {"name", "extends", "armed_forces.conscription.cohort_women"}
    assert c.horizon == 2040                                          # inherited
    assert c.armed_forces.conscription.cohort_men == 30000            # nested block merged
    assert c.armed_forces.conscription.cohort_women == 20000


def test_three_level_chain_layers_dated_levers(folder: Path) -> None:
    write(folder, "root.toml", 'name = "root"\n[police.careers]\n'
          "women_attrition_ratio = [[2020-01-01, 1.2]]\n")
    write(folder, "mid.toml", 'name = "mid"\nextends = "root.toml"\n[police.careers]\n'
          "women_attrition_ratio = [[2026-01-01, 1.0]]\n")
    leaf = write(folder, "leaf.toml", 'name = "leaf"\nextends = "mid.toml"\n'
                 "[police.academy]\nintake = 700\n")
    s = load_scenario(leaf)
    ratio = s.police.careers.women_attrition_ratio
    default = Scenario(name="d").police.careers.women_attrition_ratio.at(m(2019))
    assert [ratio.at(m(y)) for y in (2019, 2020, 2025, 2026, 2035)] == \
        [default, 1.2, 1.2, 1.0, 1.0]
    assert s.police.academy.intake == Dated.parse(700)


def test_child_ramp_over_parent_steps(folder: Path) -> None:
    write(folder, "parent.toml", 'name = "p"\n[armed_forces.careers]\n'
          "promotion_rate = [[2010, 0.08], [2030, 0.5]]\n")
    child = write(folder, "child.toml", 'name = "c"\nextends = "parent.toml"\n'
                  "[armed_forces.careers]\n"
                  "promotion_rate = { linear = [[2025, 0.1], [2027, 0.3]] }\n")
    rate = load_scenario(child).armed_forces.careers.promotion_rate
    assert rate.at(m(2024, 12)) == 0.08
    assert rate.at(m(2026)) == pytest.approx(0.2, abs=1e-12)
    assert rate.at(m(2031)) == 0.3                    # the parent's 2030 change is replaced


def test_extends_is_relative_to_the_file_not_the_working_folder(folder: Path,
                                                               monkeypatch) -> None:
    sub = folder / "sub"
    sub.mkdir()
    write(sub, "parent.toml", 'name = "p"\nseed = 7\n')
    write(sub, "child.toml", 'name = "c"\nextends = "parent.toml"\n')
    monkeypatch.chdir(folder)
    assert load_scenario(Path("sub") / "child.toml").seed == 7


def test_shipped_counterfactual_differs_from_baseline_only_where_it_says() -> None:
    base = load_scenario(SCENARIOS / "baseline.toml")
    no_reform = load_scenario(SCENARIOS / "no_reform.toml")
    assert differences(base, no_reform) == {
        "name", "description", "extends", "armed_forces.conscription.equal_from",
        "dema.conscription.equal_from"}
    assert no_reform.armed_forces.conscription.equal_from is None


# -- overrides ------------------------------------------------------------------------------


def test_dotted_builds_nested_override() -> None:
    assert dotted("a.b.c", 1) == {"a": {"b": {"c": 1}}}
    assert dotted("seed", 3) == {"seed": 3}


def test_dotted_override_replaces_a_lever(baseline_path: Path) -> None:
    key = "armed_forces.careers.women_attrition_ratio"
    s = load_scenario(baseline_path, dotted(key, 1.0))
    assert s.armed_forces.careers.women_attrition_ratio == Dated.parse(1.0)
    assert differences(load_scenario(baseline_path), s) == {key}


def test_dated_override_layers_over_the_scenario(baseline_path: Path) -> None:
    base = load_scenario(baseline_path).armed_forces.conscription.places
    s = load_scenario(baseline_path, dotted("armed_forces.conscription.places",
                                            [[dt.date(2030, 1, 1), 9000]]))
    places = s.armed_forces.conscription.places
    assert places.at(m(2029, 12)) == base.at(m(2029, 12))
    assert places.at(m(2030)) == 9000


def test_several_overrides_merge(baseline_path: Path) -> None:
    over = merge(dotted("seed", 11), dotted("police.academy.intake", 650))
    s = load_scenario(baseline_path, merge(over, {"horizon": 2030}))
    assert (s.seed, s.horizon, s.police.academy.intake.at(m(2025))) == (11, 2030, 650)


def test_invalid_override_names_the_key(baseline_path: Path) -> None:
    with pytest.raises(InputError) as err:
        load_scenario(baseline_path, dotted("dema.pool.external_women_share", 1.5))
    assert err.value.key == "dema.pool.external_women_share"
    assert "above the maximum 1" in err.value.problem


def test_merge_leaves_its_inputs_alone() -> None:
    base = {"a": {"b": 1, "c": [[2020, 1]]}}
    top = {"a": {"c": [[2030, 2]]}}
    merged = merge(base, top)
    assert base == {"a": {"b": 1, "c": [[2020, 1]]}} and top == {"a": {"c": [[2030, 2]]}}
    assert merged["a"]["b"] == 1
    assert Dated.parse(merged["a"]["c"]).values() == [1.0, 2.0]


@pytest.mark.parametrize("key, problem", [
    ("armed_forces.careers.typo", "not a parameter"), ("navy", "not a parameter"),
    ("armed_forces.careers", "names a block"), ("name", "not a parameter"),
])
def test_check_key_refuses_what_is_not_a_parameter(key: str, problem: str) -> None:
    with pytest.raises(InputError) as err:
        check_key(key)
    assert err.value.key == key and problem in err.value.problem


def test_check_key_accepts_parameters() -> None:
    check_key("police.deployment.un_ipo.target_share")
    check_key("horizon")


# -- fitted parameters beneath scenarios -----------------------------------------------------


FIT = """[parameters.armed_forces.careers]
women_promotion_ratio = 0.5
women_attrition_ratio = [[2015, 1.6]]
[parameters.police.initial]
women_share_officers = 0.2
"""


def test_fitted_values_fill_what_the_scenario_does_not_state(folder: Path) -> None:
    write(folder, "fit.toml", FIT)
    path = write(folder, "s.toml", 'name = "s"\ncalibration = "fit.toml"\n'
                 "[police.initial]\nwomen_share_officers = 0.3\n")
    s = load_scenario(path)
    assert s.armed_forces.careers.women_promotion_ratio == Dated.parse(0.5)   # fitted
    assert s.police.initial.women_share_officers == 0.3               # the scenario wins
    plain = load_scenario(write(folder, "plain.toml", 'name = "s"\n'))
    assert plain.armed_forces.careers.women_promotion_ratio == \
        Scenario(name="d").armed_forces.careers.women_promotion_ratio


def test_scenario_dated_change_layers_over_fitted_lever(folder: Path) -> None:
    write(folder, "fit.toml", FIT)
    path = write(folder, "s.toml", 'name = "s"\ncalibration = "fit.toml"\n'
                 "[armed_forces.careers]\nwomen_attrition_ratio = [[2026, 1.0]]\n")
    ratio = load_scenario(path).armed_forces.careers.women_attrition_ratio
    default = Scenario(name="d").armed_forces.careers.women_attrition_ratio.at(m(2014))
    assert [ratio.at(m(y)) for y in (2014, 2015, 2025, 2026)] == [default, 1.6, 1.6, 1.0]


def test_child_inherits_calibration_and_nearest_wins(folder: Path) -> None:
    write(folder, "fit.toml", FIT)
    write(folder, "fit2.toml", "[parameters.armed_forces.careers]\n"
                               "women_promotion_ratio = 0.9\n")
    write(folder, "parent.toml", 'name = "p"\ncalibration = "fit.toml"\n')
    child = write(folder, "child.toml", 'name = "c"\nextends = "parent.toml"\n')
    own = write(folder, "own.toml", 'name = "o"\nextends = "parent.toml"\n'
                'calibration = "fit2.toml"\n')
    assert load_scenario(child).armed_forces.careers.women_promotion_ratio == Dated.parse(0.5)
    s = load_scenario(own)
    assert s.armed_forces.careers.women_promotion_ratio == Dated.parse(0.9)
    assert s.police.initial.women_share_officers == \
        Scenario(name="d").police.initial.women_share_officers     # fit.toml not applied


def test_baseline_carries_the_fitted_values() -> None:
    fitted = tomllib.loads((ROOT / "calibration" / "fitted.toml").read_text("utf-8"))
    data = load_scenario(SCENARIOS / "baseline.toml").model_dump(mode="python")
    merged = flat(data)
    stated = flat(tomllib.loads((SCENARIOS / "baseline.toml").read_text("utf-8")))
    checked = 0
    for key, value in flat(fitted["parameters"]).items():
        if key in stated:
            continue
        lever = Dated.parse(value) if isinstance(value, (list, dict)) else None
        if lever is None and not isinstance(merged[key], list):
            assert merged[key] == value, key
        else:
            ours, theirs = Dated.parse(merged[key]), lever or Dated.parse(value)
            start = max(theirs.points[0].month, m(2010))
            for month in range(int(start), int(m(2036)), 6):
                assert ours.at(month) == pytest.approx(theirs.at(month), abs=1e-12), key
        checked += 1
    assert checked >= 10


def test_resolve_gives_merged_unvalidated_data(folder: Path) -> None:
    path = write(folder, "s.toml", 'name = "s"\nreplications = 0\n')
    data = resolve(path)
    assert data["replications"] == 0 and data["name"] == "s"
    assert "armed_forces" in data                                     # defaults filled in


# -- reading -------------------------------------------------------------------------------


def test_byte_order_mark_is_accepted(folder: Path) -> None:
    path = folder / "bom.toml"
    path.write_bytes(b'\xef\xbb\xbfname = "bom"\nseed = 5\n')
    assert load_scenario(path).seed == 5


@pytest.mark.parametrize("name", ["baseline", "no_reform"])
def test_resolved_scenario_reloads_to_the_same_scenario(name: str, folder: Path) -> None:
    s = load_scenario(SCENARIOS / f"{name}.toml")
    again = load_scenario(write(folder, "resolved.toml", resolved_toml(s)))
    assert differences(s, again) <= {"meta", "extends", "calibration"}
    assert Scenario.model_validate(s.model_dump()) == s               # dump -> validate
