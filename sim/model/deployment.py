"""Deployment: who is sent abroad, when, and who is counted as deployed in a year.

Each destination holds a number of posts and rotates them together every ``rotation_months``.
At a rotation everyone there comes home and starts a rest period; the new rotation is drawn
from the eligible stages among people who are at home with their rest over. Women are drawn
with relative odds ``women_selection_weight`` (weighted sampling without replacement, by
probing rows: :func:`probe`), unless the destination has a ``target_share``: then women are
selected first until they make up at least that share (rounded up to whole persons), as far as
there are women available.

"Deployed during the year" counts distinct persons: a person sent twice in a year, or still
abroad on 1 January, is counted once per year (and once per destination).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.model.roster import NOWHERE, Roster


@dataclass(frozen=True)
class Rotation:
    """One destination's rotation, evaluated at its month."""

    destination: int
    positions: int
    women_weight: float
    target_share: float | None
    eligible: np.ndarray          # per stage code: may this stage deploy here?


def select(woman: np.ndarray, k: int, women_weight: float, target_share: float | None,
           rng: np.random.Generator) -> np.ndarray:
    """Indices into ``woman`` of the ``k`` people selected."""
    if k >= len(woman):
        return np.arange(len(woman))
    women = np.flatnonzero(woman)
    men = np.flatnonzero(~woman)
    if target_share is None:
        k_w = women_drawn(len(women), len(men), k, women_weight, rng)
    else:
        k_w = min(len(women), women_for_share(target_share, k))
        k_w = max(k_w, k - len(men))
    return np.concatenate([_pick(women, k_w, rng), _pick(men, k - k_w, rng)])


def women_for_share(share: float, k: int) -> int:
    """The fewest women among ``k`` posts whose share is at least ``share``.

    Rounded up, not to nearest: a rotation aimed at 15% of 30 posts takes 5 women (16.7%),
    since 4 (13.3%) would miss the target the lever is meant to meet. The tolerance keeps a
    product like 0.2 * 100 from rounding up past 20 by a floating-point hair.
    """
    return math.ceil(share * k - 1e-9)


def _pick(rows: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` of ``rows`` uniformly at random without replacement."""
    if k >= len(rows):
        return rows
    if 4 * k >= len(rows):
        return rng.permutation(rows)[:k]
    picked = np.unique(rng.integers(0, len(rows), size=k + k // 4 + 8))
    while len(picked) < k:
        picked = np.unique(np.concatenate([picked, rng.integers(0, len(rows), size=k)]))
    return rows[rng.permutation(picked)[:k]]


def women_drawn(n_w: int, n_m: int, k: int, weight: float, rng: np.random.Generator) -> int:
    """Women among ``k`` drawn one by one without replacement, a woman ``weight`` times as
    likely as a man to be drawn each time (Wallenius' urn).

    Small draws follow the urn step by step; large ones use the equivalent race of
    exponential keys (each person's key ~ Exp(their weight); the ``k`` smallest are drawn).
    """
    if k > 64:
        with np.errstate(over="ignore"):   # a tiny weight: the woman's key is inf, drawn last
            keys = np.concatenate([rng.exponential(size=n_w) / weight if weight > 0 else
                                   np.full(n_w, np.inf), rng.exponential(size=n_m)])
        return int((np.argpartition(keys, k - 1)[:k] < n_w).sum())
    u = rng.random(k)
    k_w = 0
    for i in range(k):
        w_mass = weight * (n_w - k_w)
        m_left = n_m - (i - k_w)
        if w_mass + m_left <= 0:
            break
        if u[i] * (w_mass + m_left) < w_mass:
            k_w += 1
    return k_w


def send_home(roster: Roster, destination: int, month: int, rest_months: float) -> None:
    """Everyone at the destination comes home and starts their rest period."""
    home = np.flatnonzero(roster.dest[: roster.n] == destination)
    roster.dest[home] = NOWHERE
    roster.rest_until[home] = month + rest_months


def available(roster: Roster, month: int, pool_only: bool) -> np.ndarray:
    """Who could be sent this month: at home, rested (and in the pool where required)."""
    n = roster.n
    ok = roster.dest[:n] == NOWHERE
    ok &= roster.rest_until[:n] <= month
    if pool_only:
        ok &= roster.pool[:n]
    return ok


def probe(roster: Roster, r: Rotation, month: int, ready: np.ndarray, pool_only: bool,
          rng: np.random.Generator) -> np.ndarray:
    """Up to ``r.positions`` people sent to ``r.destination``, drawn by :func:`probe_rows`
    among those who may be sent (``available``, an eligible stage, ``ready`` months in it),
    each posted as drawn; returns their rows in the order drawn.

    Why: a rotation draws a few hundred people (ten for the police) among ~10,000 at home,
    and listing them all took most of a rotation's time.
    """
    dest, rest_until, pool = roster.dest, roster.rest_until, roster.pool
    code, since = roster.code, roster.since

    def candidate(i: int) -> bool:
        if dest[i] != NOWHERE or not rest_until[i] <= month or (pool_only and not pool[i]):
            return False
        c = code[i]
        return bool(r.eligible[c] and month - since[i] >= ready[c])

    def post(i: int) -> None:
        dest[i] = r.destination

    return probe_rows(roster.n, r.positions, r.women_weight, roster.woman, candidate, post, rng)


def probe_rows(n: int, k: int, women_weight: float, woman: np.ndarray,
               candidate: Callable[[int], bool], take: Callable[[int], None],
               rng: np.random.Generator) -> np.ndarray:
    """Up to ``k`` of the rows below ``n`` for which ``candidate`` holds, drawn by probing:
    weighted sampling without replacement (women ``women_weight`` times as likely as men)
    one person at a time, without listing the candidates.

    A row drawn uniformly is kept when it is a candidate, and then with its weight's odds
    over the larger weight (women ``women_weight``, men 1): conditional on being kept, each
    candidate's chance is proportional to their weight, which is each step of the urn and
    the race of :func:`women_drawn` with :func:`_pick`. ``take(row)`` must make the row no
    longer a candidate. Probing stops after ``n // 4 + 64`` rows, drawn in blocks of twice
    what is missing plus 16 (the rows' integers, then uniforms unless the weight is 1), so
    that where candidates are few (or a weight near zero leaves too few of one gender) the
    caller draws the rest from the full list with :func:`select`, which continues the same
    sampling among those left. The compiled kernels (``kernels._probe``,
    ``kernels._probe_appointable``) draw the same numbers in the same order.
    """
    budget = n // 4 + 64
    weighted = women_weight != 1.0
    top = max(women_weight, 1.0)
    chosen: list[int] = []
    used = 0
    while len(chosen) < k and used < budget and n > 0:
        b = min(2 * (k - len(chosen)) + 16, budget - used)
        used += b
        rows = rng.integers(0, n, size=b).tolist()
        u = rng.random(b).tolist() if weighted else []
        for t, i in enumerate(rows):
            if not candidate(i):
                continue
            if weighted and not u[t] * top < (women_weight if woman[i] else 1.0):
                continue
            take(i)
            chosen.append(i)
            if len(chosen) == k:
                break
    return np.array(chosen, np.int64)


def send(roster: Roster, r: Rotation, month: int, ready: np.ndarray, pool_only: bool,
         rng: np.random.Generator, deployed: np.ndarray, deployed_any: np.ndarray) -> int:
    """Draw the next rotation: by :func:`probe` without a target share, and what it leaves
    (all of it with a target share) among every candidate still free (``available``, an
    eligible stage, ``ready`` months in it: months per stage code, seniority included)."""
    chosen = probe(roster, r, month, ready, pool_only, rng) if r.target_share is None \
        else np.empty(0, np.int64)
    if len(chosen) < r.positions:
        n = roster.n
        free = available(roster, month, pool_only)
        code = roster.code[:n]
        candidates = np.flatnonzero(free & r.eligible[code] & (month - roster.since[:n]
                                                               >= ready[code]))
        rest = candidates[select(roster.woman[candidates], r.positions - len(chosen),
                                 r.women_weight, r.target_share, rng)]
        roster.dest[rest] = r.destination
        chosen = np.concatenate([chosen, rest])
    count_year(roster, chosen, month, deployed, deployed_any)
    return len(chosen)


def nan_if_none(share: float | None) -> float:
    return float("nan") if share is None else float(share)


def count_year(roster: Roster, rows: np.ndarray, month: int, deployed: np.ndarray,
               deployed_any: np.ndarray) -> None:
    """Count distinct persons deployed in the year of ``month`` (per destination and overall)."""
    if len(rows) == 0:
        return
    y = roster.year_index(month)
    year = np.int16(y)
    d = roster.dest[rows].astype(np.int64)
    new_d = roster.dep_year_dest[rows, d] != year
    np.add.at(deployed[y], (d[new_d], roster.woman[rows][new_d].astype(np.int64)), 1)
    roster.dep_year_dest[rows[new_d], d[new_d]] = year
    new_any = roster.dep_year[rows] != year
    np.add.at(deployed_any[y], roster.woman[rows][new_any].astype(np.int64), 1)
    roster.dep_year[rows[new_any]] = year


def carry_over(roster: Roster, month: int, deployed: np.ndarray,
               deployed_any: np.ndarray) -> None:
    """On 1 January, those still abroad count as deployed in the new year."""
    if roster.k is not None:
        roster.k.carry_over(roster.n, roster.year_index(month), roster.woman, roster.dest,
                            deployed, deployed_any, roster.dep_year, roster.dep_year_dest)
        return
    rows = np.flatnonzero(roster.dest[: roster.n] != NOWHERE)
    count_year(roster, rows, month, deployed, deployed_any)
