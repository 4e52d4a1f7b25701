"""The three agencies' pipelines: their stages, who enters where, who can deploy.

Each agency owns a :class:`~sim.model.roster.Roster`, a random stream per process, and the census
arrays its processes fill. The processes themselves are SimPy generators (see
``sim.model.replication``) that run on a monthly clock at fixed phases, so that within a month
careers come first, then the census, then intakes, then deployments:

    Armed Forces  conscription -> conscript -> rank_and_file -> leader; direct recruitment
    DEMA          conscription -> conscript -> uniformed; civilian; -> manager; the pool
    Police        academy -> student -> cadet -> officer -> leader; civilian
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from sim.model import careers, conscription, deployment
from sim.model.careers import CareerRules
from sim.scenario.dated import Dated
from sim.model.roster import GONE, Roster
from sim.scenario.schema import (ArmedForces, Careers, Conscription, Dema, Deployment, Police,
                          Recruitment, Scenario, Section)
from sim.scenario.schema import Destination as Posts
from sim.model.series import AF, DEMA, DESTINATIONS, POLICE, STAGES

PROCESSES = ("initial", "conscription", "recruitment", "attrition", "promotion", "deployment",
             "pool")
AGENCIES = (AF, DEMA, POLICE)


def streams(seed: int, replication: int, agency: str) -> dict[str, np.random.Generator]:
    """One generator per process, keyed by (replication, agency, process).

    Keys rather than a spawn order make each stream independent of every other lever: changing
    the number of women recruited leaves the attrition and deployment streams untouched.
    """
    a = AGENCIES.index(agency)
    return {name: np.random.Generator(np.random.PCG64(
        np.random.SeedSequence(seed, spawn_key=(replication, a, i))))
        for i, name in enumerate(PROCESSES)}


@dataclass(frozen=True)
class Destination:
    name: str
    index: int
    eligible: np.ndarray      # per stage code: may people in it be sent here?


class Agency:
    """Shared machinery; subclasses say what the stages are and how people enter."""

    name: str

    def __init__(self, scenario: Scenario, replication: int):
        self.scenario = scenario
        self.first_year = scenario.start_year
        self.n_years = scenario.horizon - scenario.start_year + 1
        self.start = self.first_year * 12
        self.end = (scenario.horizon + 1) * 12
        self.stages = STAGES[self.name]
        self.dest_names = DESTINATIONS[self.name]
        self.rng = streams(scenario.seed, replication, self.name)
        self.roster = Roster(len(self.stages), len(self.dest_names), self.first_year,
                             self.n_years)
        n_months = self.end - self.start + 1
        self.stock = np.zeros((n_months, len(self.stages), 2), np.int64)
        self.pool_stock = np.zeros((n_months, 2), np.int64)
        self.posted = np.zeros((n_months, len(self.dest_names), 2), np.int64)
        self.completed = np.zeros((self.n_years + 1, len(self.stages), 2), np.int64)
        self.deployed = np.zeros((self.n_years + 1, len(self.dest_names), 2), np.int64)
        self.deployed_any = np.zeros((self.n_years + 1, 2), np.int64)
        self.person_events = 0
        self.clocks = careers.Clocks()
        self._rules: CareerRules | None = None
        self._rule_changes = change_months(self.rule_blocks())
        self._carry: dict[str, float] = {}

    def s(self, stage: str) -> int:
        return self.stages.index(stage)

    # -- what subclasses provide -------------------------------------------------------------

    def populate(self) -> None:
        raise NotImplementedError

    def rules(self, month: int) -> CareerRules:
        raise NotImplementedError

    def rule_blocks(self) -> tuple[Section, ...]:
        """The scenario blocks whose levers :meth:`rules` reads."""
        raise NotImplementedError

    def intake(self, month: int) -> None:
        raise NotImplementedError

    def destinations(self) -> Iterator[tuple[Destination, Posts]]:
        raise NotImplementedError

    @property
    def deployment_block(self) -> Deployment:
        raise NotImplementedError

    # -- shared steps --------------------------------------------------------------------------

    def careers_step(self, month: int) -> None:
        before = self.roster.transitions.sum()
        # The tick at ``month`` covers the month just ended: the levers in force then apply.
        if self._rules is None or month - 1 in self._rule_changes:
            self._rules = self.rules(month - 1)
        events = self.clocks.step(self.roster, self._rules, month, self.rng["attrition"],
                                  self.rng["promotion"], self.rng["recruitment"])
        y = self.roster.year_index(month - 1)
        self.completed[y] += events.completed
        self.person_events += int(self.roster.transitions.sum() - before)

    def census(self, month: int) -> None:
        i = month - self.start
        r = self.roster
        self.stock[i] = r.heads
        n = r.n
        if self.name == DEMA:
            members = r.pool[:n] & (r.stage[:n] != GONE)
            self.pool_stock[i] = np.bincount(r.woman[:n][members], minlength=2)
        away = r.dest[:n] >= 0
        if away.any():
            idx = r.dest[:n][away].astype(np.int64) * 2 + r.woman[:n][away]
            self.posted[i] = np.bincount(idx, minlength=2 * len(self.dest_names)).reshape(-1, 2)
        if month % 12 == 0 and 4 * (r.n - int(r.heads.sum())) > r.n:
            r.compact()   # once a year, when more than a quarter of the rows are leavers

    def deploy(self, month: int) -> None:
        """Rotations due this month: all come home first, then the new rotations are drawn."""
        block = self.deployment_block
        due = [(d, p) for d, p in self.destinations()
               if not (month % 12 - (p.first_month - 1)) % p.rotation_months]
        if due:
            rest = block.rest_months.at(month)
            for dest, _ in due:
                deployment.send_home(self.roster, dest.index, month, rest)
            free = deployment.available(self.roster, month, pool_only=self.name == DEMA)
            weight = block.women_selection_weight.at(month)
            eligible: dict[bytes, np.ndarray] = {}
            for dest, p in due:
                key = dest.eligible.tobytes()
                if key not in eligible:
                    eligible[key] = np.flatnonzero(
                        free & dest.eligible[self.roster.code[: self.roster.n]])
                rotation = deployment.Rotation(dest.index, int(round(p.positions.at(month))),
                                               weight, p.target_share.at(month), dest.eligible)
                self.person_events += deployment.send(self.roster, rotation, free, eligible[key],
                                                      month, self.rng["deployment"],
                                                      self.deployed, self.deployed_any)
        if month % 12 == 0:
            # Still abroad after this month's rotations: deployed in the new year too.
            deployment.carry_over(self.roster, month, self.deployed, self.deployed_any)

    def _eligible_codes(self, stages: tuple[int, ...]) -> np.ndarray:
        ok = np.zeros(2 * len(self.stages) + 1, bool)
        for i in stages:
            ok[2 * i: 2 * i + 2] = True
        return ok

    # -- helpers for intakes ---------------------------------------------------------------------

    def per_month(self, key: str, yearly: float, share: float = 1 / 12) -> int:
        """Whole people this month from a yearly figure, carrying fractions forward."""
        acc = self._carry.get(key, 0.0) + yearly * share
        whole = int(acc)
        self._carry[key] = acc - whole
        return whole

    def enter(self, women: int, men: int, stage: int, month: int, until: float = np.inf,
              since: np.ndarray | None = None, count: bool = True) -> slice:
        self.person_events += women + men
        return self.roster.add(women, men, stage, month, self.rng["attrition"],
                               self.rng["promotion"], until=until, since=since, count=count)

    def recruit(self, key: str, rec: Recruitment, stage: int, month: int) -> None:
        """Fixed recruits plus the gap to the establishment, split by women's share."""
        n = self.per_month(key, rec.recruits.at(month))
        posts = rec.establishment.at(month)
        if posts > 0:
            in_post = int(self.stock[month - self.start, stage].sum())
            n += max(0, int(round(posts)) - in_post)
        if n:
            women = int(self.rng["recruitment"].binomial(n, rec.women_share.at(month)))
            self.enter(women, n - women, stage, month)

    def call_up(self, c: Conscription, stage: int, month: int) -> None:
        """A conscription intake, if this is an intake month."""
        months = conscription.intake_months(c.intakes_per_year)
        if month % 12 not in months:
            return
        share = 1 / c.intakes_per_year
        places = self.per_month("places", c.places.at(month), share)
        equal = c.equal_from is not None and month >= _month(c.equal_from)
        d = conscription.Draft(places, int(c.cohort_men * share), int(c.cohort_women * share),
                               c.volunteer_rate_men.at(month), c.volunteer_rate_women.at(month),
                               c.fit_rate_men, c.fit_rate_women, equal)
        women, men = conscription.draft(d, self.rng["conscription"])
        self.enter(women, men, stage, month, until=month + c.service_months.at(month))

    def populate_stage(self, stage: int, total: int, women_share: float, mean_years: float,
                       fixed_months: float | None = None) -> slice:
        """Initial stock: women drawn binomially, tenure exponential (or uniform if fixed)."""
        rng = self.rng["initial"]
        women = int(rng.binomial(total, women_share))
        if fixed_months is None:
            tenure = rng.exponential(mean_years * 12, size=total)
            return self.enter(women, total - women, stage, self.start, since=self.start - tenure,
                              count=False)
        done = rng.uniform(0, fixed_months, size=total)
        rows = self.enter(women, total - women, stage, self.start, since=self.start - done,
                          count=False)
        self.roster.until[rows] = self.start + fixed_months - done
        return rows

    def base_rules(self, c: Careers, month: int, attrition: dict[str, float],
                   promotion: dict[str, str]) -> dict[str, np.ndarray]:
        """Hazard tables from a Careers block: men's rates, women's ratios, promotion edges."""
        n = len(self.stages)
        att = np.zeros(2 * n + 1)
        prom = np.zeros(2 * n + 1)
        pmin = np.full(2 * n + 1, np.inf)
        to = np.full(n, -1, np.int64)
        ratio = c.women_attrition_ratio.at(month)
        for stage, rate in attrition.items():
            i = self.s(stage)
            att[2 * i] = rate / 12
            att[2 * i + 1] = rate * ratio / 12
        p_rate = c.promotion_rate.at(month) / 12
        p_ratio = c.women_promotion_ratio.at(month)
        for source, target in promotion.items():
            i = self.s(source)
            prom[2 * i], prom[2 * i + 1] = p_rate, p_rate * p_ratio
            pmin[2 * i] = pmin[2 * i + 1] = c.promotion_min_years * 12
            to[i] = self.s(target)
        return {"attrition": att, "promotion": prom, "promotion_min": pmin, "promotion_to": to}

    def finish_rules(self, tables: dict[str, np.ndarray], c: Careers,
                     fixed: dict[str, tuple[str | None, float, float, float]]) -> CareerRules:
        """Add fixed-length stages: ``{stage: (next, months, continue_men, continue_women)}``."""
        n = len(self.stages)
        nxt = np.full(n, GONE, np.int64)
        months = np.full(n, np.inf)
        cont = np.zeros(2 * n + 1)
        for stage, (after, length, c_men, c_women) in fixed.items():
            i = self.s(stage)
            nxt[i] = GONE if after is None else self.s(after)
            months[i] = length
            cont[2 * i], cont[2 * i + 1] = c_men, c_women
        # Early-tenure attrition is a career effect: fixed-length stages (conscription, the
        # academy) carry their stated dropout as it is.
        early = np.append(np.where(np.isinf(months), c.early_multiplier, 1.0).repeat(2), 1.0)
        return CareerRules(next_stage=nxt, stage_months=months, continuation=cont,
                           early_months=c.early_years * 12, early_multiplier=c.early_multiplier,
                           early_attrition=early, **tables)

    def dropout(self, tables: dict[str, np.ndarray], stage: str, p_men: float, p_women: float,
                months: float) -> None:
        i = self.s(stage)
        tables["attrition"][2 * i] = careers.dropout_hazard(p_men, months)
        tables["attrition"][2 * i + 1] = careers.dropout_hazard(p_women, months)


def change_months(blocks: tuple[Section, ...]) -> frozenset[int]:
    """Ticks at which any dated lever of the blocks can take a new value."""
    months: set[int] = set()
    for block in blocks:
        for name in type(block).model_fields:
            value = getattr(block, name)
            if not isinstance(value, Dated):
                continue
            pts = value.points
            for i, p in enumerate(pts):
                if p.month == float("-inf"):
                    continue
                months.add(math.ceil(p.month))
                if p.linear and i + 1 < len(pts):
                    months.update(range(math.ceil(p.month), math.ceil(pts[i + 1].month) + 1))
    return frozenset(months)


def _month(day) -> int:
    return day.year * 12 + day.month - 1 + (day.day > 1)


class ArmedForcesAgency(Agency):
    name = AF

    @property
    def p(self) -> ArmedForces:
        return self.scenario.armed_forces

    @property
    def deployment_block(self) -> Deployment:
        return self.p.deployment

    def populate(self) -> None:
        i = self.p.initial
        self.populate_stage(self.s("rank_and_file"), i.rank_and_file,
                            i.women_share_rank_and_file, i.mean_tenure_years)
        self.populate_stage(self.s("leader"), i.leaders, i.women_share_leaders,
                            i.mean_tenure_years)

    def rule_blocks(self) -> tuple[Section, ...]:
        return self.p.careers, self.p.conscription

    def rules(self, month: int) -> CareerRules:
        c, k = self.p.careers, self.p.conscription
        t = self.base_rules(c, month, {"rank_and_file": c.attrition_rank_and_file.at(month),
                                       "leader": c.attrition_leaders.at(month)},
                            {"rank_and_file": "leader"})
        service = k.service_months.at(month)
        self.dropout(t, "conscript", k.dropout_men.at(month), k.dropout_women.at(month), service)
        return self.finish_rules(t, c, {"conscript": (
            "rank_and_file", service, k.continuation_men.at(month),
            k.continuation_women.at(month))})

    def intake(self, month: int) -> None:
        self.call_up(self.p.conscription, self.s("conscript"), month)
        self.recruit("direct", self.p.recruitment, self.s("rank_and_file"), month)

    def destinations(self):
        d = self.p.deployment
        both = (self.s("rank_and_file"), self.s("leader"))
        leaders = (self.s("leader"),)
        for i, name in enumerate(self.dest_names):
            yield Destination(name, i, self._eligible_codes(
                leaders if name == "un_staff_observer" else both)), getattr(d, name)


class DemaAgency(Agency):
    name = DEMA
    STAFF = ("uniformed", "civilian", "manager")

    @property
    def p(self) -> Dema:
        return self.scenario.dema

    @property
    def deployment_block(self) -> Deployment:
        return self.p.deployment

    def populate(self) -> None:
        i = self.p.initial
        for stage, total, share in (("uniformed", i.uniformed, i.women_share_uniformed),
                                    ("civilian", i.civilian, i.women_share_civilian),
                                    ("manager", i.managers, i.women_share_managers)):
            rows = self.populate_stage(self.s(stage), total, share, i.mean_tenure_years)
            self.roster.pool[rows] = self.rng["initial"].random(total) < i.pool_staff_share
        rows = self.populate_stage(self.s("external"), i.pool_external,
                                   i.women_share_pool_external, i.mean_tenure_years)
        self.roster.pool[rows] = True

    def rule_blocks(self) -> tuple[Section, ...]:
        return self.p.careers, self.p.conscription, self.p.pool

    def rules(self, month: int) -> CareerRules:
        c, k = self.p.careers, self.p.conscription
        t = self.base_rules(c, month, {"uniformed": c.attrition_uniformed.at(month),
                                       "civilian": c.attrition_civilian.at(month),
                                       "manager": c.attrition_managers.at(month),
                                       "external": self.p.pool.leave_rate.at(month)},
                            {"uniformed": "manager", "civilian": "manager"})
        service = k.service_months.at(month)
        self.dropout(t, "conscript", k.dropout_men.at(month), k.dropout_women.at(month), service)
        return self.finish_rules(t, c, {"conscript": (
            "uniformed", service, k.continuation_men.at(month), k.continuation_women.at(month))})

    def intake(self, month: int) -> None:
        self.call_up(self.p.conscription, self.s("conscript"), month)
        self.recruit("uniformed", self.p.uniformed_recruitment, self.s("uniformed"), month)
        self.recruit("civilian", self.p.civilian_recruitment, self.s("civilian"), month)
        pool = self.p.pool
        n = self.per_month("external", pool.external_recruits.at(month))
        if n:
            women = int(self.rng["pool"].binomial(n, pool.external_women_share.at(month)))
            rows = self.enter(women, n - women, self.s("external"), month)
            self.roster.pool[rows] = True

    def pool_step(self, month: int) -> None:
        """Staff join and leave the pool (external members leave through attrition)."""
        pool, r, n = self.p.pool, self.roster, self.roster.n
        staff = self._eligible_codes(tuple(self.s(s) for s in self.STAFF))[r.code[:n]]
        join = 1 - np.exp(-pool.staff_join_rate.at(month) / 12
                          * np.where(r.woman[:n], pool.women_join_ratio.at(month), 1.0))
        leave = 1 - np.exp(-pool.leave_rate.at(month) / 12)
        u = self.rng["pool"].random(n)
        joins = staff & ~r.pool[:n] & (u < join)
        leaves = staff & r.pool[:n] & (u < leave) & (r.dest[:n] < 0)
        r.pool[:n] = (r.pool[:n] | joins) & ~leaves

    def destinations(self):
        d = self.p.deployment
        eligible = self._eligible_codes(tuple(self.s(s) for s in (*self.STAFF, "external")))
        for i, name in enumerate(self.dest_names):
            yield Destination(name, i, eligible), getattr(d, name)


class PoliceAgency(Agency):
    name = POLICE

    @property
    def p(self) -> Police:
        return self.scenario.police

    @property
    def deployment_block(self) -> Deployment:
        return self.p.deployment

    def populate(self) -> None:
        i, a = self.p.initial, self.p.academy
        self.populate_stage(self.s("student"), i.students, i.women_share_students, 0,
                            fixed_months=a.student_months.at(self.start))
        self.populate_stage(self.s("cadet"), i.cadets, i.women_share_cadets, 0,
                            fixed_months=a.cadet_months.at(self.start))
        for stage, total, share in (("officer", i.officers, i.women_share_officers),
                                    ("leader", i.leaders, i.women_share_leaders),
                                    ("civilian", i.civilians, i.women_share_civilians)):
            self.populate_stage(self.s(stage), total, share, i.mean_tenure_years)

    def rule_blocks(self) -> tuple[Section, ...]:
        return self.p.careers, self.p.academy

    def rules(self, month: int) -> CareerRules:
        c, a = self.p.careers, self.p.academy
        t = self.base_rules(c, month, {"officer": c.attrition_officers.at(month),
                                       "leader": c.attrition_leaders.at(month),
                                       "civilian": c.attrition_civilians.at(month)},
                            {"officer": "leader"})
        s_months, c_months = a.student_months.at(month), a.cadet_months.at(month)
        # The education's dropout is split over its two stages by their length.
        total = s_months + c_months
        for stage, months in (("student", s_months), ("cadet", c_months)):
            p_m = 1 - (1 - a.dropout_men.at(month)) ** (months / total)
            p_w = 1 - (1 - a.dropout_women.at(month)) ** (months / total)
            self.dropout(t, stage, p_m, p_w, months)
        return self.finish_rules(t, c, {"student": ("cadet", s_months, 1.0, 1.0),
                                        "cadet": ("officer", c_months, 1.0, 1.0)})

    def intake(self, month: int) -> None:
        a = self.p.academy
        if month % 12 in conscription.intake_months(a.intakes_per_year):
            n = self.per_month("academy", a.intake.at(month), 1 / a.intakes_per_year)
            women = int(self.rng["recruitment"].binomial(n, a.women_share.at(month)))
            self.enter(women, n - women, self.s("student"), month,
                       until=month + a.student_months.at(month))
        self.recruit("civilian", self.p.civilian_recruitment, self.s("civilian"), month)

    def destinations(self):
        d = self.p.deployment
        eligible = self._eligible_codes((self.s("officer"), self.s("leader")))
        for i, name in enumerate(self.dest_names):
            yield Destination(name, i, eligible), getattr(d, name)


AGENCY_CLASSES: dict[str, type[Agency]] = {AF: ArmedForcesAgency, DEMA: DemaAgency,
                                           POLICE: PoliceAgency}

