"""Compiled kernels: the engine's per-month loops over the roster, in numba.

Why: a replication is ~5,000 agency-months, and the numpy path spends most of its time in
per-call overhead (~300k small numpy calls, each allocating a temporary), not in arithmetic.
A kernel does one agency-month's scan of the roster in one call, in a loop that touches each
row once.

What stays outside: every random number. Draws are made in numpy before a kernel is called and
passed in, in the order the numpy path draws them, so the two paths consume the streams
identically (a numba ``Generator`` argument would also give the same draws, but unboxing it
costs ~12 us a call, more than most kernels' work).

The numpy path in ``roster``, ``careers``, ``deployment`` and ``agencies`` is the reference:
``WPS_SIM_KERNELS=0`` (or :func:`use`) runs it, and ``tests/test_kernels.py`` checks that both
paths give bit-identical tallies on several replications. Each kernel copies the reference's
floating-point operations in the same order (``_max``/``_min`` propagate NaN as
``np.maximum``/``np.minimum`` do), which is what makes the results identical rather than close.

Kernels compile on first use and are cached on disk by numba (``cache=True``: beside this
file, or in the user's cache folder where that is read-only), so only the first run on a
machine pays the compilation (~10-20 s).
"""

from __future__ import annotations

import math
import os
from types import SimpleNamespace

import numpy as np

GONE = -1       # as sim.model.roster (kept here so the kernels need nothing else)
NOWHERE = -1

_LOADED: dict[bool, SimpleNamespace | None] = {}
_CHOICE: dict[str, bool] = {}


def use(compiled: bool | None) -> None:
    """Choose the path for agencies built from now on (``None``: the environment's choice)."""
    _CHOICE.pop("compiled", None)
    if compiled is not None:
        _CHOICE["compiled"] = compiled


def load() -> SimpleNamespace | None:
    """The compiled kernels, or None for the numpy reference path."""
    compiled = _CHOICE.get("compiled", os.environ.get("WPS_SIM_KERNELS", "1") != "0")
    if compiled not in _LOADED:
        _LOADED[compiled] = _compile() if compiled else None
    return _LOADED[compiled]


def _compile() -> SimpleNamespace | None:
    try:
        import numba
    except ImportError:     # an install without numba runs the reference path
        return None
    jit = numba.njit(cache=True, error_model="numpy", nogil=True)
    # Scalar pieces are inlined. Pieces that take arrays are called once per kernel, never
    # once per row: each call updates every array argument's reference count, which made the
    # careers scan 4x slower.
    inline = numba.njit(cache=True, error_model="numpy", nogil=True, inline="always")
    global _max, _min, _rates, _next_review, _count_moves, _count_year, _pick, _women_drawn
    global women_drawn
    _max, _min = inline(_max), inline(_min)
    _pick, _women_drawn, women_drawn = jit(_pick), jit(_women_drawn), jit(women_drawn)
    _rates, _next_review = inline(_rates), inline(_next_review)
    _count_moves, _count_year = jit(_count_moves), jit(_count_year)
    return SimpleNamespace(**{name: jit(fn) for name, fn in _KERNELS.items()})


# -- scalar pieces shared by the kernels --------------------------------------------------------

def _max(a, b):
    """``np.maximum`` of two floats (NaN wins)."""
    return a if (a >= b or a != a) else b


def _min(a, b):
    """``np.minimum`` of two floats (NaN wins)."""
    return a if (a <= b or a != a) else b


def _rates(tenure, attrition, promotion, promotion_min, early_attrition, early_months,
           early_multiplier):
    """One person's monthly hazards (``careers._rates``), from their code's entries."""
    r_e = attrition
    if early_multiplier != 1.0 and tenure < early_months:
        r_e = r_e * early_attrition
    r_p = promotion if tenure >= promotion_min else 0.0
    return r_e, r_p


def _next_review(month, since, until, e_exit, h_exit, e_prom, h_prom, r_e, r_p,
                 promotion_min, early_months):
    """The next tick at which anything can happen to a person (``careers._schedule``)."""
    nxt = _max(np.ceil(until), month + 1.0)
    left = np.inf
    if r_e > 0:
        left = (e_exit - h_exit) / r_e
    nxt = _min(nxt, month + _max(1.0, np.ceil(left)))
    left = np.inf
    if r_p > 0:
        left = (e_prom - h_prom) / r_p
    nxt = _min(nxt, month + _max(1.0, np.ceil(left)))
    b = np.ceil(since + (early_months + 1))
    if b <= month + 1:
        b = np.inf
    nxt = _min(nxt, b)
    b = np.ceil(since + (promotion_min + 1))
    if b <= month + 1:
        b = np.inf
    return _min(nxt, b)


def _count_moves(rows, to, gone_code, code, transitions_y, heads):
    """The rows' moves to stage ``to`` in the year's transitions and the heads (``Roster._count``:
    rows already gone are not counted); returns how many were counted. Called once per
    kernel with all its rows: a call per row would update the arrays' reference counts."""
    counted = 0
    for row in rows:
        c = code[row]
        if c >= gone_code:
            continue
        s, w = c // 2, c % 2
        transitions_y[s + 1, to + 1, w] += 1
        heads[s, w] -= 1
        if to != GONE:
            heads[to, w] += 1
        counted += 1
    return counted


def _count_year(rows, y, woman, dest, deployed, deployed_any, dep_year, dep_year_dest):
    """The rows, abroad, counted once per year overall and per destination (``count_year``)."""
    for row in rows:
        d = dest[row]
        w = 1 if woman[row] else 0
        if dep_year_dest[row, d] != y:
            deployed[y, d, w] += 1
            dep_year_dest[row, d] = y
        if dep_year[row] != y:
            deployed_any[y, w] += 1
            dep_year[row] = y


# -- careers ---------------------------------------------------------------------------------

def careers_scan(n, month, rebase_all, stage, code, since, until, e_exit, h_exit, e_prom,
                 h_prom, t_ref, r_exit, r_prom, review, attrition, promotion, promotion_min,
                 early_attrition, early_months, early_multiplier):
    """The tick ``month`` for everyone due (``careers.Clocks.step`` up to the removals).

    Returns the rows whose attrition clock ran out, those promoted, and those still in a
    fixed-length stage that ends now; each ascending. The rows that stay are rebased and
    rescheduled in place.
    """
    tick = month - 1
    if rebase_all:
        for i in range(n):
            if stage[i] != GONE:
                span = tick - t_ref[i]
                h_exit[i] += span * r_exit[i]
                h_prom[i] += span * r_prom[i]
                t_ref[i] = tick
                review[i] = month
    exits = np.empty(n, np.int64)
    promoted = np.empty(n, np.int64)
    done = np.empty(n, np.int64)
    n_e = n_p = n_d = 0
    for i in range(n):
        if not review[i] <= month:
            continue
        span = tick - t_ref[i]
        h_exit[i] += span * r_exit[i]
        h_prom[i] += span * r_prom[i]
        t_ref[i] = tick
        c = code[i]
        r_e, r_p = _rates(month - 1 - since[i], attrition[c], promotion[c], promotion_min[c],
                          early_attrition[c], early_months, early_multiplier)
        old_e, old_p = h_exit[i], h_prom[i]
        new_e, new_p = old_e + r_e, old_p + r_p
        fired_e = new_e >= e_exit[i]
        fired_p = new_p >= e_prom[i]
        if fired_e and fired_p:
            first_p = (e_prom[i] - old_p) / r_p < (e_exit[i] - old_e) / r_e
            fired_e, fired_p = not first_p, first_p
        if fired_e:
            exits[n_e] = i
            n_e += 1
        elif fired_p:
            promoted[n_p] = i
            n_p += 1
        else:
            h_exit[i], h_prom[i], t_ref[i] = new_e, new_p, month
            r_e, r_p = _rates(month - since[i], attrition[c], promotion[c], promotion_min[c],
                              early_attrition[c], early_months, early_multiplier)
            r_exit[i], r_prom[i] = r_e, r_p
            review[i] = _next_review(month, since[i], until[i], e_exit[i], new_e, e_prom[i],
                                     new_p, r_e, r_p, promotion_min[c], early_months)
            if until[i] <= month:
                done[n_d] = i
                n_d += 1
    return exits[:n_e], promoted[:n_p], done[:n_d]


# -- roster moves ------------------------------------------------------------------------------

def remove_rows(rows, gone_code, transitions_y, heads, stage, code, e_exit, e_prom, until,
                review, r_exit, r_prom, dest, pool):
    """``Roster.remove``: counted as leavers, then their rows cleared; returns the count."""
    counted = _count_moves(rows, GONE, gone_code, code, transitions_y, heads)
    for row in rows:
        stage[row] = GONE
        code[row] = gone_code
        e_exit[row] = np.inf
        e_prom[row] = np.inf
        until[row] = np.inf
        review[row] = np.inf
        r_exit[row] = 0.0
        r_prom[row] = 0.0
        dest[row] = NOWHERE
        pool[row] = False
    return counted


def move_rows(rows, to, month, until_value, clock_exit, clock_prom, gone_code, transitions_y,
              heads, woman, stage, code, since, until, e_exit, h_exit, e_prom, h_prom, t_ref,
              r_exit, r_prom, review):
    """``Roster.move`` with the fresh clocks already drawn (``clock_exit[j]`` for ``rows[j]``);
    returns the count."""
    counted = _count_moves(rows, to, gone_code, code, transitions_y, heads)
    for j in range(len(rows)):
        row = rows[j]
        stage[row] = to
        code[row] = 2 * to + woman[row]
        since[row] = month
        until[row] = until_value
        e_exit[row] = clock_exit[j]
        h_exit[row] = 0.0
        e_prom[row] = clock_prom[j]
        h_prom[row] = 0.0
        t_ref[row] = month
        r_exit[row] = 0.0
        r_prom[row] = 0.0
        review[row] = month + 1
    return counted


def add_rows(start, women, men, stage_value, month, until_value, since_value, since_given,
             clock_exit, clock_prom, woman, stage, code, since, until, e_exit, h_exit, e_prom,
             h_prom, t_ref, r_exit, r_prom, review, rest_until, dest, pool, dep_year,
             dep_year_dest):
    """``Roster.add`` into the rows from ``start``: ``women`` then ``men``, with their clocks
    drawn (``since_given[j]`` where given, else ``since_value``)."""
    for j in range(women + men):
        row = start + j
        w = j < women
        woman[row] = w
        stage[row] = stage_value
        code[row] = 2 * stage_value + (1 if w else 0)
        since[row] = since_given[j] if len(since_given) else since_value
        until[row] = until_value
        e_exit[row] = clock_exit[j]
        h_exit[row] = 0.0
        e_prom[row] = clock_prom[j]
        h_prom[row] = 0.0
        t_ref[row] = month
        r_exit[row] = 0.0
        r_prom[row] = 0.0
        review[row] = month + 1
        rest_until[row] = -np.inf
        dest[row] = NOWHERE
        pool[row] = False
        dep_year[row] = -1
        dep_year_dest[row, :] = -1


# -- deployment --------------------------------------------------------------------------------

def send_home(n, destination, rest_until_value, dest, rest_until):
    """Everyone at ``destination`` comes home and rests until ``rest_until_value``."""
    for i in range(n):
        if dest[i] == destination:
            dest[i] = NOWHERE
            rest_until[i] = rest_until_value


def candidates(n, month, pool_only, min_months, eligible, ready, dest, rest_until, pool, code,
               since):
    """Rows that may be sent now: at home, rested, in the pool if required, in an eligible
    stage, trained and senior enough (``Agency.deploy``'s mask), ascending."""
    out = np.empty(n, np.int64)
    k = 0
    for i in range(n):
        if dest[i] != NOWHERE or not rest_until[i] <= month or (pool_only and not pool[i]):
            continue
        c = code[i]
        if eligible[c] and month - since[i] >= _max(ready[c], min_months):
            out[k] = i
            k += 1
    return out[:k]


def post(rows, destination, y, woman, dest, deployed, deployed_any, dep_year, dep_year_dest):
    """The chosen rows go to ``destination`` and count as deployed in year index ``y``."""
    for row in rows:
        dest[row] = destination
    _count_year(rows, y, woman, dest, deployed, deployed_any, dep_year, dep_year_dest)


def carry_over(n, y, woman, dest, deployed, deployed_any, dep_year, dep_year_dest):
    """Those abroad on 1 January count in the new year (``deployment.carry_over``)."""
    rows = np.empty(n, np.int64)
    k = 0
    for i in range(n):
        if dest[i] != NOWHERE:
            rows[k] = i
            k += 1
    _count_year(rows[:k], y, woman, dest, deployed, deployed_any, dep_year, dep_year_dest)


def select_rows(rows, woman, k, weight, share, rng):
    """``deployment.select`` on candidate rows, drawing from ``rng`` inside the kernel in the
    reference's order (numba's Generator gives numpy's draws); ``share`` NaN: no target.
    Returns the chosen rows, women first, as the reference orders them."""
    n = len(rows)
    if k >= n:
        return rows.copy()
    n_w = 0
    for row in rows:
        if woman[row]:
            n_w += 1
    women, men = np.empty(n_w, np.int64), np.empty(n - n_w, np.int64)
    i_w = i_m = 0
    for row in rows:
        if woman[row]:
            women[i_w] = row
            i_w += 1
        else:
            men[i_m] = row
            i_m += 1
    n_m = n - n_w
    if share != share:
        k_w = _women_drawn(n_w, n_m, k, weight, rng)
    else:
        k_w = max(min(n_w, math.ceil(share * k - 1e-9)), k - n_m)
    out = np.empty(k, np.int64)
    out[:k_w] = _pick(women, k_w, rng)
    out[k_w:] = _pick(men, k - k_w, rng)
    return out


def _pick(rows, k, rng):
    """``deployment._pick``: ``k`` of ``rows`` uniformly without replacement."""
    if k >= len(rows):
        return rows
    if 4 * k >= len(rows):
        return rng.permutation(rows)[:k]
    picked = np.unique(rng.integers(0, len(rows), size=k + k // 4 + 8))
    while len(picked) < k:
        picked = np.unique(np.concatenate((picked, rng.integers(0, len(rows), size=k))))
    return rows[rng.permutation(picked)[:k]]


def _women_drawn(n_w, n_m, k, weight, rng):
    """``deployment.women_drawn``: the urn for small draws, the race of exponential keys for
    large ones (the women among the ``k`` smallest keys, counted against the k-th key)."""
    if k > 64:
        keys = np.empty(n_w + n_m)
        if weight > 0:
            keys[:n_w] = rng.exponential(size=n_w) / weight
        else:
            keys[:n_w] = np.inf
        keys[n_w:] = rng.exponential(size=n_m)
        kth = np.partition(keys, k - 1)[k - 1]
        if kth == np.inf:       # every finite key is drawn, the rest are women's inf keys
            return k - n_m
        k_w = 0
        for j in range(n_w):
            if keys[j] <= kth:
                k_w += 1
        return k_w
    return women_drawn(rng.random(k), n_w, n_m, weight)


def women_drawn(u, n_w, n_m, weight):
    """Wallenius' urn step by step with the uniforms ``u`` (``deployment.women_drawn``)."""
    k_w = 0
    for i in range(len(u)):
        w_mass = weight * (n_w - k_w)
        m_left = n_m - (i - k_w)
        if w_mass + m_left <= 0:
            break
        if u[i] * (w_mass + m_left) < w_mass:
            k_w += 1
    return k_w


# -- careers' appointments, the census and the pool ---------------------------------------------

def appointable(n, month, min_months, sources, code, since):
    """Rows in a source stage (``sources`` per code) with the tenure to be appointed."""
    out = np.empty(n, np.int64)
    k = 0
    for i in range(n):
        if sources[code[i]] and month - since[i] >= min_months:
            out[k] = i
            k += 1
    return out[:k]


def census(n, count_pool, woman, stage, dest, pool, posted, pool_stock):
    """Posted people by destination and gender, and (DEMA) pool members by gender, into the
    month's rows ``posted[d, w]`` and ``pool_stock[w]`` (zeroed first)."""
    posted[:] = 0
    pool_stock[:] = 0
    for i in range(n):
        w = 1 if woman[i] else 0
        if dest[i] >= 0:
            posted[dest[i], w] += 1
        if count_pool and pool[i] and stage[i] != GONE:
            pool_stock[w] += 1


def pool_turnover(n, u, join, leave, staff, external, woman, stage, code, dest, pool):
    """Staff join the pool, members withdraw (``DemaAgency.pool_step``); returns the external
    members who withdrew (they leave DEMA), ascending."""
    gone = np.empty(n, np.int64)
    k = 0
    for i in range(n):
        joins = staff[code[i]] and not pool[i] and u[i] < join[1 if woman[i] else 0]
        leaves = pool[i] and stage[i] != GONE and u[i] < leave and dest[i] < 0
        pool[i] = (pool[i] or joins) and not leaves
        if leaves and stage[i] == external:
            gone[k] = i
            k += 1
    return gone[:k]


_KERNELS = {f.__name__: f for f in (careers_scan, remove_rows, move_rows, add_rows, send_home, candidates,
                                    post, carry_over, select_rows, appointable, census,
                                    pool_turnover)}
