"""The closed-form manpower model the simulator is verified against.

With stationary parameters (constant intakes, constant hazards, no reform, no establishment
pull) every person's career is a Markov chain on a monthly grid, so the *expected* head counts
follow exactly from the classic manpower recursion

    x(m) = (x(m-1) + R(m-1)) P

where ``x(m)`` is the census after the careers tick of month ``m`` (a vector over states),
``R(m)`` the expected intake of month ``m`` (intakes come after the census, at phase 0.2) and
``P`` the one-month transition matrix (sub-stochastic: what is missing from a row leaves).

**States.** A state is (stage, gender, tenure class ``k``), ``k`` being the tenure in months the
person will have at the next tick (``m - 1 - since``, see docs/architecture.md). Tenure matters
only through the early-tenure multiplier (``k < early_months``) and the promotion minimum
(``k >= promotion_min``), so career stages use classes ``0..K`` with ``K = max(early, minimum)``
absorbing. A fixed-length stage of ``L`` months uses ``0..L-1``; from class ``L-1`` the tick
ends the stage. Month counts must be whole numbers for the classes to be exact.

**One month (careers tick).** With monthly hazards ``e`` (attrition; women x ratio; x early
multiplier while ``k < early``) and ``p`` (promotion once ``k >= minimum``), the clocks of
``sim.model.careers`` give exactly ``stay = exp(-(e+p))``, ``exit = e/(e+p) (1 - stay)``,
``promote = p/(e+p) (1 - stay)``; the promoted enter the target stage in class 0. In a fixed
stage the dropout hazard (``-ln(1-q)/L``; the police split the education's ``q`` over student
and cadet months, which gives ``-ln(1-q)/(L_student + L_cadet)`` in both) acts first; who is
still there at the end goes on with the continuation probability or leaves. The early-tenure
multiplier applies to career stages only: a fixed stage's dropout is the stated probability.

**Initial population.** Women are binomial with the stated share. Tenure is exponential with
mean ``mu`` months, so the class is ``floor(T)``: geometric, ``P(k) = exp(-k/mu)(1-exp(-1/mu))``
with the tail folded into ``K``. Police students and cadets have ``done ~ U(0, L)``, which
makes the class ``floor(done)`` uniform on ``0..L-1``.

**Intakes.** Fixed recruitment replays the simulator's carried fractions (deterministic), times
the women's share. The draft takes volunteers first: while volunteers surely fall short of the
places (by more than 6 standard deviations), women are exactly the women volunteers (women are
not in the lottery: ``equal_from = "never"``) and men fill the rest; when volunteers surely
exceed them, women are a hypergeometric draw among volunteers, whose mean is taken as the
ratio of means (error O(1/n), far below Monte Carlo error). Anything in between is refused.

**Deployment.** For one destination with ``N`` posts rotated every ``rho`` months (all posts at
once), every rotation sends ``N`` people as long as the expected available pool exceeds them
several times over. With ``rho + rest >= 24`` nobody can be sent twice in a calendar year, so
the distinct persons deployed in year ``Y`` are exactly those sent in ``Y``'s rotations plus
those still abroad after January's rotations (sent in ``Y-1``, survivors of attrition):

    D(Y) = N * rotations(Y) + sum over cohorts abroad on 1 January of their survivors.

A cohort sent at month ``a`` is a state vector ``c(a)`` that moves with ``P`` like everyone
(promotion keeps people abroad; attrition empties posts until the next rotation). Who is sent
is a mean-field step: the available pool ``A(a)`` is the expected eligible population after
the month's intakes minus every cohort still abroad or resting (``m < a + rho + rest``); women
are drawn with odds ``w`` (Wallenius' urn), whose mean ``k_w`` solves Manly's equation
``1 - k_w / W = (1 - (N - k_w) / M) ** w`` (exact for ``w = 1``: hypergeometric); within a
gender the draw is uniform, so the cohort is ``k_w A_w / W + k_m A_m / M``. Women's share among
the distinct deployed is the ratio of the expected women and persons. The mean-field steps
(expectation of a ratio taken as a ratio of expectations) err by O(1/pool), well inside the
Monte Carlo error of the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, overload

import numpy as np

from sim.model import conscription
from sim.model.careers import dropout_hazard
from sim.scenario.dated import Dated
from sim.scenario.loading import merge
from sim.model.replication import build
from sim.scenario.schema import (ArmedForces, Careers, Conscription, Dema, Police, Recruitment,
                                 Scenario, Section)
from sim.model.series import AF, DEMA, POLICE, STAGES, DESTINATIONS

if TYPE_CHECKING:
    from sim.scenario.schema import DatedNumber

SURE = 6.0   # standard deviations that make a draft regime certain (odds < 1e-9)


# -- the stationary scenario -----------------------------------------------------------------

# Constant intakes with a closed form, used by the cross-checks (tests/test_analytic.py and
# ``python -m sim.analysis.manpower``): fixed recruits instead of establishment pulls, volunteers
# well below the draft's places. Test settings, not domain figures.
STATIONARY_LEVERS: dict = {
    "name": "stationary", "start_year": 2020, "horizon": 2025, "seed": 7,
    "armed_forces": {"recruitment": {"recruits": 650},
                     "conscription": {"volunteer_rate_men": 0.05}},
    "dema": {"uniformed_recruitment": {"recruits": 50}, "civilian_recruitment": {"recruits": 45},
             "pool": {"external_recruits": 10}, "conscription": {"volunteer_rate_men": 0.003}},
    "police": {"civilian_recruitment": {"recruits": 400}},
}


def stationary_scenario(extra: dict | None = None) -> Scenario:
    """:data:`STATIONARY_LEVERS` (deep-merged with ``extra``) on the schema defaults, frozen
    with :func:`stationary`."""
    return stationary(Scenario.model_validate(merge(STATIONARY_LEVERS, extra or {})))



def stationary(scenario: Scenario, at: float | None = None) -> Scenario:
    """The scenario with every dated lever frozen at its value at month ``at`` (default: the
    start), women outside the draft lottery (``equal_from = "never"``) and no establishment
    pull (recruitment is the fixed ``recruits`` only), so intakes and hazards are constant."""
    month = scenario.start_year * 12 if at is None else at
    return _flatten(scenario, month)


S = TypeVar("S", bound=Section)


def _flatten(block: S, month: float) -> S:
    update: dict[str, Any] = {}
    for name in type(block).model_fields:
        value = getattr(block, name)
        if isinstance(value, Dated):
            update[name] = Dated.constant(value.at(month))
        elif isinstance(value, Section):
            update[name] = _flatten(value, month)
        elif name == "equal_from":
            update[name] = None
    if isinstance(block, Recruitment):
        update["establishment"] = Dated.constant(0.0)
    return block.model_copy(update=update)


# -- the chain ------------------------------------------------------------------------------


@dataclass
class Chain:
    """States, the monthly transition matrix and the initial population of one agency."""

    agency: str
    stages: tuple[str, ...]
    stage: list[int] = field(default_factory=list)     # per state
    woman: list[int] = field(default_factory=list)
    tenure: list[int] = field(default_factory=list)
    index: dict[tuple[int, int, int], int] = field(default_factory=dict)
    P: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    x0: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def add(self, s: int, g: int, k: int) -> None:
        self.index[s, g, k] = len(self.stage)
        self.stage.append(s)
        self.woman.append(g)
        self.tenure.append(k)

    def by_stage(self, x: np.ndarray) -> np.ndarray:
        """State vector(s) ``[..., state]`` -> ``[..., stage, woman]``."""
        out = np.zeros((*x.shape[:-1], len(self.stages), 2))
        for i, (s, g) in enumerate(zip(self.stage, self.woman)):
            out[..., s, g] += x[..., i]
        return out


@dataclass(frozen=True)
class Stage:
    """What the chain needs to know about a stage (hazards per month, by gender)."""

    attrition: tuple[float, float]
    promotion: tuple[float, float] = (0.0, 0.0)
    promote_to: str | None = None
    months: int | None = None                      # fixed-length stage
    after: str | None = None                       # where a fixed stage leads
    continuation: tuple[float, float] = (0.0, 0.0)


def _whole(value: float, what: str) -> int:
    if abs(value - round(value)) > 1e-9:
        raise ValueError(f"{what} = {value:g} months is not whole: the closed form needs "
                         "whole months")
    return int(round(value))


@overload
def _const(d: DatedNumber) -> float: ...
@overload
def _const(d: Dated) -> float | None: ...
def _const(d: Dated) -> float | None:
    if not d.is_constant:
        raise ValueError("a dated lever changes value: use stationary() first")
    return d.points[0].value


def _pair(men: float, ratio: float) -> tuple[float, float]:
    return men / 12, men * ratio / 12


def _conscript_stage(k: Conscription, after: str) -> Stage:
    """Conscription: dropout spread evenly over the service, then continuation or discharge."""
    L = _whole(_const(k.service_months), "service_months")
    return Stage((dropout_hazard(_const(k.dropout_men), L),
                  dropout_hazard(_const(k.dropout_women), L)), months=L, after=after,
                 continuation=(_const(k.continuation_men), _const(k.continuation_women)))


def stage_table(scenario: Scenario, agency: str) -> dict[str, Stage]:
    """Each stage's monthly hazards, read from the scenario's parameters."""
    if agency == AF:
        p = scenario.armed_forces
        c, k = p.careers, p.conscription
        ratio, prom = _const(c.women_attrition_ratio), _prom(c)
        return {
            "conscript": _conscript_stage(k, after="rank_and_file"),
            "rank_and_file": Stage(_pair(_const(c.attrition_rank_and_file), ratio), prom,
                                   "leader"),
            "leader": Stage(_pair(_const(c.attrition_leaders), ratio)),
        }
    if agency == DEMA:
        p = scenario.dema
        c, k = p.careers, p.conscription
        ratio, prom = _const(c.women_attrition_ratio), _prom(c)
        return {
            "conscript": _conscript_stage(k, after="uniformed"),
            "uniformed": Stage(_pair(_const(c.attrition_uniformed), ratio), prom, "manager"),
            "civilian": Stage(_pair(_const(c.attrition_civilian), ratio), prom, "manager"),
            "manager": Stage(_pair(_const(c.attrition_managers), ratio)),
            "external": Stage(_pair(_const(p.pool.leave_rate), ratio)),
        }
    p = scenario.police
    c, a = p.careers, p.academy
    ratio, prom = _const(c.women_attrition_ratio), _prom(c)
    Ls = _whole(_const(a.student_months), "student_months")
    Lc = _whole(_const(a.cadet_months), "cadet_months")
    edu = (dropout_hazard(_const(a.dropout_men), Ls + Lc),
           dropout_hazard(_const(a.dropout_women), Ls + Lc))
    return {
        "student": Stage(edu, months=Ls, after="cadet", continuation=(1.0, 1.0)),
        "cadet": Stage(edu, months=Lc, after="officer", continuation=(1.0, 1.0)),
        "officer": Stage(_pair(_const(c.attrition_officers), ratio), prom, "leader"),
        "leader": Stage(_pair(_const(c.attrition_leaders), ratio)),
        "civilian": Stage(_pair(_const(c.attrition_civilians), ratio)),
    }


def _prom(c) -> tuple[float, float]:
    rate = _const(c.promotion_rate)
    return rate / 12, rate * _const(c.women_promotion_ratio) / 12


def _careers_block(scenario: Scenario, agency: str) -> Careers:
    blocks: dict[str, ArmedForces | Dema | Police] = {
        AF: scenario.armed_forces, DEMA: scenario.dema, POLICE: scenario.police}
    return blocks[agency].careers


def chain(scenario: Scenario, agency: str) -> Chain:
    """The agency's Markov chain: states, ``P`` and the expected initial population."""
    stages = STAGES[agency]
    table = stage_table(scenario, agency)
    c = _careers_block(scenario, agency)
    early = _whole(c.early_years * 12, "early_years * 12")
    minimum = _whole(c.promotion_min_years * 12, "promotion_min_years * 12")
    top = max(early, minimum)
    ch = Chain(agency, stages)
    for s, name in enumerate(stages):
        classes = table[name].months or top + 1
        for g in (0, 1):
            for k in range(classes):
                ch.add(s, g, k)
    n = len(ch.stage)
    P = np.zeros((n, n))
    for i in range(n):
        s, g, k = ch.stage[i], ch.woman[i], ch.tenure[i]
        st = table[stages[s]]
        e = st.attrition[g] * (c.early_multiplier if k < early and st.months is None else 1.0)
        p = st.promotion[g] if st.promote_to is not None and k >= minimum else 0.0
        stay, promote = _competing(e, p)
        if st.months is None:
            P[i, ch.index[s, g, min(k + 1, top)]] += stay
            if promote:
                P[i, ch.index[stages.index(st.promote_to), g, 0]] += promote
        elif k + 1 < st.months:
            P[i, ch.index[s, g, k + 1]] += stay
        elif st.after is not None:
            P[i, ch.index[stages.index(st.after), g, 0]] += stay * st.continuation[g]
    ch.P = P
    ch.x0 = _initial(scenario, agency, ch, table, top)
    return ch


def _competing(e: float, p: float) -> tuple[float, float]:
    """One month of competing exponential risks: P(stay), P(promoted)."""
    total = e + p
    if total == 0:
        return 1.0, 0.0
    if math.isinf(total):
        return 0.0, 0.0
    stay = math.exp(-total)
    return stay, p / total * (1 - stay)


def _initial(scenario: Scenario, agency: str, ch: Chain, table: dict[str, Stage],
             top: int) -> np.ndarray:
    x = np.zeros(len(ch.stage))

    def career(stage: str, total: int, share: float, mean_years: float) -> None:
        s = ch.stages.index(stage)
        mu = mean_years * 12
        if mu == 0:
            probs = np.zeros(top + 1)
            probs[0] = 1.0
        else:
            k = np.arange(top + 1)
            probs = np.exp(-k / mu) * (1 - np.exp(-1 / mu))
            probs[top] = np.exp(-top / mu)
        for g, n in ((0, total * (1 - share)), (1, total * share)):
            for k in range(top + 1):
                x[ch.index[s, g, k]] += n * probs[k]

    def fixed(stage: str, total: int, share: float) -> None:
        s, L = ch.stages.index(stage), table[stage].months
        assert L is not None, f"{stage} is not a fixed-length stage"
        for g, n in ((0, total * (1 - share)), (1, total * share)):
            for k in range(L):
                x[ch.index[s, g, k]] += n / L

    if agency == AF:
        i = scenario.armed_forces.initial
        career("rank_and_file", i.rank_and_file, i.women_share_rank_and_file,
               i.mean_tenure_years)
        career("leader", i.leaders, i.women_share_leaders, i.mean_tenure_years)
    elif agency == DEMA:
        i = scenario.dema.initial
        for stage, total, share in (("uniformed", i.uniformed, i.women_share_uniformed),
                                    ("civilian", i.civilian, i.women_share_civilian),
                                    ("manager", i.managers, i.women_share_managers),
                                    ("external", i.pool_external, i.women_share_pool_external)):
            career(stage, total, share, i.mean_tenure_years)
    else:
        i = scenario.police.initial
        fixed("student", i.students, i.women_share_students)
        fixed("cadet", i.cadets, i.women_share_cadets)
        for stage, total, share in (("officer", i.officers, i.women_share_officers),
                                    ("leader", i.leaders, i.women_share_leaders),
                                    ("civilian", i.civilians, i.women_share_civilians)):
            career(stage, total, share, i.mean_tenure_years)
    return x


# -- intakes --------------------------------------------------------------------------------


class Intakes:
    """Expected entrants by month (``R(m)``), replaying the simulator's carried fractions."""

    def __init__(self, scenario: Scenario, agency: str, ch: Chain):
        self.scenario, self.agency, self.ch = scenario, agency, ch
        self.carry: dict[str, float] = {}

    def per_month(self, key: str, yearly: float, share: float = 1 / 12) -> int:
        acc = self.carry.get(key, 0.0) + yearly * share
        whole = int(acc)
        self.carry[key] = acc - whole
        return whole

    def enter(self, r: np.ndarray, stage: str, women: float, men: float) -> None:
        s = self.ch.stages.index(stage)
        r[self.ch.index[s, 1, 0]] += women
        r[self.ch.index[s, 0, 0]] += men

    def recruit(self, r: np.ndarray, key: str, rec: Recruitment, stage: str) -> None:
        n = self.per_month(key, _const(rec.recruits))
        share = _const(rec.women_share)
        self.enter(r, stage, n * share, n * (1 - share))

    def draft(self, r: np.ndarray, c, month: int) -> None:
        if month % 12 not in conscription.intake_months(c.intakes_per_year):
            return
        share = 1 / c.intakes_per_year
        places = self.per_month("places", _const(c.places), share)
        women, men = expected_draft(places, int(c.cohort_men * share),
                                    int(c.cohort_women * share), _const(c.volunteer_rate_men),
                                    _const(c.volunteer_rate_women), c.equal_from is not None)
        self.enter(r, "conscript", women, men)

    def at(self, month: int) -> np.ndarray:
        r = np.zeros(len(self.ch.stage))
        s = self.scenario
        if self.agency == AF:
            self.draft(r, s.armed_forces.conscription, month)
            self.recruit(r, "direct", s.armed_forces.recruitment, "rank_and_file")
        elif self.agency == DEMA:
            d = s.dema
            self.draft(r, d.conscription, month)
            self.recruit(r, "uniformed", d.uniformed_recruitment, "uniformed")
            self.recruit(r, "civilian", d.civilian_recruitment, "civilian")
            n = self.per_month("external", _const(d.pool.external_recruits))
            share = _const(d.pool.external_women_share)
            self.enter(r, "external", n * share, n * (1 - share))
        else:
            a = s.police.academy
            if month % 12 in conscription.intake_months(a.intakes_per_year):
                n = self.per_month("academy", _const(a.intake), 1 / a.intakes_per_year)
                share = _const(a.women_share)
                self.enter(r, "student", n * share, n * (1 - share))
            self.recruit(r, "civilian", s.police.civilian_recruitment, "civilian")
        return r


def expected_draft(places: int, men: int, women: int, v_men: float, v_women: float,
                   equal: bool) -> tuple[float, float]:
    """Expected women and men called up by ``sim.model.conscription.draft`` (see module doc)."""
    if equal:
        raise ValueError("women in the lottery: use equal_from = \"never\" for the closed form")
    mean = men * v_men + women * v_women
    sd = math.sqrt(men * v_men * (1 - v_men) + women * v_women * (1 - v_women))
    if mean + SURE * sd < places:
        return women * v_women, places - women * v_women
    if mean - SURE * sd >= places:
        w = places * women * v_women / mean if places else 0.0
        return w, places - w
    raise ValueError(f"volunteers ({mean:.0f} +/- {sd:.0f}) are too close to the places "
                     f"({places}) for a closed form")


# -- expected stocks ------------------------------------------------------------------------


def expected_states(scenario: Scenario, agency: str) -> tuple[Chain, np.ndarray, np.ndarray]:
    """The chain, the expected census ``x[i, state]`` and intakes ``R[i, state]`` for every
    month ``start + i`` from the start to the first month after the horizon."""
    ch = chain(scenario, agency)
    start, end = scenario.start_year * 12, (scenario.horizon + 1) * 12
    intakes = Intakes(scenario, agency, ch)
    n = end - start + 1
    x = np.zeros((n, len(ch.stage)))
    R = np.zeros_like(x)
    x[0] = ch.x0
    for i in range(1, n):
        R[i - 1] = intakes.at(start + i - 1)
        x[i] = (x[i - 1] + R[i - 1]) @ ch.P
    return ch, x, R


def expected_stocks(scenario: Scenario, agency: str) -> np.ndarray:
    """Expected monthly census ``[month - start, stage, woman]`` (as ``Agency.stock``)."""
    ch, x, _ = expected_states(scenario, agency)
    return ch.by_stage(x)


# -- deployment -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployed:
    """Expected distinct persons deployed per year (``years``), women and all."""

    years: np.ndarray
    women: np.ndarray
    total: np.ndarray

    @property
    def share(self) -> np.ndarray:
        return self.women / self.total


def eligible_stages(agency: str, destination: str) -> tuple[str, ...]:
    """Stages that may be sent (as ``sim.model.agencies``' destinations)."""
    if agency == AF:
        return ("leader",) if destination == "un_staff_observer" else ("rank_and_file", "leader")
    if agency == POLICE:
        return ("officer", "leader")
    raise ValueError("DEMA deploys its pool, whose membership is not in the manpower chain")


def expected_deployed(scenario: Scenario, agency: str, destination: str) -> Deployed:
    """Distinct persons deployed per year to ``destination``, the only destination with posts
    (see the module doc for the derivation and its conditions)."""
    stages = eligible_stages(agency, destination)
    dep = (scenario.armed_forces if agency == AF else scenario.police).deployment
    for other in DESTINATIONS[agency]:
        if other != destination and _const(getattr(dep, other).positions) > 0:
            raise ValueError(f"{other} also has posts: the pool would be shared")
    d = getattr(dep, destination)
    N = int(round(_const(d.positions)))
    rho, rest = d.rotation_months, _const(dep.rest_months)
    if rho + rest < 24:
        raise ValueError("rotation_months + rest_months < 24: people could deploy twice a year")
    if _const(d.target_share) is not None:
        raise ValueError("target_share selects women first: not covered by the closed form")
    w = _const(dep.women_selection_weight)
    ch, x, R = expected_states(scenario, agency)
    ok = np.isin(np.array(ch.stage), [ch.stages.index(s) for s in stages])
    women = np.array(ch.woman) == 1
    start = scenario.start_year * 12
    years = np.arange(scenario.start_year, scenario.horizon + 1)
    out_w, out_t = np.zeros(len(years)), np.zeros(len(years))
    cohorts: list[tuple[int, np.ndarray]] = []      # (sent at, state vector now)
    for month in range(start, (scenario.horizon + 1) * 12):
        i = month - start
        if month > start:
            cohorts = [(a, v @ ch.P) for a, v in cohorts]
        y = month // 12 - scenario.start_year
        if (month % 12 - (d.first_month - 1)) % rho == 0:
            pool = (x[i] + R[i]) * ok
            for a, v in cohorts:
                if month < a + rho + rest:
                    pool = pool - v * ok
            cohort = _select(pool, women, N, w)
            cohorts.append((month, cohort))
            out_w[y] += cohort[women].sum()
            out_t[y] += cohort.sum()
        if month % 12 == 0:
            for a, v in cohorts:
                if a < month < a + rho:
                    out_w[y] += v[women].sum()
                    out_t[y] += v.sum()
        cohorts = [(a, v) for a, v in cohorts if month < a + rho + rest]
    return Deployed(years, out_w, out_t)


def _select(pool: np.ndarray, women: np.ndarray, k: int, w: float) -> np.ndarray:
    """Expected state vector of ``k`` drawn from ``pool``, women with odds ``w``."""
    W, M = pool[women].sum(), pool[~women].sum()
    if W + M < 3 * k:
        raise ValueError(f"the available pool ({W + M:.0f}) is not ample for {k} posts")
    k_w = wallenius_mean(W, M, k, w)
    out = np.where(women, pool * (k_w / W if W else 0.0), pool * ((k - k_w) / M))
    return out


def wallenius_mean(W: float, M: float, k: float, w: float) -> float:
    """Manly's approximation of the mean women drawn: ``1 - x/W = (1 - (k-x)/M) ** w``."""
    if W == 0 or w == 0:
        return 0.0
    lo, hi = max(0.0, k - M), min(k, W)
    for _ in range(100):
        mid = (lo + hi) / 2
        if 1 - mid / W > (1 - (k - mid) / M) ** w:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


# -- the simulated side of the comparison -----------------------------------------------------


def simulate_agency(scenario: Scenario, replication: int, agency: str):
    """One replication of one agency, returning the agency with its census arrays
    (``stock[month - start, stage, woman]``, ``deployed[year, destination, woman]``)."""
    env, agencies = build(scenario, replication, (agency,))
    env.run()
    return agencies[0]


def z_scores(sims: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """``(mean - expected) / (sd / sqrt(n))`` over replications (axis 0); 0 where every
    replication agrees with the closed form, inf where they agree on another value."""
    n = sims.shape[0]
    gap = sims.mean(axis=0) - expected
    se = sims.std(axis=0, ddof=1) / np.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, gap / se, np.where(np.abs(gap) < 1e-9, 0.0, np.inf))
    return z


DEPLOY_CASES = ((AF, "nato", 1.0), (AF, "nato", 3.0), (POLICE, "frontex", 1.0),
                (POLICE, "frontex", 3.0))


def deployment_scenario(agency: str, destination: str, weight: float) -> Scenario:
    """One destination with 150 posts, 5-month rotations from February (so a rotation is
    abroad on 1 January), 20 months' rest, women's selection odds ``weight``."""
    dep: dict = {d: {"positions": 0} for d in DESTINATIONS[agency] if d != destination}
    dep[destination] = {"positions": 150, "rotation_months": 5, "first_month": 2}
    dep.update(rest_months=20, women_selection_weight=weight)
    return stationary_scenario({agency: {"deployment": dep}})


def _yearly_means(monthly: np.ndarray) -> np.ndarray:
    """``[..., month, stage, woman]`` censuses -> ``[..., year, stage, woman]`` means."""
    body = monthly[..., :-1, :, :]
    return body.reshape(*body.shape[:-3], -1, 12, *body.shape[-2:]).mean(axis=-3)


def _report(replications: int) -> None:
    """Print the largest |z| of the closed-form comparisons (docs/verification.md's figures)."""
    import time

    s = stationary_scenario()
    for agency in (AF, DEMA, POLICE):
        t = time.perf_counter()
        sims = np.array([simulate_agency(s, r, agency).stock for r in range(replications)],
                        np.float64)
        exp = expected_stocks(s, agency)
        z_avg = z_scores(_yearly_means(sims), _yearly_means(exp))
        z_end = z_scores(sims[:, 12::12], exp[12::12])
        print(f"{agency:13s} stocks: {z_avg.size} yearly means, max |z| {np.abs(z_avg).max():.2f};"
              f" {z_end.size} year-end stocks, max |z| {np.abs(z_end).max():.2f}"
              f" ({replications} replications, {time.perf_counter() - t:.1f} s)")
    for agency, dest, w in DEPLOY_CASES:
        s = deployment_scenario(agency, dest, w)
        e = expected_deployed(s, agency, dest)
        j = DESTINATIONS[agency].index(dest)
        sims = np.array([simulate_agency(s, r, agency).deployed[:len(e.years), j]
                         for r in range(replications)], np.float64)
        zs = [np.abs(z_scores(x, y)).max() for x, y in (
            (sims.sum(-1), e.total), (sims[..., 1], e.women),
            (sims[..., 1] / sims.sum(-1), e.share))]
        print(f"{agency:13s} {dest} w={w:g}: distinct/yr {e.total.round(1)}, women's share "
              f"{e.share.round(4)}; max |z| persons {zs[0]:.2f}, women {zs[1]:.2f}, "
              f"share {zs[2]:.2f}")


if __name__ == "__main__":
    import sys

    _report(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
