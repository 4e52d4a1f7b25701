"""The three agencies' pipelines: their stages, who enters where, who can deploy.

Each agency owns a :class:`~sim.model.roster.Roster`, a random stream per process, and the census
arrays its processes fill. The processes themselves are SimPy generators (see
``sim.model.replication``) that run on a monthly clock at fixed phases, so that within a month
careers come first, then the census, then intakes, then deployments:

    Armed Forces  conscription -> conscript -> rank_and_file -> leader; direct recruitment
    DEMA          conscription -> conscript -> uniformed; civilian; -> manager; the pool
    Police        academy -> student -> officer -> leader; politikadet course -> cadet
                  (-> student for some); civilian

Stocks with an establishment hold it: vacancies in an upper stage are filled each month by
appointment from the stage below (:meth:`Agency.appoint`), conscripts who want to continue
take the open places of their next stage (:meth:`Agency.capacity`), and recruitment or the
academy's admissions fill the rest.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Iterator

import numpy as np

from sim.model import careers, conscription, deployment, kernels
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


@dataclass(frozen=True)
class Appointment:
    """An upper stage whose posts are filled from the stage(s) below, evaluated at a month."""

    to: int
    sources: tuple[int, ...]
    posts: int
    min_months: float
    women_weight: float
    women_share: float | None


class Agency:
    """Shared machinery; subclasses say what the stages are and how people enter."""

    name: str
    #: The upper stage whose posts are filled by appointment: (stage, the stages it is filled
    #: from, the field of the Careers block holding its posts).
    appointed: tuple[str, tuple[str, ...], str]

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
                             self.n_years, kernels.load())
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
        self._rule_changes = change_months(self.rule_levers())
        self._carry: dict[str, float] = {}
        self._outflows: dict[tuple[int, int], int] = {}
        self._kernel_rules: tuple | None = None
        self._due_by_month: dict[int, list[tuple[Destination, Posts]]] = {}
        self._rotation_static: dict[int, tuple[np.ndarray, ...]] = {}
        self._chances: dict[tuple[float, float, float], tuple[np.ndarray, float]] = {}
        self._stream_args: dict[tuple[str, ...], tuple[np.ndarray, ...]] = {}
        self._rotation_values: dict[tuple[int, int], tuple] = {}

    def s(self, stage: str) -> int:
        return self.stages.index(stage)

    # -- what subclasses provide -------------------------------------------------------------

    def populate(self) -> None:
        raise NotImplementedError

    def rules(self, month: int) -> CareerRules:
        raise NotImplementedError

    def rule_levers(self) -> tuple[Dated, ...]:
        """The dated levers :meth:`rules` reads: the rules are rebuilt only when one of them
        takes a new value (``tests/test_kernels.py`` checks that no other lever moves them)."""
        raise NotImplementedError

    def intake(self, month: int) -> None:
        raise NotImplementedError

    def destinations(self) -> Iterator[tuple[Destination, Posts]]:
        raise NotImplementedError

    @property
    def careers_block(self) -> Careers:
        return getattr(self.scenario, self.name).careers

    def appointments(self, month: int) -> tuple[Appointment, ...]:
        """The upper stage filled by appointment at ``month`` (none where it has no posts and
        promotion is a rate)."""
        to, sources, field = self.appointed
        c = self.careers_block
        posts = getattr(c, field).at(month)
        if posts <= 0:
            return ()
        return (Appointment(self.s(to), tuple(self.s(x) for x in sources), int(round(posts)),
                            c.promotion_min_years * 12, c.women_promotion_ratio.at(month),
                            c.women_appointment_share.at(month)),)

    def appointed_edges(self, month: int) -> dict[str, tuple[float, float, float]]:
        """Promotion edges left to appointments (for :meth:`base_rules`): no hazard."""
        return {self.stages[i]: (0.0, 1.0, np.inf) for a in self.appointments(month)
                for i in a.sources}

    def posts(self, month: int) -> dict[int, float]:
        """Posts of the stages entered from a fixed-length stage (conscripts' next stage)."""
        return {}

    def training(self) -> dict[str, float]:
        """Months in each deployable stage before a first deployment."""
        return dict(self.deployment_block.training_months)  # type: ignore[attr-defined]

    @property
    def deployment_block(self) -> Deployment:
        raise NotImplementedError

    # -- shared steps --------------------------------------------------------------------------

    def careers_step(self, month: int) -> None:
        before = self.roster.moved
        # The tick at ``month`` covers the month just ended: the levers in force then apply.
        if self._rules is None or month - 1 in self._rule_changes:
            self._rules = self.rules(month - 1)
        if self.roster.k is not None:
            self._careers_compiled(month)
            return
        events = self.clocks.step(self.roster, self._rules, month, self.rng["attrition"],
                                  self.rng["promotion"], self.rng["recruitment"],
                                  self.capacity(month - 1))
        for a in self.appointments(month - 1):
            self.appoint(a, month)
        y = self.roster.year_index(month - 1)
        self.completed[y] += events.completed
        self.person_events += self.roster.moved - before

    def _careers_compiled(self, month: int) -> None:
        """:meth:`careers_step` in one kernel (``kernels.careers_month``)."""
        r, rules = self.roster, self._rules
        assert rules is not None and r.k is not None
        if self._kernel_rules is None or self._kernel_rules[0] is not rules:
            self._kernel_rules = (rules, self._rule_arrays(rules), self._appointment(month - 1))
        capacity = self.capacity(month - 1)
        y = r.year_index(month - 1)
        moved, appointed = r.k.careers_month(
            r.n, float(month), self.clocks.changed(rules), r.columns(), r.transitions[y],
            r.heads, r.gone_code, *self._kernel_rules[1],
            self._open if capacity is None else capacity, *self._kernel_rules[2],
            self.completed[y], *self._streams("attrition", "promotion", "recruitment"))
        r.moved += moved
        self.person_events += moved + appointed

    @staticmethod
    def _rule_arrays(rules: CareerRules) -> tuple:
        """The rules as ``kernels.careers_month`` takes them."""
        return (rules.attrition, rules.promotion, rules.promotion_min, rules.early_attrition,
                float(rules.early_months), float(rules.early_multiplier), rules.promotion_to,
                rules.next_stage, rules.stage_months, rules.continuation)

    def _appointment(self, month: int) -> tuple:
        """The month's appointment as ``kernels.careers_month`` takes it (``to`` -1: none).
        It reads only careers levers, so it is rebuilt with the rules (``rule_levers``)."""
        appointments = self.appointments(month)
        assert len(appointments) <= 1     # one appointed stage per agency (``appointed``)
        if not appointments:
            return (-1, self._eligible_codes(()), 0, 0.0, 1.0, float("nan"))
        a = appointments[0]
        return (a.to, self._eligible_codes(a.sources), a.posts, float(a.min_months),
                float(a.women_weight), deployment.nan_if_none(a.women_share))

    @cached_property
    def _open(self) -> np.ndarray:
        """Capacity of stages that take every continuer."""
        return np.full(len(self.stages), np.inf)

    def capacity(self, month: int) -> np.ndarray | None:
        """Open places for those finishing a fixed stage, per stage (inf where unlimited).

        A stage with posts takes continuers up to its vacancies plus half the outflow
        expected before the next completions (last year's leavers and promotions out of it),
        so that between completions the stock swings around its posts instead of above them.
        """
        posts = self.posts(month)
        if not posts:
            return None
        cap = self._capacity
        cap[:] = np.inf
        r = self.roster
        y = max(0, r.year_index(month) - 1)
        gap = (12 / self.completions_per_year(month)) / 2
        for stage, n in posts.items():
            if n <= 0:
                continue
            cap[stage] = max(0.0, round(n) - int(r.heads[stage, 0] + r.heads[stage, 1])
                             + self._outflow(y, stage, final=y < r.year_index(month)) / 12 * gap)
        return cap

    def _outflow(self, y: int, stage: int, final: bool) -> int:
        """Leavers and promotions out of ``stage`` in year index ``y``; kept once the year is
        over (``final``), since its transitions no longer change."""
        known = self._outflows.get((y, stage))
        if known is None:
            t = self.roster.transitions[y, stage + 1]
            known = int(t.sum() - t[stage + 1].sum())
            if final:
                self._outflows[(y, stage)] = known
        return known

    @cached_property
    def _capacity(self) -> np.ndarray:
        """:meth:`capacity`'s array, refilled each month (the careers step reads it at once)."""
        return np.empty(len(self.stages))

    def completions_per_year(self, month: int) -> int:
        return 1

    def appoint(self, a: Appointment, month: int) -> None:
        """Fill the vacancies of ``a.to`` from its sources among the eligible (tenure): by
        probing rows without a target share (``deployment.probe_rows``), and for the rest
        (all of it with one) among every one eligible (``deployment.select``)."""
        r = self.roster
        vacancies = a.posts - int(r.heads[a.to].sum())
        if vacancies <= 0:
            return
        sources = self._eligible_codes(a.sources)
        rng = self.rng["promotion"]
        taken: set[int] = set()
        chosen = np.empty(0, np.int64)
        if a.women_share is None:
            chosen = deployment.probe_rows(
                r.n, vacancies, a.women_weight, r.woman,
                lambda i: i not in taken and bool(sources[r.code[i]])
                and month - r.since[i] >= a.min_months, taken.add, rng)
        if len(chosen) < vacancies:
            eligible = np.flatnonzero(sources[r.code[: r.n]])
            eligible = eligible[month - r.since[eligible] >= a.min_months]
            eligible = eligible[~np.isin(eligible, chosen)]
            rest = eligible[deployment.select(r.woman[eligible], vacancies - len(chosen),
                                              a.women_weight, a.women_share, rng)]
            chosen = np.concatenate([chosen, rest])
        if len(chosen) == 0:
            return
        r.move(chosen, a.to, month, month - 1, self.rng["attrition"], self.rng["promotion"])
        self.person_events += len(chosen)

    #: Count those posted abroad (and DEMA's pool) every month, not only at year ends.
    counts_every_month = False

    def census(self, month: int) -> None:
        """Head counts every month; those posted abroad (and the pool) at year ends, the only
        months the tally reads them, unless the agency reads them monthly itself
        (``counts_every_month``): each count is a scan of the whole roster."""
        i = month - self.start
        r = self.roster
        self.stock[i] = r.heads
        if month % 12 == 0 or self.counts_every_month:
            self._count_abroad(i)
        if month % 12 == 0 and 4 * (r.n - int(r.heads.sum())) > r.n:
            r.compact()   # once a year, when more than a quarter of the rows are leavers

    def _count_abroad(self, i: int) -> None:
        """The census's posted and (DEMA) pool counts at month index ``i``."""
        r = self.roster
        if r.k is not None:
            r.k.census(r.n, self.name == DEMA, r.woman, r.stage, r.dest, r.pool, self.posted[i],
                       self.pool_stock[i])
            return
        n = r.n
        if self.name == DEMA:
            members = r.pool[:n] & (r.stage[:n] != GONE)
            self.pool_stock[i] = np.bincount(r.woman[:n][members], minlength=2)
        away = r.dest[:n] >= 0
        if away.any():
            idx = r.dest[:n][away].astype(np.int64) * 2 + r.woman[:n][away]
            self.posted[i] = np.bincount(idx, minlength=2 * len(self.dest_names)).reshape(-1, 2)

    def deploy(self, month: int) -> None:
        """Rotations due this month: all come home first, then the new rotations are drawn."""
        block = self.deployment_block
        due = self._due(month % 12)
        if due and self.roster.k is not None:
            self._rotate_compiled(due, month)
        elif due:
            rest = block.rest_months.at(month)
            for dest, p in due:
                own = p.rest_months.at(month)
                deployment.send_home(self.roster, dest.index, month,
                                     rest if own is None else own)
            weight = block.women_selection_weight.at(month)
            for dest, p in due:
                rotation = deployment.Rotation(dest.index, int(round(p.positions.at(month))),
                                               weight, p.target_share.at(month), dest.eligible)
                ready = np.maximum(self._ready, p.min_years_in_stage * 12)
                self.person_events += deployment.send(
                    self.roster, rotation, month, ready, self.name == DEMA,
                    self.rng["deployment"], self.deployed, self.deployed_any)
        if month % 12 == 0:
            # Still abroad after this month's rotations: deployed in the new year too.
            deployment.carry_over(self.roster, month, self.deployed, self.deployed_any)

    def _rotate_compiled(self, due: list[tuple[Destination, Posts]], month: int) -> None:
        """:meth:`deploy`'s rotations in one kernel (``kernels.rotate``)."""
        r = self.roster
        assert r.k is not None
        indexes, eligible, min_months = self._rotation_arrays(month % 12)
        rest, positions, shares, weight = self._rotation_levers(due, month)
        self.person_events += r.k.rotate(
            r.n, float(month), r.year_index(month), indexes, rest, eligible, min_months,
            positions, shares, weight, self.name == DEMA, self._ready, r.columns(),
            self.deployed, self.deployed_any, *self._streams("deployment"))

    def _rotation_levers(self, due: list[tuple[Destination, Posts]], month: int) -> tuple:
        """The due destinations' rest months, positions and target shares, and the selection
        weight, at ``month`` as ``kernels.rotate`` takes them. Kept per calendar month and
        per stretch of months between two at which a deployment lever can change
        (``_deployment_changes``): most never do."""
        key = (bisect.bisect_right(self._deployment_changes, month), month % 12)
        known = self._rotation_values.get(key)
        if known is None:
            block = self.deployment_block
            rest = block.rest_months.at(month)
            own = [p.rest_months.at(month) for _, p in due]
            known = self._rotation_values[key] = (
                np.array([rest if x is None else x for x in own], np.float64),
                np.array([int(round(p.positions.at(month))) for _, p in due], np.int64),
                np.array([deployment.nan_if_none(p.target_share.at(month)) for _, p in due]),
                float(block.women_selection_weight.at(month)))
        return known

    @cached_property
    def _deployment_changes(self) -> list[int]:
        """Months at which a lever :meth:`_rotation_levers` reads can take a new value, in
        order."""
        block = self.deployment_block
        return sorted(change_months((block.rest_months, block.women_selection_weight,
                                     *(lever for _, p in self._destinations
                                       for lever in (p.rest_months, p.positions,
                                                     p.target_share)))))

    def _due(self, calendar_month: int) -> list[tuple[Destination, Posts]]:
        """The destinations whose rotation falls in a calendar month (0 = January)."""
        if calendar_month not in self._due_by_month:
            self._due_by_month[calendar_month] = [
                (d, p) for d, p in self._destinations
                if not (calendar_month - (p.first_month - 1)) % p.rotation_months]
        return self._due_by_month[calendar_month]

    def _rotation_arrays(self, calendar_month: int) -> tuple[np.ndarray, ...]:
        """What ``kernels.rotate`` takes about the month's due destinations that does not
        change with the date: their indexes, eligible codes and seniority in months."""
        if calendar_month not in self._rotation_static:
            due = self._due(calendar_month)
            self._rotation_static[calendar_month] = (
                np.array([d.index for d, _ in due]), np.array([d.eligible for d, _ in due]),
                np.array([p.min_years_in_stage * 12 for _, p in due], np.float64))
        return self._rotation_static[calendar_month]

    def _streams(self, *names: str) -> tuple[np.ndarray, ...]:
        """The named streams as the kernels take them (made once, by ``Roster.stream``), as
        one tuple per list of names, kept."""
        known = self._stream_args.get(names)
        if known is None:
            known = self._stream_args[names] = tuple(self.roster.stream(self.rng[n])
                                                     for n in names)
        return known

    @cached_property
    def _destinations(self) -> tuple[tuple[Destination, Posts], ...]:
        """The destinations and their posts (built once: the scenario does not change)."""
        return tuple(self.destinations())

    @cached_property
    def _ready(self) -> np.ndarray:
        """Months in stage before a first deployment, per code (training)."""
        months = np.zeros(2 * len(self.stages) + 1)
        for stage, m in self.training().items():
            months[2 * self.s(stage): 2 * self.s(stage) + 2] = m
        return months

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
            men, women = self.stock[month - self.start, stage]
            in_post = int(men + women)
            n += max(0, int(round(posts)) - in_post)
        if n:
            self.admit(n, rec.women_share.at(month), stage, month)

    def admit(self, n: int, women_share: float, stage: int, month: int,
              stream: str = "recruitment", until: float = np.inf) -> slice:
        """``n`` newcomers to ``stage``, women among them binomial with ``women_share``."""
        women = int(self.rng[stream].binomial(n, women_share))
        return self.enter(women, n - women, stage, month, until=until)

    def call_up(self, c: Conscription, stage: int, month: int) -> None:
        """A conscription intake, if this is an intake month."""
        months = conscription.intake_months(c.intakes_per_year)
        if month % 12 not in months:
            return
        share = 1 / c.intakes_per_year
        places = self.per_month("places", c.places.at(month), share)
        equal = c.equal_from is not None and month >= _month(c.equal_from)
        women = conscription.women_volunteer_rate(c.volunteer_rate_women.at(month),
                                                  c.women_registration_effect.at(month), equal)
        d = conscription.Draft(places, int(c.cohort_men * share), int(c.cohort_women * share),
                               c.volunteer_rate_men.at(month), women,
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
                   promotion: dict[str, str],
                   rates: dict[str, tuple[float, float, float]] | None = None
                   ) -> dict[str, np.ndarray]:
        """Hazard tables from a Careers block: men's rates, women's ratios, promotion edges.

        ``promotion`` maps a stage to the one its people are promoted into; the hazard is the
        block's ``promotion_rate`` unless ``rates`` gives the edge its own (men's yearly rate,
        women's ratio, minimum months). A zero rate leaves the edge to appointments.
        """
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
        default = (c.promotion_rate.at(month), c.women_promotion_ratio.at(month),
                   c.promotion_min_years * 12)
        for source, target in promotion.items():
            i = self.s(source)
            rate, ratio, minimum = (rates or {}).get(source, default)
            prom[2 * i], prom[2 * i + 1] = rate / 12, rate / 12 * ratio
            pmin[2 * i] = pmin[2 * i + 1] = minimum
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


def dated_fields(block: Section) -> tuple[Dated, ...]:
    """Every dated lever of a scenario block."""
    return tuple(v for v in (getattr(block, name) for name in type(block).model_fields)
                 if isinstance(v, Dated))


def change_months(levers: tuple[Dated, ...]) -> frozenset[int]:
    """Ticks at which any of the dated levers can take a new value."""
    months: set[int] = set()
    for value in levers:
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
    appointed = ("leader", ("rank_and_file",), "establishment_leaders")

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

    def rule_levers(self) -> tuple[Dated, ...]:
        k = self.p.conscription
        return (*dated_fields(self.p.careers), k.service_months, k.dropout_men, k.dropout_women,
                k.continuation_men, k.continuation_women)

    def rules(self, month: int) -> CareerRules:
        c, k = self.p.careers, self.p.conscription
        t = self.base_rules(c, month, {"rank_and_file": c.attrition_rank_and_file.at(month),
                                       "leader": c.attrition_leaders.at(month)},
                            {"rank_and_file": "leader"}, self.appointed_edges(month))
        service = k.service_months.at(month)
        self.dropout(t, "conscript", k.dropout_men.at(month), k.dropout_women.at(month), service)
        return self.finish_rules(t, c, {"conscript": (
            "rank_and_file", service, k.continuation_men.at(month),
            k.continuation_women.at(month))})

    def posts(self, month: int) -> dict[int, float]:
        return {self.s("rank_and_file"): self.p.recruitment.establishment.at(month)}

    def completions_per_year(self, month: int) -> int:
        return self.p.conscription.intakes_per_year

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
    counts_every_month = True     # the intake tops the pool up to its size every month
    appointed = ("manager", ("uniformed", "civilian"), "establishment_managers")
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

    def rule_levers(self) -> tuple[Dated, ...]:
        k = self.p.conscription
        return (*dated_fields(self.p.careers), k.service_months, k.dropout_men, k.dropout_women,
                k.continuation_men, k.continuation_women)

    def rules(self, month: int) -> CareerRules:
        c, k = self.p.careers, self.p.conscription
        # External members leave DEMA's books by withdrawing from the pool (pool_step).
        t = self.base_rules(c, month, {"uniformed": c.attrition_uniformed.at(month),
                                       "civilian": c.attrition_civilian.at(month),
                                       "manager": c.attrition_managers.at(month),
                                       "external": 0.0},
                            {"uniformed": "manager", "civilian": "manager"},
                            self.appointed_edges(month))
        service = k.service_months.at(month)
        self.dropout(t, "conscript", k.dropout_men.at(month), k.dropout_women.at(month), service)
        return self.finish_rules(t, c, {"conscript": (
            "uniformed", service, k.continuation_men.at(month), k.continuation_women.at(month))})

    def posts(self, month: int) -> dict[int, float]:
        return {self.s("uniformed"): self.p.uniformed_recruitment.establishment.at(month)}

    def completions_per_year(self, month: int) -> int:
        return self.p.conscription.intakes_per_year

    def intake(self, month: int) -> None:
        self.call_up(self.p.conscription, self.s("conscript"), month)
        self.recruit("uniformed", self.p.uniformed_recruitment, self.s("uniformed"), month)
        self.recruit("civilian", self.p.civilian_recruitment, self.s("civilian"), month)
        pool = self.p.pool
        # The fixed recruits, or more where the pool is short of its size.
        n = max(self.per_month("external", pool.external_recruits.at(month)),
                int(round(pool.size.at(month))) - int(self.pool_stock[month - self.start].sum()))
        if n:
            rows = self.admit(n, pool.external_women_share.at(month), self.s("external"), month,
                              stream="pool")
            self.roster.pool[rows] = True

    def pool_step(self, month: int) -> None:
        """Staff join the pool; members withdraw (not while posted), external ones from DEMA."""
        pool, r, n = self.p.pool, self.roster, self.roster.n
        if r.k is not None:
            join, leave = self._pool_chances(pool.staff_join_rate.at(month),
                                             pool.women_join_ratio.at(month),
                                             pool.leave_rate.at(month))
            gone = r.k.pool_turnover(n, *self._streams("pool"), join, leave, self._staff_codes,
                                     self.s("external"), r.woman, r.stage, r.code, r.dest,
                                     r.pool)
            if len(gone):
                r.remove(gone, month)
                self.person_events += len(gone)
            return
        staff = self._staff_codes[r.code[:n]]
        join = 1 - np.exp(-pool.staff_join_rate.at(month) / 12
                          * np.where(r.woman[:n], pool.women_join_ratio.at(month), 1.0))
        leave = 1 - np.exp(-pool.leave_rate.at(month) / 12)
        u = self.rng["pool"].random(n)
        joins = staff & ~r.pool[:n] & (u < join)
        leaves = r.pool[:n] & (r.stage[:n] != GONE) & (u < leave) & (r.dest[:n] < 0)
        r.pool[:n] = (r.pool[:n] | joins) & ~leaves
        gone = np.flatnonzero(leaves & (r.stage[:n] == self.s("external")))
        if len(gone):
            r.remove(gone, month)
            self.person_events += len(gone)

    def _pool_chances(self, rate: float, women_ratio: float,
                      leave_rate: float) -> tuple[np.ndarray, float]:
        """A month's chances to join the pool (men's, women's) and to leave it, for the
        kernel; kept per lever values, which change at few dates."""
        key = (rate, women_ratio, leave_rate)
        if key not in self._chances:
            join = 1 - np.exp(-rate / 12 * np.array([1.0, women_ratio]))
            self._chances[key] = (join, float(1 - np.exp(-leave_rate / 12)))
        return self._chances[key]

    @cached_property
    def _staff_codes(self) -> np.ndarray:
        return self._eligible_codes(tuple(self.s(s) for s in self.STAFF))

    def destinations(self):
        d = self.p.deployment
        eligible = self._eligible_codes(tuple(self.s(s) for s in (*self.STAFF, "external")))
        for i, name in enumerate(self.dest_names):
            yield Destination(name, i, eligible), getattr(d, name)


class PoliceAgency(Agency):
    name = POLICE
    appointed = ("leader", ("officer",), "establishment_leaders")

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
        for stage, total, share, years in (
                ("cadet", i.cadets, i.women_share_cadets, 1.0),
                ("officer", i.officers, i.women_share_officers, i.mean_tenure_years),
                ("leader", i.leaders, i.women_share_leaders, i.mean_tenure_years),
                ("civilian", i.civilians, i.women_share_civilians, i.mean_tenure_years)):
            self.populate_stage(self.s(stage), total, share, years)

    def rule_levers(self) -> tuple[Dated, ...]:
        a, k = self.p.academy, self.p.cadets
        return (*dated_fields(self.p.careers), a.student_months, a.dropout_men, a.dropout_women,
                k.attrition, k.to_academy_rate)

    def rules(self, month: int) -> CareerRules:
        c, a, k = self.p.careers, self.p.academy, self.p.cadets
        t = self.base_rules(c, month, {"officer": c.attrition_officers.at(month),
                                       "leader": c.attrition_leaders.at(month),
                                       "civilian": c.attrition_civilians.at(month),
                                       "cadet": k.attrition.at(month)},
                            {"officer": "leader", "cadet": "student"},
                            {**self.appointed_edges(month),
                             "cadet": (k.to_academy_rate.at(month), 1.0, k.course_months)})
        months = a.student_months.at(month)
        self.dropout(t, "student", a.dropout_men.at(month), a.dropout_women.at(month), months)
        return self.finish_rules(t, c, {"student": ("officer", months, 1.0, 1.0)})

    def intake(self, month: int) -> None:
        a, k = self.p.academy, self.p.cadets
        if month % 12 in conscription.intake_months(a.intakes_per_year):
            n = self.per_month("academy", a.intake.at(month), 1 / a.intakes_per_year)
            n += self.admissions_gap(month)
            self.admit(n, a.women_share.at(month), self.s("student"), month,
                       until=month + a.student_months.at(month))
        if month % 12 in conscription.intake_months(k.intakes_per_year, first=2):
            n = self.per_month("cadets", k.intake.at(month), 1 / k.intakes_per_year)
            if n:
                self.admit(n, k.women_share.at(month), self.s("cadet"), month)
        self.recruit("civilian", self.p.civilian_recruitment, self.s("civilian"), month)

    def admissions_gap(self, month: int) -> int:
        """Students to admit now so that officer posts are full when they graduate: posts
        then, minus officers now, minus students expected to graduate, plus officers expected
        to leave meanwhile (at men's rates: the next intake corrects what this misses)."""
        a, c = self.p.academy, self.p.careers
        length = a.student_months.at(month)
        posts = a.establishment.at(month + length)
        if posts <= 0:
            return 0
        heads = self.roster.heads
        officers, leaders = heads[self.s("officer")].sum(), heads[self.s("leader")].sum()
        students = heads[self.s("student")].sum()
        leaving = (officers * c.attrition_officers.at(month)
                   + leaders * c.attrition_leaders.at(month)) * length / 12
        graduating = students * (1 - a.dropout_men.at(month))
        return max(0, int(round(posts - officers - leaders - graduating + leaving)))

    def destinations(self):
        d = self.p.deployment
        eligible = self._eligible_codes((self.s("officer"), self.s("leader")))
        for i, name in enumerate(self.dest_names):
            yield Destination(name, i, eligible), getattr(d, name)


AGENCY_CLASSES: dict[str, type[Agency]] = {AF: ArmedForcesAgency, DEMA: DemaAgency,
                                           POLICE: PoliceAgency}

