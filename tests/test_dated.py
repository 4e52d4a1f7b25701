"""Dated levers: the forms a scenario may write, their values month by month, their errors,
and how a child's changes layer over its parent's (``sim.scenario.dated.layer``).

Months are absolute month numbers (``year * 12 + month - 1``), the clock the model evaluates
levers at, so every expectation below is exact.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from sim.scenario.dated import Dated, date_of, layer, month_number, parse_date
from sim.scenario.loading import InputError, load_scenario


def m(year: int, month: int = 1, day: int = 1) -> float:
    return month_number(dt.date(year, month, day))


# -- dates and month numbers --------------------------------------------------------------


def test_month_number_is_the_model_clock() -> None:
    assert m(2025, 7) == 2025 * 12 + 6
    assert m(2024, 2, 15) == 2024 * 12 + 1 + 14 / 29          # a leap February


def test_date_of_inverts_month_number_for_every_day() -> None:
    day = dt.date(2023, 1, 1)
    while day < dt.date(2025, 1, 1):                           # a leap year and a common one
        assert date_of(month_number(day)) == day
        day += dt.timedelta(days=1)


@pytest.mark.parametrize("raw", [dt.date(2025, 7, 1), dt.datetime(2025, 7, 1, 9, 30),
                                 "2025-07-01"], ids=["toml-date", "toml-datetime", "iso-string"])
def test_date_forms_agree(raw) -> None:
    assert parse_date(raw) == dt.date(2025, 7, 1)


def test_whole_year_means_first_of_january() -> None:
    assert parse_date(2030) == dt.date(2030, 1, 1)


@pytest.mark.parametrize("raw, problem", [
    ("2025-02-30", "not a valid date"), ("2025-13-01", "not a valid date"),
    ("July 2025", "not a valid date"), (1850, "outside 1900-2200"), (True, "not a date"),
    (2025.5, "not a date"), (dt.time(10, 0), "not a date"),
], ids=["february-30", "month-13", "words", "year-1850", "boolean", "fractional-year",
        "time-of-day"])
def test_impossible_dates_are_errors(raw, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_date(raw)


# -- the forms and their values -----------------------------------------------------------


def test_scalar_is_constant_for_all_time() -> None:
    d = Dated.parse(3)
    assert d.is_constant and d.first_change() == float("inf")
    assert [d.at(x) for x in (m(1900), m(2025, 7), m(2200))] == [3.0, 3.0, 3.0]
    assert isinstance(d.at(m(2025)), float)


def test_steps_hold_from_their_date_on() -> None:
    d = Dated.parse([[2020, 1], [dt.date(2025, 7, 1), 2], ["2030-01-01", 3]])
    assert d.at(m(2010)) == 1             # before the first change: its value
    assert d.at(m(2020)) == 1
    assert d.at(m(2025, 6)) == 1
    assert d.at(m(2025, 7)) == 2          # the date on the first of a month is that month
    assert d.at(m(2029, 12)) == 2
    assert d.at(m(2030)) == 3 and d.at(m(2060)) == 3
    assert d.first_change() == m(2025, 7)


def test_mid_month_date_takes_effect_at_the_next_whole_month() -> None:
    d = Dated.parse([[2020, 1], ["2025-07-15", 2]])
    assert d.at(m(2025, 7)) == 1 and d.at(m(2025, 8)) == 2


def test_linear_change_ramps_to_the_next_point() -> None:
    d = Dated.parse([[2020, 0, "linear"], [2030, 10], [2035, 4]])
    assert d.at(m(2019)) == 0
    assert d.at(m(2020)) == 0
    assert d.at(m(2025)) == pytest.approx(5.0, abs=1e-12)
    assert d.at(m(2022, 7)) == pytest.approx(2.5, abs=1e-12)
    assert d.at(m(2030)) == 10 and d.at(m(2034, 12)) == 10    # a step after the ramp
    assert d.at(m(2035)) == 4


def test_linear_table_is_shorthand_for_a_ramp_through_all_points() -> None:
    table = Dated.parse({"linear": [[2020, 0], [2030, 10], [2040, 0]]})
    steps = Dated.parse([[2020, 0, "linear"], [2030, 10, "linear"], [2040, 0]])
    assert table == steps
    assert table.at(m(2035)) == pytest.approx(5.0, abs=1e-12)
    assert table.at(m(2050)) == 0


def test_linear_on_the_last_point_holds_its_value() -> None:
    d = Dated.parse([[2020, 1], [2025, 2, "linear"]])
    assert d.at(m(2030)) == 2


def test_off_switches_a_lever_off() -> None:
    assert Dated.parse("off").at(m(2025)) is None
    d = Dated.parse([[2010, "off"], [2026, 0.5]])
    assert d.at(m(2025, 12)) is None and d.at(m(2026)) == 0.5
    ramp = Dated.parse([[2010, "off", "linear"], [2026, 0.5]])  # no ramp out of "off"
    assert ramp.at(m(2020)) is None


@pytest.mark.parametrize("raw", [
    0.25, "off", [[2020, 1], ["2025-07-15", 2, "linear"], [2030, 3]],
    {"linear": [[2010, 0.17], [2024, 0.34]]}, [[2010, "off"], [2026, 0.4]],
], ids=["scalar", "off", "mid-month-ramp", "linear-table", "off-then-on"])
def test_dump_parses_back_to_the_same_lever(raw) -> None:
    d = Dated.parse(raw)
    assert Dated.parse(d.dump()) == d


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, problem", [
    ([[2030, 1], [2020, 2]], "dates of the changes must increase"),
    ([[2025, 1], ["2025-01-01", 2]], "dates of the changes must increase"),
    ([[2020, 1, "linaer"], [2030, 2]], "third element may only be \"linear\""),
    ([[2020, 1, "step"]], "third element may only be \"linear\""),
    ([], "empty list of changes"),
    ([2025, 0.3], "change 1: expected \\[date, value\\]"),
    ([[2025]], "change 1: expected"),
    ([[2025, 1, "linear", 4]], "change 1: expected"),
    ([[2025, "x"]], "change 1: 'x' is not a number"),
    ([[2025, True]], "change 1: True is not a number"),
    ([[2025, float("nan")]], "not a finite number"),
    (float("inf"), "not a finite number"),
    ({"linear": [[2020, 1]]}, "at least two"),
    ({"linear": [[2020, 1], [2030, 2]], "extra": 1}, "must be \\{ linear"),
    ({"steps": [[2020, 1]]}, "must be \\{ linear"),
    ([[2020, 1], ["2025-02-30", 2]], "change 2: '2025-02-30' is not a valid date"),
], ids=["unsorted", "duplicate", "bad-interpolation-word", "step-word", "empty", "bare-pair",
        "date-only", "four-elements", "string-value", "boolean-value", "nan", "infinity",
        "one-point-ramp", "extra-table-key", "wrong-table-key", "impossible-date"])
def test_malformed_levers_are_errors(raw, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Dated.parse(raw)


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "lever.toml"
    path.write_text('name = "lever"\n' + body, encoding="utf-8")
    return path


@pytest.mark.parametrize("key, raw, problem", [
    ("armed_forces.conscription.volunteer_rate_women", "[[2020, 0.1], [2030, 1.01]]",
     "1.01 is above the maximum 1"),
    ("police.academy.women_share", "{ linear = [[2010, 0.2], [2030, -0.5]] }",
     "-0.5 is below the minimum 0"),
    ("dema.pool.external_recruits", "[[2010, 8], [2027, -1]]", "-1 is below the minimum 0"),
    ("armed_forces.careers.women_attrition_ratio", "[[2026-01-01, 21]]",
     "21 is above the maximum 20"),
    ("police.academy.student_months", "[[2010, 33], [2028, 0.5]]", "0.5 is below the minimum 1"),
    ("dema.deployment.rest_months", "[[2010, 24], [2026, \"off\"]]", "cannot be \"off\""),
    ("armed_forces.deployment.nato.target_share", "[[2026, 1.5]]", "above the maximum 1"),
    ("police.academy.intake", "[[2030, 900], [2020, 700]]", "must increase"),
    ("police.academy.intake", "[[2020, 700], [2020-01-01, 900]]", "must increase"),
    ("dema.pool.leave_rate", "[[2020, 0.1, \"slowly\"], [2030, 0.2]]", "third element"),
], ids=["share-above-one-later", "ramp-to-negative", "count-negative-later",
        "ratio-above-range", "months-below-one", "off-not-allowed", "target-above-one",
        "unsorted", "duplicate", "bad-interpolation-word"])
def test_lever_errors_name_the_key(key: str, raw: str, problem: str, tmp_path: Path) -> None:
    block, _, leaf = key.rpartition(".")
    path = write(tmp_path, f"[{block}]\n{leaf} = {raw}\n")
    with pytest.raises(InputError) as err:
        load_scenario(path)
    assert err.value.key == key and err.value.file == str(path.resolve())
    assert problem in err.value.problem


def test_target_share_may_be_off_and_then_on(tmp_path: Path) -> None:
    path = write(tmp_path, '[armed_forces.deployment.nato]\ntarget_share = '
                           '[[2010, "off"], [2027, 0.3]]\n')
    share = load_scenario(path).armed_forces.deployment.nato.target_share
    assert share.at(m(2026, 12)) is None and share.at(m(2027)) == 0.3


# -- layering -----------------------------------------------------------------------------

MONTHS = [m(y, mo) for y in range(2005, 2041) for mo in range(1, 13)]


def test_constant_top_replaces_the_base() -> None:
    base = Dated.parse([[2010, 1], [2030, 5]])
    assert layer(base, Dated.parse(7)) == Dated.parse(7)


@pytest.mark.parametrize("base_raw", [
    3, [[2010, 1], [2020, 2], [2030, 5]], {"linear": [[2010, 0], [2040, 30]]},
    [[2018, 1, "linear"], [2024, 4], [2029, 9]], [[2010, "off"], [2022, 0.2]],
    [[2027, 9], [2032, 11]],
], ids=["constant", "steps-across", "ramp-across", "ramp-ending-before", "off-then-on",
        "all-changes-later"])
@pytest.mark.parametrize("top_raw", [
    [[2026, 2]], [["2025-07-15", 2], [2031, 3]], {"linear": [[2026, 2], [2036, 12]]},
], ids=["step", "mid-month-steps", "ramp"])
def test_base_holds_until_top_first_date_then_top_alone(base_raw, top_raw) -> None:
    """The documented rule: before top's first date every whole month sees the base's value,
    from it on top's values (the base's later changes are dropped)."""
    base, top = Dated.parse(base_raw), Dated.parse(top_raw)
    layered = layer(base, top)
    start = top.points[0].month
    for month in MONTHS:
        expected = base.at(month) if month < start else top.at(month)
        got = layered.at(month)
        assert got is None if expected is None else got == pytest.approx(expected, abs=1e-12)
    # ...and it survives being written to TOML and read back (as merge() does).
    assert Dated.parse(layered.dump()) == layered


def test_base_ramp_is_cut_at_the_last_whole_month_before_top() -> None:
    base = Dated.parse({"linear": [[2020, 0], [2030, 120]]})        # +1 a month
    layered = layer(base, Dated.parse([["2025-01-15", 3]]))
    assert layered.at(m(2024, 12)) == pytest.approx(59.0, abs=1e-12)
    assert layered.at(m(2025, 1)) == pytest.approx(60.0, abs=1e-12)  # still the base's ramp
    assert layered.at(m(2025, 2)) == 3


def test_layers_stack() -> None:
    default = Dated.parse(1.35)
    parent = layer(default, Dated.parse([[2020, 1.2]]))
    child = layer(parent, Dated.parse([[2026, 1.0]]))
    assert [child.at(m(y)) for y in (2019, 2020, 2025, 2026)] == [1.35, 1.2, 1.2, 1.0]
