"""Goal-seeking: bisection on paired replications finds a threshold known in advance.

The known case: the UN contingent has 100 posts and rotations select women first up to the
destination's ``target_share``, taking ``ceil(target_share * 100)`` women when women are
plentiful (they are: hundreds of eligible women for 12 places). In the first simulated year
the contingent rotates twice and nobody is carried over from an earlier year, so the share of
women deployed during that year is exactly ``ceil(100 v) / 100`` in every replication. It
reaches the 12% target exactly when ``ceil(100 v) >= 12``, i.e. for any ``v`` above 0.11:
that is the answer bisection must find, to within its tolerance.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.commands.cli import main
from sim.scenario.loading import InputError
from sim.analysis.solve import question, solve
from sim.scenario.targets import by_id

ROOT = Path(__file__).resolve().parent.parent
LEVER = "armed_forces.deployment.un_contingent.target_share"
TARGET = "un.military_contingents.2025"          # 12% in 2025
THRESHOLD = 0.11                                 # met for any value above it

BASE = f"""name = "solve-test"
extends = "{ROOT / 'scenarios' / 'baseline.toml'}"
start_year = 2024
horizon = 2025
replications = 2

[armed_forces.deployment.un_contingent]
positions = 100
"""


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("solve") / "base.toml"
    path.write_text(BASE)
    return path


@pytest.fixture(scope="module")
def no_women_until_2025(tmp_path_factory) -> Path:
    """Women are never selected unless a target share says so."""
    path = tmp_path_factory.mktemp("solve0") / "base.toml"
    path.write_text(BASE + "\n[armed_forces.deployment]\nwomen_selection_weight = 0\n")
    return path


def test_solve_finds_the_known_threshold(base):
    q = question(base, LEVER, by_id(TARGET), prob=0.8, by=2024, tolerance=0.002)
    assert (q.low, q.high) == (0.0, 1.0)          # the range defaults to the schema's bounds
    s = solve(q)
    assert s.status == "found"
    lo, hi = s.bracket
    assert lo <= THRESHOLD < hi == s.value
    assert hi - lo <= 0.002
    assert s.value - THRESHOLD <= 0.002
    met = {e.value: e.prob for e in s.evaluations}
    assert all((p == 1.0) == (v > THRESHOLD) for v, p in met.items())
    assert all(p in (0.0, 1.0) for p in met.values())   # the share is exact, not noisy


def test_not_reachable_reports_the_earliest_year_at_the_top_of_the_range(no_women_until_2025):
    q = question(no_women_until_2025, LEVER, by_id(TARGET), prob=0.8, by=2024, low=0.0,
                 high=0.2, start="2025-01-01")
    s = solve(q)
    assert s.status == "not_reachable"
    # 2024: nobody selects women; from 2025 a fifth of each rotation is women, so 2025's
    # share is (0 carried over + 20 + 20) / 300 = 13% >= 12%.
    assert s.earliest_year_at_high == 2025
    assert "not reachable by 2024" in s.describe() and "reached in 2025" in s.describe()


def test_a_target_met_at_the_bottom_of_the_range_answers_the_bottom(base):
    q = question(base, LEVER, by_id(TARGET), by=2024, low=0.2, high=0.5)
    s = solve(q)
    assert s.status == "met_at_low" and s.value == 0.2
    assert len(s.evaluations) == 1


def test_solve_command_prints_the_answer(base, capsys):
    code = main(["solve", str(base), "--lever", LEVER, "--target", TARGET, "--by", "2024",
                 "--low", "0.1", "--high", "0.13", "--tolerance", "0.004", "--workers", "1",
                 "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    value = float(out.split("that meets it: ")[1].split()[0])
    assert THRESHOLD < value <= THRESHOLD + 0.004


@pytest.mark.parametrize("args,where,problem", [
    (["--lever", "armed_forces.nope"], "armed_forces.nope", "not a parameter"),
    (["--target", "un.nothing"], "--target", "no target 'un.nothing'"),
    (["--target", "un.formed_police_units.2028"], "--target", "no modelled series"),
    (["--low", "0.5", "--high", "0.2"], "--low", "must be below"),
    (["--high", "1.5"], "--high", "above the maximum 1"),
    (["--prob", "0"], "--prob", "above 0"),
    (["--lever", "armed_forces.careers.early_years", "--from", "2026-01-01"], "--from",
     "not a dated lever"),
    (["--lever", "armed_forces.conscription.equal_from"], "equal_from", "not a numeric"),
])
def test_bad_questions_are_input_errors(base, capsys, args, where, problem):
    argv = ["solve", str(base), "--lever", LEVER, "--target", TARGET, "--workers", "1", *args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and where in err and problem in err, err
    assert "Traceback" not in err


def test_whole_number_levers_take_the_schema_bounds_and_whole_steps(base):
    q = question(base, "armed_forces.deployment.un_contingent.rotation_months",
                 by_id(TARGET), by=2024)
    assert (q.low, q.high) == (1, 36) and q.tolerance >= 1
    with pytest.raises(InputError):
        question(base, LEVER, by_id(TARGET), by=2024, tolerance=-1)


def test_solve_draws_the_parameters_unless_fixed(base, capsys):
    """By default each pair of replications draws its parameters (the same draw at every
    lever value); the known threshold does not depend on them, so both ways find it."""
    q = question(base, LEVER, by_id(TARGET), prob=0.8, by=2024, tolerance=0.004)
    assert q.draws is not None
    fixed = question(base, LEVER, by_id(TARGET), prob=0.8, by=2024, tolerance=0.004,
                     fixed_parameters=True)
    assert fixed.draws is None
    for question_ in (q, fixed):
        s = solve(question_)
        assert s.status == "found" and THRESHOLD < s.value <= THRESHOLD + 0.004
    assert "across the parameters' uncertainty" in solve(q).describe()
    assert main(["solve", str(base), "--lever", LEVER, "--target", TARGET, "--by", "2024",
                 "--low", "0.1", "--high", "0.13", "--tolerance", "0.004", "--workers", "1",
                 "--quiet", "--fixed-parameters"]) == 0
    assert "chance only" in capsys.readouterr().out
