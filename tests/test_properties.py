"""Properties of the engine that must hold for any scenario (hypothesis, fixed seed).

Each example draws levers within their valid ranges, runs one short replication (two or three
years, one agency where the property is per agency) and checks an invariant: nobody is counted
twice or lost, shares are shares, nobody is abroad from a stage that may not deploy there or
before their rest ended, dated levers change nothing before their date, and results do not
depend on the order in which scenarios are run. Deployment is inspected through the roster's
own columns between the monthly phases (no instrumentation of the engine).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.scenario.dated import month_number
from sim.scenario.loading import dotted, merge
from sim.model.replication import DEPLOY, build, simulate
from sim.model.roster import GONE
from sim.runs.replications import runs_frame
from sim.scenario.schema import Scenario
from sim.model.series import DESTINATIONS, SERIES

AGENCIES = ("armed_forces", "dema", "police")
SHORT = {"name": "property", "start_year": 2023, "horizon": 2025}
FAST = settings(derandomize=True, max_examples=8, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@st.composite
def levers(draw) -> dict:
    """A scenario with career, intake and deployment levers drawn in their valid ranges."""
    agency = draw(st.sampled_from(AGENCIES))
    dest = draw(st.sampled_from(DESTINATIONS[agency]))
    careers = {"women_attrition_ratio": draw(st.floats(0, 5)),
               "promotion_rate": draw(st.floats(0, 0.5)),
               "early_multiplier": draw(st.floats(0, 4)),
               "promotion_min_years": draw(st.floats(0, 6))}
    deployment = {"rest_months": draw(st.integers(0, 30)),
                  "women_selection_weight": draw(st.floats(0, 8)),
                  dest: {"positions": draw(st.integers(0, 400)),
                         "rotation_months": draw(st.integers(1, 12)),
                         "first_month": draw(st.integers(1, 12)),
                         "target_share": draw(st.one_of(st.just("off"), st.floats(0, 1)))}}
    data = {**SHORT, "seed": draw(st.integers(0, 2**32)),
            agency: {"careers": careers, "deployment": deployment}}
    return agency, Scenario.model_validate(data)


@FAST
@given(levers())
def test_nobody_counted_twice_or_lost(case):
    """Head counts equal a recount of the roster, and every stage's stock change is its
    entries minus its exits (all moves, both genders), month by month over the run."""
    agency, scenario = case
    env, (a,) = build(scenario, 0, (agency,))
    env.run()
    r = a.roster
    np.testing.assert_array_equal(r.heads, r.counts())
    flows = r.transitions.sum(axis=0)                       # [from + 1, to + 1, woman]
    entries = flows.sum(axis=0)[1:] - np.einsum("ssg->sg", flows)[1:]
    exits = flows.sum(axis=1)[1:] - np.einsum("ssg->sg", flows)[1:]
    np.testing.assert_array_equal(a.stock[-1] - a.stock[0], entries - exits)
    assert (np.einsum("ssg->sg", flows) == 0).all()          # nobody moves to their own stage
    # Distinct persons: overall at most the sum over destinations, at least the largest one.
    per_dest = a.deployed.sum(axis=1)
    assert (a.deployed_any <= per_dest).all() and (a.deployed_any >= a.deployed.max(axis=1)).all()
    # Nobody abroad twice: each person holds one post, so posts filled <= persons alive.
    assert (a.posted.sum(axis=(1, 2)) <= a.stock.sum(axis=(1, 2))).all()


@FAST
@given(levers())
def test_shares_stay_in_unit_interval(case):
    _, scenario = case
    runs = runs_frame([simulate(scenario, 0)])
    shares = runs["share"].drop_nulls()
    assert shares.len() > 0
    assert ((shares >= 0) & (shares <= 1)).all()
    assert (runs["women"].drop_nulls() <= runs["total"].drop_nulls()).all()


@FAST
@given(levers())
def test_deployed_only_from_eligible_stages_and_after_rest(case):
    """After every month's rotations: everyone abroad is in a stage that may deploy to their
    destination (DEMA: a pool member) and their rest ended by the month they were sent
    (``rest_until <= month``; someone sent back early would still be resting)."""
    agency, scenario = case
    env, (a,) = build(scenario, 0, (agency,))
    eligible = {d.index: d.eligible for d, _ in a.destinations()}
    sent = 0
    for month in range(a.start, a.end):
        env.run(until=month + DEPLOY + 0.05)
        r, n = a.roster, a.roster.n
        away = np.flatnonzero(r.dest[:n] >= 0)
        sent += len(away)
        assert (r.stage[away] != GONE).all()
        for d, ok in eligible.items():
            rows = away[r.dest[away] == d]
            assert ok[r.code[rows]].all(), (month, d)
        assert (r.rest_until[away] <= month).all(), month
        if agency == "dema":
            assert r.pool[away].all()


@st.composite
def dated_change(draw) -> tuple[str, float, dt.date]:
    lever, lo, hi = draw(st.sampled_from([
        ("armed_forces.careers.women_attrition_ratio", 0, 5),
        ("armed_forces.recruitment.women_share", 0, 1),
        ("armed_forces.recruitment.recruits", 0, 3000),
        ("armed_forces.conscription.volunteer_rate_women", 0, 1),
        ("armed_forces.deployment.rest_months", 0, 60),
        ("armed_forces.deployment.nato.positions", 0, 2000),
        ("dema.pool.staff_join_rate", 0, 2),
        ("dema.pool.external_recruits", 0, 500),
        ("dema.deployment.women_selection_weight", 0, 10),
        ("police.academy.women_share", 0, 1),
        ("police.careers.promotion_rate", 0, 1),
        ("police.deployment.frontex.target_share", 0, 1)]))
    value = draw(st.floats(lo, hi))
    day = draw(st.dates(dt.date(2023, 2, 1), dt.date(2025, 12, 1)))
    return lever, value, day


@FAST
@given(dated_change(), st.integers(0, 3))
def test_dated_levers_change_nothing_before_their_date(change, replication):
    lever, value, day = change
    base = Scenario.model_validate(SHORT)
    # The change layers over the full scenario, as a scenario file's does over the defaults.
    changed = Scenario.model_validate(merge(base.model_dump(mode="python"),
                                            dotted(lever, [[day, value]])))
    assert getattr_path(changed, lever).at(base.start_year * 12) == \
        getattr_path(base, lever).at(base.start_year * 12)
    agency = lever.split(".")[0]
    env_a, (a,) = build(base, replication, (agency,))
    env_b, (b,) = build(changed, replication, (agency,))
    env_a.run()
    env_b.run()
    before = np.arange(a.start, a.end + 1) < month_number(day)   # censuses before the date
    np.testing.assert_array_equal(a.stock[before], b.stock[before])
    np.testing.assert_array_equal(a.posted[before], b.posted[before])
    years = slice(0, day.year - base.start_year)                 # whole years before it
    np.testing.assert_array_equal(a.deployed_any[years], b.deployed_any[years])


def getattr_path(scenario: Scenario, lever: str):
    node = scenario
    for part in lever.split("."):
        node = getattr(node, part)
    return node


@settings(derandomize=True, max_examples=3, deadline=None, database=None)
@given(st.integers(0, 2**32), st.integers(0, 50))
def test_results_do_not_depend_on_run_order(seed, replication):
    one = Scenario.model_validate({**SHORT, "seed": seed})
    two = Scenario.model_validate(merge({**SHORT, "seed": seed},
                                        dotted("armed_forces.careers.women_attrition_ratio", 2.0)))
    first = [simulate(s, replication) for s in (one, two)]
    second = [simulate(s, replication) for s in (two, one)][::-1]
    for x, y in zip(first, second):
        np.testing.assert_array_equal(np.nan_to_num(x.tally.total), np.nan_to_num(y.tally.total))
        np.testing.assert_array_equal(np.nan_to_num(x.tally.women), np.nan_to_num(y.tally.women))
    j = [s.id for s in SERIES].index("armed_forces.rank_and_file")
    assert not np.array_equal(first[0].tally.women[:, j], first[1].tally.women[:, j])
