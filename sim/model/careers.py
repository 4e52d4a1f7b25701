"""Careers: attrition, promotion and the end of fixed-length stages, as competing risks.

Each person carries one exponential clock per risk, drawn when they enter a stage (attrition
from the attrition stream, promotion from the promotion stream). Every month their cumulative
hazard grows by the month's hazard; a risk fires when its cumulative hazard passes the clock.
This samples the competing risks directly, in continuous time (when both fire in the same
month the one that crossed first wins), with no racing timeouts; dated levers act from the
month they take effect; and each person's clocks are common random numbers between scenarios,
so a lever that lowers women's attrition lowers it for the very same women.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.model.roster import GONE, Roster


@dataclass(frozen=True)
class CareerRules:
    """The month's hazards, indexed by code (``2 * stage + woman``; last code = gone)."""

    attrition: np.ndarray        # per month
    promotion: np.ndarray        # per month
    promotion_min: np.ndarray    # months in stage before promotion
    promotion_to: np.ndarray     # per stage: target stage, or -1
    next_stage: np.ndarray       # per stage, for fixed-length stages: next stage or GONE
    stage_months: np.ndarray     # per stage: length if the stage is fixed-length, else inf
    continuation: np.ndarray     # per code: probability to go on when a fixed stage ends
    early_months: float
    early_multiplier: float
    early_attrition: np.ndarray  # per code: attrition multiplier in the early months (1 for
                                 # fixed-length stages, whose stated dropout holds as it is)


@dataclass
class CareerEvents:
    """What one month's step did (for the census)."""

    completed: np.ndarray        # [stage, woman] fixed-length stages completed


def _same(a: CareerRules | None, b: CareerRules) -> bool:
    return a is not None and all(np.array_equal(getattr(a, f), getattr(b, f)) for f in
                                 ("attrition", "promotion", "promotion_min",
                                  "early_attrition")) and \
        a.early_months == b.early_months and a.early_multiplier == b.early_multiplier


class Clocks:
    """Event-driven bookkeeping of everyone's clocks for one agency.

    The step above is what each person experiences; doing it literally would touch every
    person every month. Instead each person's hazards stay constant until a known tick (their
    clock running out, a tenure boundary, the end of a fixed stage, or a change of the rules),
    so ``roster.review`` holds the next tick at which anything can happen to them and only
    those people are looked at. Cumulative hazards are kept as ``h + (tick - t_ref) * r``.
    """

    def __init__(self) -> None:
        self.last: CareerRules | None = None

    def step(self, roster: Roster, rules: CareerRules, month: int,
             attrition: np.random.Generator, promotion: np.random.Generator,
             continuation: np.random.Generator,
             capacity: np.ndarray | None = None) -> CareerEvents:
        """Everything that happens to anyone in the month that ends at tick ``month``.

        ``capacity`` (per stage; inf = open) is how many people a stage takes from those who
        finish a fixed stage and want to go on: the rest leave.
        """
        rebase_all = self.changed(rules)
        n = roster.n
        if rebase_all:
            alive = np.flatnonzero(roster.stage[:n] != GONE)
            _rebase(roster, alive, month - 1)
            roster.review[alive] = month
        due = np.flatnonzero(roster.review[:n] <= month)
        if len(due):
            _rebase(roster, due, month - 1)
            _advance(roster, rules, due, month, attrition, promotion)
        done = due[(roster.until[due] <= month) & (roster.stage[due] != GONE)]
        return CareerEvents(_complete(roster, rules, done, month, attrition, promotion,
                                      continuation, capacity))

    def changed(self, rules: CareerRules) -> bool:
        """Whether ``rules`` differ from those last applied (then everyone's hazards are
        recomputed from this tick)."""
        if rules is self.last or _same(self.last, rules):
            return False
        self.last = rules
        return True


def _rebase(roster: Roster, rows: np.ndarray, tick: int) -> None:
    """Fold the hazard accumulated up to ``tick`` into ``h`` and move ``t_ref`` there."""
    span = tick - roster.t_ref[rows]
    roster.h_exit[rows] += span * roster.r_exit[rows]
    roster.h_prom[rows] += span * roster.r_prom[rows]
    roster.t_ref[rows] = tick


def _rates(roster: Roster, rules: CareerRules, rows: np.ndarray, tick: int):
    """Monthly hazards that apply at ``tick`` (tenure measured at the month's start)."""
    code = roster.code[rows]
    tenure = tick - 1 - roster.since[rows]
    r_e = rules.attrition[code]
    if rules.early_multiplier != 1.0:
        r_e = np.where(tenure < rules.early_months, r_e * rules.early_attrition[code], r_e)
    r_p = np.where(tenure >= rules.promotion_min[code], rules.promotion[code], 0.0)
    return r_e, r_p


def _advance(roster: Roster, rules: CareerRules, rows: np.ndarray, month: int,
             attrition: np.random.Generator, promotion: np.random.Generator) -> None:
    """Apply tick ``month`` to ``rows`` (already rebased to ``month - 1``)."""
    r_e, r_p = _rates(roster, rules, rows, month)
    old_e, old_p = roster.h_exit[rows], roster.h_prom[rows]
    new_e, new_p = old_e + r_e, old_p + r_p
    fired_e = new_e >= roster.e_exit[rows]
    fired_p = new_p >= roster.e_prom[rows]
    both = fired_e & fired_p
    if both.any():
        # Where both clocks ran out this month, the one that ran out first wins.
        frac_e = (roster.e_exit[rows][both] - old_e[both]) / r_e[both]
        frac_p = (roster.e_prom[rows][both] - old_p[both]) / r_p[both]
        first_p = frac_p < frac_e
        fired_e[both] = ~first_p
        fired_p[both] = first_p
    stay = ~(fired_e | fired_p)
    kept = rows[stay]
    roster.h_exit[kept] = new_e[stay]
    roster.h_prom[kept] = new_p[stay]
    roster.t_ref[kept] = month
    _schedule(roster, rules, kept, month)
    roster.remove(rows[fired_e], month - 1)
    _promote(roster, rules, rows[fired_p], month, attrition, promotion)


def _promote(roster: Roster, rules: CareerRules, promoted: np.ndarray, month: int,
             attrition: np.random.Generator, promotion: np.random.Generator) -> None:
    """Move those whose promotion clock ran out into their target stage."""
    if len(promoted):
        targets = rules.promotion_to[roster.stage[promoted]]
        for target in _distinct(targets):
            moved = promoted[targets == target]
            roster.move(moved, int(target), month, month - 1, attrition, promotion,
                        until=month + rules.stage_months[int(target)])


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values (usually one: each agency promotes into one stage)."""
    first = values[0]
    return values[:1] if (values == first).all() else np.unique(values)


def _schedule(roster: Roster, rules: CareerRules, rows: np.ndarray, month: int) -> None:
    """Rates from the next tick on, and the next tick at which anything can change."""
    r_e, r_p = _rates(roster, rules, rows, month + 1)
    roster.r_exit[rows], roster.r_prom[rows] = r_e, r_p
    nxt = np.maximum(np.ceil(roster.until[rows]), month + 1)
    for clock, h, r in ((roster.e_exit, roster.h_exit, r_e), (roster.e_prom, roster.h_prom, r_p)):
        left = np.full(len(rows), np.inf)
        with np.errstate(over="ignore"):   # a tiny rate: the clock is beyond any horizon (inf)
            np.divide(clock[rows] - h[rows], r, out=left, where=r > 0)
        np.minimum(nxt, month + np.maximum(1.0, np.ceil(left)), out=nxt)
    since = roster.since[rows]
    for boundary in (since + (rules.early_months + 1),
                     since + (rules.promotion_min[roster.code[rows]] + 1)):
        b = np.ceil(boundary)
        b[b <= month + 1] = np.inf
        np.minimum(nxt, b, out=nxt)
    roster.review[rows] = nxt


def _complete(roster: Roster, rules: CareerRules, done: np.ndarray, month: int,
              attrition: np.random.Generator, promotion: np.random.Generator,
              rng: np.random.Generator, capacity: np.ndarray | None = None) -> np.ndarray:
    """Fixed-length stages that end now (``done``): go on with the continuation probability,
    or leave.

    Those who want to go on take the next stage's open places (``capacity``), chosen at
    random when they are more than the places; the others leave. Only people due for review
    can be ending a stage: their review tick is never later than the end of their stage.
    """
    completed = np.zeros((roster.n_stages, 2), np.int64)
    if len(done) == 0:
        return completed
    np.add.at(completed, (roster.stage[done], roster.woman[done].astype(np.int64)), 1)
    goes_on = rng.random(len(done)) < rules.continuation[roster.code[done]]
    nxt = rules.next_stage[roster.stage[done]]
    goes_on &= nxt != GONE
    roster.remove(done[~goes_on], month - 1)
    on = done[goes_on]
    nxt = nxt[goes_on]
    for target in np.unique(nxt):
        rows = on[nxt == target]
        places = np.inf if capacity is None else capacity[target]
        if len(rows) > places:
            keep = rng.permutation(len(rows))[: max(0, int(places))]
            roster.remove(np.delete(rows, keep), month - 1)
            rows = rows[np.sort(keep)]
        roster.move(rows, int(target), month, month - 1, attrition, promotion,
                    until=month + rules.stage_months[target])
    return completed


def monthly_hazard(yearly: float) -> float:
    return yearly / 12.0


def dropout_hazard(probability: float, months: float) -> float:
    """The constant monthly hazard that makes leaving within ``months`` this probable."""
    if probability >= 1.0:
        return np.inf
    return -np.log1p(-probability) / months
