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

from sim.roster import GONE, Roster


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


@dataclass
class CareerEvents:
    """What one month's step did (for the census)."""

    completed: np.ndarray        # [stage, woman] fixed-length stages completed


def step(roster: Roster, rules: CareerRules, month: int, attrition: np.random.Generator,
         promotion: np.random.Generator, continuation: np.random.Generator) -> CareerEvents:
    """Advance everyone's clocks over the month that ends at ``month``."""
    n = roster.n
    event_month = month - 1
    code = roster.code[:n]
    tenure = event_month - roster.since[:n]
    h_e = rules.attrition[code]
    if rules.early_multiplier != 1.0:
        h_e[tenure < rules.early_months] *= rules.early_multiplier
    new_e = roster.h_exit[:n]
    new_e += h_e
    fired_e = new_e >= roster.e_exit[:n]

    h_p = rules.promotion[code]
    h_p[tenure < rules.promotion_min[code]] = 0.0
    new_p = roster.h_prom[:n]
    new_p += h_p
    fired_p = new_p >= roster.e_prom[:n]

    both = np.flatnonzero(fired_e & fired_p)
    if len(both):
        # Where both clocks ran out this month, the one that ran out first wins.
        frac_e = 1 - (new_e[both] - roster.e_exit[both]) / h_e[both]
        frac_p = 1 - (new_p[both] - roster.e_prom[both]) / h_p[both]
        first_p = frac_p < frac_e
        fired_e[both] = ~first_p
        fired_p[both] = first_p

    roster.remove(np.flatnonzero(fired_e), event_month)
    promoted = np.flatnonzero(fired_p)
    if len(promoted):
        targets = rules.promotion_to[roster.stage[promoted]]
        for target in np.unique(targets):
            rows = promoted[targets == target]
            roster.move(rows, int(target), month, event_month, attrition, promotion)
    return CareerEvents(_complete(roster, rules, month, attrition, promotion, continuation))


def _complete(roster: Roster, rules: CareerRules, month: int, attrition: np.random.Generator,
              promotion: np.random.Generator, rng: np.random.Generator) -> np.ndarray:
    """Fixed-length stages that end now: go on with the continuation probability, or leave."""
    n = roster.n
    done = np.flatnonzero((roster.until[:n] <= month) & (roster.stage[:n] != GONE))
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
