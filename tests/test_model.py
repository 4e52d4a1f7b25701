"""The engine: conservation of people, dated levers, determinism, levers that move shares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.model.census import tally
from sim.scenario.loading import load_scenario
from sim.model.replication import build, simulate
from sim.model.series import SERIES

SHORT = {"start_year": 2015, "horizon": 2028}
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@pytest.fixture(scope="module")
def baseline():
    return load_scenario(SCENARIOS / "baseline.toml", SHORT)


@pytest.fixture(scope="module")
def no_reform():
    return load_scenario(SCENARIOS / "no_reform.toml", SHORT)


def test_stocks_reconcile_with_entries_and_exits(baseline):
    """Per year and stock series: end-of-year stock change = entries - exits, exactly."""
    env, agencies = build(baseline, 3)
    env.run()
    start = {a.name: a.stock[0] for a in agencies}
    t = tally(baseline, agencies)
    checked = 0
    for j, s in enumerate(SERIES):
        if s.kind != "stock":
            continue
        a = next(x for x in agencies if x.name == s.agency)
        idx = [a.s(x) for x in s.stages]
        first = start[s.agency][idx].sum(axis=0)
        prev_total = np.concatenate([[first.sum()], t.total_end[:-1, j]])
        prev_women = np.concatenate([[first[1]], t.women_end[:-1, j]])
        np.testing.assert_array_equal(t.total_end[:, j] - prev_total,
                                      t.entries_total[:, j] - t.exits_total[:, j], err_msg=s.id)
        np.testing.assert_array_equal(t.women_end[:, j] - prev_women,
                                      t.entries_women[:, j] - t.exits_women[:, j], err_msg=s.id)
        checked += 1
    assert checked >= 12


def test_incremental_head_counts_match_a_full_recount(baseline):
    env, agencies = build(baseline, 1)
    for month in (2016 * 12 + 5, 2020 * 12, 2026 * 12 + 8):
        env.run(until=month)
        for a in agencies:
            np.testing.assert_array_equal(a.roster.heads, a.roster.counts(), err_msg=a.name)


def test_reform_changes_nothing_before_its_date():
    """Baseline and no-reform are paired: identical month by month until July 2025.

    The horizon reaches 2033: with the fitted volunteering, volunteers fill every conscript
    place until the intake outgrows them (about 2029), so only then does the lottery, and
    with it the reform, change who serves."""
    reform = 2025 * 12 + 6
    runs = []
    for name in ("baseline", "no_reform"):
        scenario = load_scenario(SCENARIOS / f"{name}.toml", {"start_year": 2015, "horizon": 2033})
        env, agencies = build(scenario, 7)
        env.run()
        runs.append({a.name: a for a in agencies})
    for name in ("armed_forces", "dema"):
        a, b = runs[0][name], runs[1][name]
        upto = reform - a.start + 1       # the census of July is taken before July's intake
        np.testing.assert_array_equal(a.stock[:upto], b.stock[:upto])
        assert not np.array_equal(a.stock[upto + 1:], b.stock[upto + 1:]), \
            "the reform should change something after its date"
    police_a, police_b = runs[0]["police"], runs[1]["police"]
    np.testing.assert_array_equal(police_a.stock, police_b.stock)


def test_same_seed_same_numbers_and_seed_matters(baseline):
    a = simulate(baseline, 2, agencies=("dema",))
    b = simulate(baseline, 2, agencies=("dema",))
    c = simulate(baseline, 3, agencies=("dema",))
    np.testing.assert_array_equal(a.tally.women, b.tally.women)
    assert not np.array_equal(np.nan_to_num(a.tally.women), np.nan_to_num(c.tally.women))


def test_one_agency_runs_like_in_a_full_run(baseline):
    full = simulate(baseline, 5)
    alone = simulate(baseline, 5, agencies=("police",))
    cols = [j for j, s in enumerate(SERIES) if s.agency == "police"]
    np.testing.assert_array_equal(full.tally.women[:, cols], alone.tally.women[:, cols])
    assert np.isnan(alone.tally.women[:, [j for j, s in enumerate(SERIES)
                                          if s.agency != "police"]]).all()


def _share(result, series: str, year: int) -> float:
    j = next(i for i, s in enumerate(SERIES) if s.id == series)
    i = list(result.tally.years).index(year)
    return result.tally.women[i, j] / result.tally.total[i, j]


def test_more_women_at_intake_means_more_women_deployed(baseline):
    """Paired replications: doubling women's volunteering and recruitment raises the 2028
    deployed share. The mean paired difference must exceed 3 of its standard errors."""
    more = load_scenario(SCENARIOS / "baseline.toml", {**SHORT, "armed_forces": {
        "conscription": {"volunteer_rate_women": [[2016, 0.08]]},
        "recruitment": {"women_share": [[2016, 0.4]]}}})
    diffs = []
    for r in range(8):
        lo = simulate(baseline, r, agencies=("armed_forces",))
        hi = simulate(more, r, agencies=("armed_forces",))
        diffs.append(_share(hi, "armed_forces.deployed", 2028)
                     - _share(lo, "armed_forces.deployed", 2028))
    diffs = np.array(diffs)
    se = diffs.std(ddof=1) / np.sqrt(len(diffs))
    assert diffs.mean() > 3 * se, (diffs.mean(), se)


def test_lower_attrition_for_women_keeps_more_women(baseline):
    """Paired: women's attrition brought to men's from 2016 raises women's share of the
    military in 2028 (mean paired difference > 3 standard errors)."""
    retained = load_scenario(SCENARIOS / "baseline.toml", {
        **SHORT, "armed_forces": {"careers": {"women_attrition_ratio": [[2016, 1.0]]}}})
    diffs = np.array([
        _share(simulate(retained, r, agencies=("armed_forces",)), "armed_forces.military", 2028)
        - _share(simulate(baseline, r, agencies=("armed_forces",)), "armed_forces.military", 2028)
        for r in range(6)])
    se = diffs.std(ddof=1) / np.sqrt(len(diffs))
    assert diffs.mean() > 3 * se, (diffs.mean(), se)
