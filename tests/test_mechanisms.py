"""The mechanisms of issue #13, one concern per test.

The registration effect on women's volunteering; establishments held by appointment,
capacity-limited continuation, the academy's pull and the pool's size; the appointment
levers; training, seniority and per-destination rest before a deployment; the DEMA pool's one
leave_rate; and the police's two tracks. Seeds are fixed; where a number is random, its
tolerance is derived from its Monte Carlo error next to the assertion.

Several tests watch the engine's steps from Python (spies on ``Agency.appoint``,
``deployment.send``, ``Roster.compact``...), so this module runs the numpy reference path,
which is the specification; ``tests/test_kernels.py`` holds the compiled kernels to it.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest

from sim.model import conscription, deployment, kernels
from sim.model.agencies import Agency, DemaAgency
from sim.model.replication import build
from sim.model.roster import GONE, NOWHERE, Roster
from sim.scenario.loading import load_scenario, merge
from sim.scenario.schema import Scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@pytest.fixture(autouse=True, scope="module")
def reference_path():
    kernels.use(False)
    yield
    kernels.use(None)

AUG_2025, FEB_2026, AUG_2026 = 2025 * 12 + 7, 2026 * 12 + 1, 2026 * 12 + 7
AFTER_REFORM = (AUG_2025, FEB_2026, AUG_2026)   # the first three Armed Forces intakes


def _default(**over) -> Scenario:
    """A schema-default scenario (no calibration file) with some values replaced.

    Merged over the defaults' dump as the loader does: ``Scenario.model_validate`` with a
    partial destination block would rebuild it from the Destination class (0 posts, first
    month 1) instead of the agency's own defaults."""
    defaults = Scenario(name="mechanisms").model_dump(mode="python")
    return Scenario.model_validate(merge(defaults, {"seed": 1234, **over}))


def _run(scenario: Scenario, replication: int, *agencies: str) -> dict[str, Agency]:
    env, built = build(scenario, replication, agencies=agencies)
    env.run()
    return {a.name: a for a in built}


def _pair(overrides: dict, replication: int = 0) -> tuple[Agency, Agency]:
    """The Armed Forces of baseline and no_reform (same overrides), run to the end."""
    out = []
    for name in ("baseline", "no_reform"):
        scenario = load_scenario(SCENARIOS / f"{name}.toml", overrides)
        out.append(_run(scenario, replication, "armed_forces")["armed_forces"])
    return out[0], out[1]


def _intakes(scenario: Scenario, replication: int, months) -> np.ndarray:
    """Armed Forces conscripts called up at each of ``months``: array [month, (men, women)]."""
    env, (af,) = build(scenario, replication, agencies=("armed_forces",))
    k = af.s("conscript") + 1
    out = []
    for month in months:
        env.run(until=month + 0.15)            # the census of ``month`` is done...
        before = af.roster.transitions[:, 0, k].sum(axis=0)
        env.run(until=month + 0.25)            # ...and now its intake too
        out.append(af.roster.transitions[:, 0, k].sum(axis=0) - before)
    return np.array(out)


# -- 1. the registration effect -------------------------------------------------------------


@pytest.mark.parametrize("base,effect,reformed,expected", [
    (0.04, 1.65, True, 0.066),
    (0.04, 1.65, False, 0.04),      # before equal_from (or "never") the effect is ignored
    (0.04, 1.0, True, 0.04),        # 1 = no effect
    (0.8, 2.0, True, 1.0),          # a probability: capped at 1
    (0.0, 2.7, True, 0.0),
])
def test_women_volunteer_rate(base, effect, reformed, expected):
    assert conscription.women_volunteer_rate(base, effect, reformed) == pytest.approx(expected)


def test_reform_raises_womens_share_of_the_first_intakes_after_it():
    """Baseline vs no_reform at one seed: the August 2025 and 2026 intakes have a higher
    women's share with the reform (women register, so more of them volunteer)."""
    overrides = {"start_year": 2024, "horizon": 2026}
    counts = {name: _intakes(load_scenario(SCENARIOS / f"{name}.toml", overrides), 0,
                             AFTER_REFORM) for name in ("baseline", "no_reform")}
    share = {k: c[:, 1].sum() / c.sum() for k, c in counts.items()}
    assert share["baseline"] > share["no_reform"], share


def test_registration_effect_size_matches_the_lever():
    """With places below the volunteers (no lottery: only the registration channel acts) the
    women's share of those called up is the women's share of the volunteers, w / (w + m), w
    being women's volunteers times women_registration_effect at the intake. The mean paired
    difference baseline - no_reform over 10 replications and the three intakes after the
    reform matches the difference of those expected shares."""
    places = 4000          # 2,000 an intake, against ~2,440 volunteers: the lottery never runs
    overrides = {"start_year": 2024, "horizon": 2026,
                 "armed_forces": {"conscription": {"places": places}}}
    scen = {n: load_scenario(SCENARIOS / f"{n}.toml", overrides) for n in ("baseline",
                                                                         "no_reform")}
    c = scen["baseline"].armed_forces.conscription
    expected, var = [], []
    for month in AFTER_REFORM:
        n_w, n_m, p = c.cohort_women / 2, c.cohort_men / 2, places / 2
        p_m = c.volunteer_rate_men.at(month)
        shares = []
        v = 0.0
        for effect in (c.women_registration_effect.at(month), 1.0):
            p_w = c.volunteer_rate_women.at(month) * effect
            w, m = n_w * p_w, n_m * p_m
            s = w / (w + m)
            shares.append(s)
            # Delta method on W / (W + M), W and M binomial, plus the hypergeometric draw of
            # the places among the volunteers.
            v += ((m ** 2 * n_w * p_w * (1 - p_w) + w ** 2 * n_m * p_m * (1 - p_m))
                  / (w + m) ** 4 + s * (1 - s) / p * (w + m - p) / (w + m - 1))
        expected.append(shares[0] - shares[1])
        var.append(v)
    reps = 10
    diffs = []
    for r in range(reps):
        b = _intakes(scen["baseline"], r, AFTER_REFORM)
        n = _intakes(scen["no_reform"], r, AFTER_REFORM)
        assert (b.sum(axis=1) == places / 2).all() and (n.sum(axis=1) == places / 2).all()
        diffs.append(b[:, 1] / b.sum(axis=1) - n[:, 1] / n.sum(axis=1))
    observed = np.mean(diffs)
    # SE of the mean of 30 differences if the two scenarios were independent (~0.0026); the
    # shared random streams make the real spread smaller, so 4 of these SE is generous yet
    # excludes no effect (the expected mean, ~0.0125, is ~5 SE from 0) and the effect
    # squared (mean ~0.027, > 5 SE above).
    se = math.sqrt(sum(var) * reps) / (reps * len(AFTER_REFORM))
    assert observed == pytest.approx(np.mean(expected), abs=4 * se), (observed, expected, se)
    assert observed > 0


def test_without_registration_effect_reform_acts_only_through_the_lottery():
    """women_registration_effect = 1 and places below the volunteers (no lottery ever):
    baseline and no_reform Armed Forces are identical, month by month, to 2030."""
    overrides = {"start_year": 2022, "horizon": 2030, "armed_forces": {"conscription": {
        "places": 3000, "women_registration_effect": 1.0}}}
    b, n = _pair(overrides)
    np.testing.assert_array_equal(b.stock, n.stock)
    np.testing.assert_array_equal(b.roster.transitions, n.roster.transitions)
    np.testing.assert_array_equal(b.deployed, n.deployed)
    # The same pair with the default effect differs from the first intake after the reform.
    overrides["armed_forces"]["conscription"].pop("women_registration_effect")
    b, n = _pair(overrides)
    upto = AUG_2025 - b.start + 1
    np.testing.assert_array_equal(b.stock[:upto], n.stock[:upto])
    assert not np.array_equal(b.stock[upto:], n.stock[upto:])


def test_without_registration_effect_the_pair_splits_at_the_first_lottery(monkeypatch):
    """women_registration_effect = 1, baseline places: identical until the first intake in
    which the volunteers are fewer than the places (women are then drawn in the baseline)."""
    lottery: list[bool] = []

    def spy(d, rng):
        probe = copy.deepcopy(rng)              # draft's first two draws: the volunteers
        vol = probe.binomial(d.cohort_men, d.volunteer_rate_men) + \
            probe.binomial(d.cohort_women, d.volunteer_rate_women)
        lottery.append(vol < d.places)
        return draft(d, rng)

    draft = conscription.draft
    monkeypatch.setattr(conscription, "draft", spy)
    overrides = {"start_year": 2024, "horizon": 2030,
                 "armed_forces": {"conscription": {"women_registration_effect": 1.0}}}
    scenario = load_scenario(SCENARIOS / "baseline.toml", overrides)
    b = _run(scenario, 0, "armed_forces")["armed_forces"]
    months = [y * 12 + m for y in scenario.years for m in (1, 7)]
    # Before the reform a lottery draws men only in both scenarios (with men's volunteering at
    # 0.10 the places can already outnumber the volunteers in 2024): the pair splits at the
    # first lottery from August 2025, when women are drawn too.
    after = [m for m, drawn in zip(months, lottery) if drawn and m >= AUG_2025]
    assert after, "the test needs a lottery after the reform, before the horizon"
    first = after[0]
    lottery.clear()
    n = _run(load_scenario(SCENARIOS / "no_reform.toml", overrides), 0,
             "armed_forces")["armed_forces"]
    upto = first - b.start + 1             # the census of that month precedes its intake
    np.testing.assert_array_equal(b.stock[:upto], n.stock[:upto])
    assert not np.array_equal(b.stock[upto:], n.stock[upto:])


# -- 2. establishments hold -------------------------------------------------------------------


@pytest.fixture(scope="module")
def defaults_2035():
    """Schema defaults (no calibration), 2018-2035, three replications."""
    scenario = _default(start_year=2018, horizon=2035)
    return scenario, [_run(scenario, r, "armed_forces", "dema", "police") for r in range(3)]


def _yearly_avg(a: Agency, stages: tuple[str, ...]) -> np.ndarray:
    monthly = a.stock[:, [a.s(s) for s in stages]].sum(axis=(1, 2))
    return monthly[: 12 * a.n_years].reshape(a.n_years, 12).mean(axis=1)


@pytest.mark.parametrize("agency,stages,posts", [
    ("armed_forces", ("rank_and_file",), lambda s: s.armed_forces.recruitment.establishment),
    ("armed_forces", ("leader",), lambda s: s.armed_forces.careers.establishment_leaders),
    ("dema", ("uniformed",), lambda s: s.dema.uniformed_recruitment.establishment),
    ("dema", ("civilian",), lambda s: s.dema.civilian_recruitment.establishment),
    ("dema", ("manager",), lambda s: s.dema.careers.establishment_managers),
    ("police", ("officer", "leader"), lambda s: s.police.academy.establishment),
    ("police", ("leader",), lambda s: s.police.careers.establishment_leaders),
    ("police", ("civilian",), lambda s: s.police.civilian_recruitment.establishment),
])
def test_stocks_hold_their_establishment(defaults_2035, agency, stages, posts):
    """The median over 3 replications of each year's mean stock, 2025-2035, is within 3% of
    its posts.

    Why 3%: the census counts people after a month's exits and before the month's refill, so
    a stage refilled monthly (recruitment, appointment) sits about one month's outflow below
    its posts (<= 1% at these exit rates of 3.5-12% a year). The police academy plans its
    intake 33 months ahead at men's dropout and attrition rates, so its officers fall short
    by a further ~1-1.5% (women's higher dropout and attrition, early-tenure attrition). The
    yearly means of stocks of 60-11,400 vary between replications by well under 1% (the
    median of three takes the middle one)."""
    scenario, runs = defaults_2035
    years = np.array(scenario.years)
    keep = years >= 2025
    got = np.median([_yearly_avg(run[agency], stages) for run in runs], axis=0)[keep]
    want = np.array([posts(scenario).at(y * 12 + 6) for y in years[keep]])
    np.testing.assert_allclose(got, want, rtol=0.03, err_msg=f"{agency} {stages}")


def test_dema_pool_is_topped_up_to_its_size(monkeypatch):
    """After every intake the pool has at least pool.size members (external recruitment
    makes up the gap, from the initial ~200 at the first); at the census, a month's
    withdrawals (~1% of the pool at leave_rate 0.1, plus staff attrition) later, it stays
    within 3% of the size, and above it by no more than the 8 extra external recruits a year
    and staff joining (~2 a month) allow."""
    after: list[int] = []
    intake = DemaAgency.intake

    def spy(self, month):
        intake(self, month)
        r, n = self.roster, self.roster.n
        after.append(int((r.pool[:n] & (r.stage[:n] != GONE)).sum()))

    monkeypatch.setattr(DemaAgency, "intake", spy)
    scenario = _default(start_year=2022, horizon=2030)
    dema = _run(scenario, 0, "dema")["dema"]
    size = scenario.dema.pool.size.at(2025 * 12)
    assert min(after) >= size, min(after)
    census = dema.pool_stock.sum(axis=1)[1:]    # from the month after the first intake
    assert census.min() >= 0.97 * size and census.max() <= size + 20, (census.min(),
                                                                        census.max())


def test_dema_postings_fill_their_posts(defaults_2035):
    """DEMA's posted count is the sum of its destinations' posts in most months, and never
    below 90% of it: between rotations only staff attrition (<= 12% a year, for at most
    6 months, on 40 people: ~2.4 expected at worst) empties a post."""
    scenario, runs = defaults_2035
    d = scenario.dema.deployment
    posts = sum(getattr(d, x).positions.at(2025 * 12) for x in ("eu_ucpm", "un", "nato"))
    for run in runs:
        dema = run["dema"]
        posted = dema.posted.sum(axis=(1, 2))[(2025 - scenario.start_year) * 12:]
        assert (posted <= posts).all()
        assert np.mean(posted == posts) > 0.5, np.bincount(posted.astype(int))
        assert posted.min() >= 0.9 * posts, posted.min()


# -- 3. the appointment levers --------------------------------------------------------------


def _record_appointments(monkeypatch) -> list[dict]:
    """Each call of Agency.appoint that filled anything: agency, appointed by gender, the
    eligible women and men (sources, tenure) just before it, the stages the appointees came
    from and the shortest tenure among them."""
    calls: list[dict] = []
    appoint = Agency.appoint

    def spy(self, a, month):
        r, n = self.roster, self.roster.n
        ok = np.isin(r.stage[:n], a.sources) & (month - r.since[:n] >= a.min_months)
        women, men = int((ok & r.woman[:n]).sum()), int((ok & ~r.woman[:n]).sum())
        before = r.heads[a.to].copy()
        stage, since = r.stage[:n].copy(), r.since[:n].copy()
        appoint(self, a, month)
        got = r.heads[a.to] - before
        moved = (stage != a.to) & (r.stage[:n] == a.to)
        if got.sum():
            calls.append({"agency": self.name, "men": int(got[0]), "women": int(got[1]),
                          "eligible_women": women, "eligible_men": men,
                          "from": set(stage[moved].tolist()),
                          "tenure": float((month - since[moved]).min()),
                          "min_months": a.min_months})
    monkeypatch.setattr(Agency, "appoint", spy)
    return calls


def test_appointees_come_from_the_stage_below_with_enough_tenure(monkeypatch):
    """Every appointment (Armed Forces and police leaders, DEMA managers) takes people from
    the source stages with at least promotion_min_years in them."""
    calls = _record_appointments(monkeypatch)
    scenario = _default(start_year=2022, horizon=2026)
    run = _run(scenario, 0, "armed_forces", "dema", "police")
    sources = {"armed_forces": {run["armed_forces"].s("rank_and_file")},
               "dema": {run["dema"].s("uniformed"), run["dema"].s("civilian")},
               "police": {run["police"].s("officer")}}
    assert {c["agency"] for c in calls} == set(sources)
    for c in calls:
        assert c["from"] <= sources[c["agency"]], c
        assert c["tenure"] >= c["min_months"], c


def test_appointment_share_puts_women_first(monkeypatch):
    """women_appointment_share = 0.5 for DEMA managers: in every month with appointments at
    least half of them (rounded up) are women, as far as eligible women allow; without it
    women get fewer than half."""
    calls = _record_appointments(monkeypatch)
    share = _default(start_year=2020, horizon=2030,
                     dema={"careers": {"women_appointment_share": 0.5}})
    _run(share, 0, "dema")
    assert len(calls) >= 20
    for c in calls:
        k = c["men"] + c["women"]
        assert c["women"] >= min(math.ceil(0.5 * k), c["eligible_women"]), c
    with_lever = sum(c["women"] for c in calls) / sum(c["men"] + c["women"] for c in calls)
    calls.clear()
    _run(_default(start_year=2020, horizon=2030), 0, "dema")
    without = sum(c["women"] for c in calls) / sum(c["men"] + c["women"] for c in calls)
    assert with_lever >= 0.5 > without, (with_lever, without)


def test_appointment_odds_raise_womens_share_of_leaders(monkeypatch):
    """Armed Forces leaders, women_promotion_ratio 2 vs 1 at the same seed: women's share of
    leaders in 2030 is higher, and the women appointed match relative odds of 2."""
    calls = _record_appointments(monkeypatch)
    shares = {}
    for ratio in (1.0, 2.0):
        calls.clear()
        scenario = _default(start_year=2022, horizon=2030,
                            armed_forces={"careers": {"women_promotion_ratio": ratio}})
        af = _run(scenario, 0, "armed_forces")["armed_forces"]
        leaders = af.stock[(2030 - 2022) * 12, af.s("leader")]
        shares[ratio] = leaders[1] / leaders.sum()
        # Each month's few appointments (~30) from thousands eligible: women appointed are
        # close to binomial with p = ratio * W / (ratio * W + M).
        expect = var = 0.0
        for c in calls:
            k = c["men"] + c["women"]
            p = ratio * c["eligible_women"] / (ratio * c["eligible_women"] + c["eligible_men"])
            expect += k * p
            var += k * p * (1 - p)
        got = sum(c["women"] for c in calls)
        assert got == pytest.approx(expect, abs=4 * math.sqrt(var)), (ratio, got, expect)
    assert shares[2.0] > shares[1.0], shares


# -- 4. training and seniority before a deployment --------------------------------------------


def _record_sends(monkeypatch, agencies: dict[int, Agency], on_send=None) -> list[dict]:
    """Every rotation drawn: who (rows), in which agency and month, and to where.

    ``agencies`` maps id(roster) to its agency (it may be refilled for a new run);
    ``on_send(record)`` is called as each rotation is drawn."""
    sent: list[dict] = []
    send = deployment.send

    def spy(roster, r, month, ready, pool_only, rng, deployed, deployed_any):
        n = send(roster, r, month, ready, pool_only, rng, deployed, deployed_any)
        rows = np.flatnonzero(roster.dest[: roster.n] == r.destination)
        record = {"agency": agencies[id(roster)], "dest": r.destination, "month": month,
                  "rows": rows, "tenure": month - roster.since[rows],
                  "stage": roster.stage[rows].copy()}
        assert len(rows) == n
        sent.append(record)
        if on_send is not None:
            on_send(record)
        return n
    monkeypatch.setattr(deployment, "send", spy)
    return sent


def _built(scenario: Scenario, *agencies: str):
    env, built = build(scenario, 0, agencies=agencies)
    return env, built, {id(a.roster): a for a in built}


def test_nobody_deploys_before_training_and_seniority(monkeypatch):
    """Everyone sent has month - since >= their stage's training months and >= the
    destination's min_years_in_stage * 12 (training raised to make it bite)."""
    scenario = _default(start_year=2022, horizon=2026, armed_forces={"deployment": {
        "training_months": {"rank_and_file": 18, "leader": 6}}}, police={"deployment": {
            "training_months": {"officer": 12}}})
    env, built, by_roster = _built(scenario, "armed_forces", "dema", "police")
    sent = _record_sends(monkeypatch, by_roster)
    env.run()
    checked = {a.name: 0 for a in built}
    for s in sent:
        a = s["agency"]
        training = a.training()
        dest = getattr(a.deployment_block, a.dest_names[s["dest"]])
        need = np.array([training.get(a.stages[x], 0.0) for x in s["stage"]])
        need = np.maximum(need, dest.min_years_in_stage * 12)
        assert (s["tenure"] >= need).all(), (a.name, a.dest_names[s["dest"]], s["month"])
        checked[a.name] += len(s["rows"])
    assert all(v > 0 for v in checked.values()), checked
    # The rule binds: some are sent within their first months after training.
    af = [s for s in sent if s["agency"].name == "armed_forces"]
    rf = np.concatenate([s["tenure"][s["stage"] == af[0]["agency"].s("rank_and_file")]
                         for s in af])
    assert rf.min() < 24


def test_long_training_keeps_the_rank_and_file_home(monkeypatch):
    """training_months.rank_and_file = 60 with everyone new in their stage at the start of a
    4-year run: no rank and file is ever sent (leaders are); with no training they are."""
    by_roster: dict[int, Agency] = {}
    sent = _record_sends(monkeypatch, by_roster)
    for months, rank_and_file_sent in ((60, False), (0, True)):
        scenario = _default(start_year=2023, horizon=2026, armed_forces={
            "initial": {"mean_tenure_years": 0.0},
            "deployment": {"training_months": {"rank_and_file": months}}})
        env, built, agencies = _built(scenario, "armed_forces")
        by_roster.clear()
        by_roster.update(agencies)
        sent.clear()
        env.run()
        af = built[0]
        stages = np.concatenate([s["stage"] for s in sent])
        assert (stages == af.s("leader")).any()
        assert (stages == af.s("rank_and_file")).any() == rank_and_file_sent, months


# -- 5. rest after a rotation ------------------------------------------------------------------


def _small_roster() -> Roster:
    r = Roster(2, 2, 2020, 2)
    rng = np.random.default_rng(0)
    r.add(3, 3, 0, 2020 * 12, rng, rng)
    return r


def test_send_home_starts_the_rest_given():
    r = _small_roster()
    month = 2020 * 12 + 4
    r.dest[:3], r.dest[3:] = 0, 1
    deployment.send_home(r, 0, month, 6)
    assert (r.dest[:3] == NOWHERE).all() and (r.dest[3:6] == 1).all()
    np.testing.assert_array_equal(r.rest_until[:3], month + 6)
    assert np.isneginf(r.rest_until[3:6]).all()       # the other destination: untouched


@pytest.mark.parametrize("rest", [0, 2, 12])
def test_available_only_once_the_rest_is_over(rest):
    r = _small_roster()
    month = 2020 * 12 + 4
    r.dest[:3] = 0
    deployment.send_home(r, 0, month, rest)
    if rest:
        assert not deployment.available(r, month + rest - 1, pool_only=False)[:3].any()
    assert deployment.available(r, month + rest, pool_only=False)[:3].all()
    assert not deployment.available(r, month + rest, pool_only=True)[:3].any()   # no pool


def test_rest_follows_the_destination_returned_from(monkeypatch):
    """DEMA, agency rest 18 months, eu_ucpm 6 (its default), un 12, nato "off" (so 18): every
    person coming home rests for their destination's months, is never sent anywhere before
    that, and some eu_ucpm returners go again after 6 months (shorter than the agency's)."""
    monkeypatch.setattr(Roster, "compact", lambda self: None)    # rows stay people
    scenario = _default(start_year=2020, horizon=2026, dema={"deployment": {
        "rest_months": 18, "nato": {"rest_months": "off"}}})
    rest = {"eu_ucpm": 6, "un": 12, "nato": 18}
    env, built, by_roster = _built(scenario, "dema")
    dema = built[0]
    back: dict[int, tuple[int, str]] = {}
    gaps: dict[str, list[int]] = {d: [] for d in rest}
    send_home = deployment.send_home

    def home_spy(roster, destination, month, rest_months):
        name = dema.dest_names[destination]
        assert rest_months == rest[name], (name, rest_months)
        rows = np.flatnonzero(roster.dest[: roster.n] == destination)
        send_home(roster, destination, month, rest_months)
        np.testing.assert_array_equal(roster.rest_until[rows], month + rest[name])
        back.update({int(i): (month, name) for i in rows})

    def check(record):
        for row in record["rows"]:
            if int(row) in back:               # their latest return, before this rotation
                returned, name = back[int(row)]
                assert record["month"] >= returned + rest[name], (row, name, returned,
                                                                   record["month"])
                gaps[name].append(record["month"] - returned)

    monkeypatch.setattr(deployment, "send_home", home_spy)
    _record_sends(monkeypatch, by_roster, on_send=check)
    env.run()
    assert min(gaps["eu_ucpm"]) == 6, sorted(gaps["eu_ucpm"])[:5]
    assert gaps["nato"] and min(gaps["nato"]) >= 18, {k: sorted(v)[:8] for k, v in gaps.items()}


# -- 6. the DEMA pool's leave_rate ---------------------------------------------------------------


def test_pool_members_withdraw_at_leave_rate_whoever_they_are(monkeypatch):
    """women_attrition_ratio = 5 and leave_rate = 0.3: at-home members withdraw each month
    with probability 1 - exp(-0.3 / 12) whether external women, external men or staff."""
    counts = {g: [0, 0] for g in ("external women", "external men", "staff")}
    pool_step = DemaAgency.pool_step

    def spy(self, month):
        r, n = self.roster, self.roster.n
        home = r.pool[:n] & (r.stage[:n] != GONE) & (r.dest[:n] == NOWHERE)
        external = r.stage[:n] == self.s("external")
        groups = {"external women": home & external & r.woman[:n],
                  "external men": home & external & ~r.woman[:n],
                  "staff": home & ~external}
        pool_step(self, month)
        for g, rows in groups.items():
            counts[g][0] += int(rows.sum())
            counts[g][1] += int((rows & ~r.pool[:n]).sum())

    monkeypatch.setattr(DemaAgency, "pool_step", spy)
    scenario = _default(start_year=2020, horizon=2030, dema={
        "careers": {"women_attrition_ratio": 5.0},
        "pool": {"leave_rate": 0.3, "external_women_share": 0.5}})
    _run(scenario, 0, "dema")
    p = 1 - math.exp(-0.3 / 12)
    for g, (exposed, left) in counts.items():
        # Binomial SE of a monthly withdrawal probability estimated from ``exposed`` member-
        # months (~10,000-20,000 each: SE ~6-8% of p); women at 5x would be off by ~50 SE.
        se = math.sqrt(p * (1 - p) / exposed)
        assert left / exposed == pytest.approx(p, abs=4 * se), (g, exposed, left, p)


# -- 7. the police's two tracks --------------------------------------------------------------


@pytest.mark.parametrize("to_academy", [0.05, 0.0])
def test_cadets_reach_officer_only_through_the_academy(to_academy):
    """Cadets never move straight to officer or leader; they enter the student stage at
    to_academy_rate, never with it at 0."""
    scenario = _default(start_year=2016, horizon=2028,
                        police={"cadets": {"to_academy_rate": to_academy}})
    police = _run(scenario, 0, "police")["police"]
    t = police.roster.transitions
    cadet, student = police.s("cadet") + 1, police.s("student") + 1
    assert t[:, 0, cadet].sum() > 500               # the track is there (~110 a year)
    for stage in ("officer", "leader", "civilian"):
        assert t[:, cadet, police.s(stage) + 1].sum() == 0, stage
    to_student = t[:, cadet, student].sum()
    assert (to_student > 0) if to_academy else (to_student == 0), to_student
