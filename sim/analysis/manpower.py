"""The closed-form manpower model the simulator is verified against.

With stationary parameters (constant intakes, constant hazards, no reform) every person's
career is a Markov chain on a monthly grid, so the *expected* head counts follow from the
classic manpower recursion

    x(m) = T(x(m-1) + R(m-1))

where ``x(m)`` is the census after the careers tick of month ``m`` (a vector over states),
``R(m)`` the expected intake of month ``m`` (intakes come after the census, at phase 0.2) and
``T`` one careers tick. Without establishments ``T`` is linear, ``T(v) = v P`` with ``P`` the
one-month transition matrix (sub-stochastic: what is missing from a row leaves), and the
recursion is exact.

**States.** A state is (stage, gender, tenure class ``k``), ``k`` being the tenure in months the
person will have at the next tick (``m - 1 - since``, see docs/architecture.md). Tenure matters
only through the early-tenure multiplier (``k < early_months``), the promotion (or appointment)
minimum (``k >= minimum``) and, for deployment, the months of training and seniority a
destination asks for (``k >= ready``), so a career stage uses classes ``0..K`` with ``K`` the
largest of these boundaries, absorbing. A fixed-length stage of ``L`` months uses
``0..L-1``; from class ``L-1`` the tick ends the stage. Month counts must be whole numbers for
the classes to be exact.

**One month (careers tick).** With monthly hazards ``e`` (attrition; women x ratio; x early
multiplier while ``k < early``) and ``p`` (promotion once ``k >= minimum``), the clocks of
``sim.model.careers`` give exactly ``stay = exp(-(e+p))``, ``exit = e/(e+p) (1 - stay)``,
``promote = p/(e+p) (1 - stay)``; the promoted enter the target stage in class 0. In a fixed
stage the dropout hazard ``-ln(1-q)/L`` acts first; who is still there at the end goes on with
the continuation probability or leaves. The early-tenure multiplier applies to career stages
only: a fixed stage's dropout is the stated probability.

**The police's two tracks.** Students are one fixed stage of ``student_months`` whose
survivors all become officers. Politikadets (cadets) are a career stage of their own: intake in
March and September (two classes a year), attrition ``cadets.attrition`` (women x ratio, early
multiplier as any career stage) and, once ``course_months`` are done, the hazard
``to_academy_rate`` (the same for women and men) into the student stage's class 0.

**DEMA's pool.** External members have no stage attrition: they leave DEMA's books by
withdrawing from the pool at ``leave_rate`` (no women's ratio, no early multiplier), in the
pool step at phase 0.4 of the month; between two censuses that is one factor
``exp(-leave_rate/12)`` on ``x + R``, the same place as ``P``, so it is a row of ``P``. Nobody
external may be posted (a posted member does not withdraw): the stationary scenario has no
DEMA posts. A pool kept at ``size`` by recruitment depends on the staff's membership, which the
chain does not track: the closed form needs ``pool.size = 0``.

**Initial population.** Women are binomial with the stated share. Tenure is exponential with
mean ``mu`` months (one year for cadets), so the class is ``floor(T)``: geometric,
``P(k) = exp(-k/mu)(1-exp(-1/mu))`` with the tail folded into ``K``. Police students have
``done ~ U(0, L)``, which makes the class ``floor(done)`` uniform on ``0..L-1``.

**Intakes.** Fixed recruitment replays the simulator's carried fractions (deterministic), times
the women's share. The draft takes volunteers first: while volunteers surely fall short of the
places (by more than 6 standard deviations), women are exactly the women volunteers (women are
not in the lottery: ``equal_from = "never"``, so the registration effect does not act) and men
fill the rest; when volunteers surely exceed them, women are a hypergeometric draw among
volunteers, whose mean is taken as the ratio of means (error O(1/n), far below Monte Carlo
error). Anything in between is refused.

**Establishments (mean field).** With posts the tick is no longer linear; ``T`` applies ``P``
and then, as ``Agency.careers_step`` does:

* *capacity-limited continuation*: the continuers into a stage with posts (the conscripts'
  next stage) are ``min(want, places)``, ``want`` the expected completers who want to go on
  and ``places = posts - H + int(moves * gap / 12)`` (``Agency.capacity``: ``H`` the stage's
  heads before the tick, ``moves`` its expected outflow in the previous calendar year, so far
  in the first, ``gap`` half the months between completions; ``E[int(.)]`` is averaged over
  the integers near ``moves``, weighted as a normal with Poisson variance); the continuers'
  women are ``want``'s, scaled;
* *appointment*: an upper stage with posts receives ``posts - S`` (``S`` its expected
  survivors of the tick) from the eligible of its source stage(s) (``k >= minimum`` after the
  tick), women with odds ``women_promotion_ratio`` among them by Manly's mean (below), within
  a gender uniformly over the states; those edges have no promotion hazard;
* *recruitment pulls*: recruits are the fixed ones plus ``max(0, posts - E[stock])``; the
  police academy's admissions add ``PoliceAgency.admissions_gap`` at the expected heads.

Where the expectation of a non-linear function is taken as the function of expectations, the
closed form is exact only in the regime it assumes. It is exact for the head counts when the
regime is sure: an appointed stage that starts at or below its posts holds them exactly
(``S <= posts`` always, so appointments are ``posts - S`` and the stock *is* the posts, with
enough eligible); continuers are exactly ``places`` when ``want`` surely exceeds them and the
places are surely positive; a pull is exactly ``posts - stock`` when the stock is surely below
the posts, and nothing when surely above (the tests check the regime in every replication).
The split by gender is then a ratio of expectations (``E[V W/(W+M)]`` taken as
``E[V] E[W]/E[W+M]``, with ``V`` the vacancies or places and ``W``, ``M`` the eligible women
and men), whose error is the covariance of a ratio of counts of hundreds or thousands: O(1/n)
of the women appointed, a few hundredths of a person a month against Monte Carlo standard
errors of whole persons. The admissions gap, a forecast rounded to whole students, is
mean-field in the same sense (``E[round(X)] ~ E[X]`` for a spread of many students).
``women_appointment_share`` (women first, rounded up per month) has no such closed form
(``E[ceil(sV)]`` depends on the distribution of ``V``) and is refused.

**Deployment.** For one destination with ``N`` posts rotated every ``rho`` months (all posts at
once), every rotation sends ``N`` people as long as the expected available pool exceeds them
several times over. With ``rho + rest >= 24`` (``rest`` the destination's own
``rest_months`` or else the agency's) nobody can be sent twice in a calendar year, so the
distinct persons deployed in year ``Y`` are exactly those sent in ``Y``'s rotations plus those
still abroad after January's rotations (sent in ``Y-1``, survivors of attrition):

    D(Y) = N * rotations(Y) + sum over cohorts abroad on 1 January of their survivors.

A cohort sent at month ``a`` is a state vector ``c(a)`` that moves with ``P`` like everyone
(promotion keeps people abroad; attrition empties posts until the next rotation). Who is sent
is a mean-field step: the available pool ``A(a)`` is the expected eligible population after
the month's intakes, in the states whose tenure class has done the stage's training months and
the destination's ``min_years_in_stage`` (``k >= ready``, as ``month - since >= ready``),
minus every cohort still abroad or resting (``m < a + rho + rest``); women are drawn with odds
``w`` (Wallenius' urn), whose mean ``k_w`` solves Manly's equation
``1 - k_w / W = (1 - (N - k_w) / M) ** w`` (exact for ``w = 1``: hypergeometric); within a
gender the draw is uniform, so the cohort is ``k_w A_w / W + k_m A_m / M``. Women's share among
the distinct deployed is the ratio of the expected women and persons. The mean-field steps
(expectation of a ratio taken as a ratio of expectations) err by O(1/pool), well inside the
Monte Carlo error of the tests. Deployment needs a linear chain (no establishments): an
appointment can take someone abroad to the upper stage, which a cohort moving with ``P``
would not follow.
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
from sim.scenario.schema import (ArmedForces, Careers, Conscription, Dema, DemaPool, Police,
                                 Recruitment, Scenario, Section)
from sim.model.series import AF, DEMA, POLICE, STAGES, DESTINATIONS

if TYPE_CHECKING:
    from sim.scenario.schema import DatedNumber

SURE = 6.0   # standard deviations that make a draft regime certain (odds < 1e-9)


# -- the stationary scenario -----------------------------------------------------------------

# Constant intakes with a closed form, used by the cross-checks (tests/test_analytic.py and
# ``python -m sim.analysis.manpower``): fixed recruits instead of establishment pulls, volunteers
# well below the draft's places, a cadet class at the start, no DEMA posts (a posted external
# member does not withdraw). Test settings, not domain figures.
STATIONARY_LEVERS: dict = {
    "name": "stationary", "start_year": 2020, "horizon": 2025, "seed": 7,
    "armed_forces": {"recruitment": {"recruits": 650},
                     "conscription": {"volunteer_rate_men": 0.05}},
    "dema": {"uniformed_recruitment": {"recruits": 50}, "civilian_recruitment": {"recruits": 45},
             "pool": {"external_recruits": 10}, "conscription": {"volunteer_rate_men": 0.003},
             "deployment": {"eu_ucpm": {"positions": 0}, "un": {"positions": 0},
                            "nato": {"positions": 0}}},
    "police": {"civilian_recruitment": {"recruits": 400}, "academy": {"intake": 700},
               "initial": {"cadets": 120}},
}


def stationary_scenario(extra: dict | None = None, pulls: bool = False) -> Scenario:
    """:data:`STATIONARY_LEVERS` (deep-merged with ``extra``) on the schema defaults, frozen
    with :func:`stationary`."""
    return stationary(Scenario.model_validate(merge(STATIONARY_LEVERS, extra or {})),
                      pulls=pulls)


def stationary(scenario: Scenario, at: float | None = None, pulls: bool = False) -> Scenario:
    """The scenario with every dated lever frozen at its value at month ``at`` (default: the
    start) and women outside the draft lottery (``equal_from = "never"``). Unless ``pulls``,
    every establishment is 0 (recruitment and admissions are the fixed numbers only, promotion
    is a hazard, the DEMA pool has no size to keep), so the chain is linear; with ``pulls`` the
    scenario's (frozen) establishments stay."""
    month = scenario.start_year * 12 if at is None else at
    return _flatten(scenario, month, pulls)


S = TypeVar("S", bound=Section)


def _flatten(block: S, month: float, pulls: bool) -> S:
    update: dict[str, Any] = {}
    for name in type(block).model_fields:
        value = getattr(block, name)
        if isinstance(value, Dated):
            update[name] = Dated.constant(value.at(month))
            if not pulls and (name.startswith("establishment")
                              or (isinstance(block, DemaPool) and name == "size")):
                update[name] = Dated.constant(0.0)
        elif isinstance(value, Section):
            update[name] = _flatten(value, month, pulls)
        elif name == "equal_from":
            update[name] = None
    return block.model_copy(update=update)


# -- the chain ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Appoint:
    """An upper stage held at its posts by appointment from its source stage(s)."""

    to: int
    sources: tuple[int, ...]
    posts: float
    minimum: int
    weight: float


@dataclass(frozen=True)
class Limit:
    """A stage with posts that takes continuers from a fixed stage up to its open places."""

    stage: int
    posts: float
    gap: float            # half the months between completions (Agency.capacity)


@dataclass
class Chain:
    """States, the monthly transition matrix and the initial population of one agency."""

    agency: str
    stages: tuple[str, ...]
    first_year: int = 0
    stage: list[int] = field(default_factory=list)     # per state
    woman: list[int] = field(default_factory=list)
    tenure: list[int] = field(default_factory=list)
    index: dict[tuple[int, int, int], int] = field(default_factory=dict)
    P: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    C: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))   # completions into limits
    x0: np.ndarray = field(default_factory=lambda: np.zeros(0))
    appoint: tuple[Appoint, ...] = ()
    limits: tuple[Limit, ...] = ()

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

    @property
    def linear(self) -> bool:
        return not self.appoint and not self.limits

    def in_stage(self, *stages: int) -> np.ndarray:
        return np.isin(np.array(self.stage), stages)


@dataclass(frozen=True)
class Stage:
    """What the chain needs to know about a stage (hazards per month, by gender)."""

    attrition: tuple[float, float]
    promotion: tuple[float, float] = (0.0, 0.0)
    promote_to: str | None = None
    minimum: int = 0                               # months in stage before promotion
    early: bool = True                             # the early-tenure multiplier applies
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
    """Each stage's monthly hazards, read from the scenario's parameters (a promotion edge
    into a stage with posts has no hazard: appointments fill it)."""
    if agency == AF:
        p = scenario.armed_forces
        c, k = p.careers, p.conscription
        ratio = _const(c.women_attrition_ratio)
        return {
            "conscript": _conscript_stage(k, after="rank_and_file"),
            "rank_and_file": Stage(_pair(_const(c.attrition_rank_and_file), ratio),
                                   _prom(c, _const(c.establishment_leaders)), "leader",
                                   _minimum(c)),
            "leader": Stage(_pair(_const(c.attrition_leaders), ratio)),
        }
    if agency == DEMA:
        p = scenario.dema
        c, k = p.careers, p.conscription
        ratio, prom = _const(c.women_attrition_ratio), _prom(c, _const(c.establishment_managers))
        leave = _const(p.pool.leave_rate) / 12
        return {
            "conscript": _conscript_stage(k, after="uniformed"),
            "uniformed": Stage(_pair(_const(c.attrition_uniformed), ratio), prom, "manager",
                               _minimum(c)),
            "civilian": Stage(_pair(_const(c.attrition_civilian), ratio), prom, "manager",
                              _minimum(c)),
            "manager": Stage(_pair(_const(c.attrition_managers), ratio)),
            # Withdrawal from the pool (DemaAgency.pool_step): one rate, no ratio, no early.
            "external": Stage((leave, leave), early=False),
        }
    p = scenario.police
    c, a, kd = p.careers, p.academy, p.cadets
    ratio = _const(c.women_attrition_ratio)
    Ls = _whole(_const(a.student_months), "student_months")
    to_academy = _const(kd.to_academy_rate) / 12
    return {
        "student": Stage((dropout_hazard(_const(a.dropout_men), Ls),
                          dropout_hazard(_const(a.dropout_women), Ls)), months=Ls,
                         after="officer", continuation=(1.0, 1.0)),
        "cadet": Stage(_pair(_const(kd.attrition), ratio), (to_academy, to_academy), "student",
                       _whole(kd.course_months, "course_months")),
        "officer": Stage(_pair(_const(c.attrition_officers), ratio),
                         _prom(c, _const(c.establishment_leaders)), "leader", _minimum(c)),
        "leader": Stage(_pair(_const(c.attrition_leaders), ratio)),
        "civilian": Stage(_pair(_const(c.attrition_civilians), ratio)),
    }


def _prom(c: Careers, posts: float) -> tuple[float, float]:
    """The promotion hazards (men, women); none where the upper stage has posts."""
    if posts > 0:
        return 0.0, 0.0
    rate = _const(c.promotion_rate)
    return rate / 12, rate * _const(c.women_promotion_ratio) / 12


def _minimum(c: Careers) -> int:
    return _whole(c.promotion_min_years * 12, "promotion_min_years * 12")


def _careers_block(scenario: Scenario, agency: str) -> Careers:
    return _agency_block(scenario, agency).careers


def _agency_block(scenario: Scenario, agency: str) -> ArmedForces | Dema | Police:
    blocks: dict[str, ArmedForces | Dema | Police] = {
        AF: scenario.armed_forces, DEMA: scenario.dema, POLICE: scenario.police}
    return blocks[agency]


def _establishments(scenario: Scenario, agency: str,
                    stages: tuple[str, ...]) -> tuple[tuple[Appoint, ...], tuple[Limit, ...]]:
    """The appointed upper stage and the capacity-limited stage, where they have posts."""
    c = _careers_block(scenario, agency)
    if _const(c.women_appointment_share) is not None:
        raise ValueError("women_appointment_share appoints women first, rounded up each "
                         "month: not covered by the closed form")
    to, sources, lever = {AF: ("leader", ("rank_and_file",), "establishment_leaders"),
                          DEMA: ("manager", ("uniformed", "civilian"), "establishment_managers"),
                          POLICE: ("leader", ("officer",), "establishment_leaders")}[agency]
    appoint: tuple[Appoint, ...] = ()
    posts = _const(getattr(c, lever))
    if posts > 0:
        appoint = (Appoint(stages.index(to), tuple(stages.index(s) for s in sources),
                           float(round(posts)), _minimum(c), _const(c.women_promotion_ratio)),)
    limits: tuple[Limit, ...] = ()
    if agency in (AF, DEMA):
        p = scenario.armed_forces if agency == AF else scenario.dema
        rec = p.recruitment if isinstance(p, ArmedForces) else p.uniformed_recruitment
        posts = _const(rec.establishment)
        if posts > 0:
            gap = (12 / p.conscription.intakes_per_year) / 2
            limits = (Limit(stages.index("rank_and_file" if agency == AF else "uniformed"),
                            float(round(posts)), gap),)
    return appoint, limits


def chain(scenario: Scenario, agency: str, depth: int = 0) -> Chain:
    """The agency's Markov chain: states, ``P`` and the expected initial population; career
    stages keep tenure classes up to at least ``depth`` months (deployment's readiness)."""
    stages = STAGES[agency]
    table = stage_table(scenario, agency)
    c = _careers_block(scenario, agency)
    early = _whole(c.early_years * 12, "early_years * 12")
    tops = {name: max(early, st.minimum, depth) for name, st in table.items()}
    ch = Chain(agency, stages, scenario.start_year)
    for s, name in enumerate(stages):
        classes = table[name].months or tops[name] + 1
        for g in (0, 1):
            for k in range(classes):
                ch.add(s, g, k)
    ch.appoint, ch.limits = _establishments(scenario, agency, stages)
    limited = {lim.stage for lim in ch.limits}
    n = len(ch.stage)
    P = np.zeros((n, n))
    C = np.zeros((n, n))
    for i in range(n):
        s, g, k = ch.stage[i], ch.woman[i], ch.tenure[i]
        st = table[stages[s]]
        early_on = k < early and st.months is None and st.early
        e = st.attrition[g] * (c.early_multiplier if early_on else 1.0)
        p = st.promotion[g] if st.promote_to is not None and k >= st.minimum else 0.0
        stay, promote = _competing(e, p)
        if st.months is None:
            P[i, ch.index[s, g, min(k + 1, tops[stages[s]])]] += stay
            if promote:
                assert st.promote_to is not None
                P[i, ch.index[stages.index(st.promote_to), g, 0]] += promote
        elif k + 1 < st.months:
            P[i, ch.index[s, g, k + 1]] += stay
        elif st.after is not None:
            j = ch.index[stages.index(st.after), g, 0]
            P[i, j] += stay * st.continuation[g]
            if stages.index(st.after) in limited:
                C[i, j] += stay * st.continuation[g]
    ch.P, ch.C = P, C
    ch.x0 = _initial(scenario, agency, ch, table, tops)
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
             tops: dict[str, int]) -> np.ndarray:
    x = np.zeros(len(ch.stage))

    def career(stage: str, total: int, share: float, mean_years: float) -> None:
        s, top = ch.stages.index(stage), tops[stage]
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
        career("cadet", i.cadets, i.women_share_cadets, 1.0)   # as PoliceAgency.populate
        for stage, total, share in (("officer", i.officers, i.women_share_officers),
                                    ("leader", i.leaders, i.women_share_leaders),
                                    ("civilian", i.civilians, i.women_share_civilians)):
            career(stage, total, share, i.mean_tenure_years)
    return x


# -- one tick -------------------------------------------------------------------------------


class Ticks:
    """The careers tick ``T`` (module doc): ``P``, then capacity-limited continuation and
    appointments in the mean field, keeping the expected moves out of limited stages by year
    (``Agency.capacity`` reads the previous year's)."""

    def __init__(self, ch: Chain):
        self.ch = ch
        self.women = np.array(ch.woman) == 1
        self.tenure = np.array(ch.tenure)
        self.moves: dict[tuple[int, int], float] = {}     # (stage, year index) -> expected
        self.appointed = np.zeros(len(ch.stages))         # per source stage, this tick

    def __call__(self, v: np.ndarray, month: int) -> np.ndarray:
        ch = self.ch
        y = v @ ch.P
        if ch.limits:
            flow = v @ ch.C
            y -= flow
            year = max(0, (month - 1) // 12 - ch.first_year - 1)
            for lim in ch.limits:
                into = ch.in_stage(lim.stage)
                want = flow[into].sum()
                heads = v[into].sum()
                g = _floor_mean(self.moves.get((lim.stage, year), 0.0), lim.gap)
                places = max(0.0, lim.posts - heads + g)
                scale = min(1.0, places / want) if want > 0 else 0.0
                y += np.where(into, flow * scale, 0.0)
        self.appointed[:] = 0.0
        for a in ch.appoint:
            y = self._appoint(a, y)
        self._count_moves(v, y, month)
        return y

    def _appoint(self, a: Appoint, y: np.ndarray) -> np.ndarray:
        ch = self.ch
        vacancies = a.posts - y[ch.in_stage(a.to)].sum()
        if vacancies <= 0:
            return y
        eligible = np.where(ch.in_stage(*a.sources) & (self.tenure >= a.minimum), y, 0.0)
        W, M = eligible[self.women].sum(), eligible[~self.women].sum()
        if W + M < 3 * vacancies:
            raise ValueError(f"eligible ({W + M:.0f}) are not ample for {vacancies:.0f} "
                             "vacancies")
        k_w = wallenius_mean(W, M, vacancies, a.weight)
        taken = np.where(self.women, eligible * (k_w / W if W else 0.0),
                         eligible * ((vacancies - k_w) / M if M else 0.0))
        for s in a.sources:
            self.appointed[s] += taken[ch.in_stage(s)].sum()
        y = y - taken
        y[ch.index[a.to, 1, 0]] += k_w
        y[ch.index[a.to, 0, 0]] += vacancies - k_w
        return y

    def _count_moves(self, v: np.ndarray, y: np.ndarray, month: int) -> None:
        """Expected moves out of each limited stage at this tick (event month ``month - 1``)."""
        year = (month - 1) // 12 - self.ch.first_year
        for lim in self.ch.limits:
            into = self.ch.in_stage(lim.stage)
            stayed = (np.where(into, v, 0.0) @ self.ch.P)[into].sum()
            out = v[into].sum() - stayed + self.appointed[lim.stage]
            self.moves[lim.stage, year] = self.moves.get((lim.stage, year), 0.0) + out


def _floor_mean(moves: float, gap: float) -> float:
    """``E[int(M / 12 * gap)]`` for a count ``M`` of mean ``moves`` (normal weights with Poisson
    variance over the integers: the fractional part averages out over the lattice)."""
    if moves <= 0:
        return 0.0
    sd = math.sqrt(max(moves, 1.0))
    m = np.arange(max(0, math.floor(moves - 8 * sd)), math.ceil(moves + 8 * sd) + 1)
    w = np.exp(-0.5 * ((m - moves) / sd) ** 2)
    return float((w * np.floor(m / 12 * gap)).sum() / w.sum())


# -- intakes --------------------------------------------------------------------------------


class Intakes:
    """Expected entrants by month (``R(m)``), replaying the simulator's carried fractions."""

    def __init__(self, scenario: Scenario, agency: str, ch: Chain):
        self.scenario, self.agency, self.ch = scenario, agency, ch
        self.carry: dict[str, float] = {}
        self.pulls = False

    def per_month(self, key: str, yearly: float, share: float = 1 / 12) -> int:
        acc = self.carry.get(key, 0.0) + yearly * share
        whole = int(acc)
        self.carry[key] = acc - whole
        return whole

    def enter(self, r: np.ndarray, stage: str, women: float, men: float) -> None:
        s = self.ch.stages.index(stage)
        r[self.ch.index[s, 1, 0]] += women
        r[self.ch.index[s, 0, 0]] += men

    def heads(self, x: np.ndarray, *stages: str) -> float:
        return float(x[self.ch.in_stage(*(self.ch.stages.index(s) for s in stages))].sum())

    def recruit(self, r: np.ndarray, key: str, rec: Recruitment, stage: str,
                x: np.ndarray) -> None:
        n: float = self.per_month(key, _const(rec.recruits))
        posts = _const(rec.establishment)
        if posts > 0:      # the pull, at the expected census (mean field: module doc)
            self.pulls = True
            n += max(0.0, round(posts) - self.heads(x, stage))
        share = _const(rec.women_share)
        self.enter(r, stage, n * share, n * (1 - share))

    def draft(self, r: np.ndarray, c: Conscription, month: int) -> None:
        if month % 12 not in conscription.intake_months(c.intakes_per_year):
            return
        share = 1 / c.intakes_per_year
        places = self.per_month("places", _const(c.places), share)
        equal = c.equal_from is not None
        women_rate = conscription.women_volunteer_rate(
            _const(c.volunteer_rate_women), _const(c.women_registration_effect), equal)
        women, men = expected_draft(places, int(c.cohort_men * share),
                                    int(c.cohort_women * share), _const(c.volunteer_rate_men),
                                    women_rate, equal)
        self.enter(r, "conscript", women, men)

    def at(self, month: int, x: np.ndarray) -> np.ndarray:
        """Intakes of ``month``, given the expected census ``x`` of that month."""
        r = np.zeros(len(self.ch.stage))
        s = self.scenario
        if self.agency == AF:
            self.draft(r, s.armed_forces.conscription, month)
            self.recruit(r, "direct", s.armed_forces.recruitment, "rank_and_file", x)
        elif self.agency == DEMA:
            d = s.dema
            self.draft(r, d.conscription, month)
            self.recruit(r, "uniformed", d.uniformed_recruitment, "uniformed", x)
            self.recruit(r, "civilian", d.civilian_recruitment, "civilian", x)
            if _const(d.pool.size) > 0:
                raise ValueError("pool.size > 0: the pull depends on the staff's membership of "
                                 "the pool, which the chain does not track")
            n = self.per_month("external", _const(d.pool.external_recruits))
            share = _const(d.pool.external_women_share)
            self.enter(r, "external", n * share, n * (1 - share))
        else:
            p = s.police
            a, k = p.academy, p.cadets
            if month % 12 in conscription.intake_months(a.intakes_per_year):
                admitted = (self.per_month("academy", _const(a.intake), 1 / a.intakes_per_year)
                            + self.admissions_gap(x))
                share = _const(a.women_share)
                self.enter(r, "student", admitted * share, admitted * (1 - share))
            if month % 12 in conscription.intake_months(k.intakes_per_year, first=2):
                n = self.per_month("cadets", _const(k.intake), 1 / k.intakes_per_year)
                share = _const(k.women_share)
                self.enter(r, "cadet", n * share, n * (1 - share))
            self.recruit(r, "civilian", p.civilian_recruitment, "civilian", x)
        return r

    def admissions_gap(self, x: np.ndarray) -> float:
        """``PoliceAgency.admissions_gap`` at the expected heads (mean field)."""
        a, c = self.scenario.police.academy, self.scenario.police.careers
        posts = _const(a.establishment)
        if posts <= 0:
            return 0.0
        self.pulls = True
        length = _const(a.student_months)
        officers, leaders = self.heads(x, "officer"), self.heads(x, "leader")
        leaving = (officers * _const(c.attrition_officers)
                   + leaders * _const(c.attrition_leaders)) * length / 12
        graduating = self.heads(x, "student") * (1 - _const(a.dropout_men))
        return max(0.0, posts - officers - leaders - graduating + leaving)


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


@dataclass
class Expected:
    """The chain, the expected census ``x[i, state]`` and intakes ``R[i, state]`` for every
    month ``start + i`` from the start to the first month after the horizon, and whether any
    pull or establishment made the recursion mean-field."""

    chain: Chain
    x: np.ndarray
    R: np.ndarray
    linear: bool


def expected_run(scenario: Scenario, agency: str, depth: int = 0) -> Expected:
    ch = chain(scenario, agency, depth)
    start, end = scenario.start_year * 12, (scenario.horizon + 1) * 12
    intakes = Intakes(scenario, agency, ch)
    tick = Ticks(ch)
    n = end - start + 1
    x = np.zeros((n, len(ch.stage)))
    R = np.zeros_like(x)
    x[0] = ch.x0
    for i in range(1, n):
        R[i - 1] = intakes.at(start + i - 1, x[i - 1])
        x[i] = tick(x[i - 1] + R[i - 1], start + i)
    return Expected(ch, x, R, ch.linear and not intakes.pulls)


def expected_states(scenario: Scenario, agency: str,
                    depth: int = 0) -> tuple[Chain, np.ndarray, np.ndarray]:
    """The chain, the expected census ``x[i, state]`` and intakes ``R[i, state]`` for every
    month ``start + i`` from the start to the first month after the horizon."""
    e = expected_run(scenario, agency, depth)
    return e.chain, e.x, e.R


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
    rho = d.rotation_months
    own = _const(d.rest_months)
    rest = _const(dep.rest_months) if own is None else own
    if rho + rest < 24:
        raise ValueError("rotation_months + rest_months < 24: people could deploy twice a year")
    if _const(d.target_share) is not None:
        raise ValueError("target_share selects women first: not covered by the closed form")
    w = _const(dep.women_selection_weight)
    training: dict[str, float] = dict(dep.training_months)
    ready = {s: _whole(max(training.get(s, 0.0), 12 * d.min_years_in_stage),
                       f"{s}'s readiness") for s in stages}
    e = expected_run(scenario, agency, max(ready.values()))
    if not e.linear:
        raise ValueError("establishments or pulls: deployment needs the linear chain")
    ch, x, R = e.chain, e.x, e.R
    tenure, stage = np.array(ch.tenure), np.array(ch.stage)
    ok = np.zeros(len(ch.stage), bool)
    for s in stages:
        ok |= (stage == ch.stages.index(s)) & (tenure >= ready[s])
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
            pool = x[i] + R[i]
            for a, v in cohorts:
                if month < a + rho + rest:
                    pool = pool - v
            cohort = _select(pool * ok, women, N, w)
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


# (agency, destination, women's odds, min_years_in_stage, the destination's own rest)
DEPLOY_CASES = ((AF, "nato", 1.0, 0.0, False), (AF, "nato", 3.0, 0.0, False),
                (POLICE, "frontex", 1.0, 0.0, False), (POLICE, "frontex", 3.0, 0.0, False),
                (AF, "nato", 3.0, 4.0, True), (POLICE, "frontex", 1.0, 6.0, True))


def deployment_scenario(agency: str, destination: str, weight: float, seniority: float = 0.0,
                        own_rest: bool = False) -> Scenario:
    """One destination with 150 posts, 5-month rotations from February (so a rotation is
    abroad on 1 January), 20 months' rest, women's selection odds ``weight``, seniority
    ``min_years_in_stage``; the rest is the agency's (the destination's "off"), or with
    ``own_rest`` the destination's own 20 months over an agency's 0. The agency's training
    months are the schema's (6 months for the Armed Forces' rank and file)."""
    dep: dict = {d: {"positions": 0} for d in DESTINATIONS[agency] if d != destination}
    dep[destination] = {"positions": 150, "rotation_months": 5, "first_month": 2,
                        "min_years_in_stage": seniority,
                        "rest_months": 20 if own_rest else "off"}
    dep.update(rest_months=0 if own_rest else 20, women_selection_weight=weight)
    return stationary_scenario({agency: {"deployment": dep}})


# Establishments held in the mean field (module doc), each in a regime that is sure.
# Appointment: an upper stage at its posts (the initial head count), women appointed with odds
# above 1; the police's also pulls admissions to the officer establishment (no fixed intake).
APPOINTED: dict[str, dict] = {
    AF: {"armed_forces": {"careers": {"establishment_leaders": 6900,
                                      "women_promotion_ratio": 2.0}}},
    DEMA: {"dema": {"careers": {"establishment_managers": 60, "women_promotion_ratio": 3.0}}},
    POLICE: {"police": {"careers": {"establishment_leaders": 1000,
                                    "women_promotion_ratio": 2.0},
                        "academy": {"establishment": 11400, "intake": 0}}},
}
# Capacity-limited continuation: one intake a year and a 12-month service (the first
# completions, in February 2021, read a whole year's moves; places are then half a year's
# outflow), 5,900 rank-and-file posts under a stock that recruits just short of its outflow
# keep above them (by about 180 or more at every census), so the continuers always fill the
# open places (about 820 want to go on, 260-285 places) and the recruitment pull never acts.
LIMITED_LEVERS: dict = {"armed_forces": {"recruitment": {"establishment": 5900,
                                                         "recruits": 770},
                                         "conscription": {"service_months": 12,
                                                          "intakes_per_year": 1}}}


def establishment_scenario(levers: dict) -> Scenario:
    """:data:`STATIONARY_LEVERS` with only the posts in ``levers`` (every other establishment
    0), kept by :func:`stationary` (``pulls=True``)."""
    zero: dict = {
        "armed_forces": {"recruitment": {"establishment": 0},
                         "careers": {"establishment_leaders": 0}},
        "dema": {"uniformed_recruitment": {"establishment": 0},
                 "civilian_recruitment": {"establishment": 0},
                 "careers": {"establishment_managers": 0}, "pool": {"size": 0}},
        "police": {"civilian_recruitment": {"establishment": 0},
                   "careers": {"establishment_leaders": 0}, "academy": {"establishment": 0}}}
    return stationary_scenario(merge(zero, levers), pulls=True)


def _yearly_means(monthly: np.ndarray) -> np.ndarray:
    """``[..., month, stage, woman]`` censuses -> ``[..., year, stage, woman]`` means."""
    body = monthly[..., :-1, :, :]
    return body.reshape(*body.shape[:-3], -1, 12, *body.shape[-2:]).mean(axis=-3)


def _stock_z(s: Scenario, agency: str, replications: int, what: str) -> None:
    import time

    t = time.perf_counter()
    sims = np.array([simulate_agency(s, r, agency).stock for r in range(replications)],
                    np.float64)
    exp = expected_stocks(s, agency)
    z_avg = z_scores(_yearly_means(sims), _yearly_means(exp))
    z_end = z_scores(sims[:, 12::12], exp[12::12])
    print(f"{what:24s} stocks: {z_avg.size} yearly means, max |z| {np.abs(z_avg).max():.2f};"
          f" {z_end.size} year-end stocks, max |z| {np.abs(z_end).max():.2f}"
          f" ({replications} replications, {time.perf_counter() - t:.1f} s)")


def _report(replications: int) -> None:
    """Print the largest |z| of the closed-form comparisons (docs/verification.md's figures)."""
    s = stationary_scenario()
    for agency in (AF, DEMA, POLICE):
        _stock_z(s, agency, replications, agency)
    for agency, levers in APPOINTED.items():
        _stock_z(establishment_scenario(levers), agency, replications, f"{agency} appointed")
    _stock_z(establishment_scenario(LIMITED_LEVERS), AF, replications, "AF limited continuation")
    for agency, dest, w, seniority, own in DEPLOY_CASES:
        s = deployment_scenario(agency, dest, w, seniority, own)
        e = expected_deployed(s, agency, dest)
        j = DESTINATIONS[agency].index(dest)
        sims = np.array([simulate_agency(s, r, agency).deployed[:len(e.years), j]
                         for r in range(replications)], np.float64)
        zs = [np.abs(z_scores(x, y)).max() for x, y in (
            (sims.sum(-1), e.total), (sims[..., 1], e.women),
            (sims[..., 1] / sims.sum(-1), e.share))]
        print(f"{agency:13s} {dest} w={w:g} seniority={seniority:g}y own rest={own}: "
              f"distinct/yr {e.total.round(1)}, women's share {e.share.round(4)}; max |z| "
              f"persons {zs[0]:.2f}, women {zs[1]:.2f}, share {zs[2]:.2f}")


if __name__ == "__main__":
    import sys

    _report(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
