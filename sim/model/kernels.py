"""Compiled kernels: the engine's per-month work on the roster, in numba.

Why: a replication is ~4,000 agency-months, and the numpy path spends most of its time in
per-call overhead (~300k small numpy calls, each allocating a temporary), not in arithmetic.
Here one kernel call does an agency's careers step (:func:`careers_month`: the scan of
everyone due, leavers, promotions, completions and appointments) or a month's rotations
(:func:`rotate`), touching each row at most once: rotations and appointments draw their
people by probing rows (:func:`_probe`, ``deployment.probe_rows``) rather than listing every
candidate.

Random numbers: the kernels draw from the very streams the numpy path uses, in the same order
(numba's ``Generator`` methods give numpy's draws bit for bit; :func:`_permutation` writes out
numpy's 1-d shuffle, which numba's own does ~3x slower). A stream reaches a kernel as the
addresses of its bit generator's state and functions (:func:`stream`), from which the kernel
rebuilds the Generator (:func:`_generator_intrinsic`): passing the Generator itself costs ~12 us
a call. Where a kernel is called from Python with rows chosen elsewhere (``move_rows``), the
draws are made in numpy first and passed in.

Calls: the engine calls each kernel in ``_DIRECT`` from one place with fixed types, so after
the first call it goes straight to the compiled entry point (:class:`_Direct`), skipping
numba's typing of every argument (~4 us for the careers step's thirty).

The numpy path in ``roster``, ``careers``, ``deployment`` and ``agencies`` is the reference:
``WPS_SIM_KERNELS=0`` (or :func:`use`) runs it, and ``tests/test_kernels.py`` checks that both
paths give bit-identical tallies on several replications and scenarios. Each kernel repeats
the reference's floating-point operations in the same order (``_max``/``_min`` propagate NaN
as ``np.maximum``/``np.minimum`` do), which is what makes the results identical, not close.

Two ways to get machine code. An install builds the kernels ahead of time
(``sim.model.ahead_of_time``, at ``pip install``, with :data:`SIGNATURES`) into the extension
module ``sim.model._kernels_aot``, which needs neither numba nor a compiler at run time: a
process loads it in a millisecond, where numba's import, registries and cache took ~0.8 s of
``run --replications 1``. The module carries the digest of this file's source
(:func:`source_digest`), so a kernel edited since the build is never run stale: the kernels are
then compiled on first use and cached on disk by numba (``cache=True``: beside this file, or in
the user's cache folder where that is read-only), as they are wherever the extension could not
be built (no C compiler); only the first such run on a machine pays the compilation (about a
minute). Where no folder is writable (``NUMBA_CACHE_DIR`` unset on a read-only install and
home), the numpy path runs, with a warning, rather than every worker compiling anew.
``WPS_SIM_KERNELS=jit`` (or ``use("jit")``) skips the extension; ``tests/test_kernels.py``
holds both builds of the kernels to identical tallies.
"""

from __future__ import annotations

import gc
import hashlib
import math
import os
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Literal

import numpy as np

GONE = -1       # as sim.model.roster (kept here so the kernels need nothing else)
NOWHERE = -1

#: Which code runs the engine: the numpy reference, the kernels as built ahead of time where
#: that build is current (else compiled by numba on first use), or numba's compilation only.
KernelPath = Literal["numpy", "compiled", "jit"]

_LOADED: dict[str, SimpleNamespace | None] = {}
_CHOICE: dict[str, KernelPath] = {}


def use(path: bool | Literal["jit"] | None) -> None:
    """Choose the path for agencies built from now on: ``False`` the numpy reference,
    ``True`` the compiled kernels (ahead of time where built), ``"jit"`` numba's compilation
    only, ``None`` the environment's choice (``WPS_SIM_KERNELS``: ``0``, ``1`` or ``jit``)."""
    _CHOICE.pop("path", None)
    if path is not None:
        _CHOICE["path"] = "jit" if path == "jit" else "compiled" if path else "numpy"


def _chosen() -> KernelPath:
    if "path" in _CHOICE:
        return _CHOICE["path"]
    value = os.environ.get("WPS_SIM_KERNELS", "1")
    return "numpy" if value == "0" else "jit" if value == "jit" else "compiled"


def load() -> SimpleNamespace | None:
    """The compiled kernels, or None for the numpy reference path. The namespace's ``path``
    says which build runs: ``"ahead-of-time"`` or ``"jit"``."""
    chosen = _chosen()
    if chosen not in _LOADED:
        if chosen == "numpy":
            _LOADED[chosen] = None
        elif chosen == "compiled":
            _LOADED[chosen] = _ahead_of_time() or load_jit()
        else:
            _LOADED[chosen] = load_jit()
    return _LOADED[chosen]


def load_jit() -> SimpleNamespace | None:
    """The kernels compiled by numba (or loaded from its cache), or None without numba."""
    if "jit" not in _LOADED:
        _LOADED["jit"] = _compile()
        if _LOADED["jit"] is not None:
            # numba's registries and the loaded kernels live as long as the process: frozen,
            # the garbage collector stops walking their ~10^5 objects at every full collection
            # (which made a run's report and files ~0.2 s slower once numba was loaded).
            gc.freeze()
    return _LOADED["jit"]


def source_digest() -> int:
    """This file's sha256 as a 60-bit integer: what the ahead-of-time build records, and
    what tells a build from an older source."""
    return int(hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:15], 16)


def _ahead_of_time() -> SimpleNamespace | None:
    """The kernels of ``sim.model._kernels_aot``, if the install built them from this very
    source; None otherwise (not built, or built before this file last changed)."""
    try:
        from sim.model import _kernels_aot as built  # type: ignore[attr-defined]
    except ImportError:
        return None
    if built.source_digest() != source_digest():
        return None
    return SimpleNamespace(path="ahead-of-time", stream=stream,
                           **{name: getattr(built, name) for name in _KERNELS})


def _compile(cache: bool = True) -> SimpleNamespace | None:
    try:
        import numba
    except ImportError:     # an install without numba runs the reference path
        return None
    jit = numba.njit(cache=cache, error_model="numpy", nogil=True)
    inline = numba.njit(cache=cache, error_model="numpy", nogil=True, inline="always")
    # Scalar pieces are inlined. Pieces that take arrays are called once per kernel, never
    # once per row: each call updates every array argument's reference count, which made the
    # careers scan 4x slower. Kernels call each other through these module names, so every
    # one is replaced by its compiled version here (compilation itself waits for a first call).
    here = globals()
    if not hasattr(here["careers_month"], "py_func"):     # not yet replaced in this process
        _load_registries()
        try:
            compiled = {name: inline(here[name]) for name in _INLINE}
            compiled.update({name: jit(here[name]) for name in (*_PIECES, *_KERNELS)})
        except RuntimeError as err:     # no writable cache folder: numba cannot cache here
            warnings.warn(f"the compiled kernels cannot be cached here ({err}); running the "
                          "numpy path instead, which gives the same numbers more slowly. Set "
                          "NUMBA_CACHE_DIR to a writable folder to use the kernels.",
                          RuntimeWarning, stacklevel=2)
            return None
        here.update(compiled)
        here["_generator"] = _generator_intrinsic()
        from numba.np.random.random_methods import random_interval
        here["_random_interval"] = random_interval
    return SimpleNamespace(path="jit", stream=stream, **{
        name: _Direct(here[name]) if name in _DIRECT else here[name] for name in _KERNELS})


def _load_registries() -> None:
    """Load numba's CPU registries now, without its check for a BLAS.

    Why: the first kernel a process loads makes numba import its array-math registry, which
    imports scipy.linalg (~0.4 s, about half of numba's start-up here) only to learn whether a
    BLAS exists for the inner products of ``np.cov`` and ``np.corrcoef``; no kernel uses them,
    and nothing else on the run path imports scipy. Answering "no BLAS" while the registries
    load skips the import; numba's own check is put back at once, so linear algebra compiled
    later in the process still finds scipy.
    """
    from numba.core.registry import cpu_target
    from numba.np import linalg

    def no_blas() -> None:
        raise ImportError("not needed by the kernels")

    original = getattr(linalg, "ensure_blas", None)
    linalg.ensure_blas = no_blas
    try:
        cpu_target.target_context.refresh()
    finally:
        if original is not None:
            linalg.ensure_blas = original


class _Direct:
    """A kernel called from Python through its compiled entry point, once that is known.

    Why: numba's dispatcher types every argument at every call to find the compiled version,
    ~4 us for the careers step's thirty arguments, and the kernels are called ~4,000 times a
    replication. Each kernel in ``_DIRECT`` is called from one place in the engine, always
    with the same types, so once the first call has compiled (or loaded) its one version,
    later calls go straight to it. The entry point does not check types: a call with other
    types would be misread, which is why only those kernels are called this way and
    ``tests/test_kernels.py`` checks that every scenario gives each of them one signature.
    """

    def __init__(self, dispatcher) -> None:
        self.dispatcher = dispatcher
        self._entry = None

    def __call__(self, *args):
        if self._entry is not None:
            return self._entry(*args)
        out = self.dispatcher(*args)
        if len(self.dispatcher.overloads) == 1:
            self._entry = next(iter(self.dispatcher.overloads.values())).entry_point
        return out


# -- random streams ----------------------------------------------------------------------------

def _random_interval(bits, top):
    """A uniform integer in ``[0, top]`` as numpy draws it (``random_interval`` in its C
    library): only inside compiled kernels, where :func:`_compile` puts numba's translation
    of it (``numba.np.random.random_methods``) in its place."""
    raise RuntimeError("kernels that draw from a stream address run compiled only")


def _generator(s):
    """A Generator over the stream ``s``: only inside compiled kernels, where :func:`_compile`
    puts the intrinsic from :func:`_generator_intrinsic` in its place."""
    raise RuntimeError("kernels that draw from a stream address run compiled only")


def stream(rng: np.random.Generator) -> np.ndarray:
    """What a kernel rebuilds ``rng`` from (:func:`_generator`): its bit generator's state
    and its three ``next_*`` function addresses, as numba's own unboxing reads them.

    Why: passing a Generator to a kernel costs ~12 us a call (numba types it in Python and
    casts three ctypes function pointers); passing this small array costs well under one, and
    the agency-months make ~1,200 such calls a replication. The kernel draws through the same
    state, so the Generator in Python sees every draw. The caller keeps ``rng`` alive as long
    as the array is used (the agencies hold both).
    """
    import ctypes

    c = rng.bit_generator.ctypes

    def address(fn) -> int:
        return ctypes.cast(fn, ctypes.c_void_p).value or 0

    return np.array([c.state_address, c.state.value or 0, address(c.next_uint64),
                     address(c.next_uint32), address(c.next_double)], np.uint64)


def _generator_intrinsic():
    """``_generator(s)``: a numba Generator over the stream ``s`` (:func:`stream`), built in
    the kernel as ``numba.core.boxing.unbox_numpy_random_generator`` builds one from Python
    (the fields numba's draws read: the state and the ``next_*`` pointers; no Python parent,
    no memory info, since the Generator never goes back to Python)."""
    from numba.core import cgutils, types
    from numba.core.extending import intrinsic

    @intrinsic
    def _generator(typingctx, s):
        def codegen(context, builder, sig, args):
            array = context.make_array(sig.args[0])(context, builder, args[0])

            def item(i: int):
                return builder.load(cgutils.gep(builder, array.data, i))

            bits = cgutils.create_struct_proxy(types.npy_bitgen)(context, builder)
            bits.state_address = item(0)
            bits.state = item(1)
            bits.fnptr_next_uint64 = item(2)
            bits.fnptr_next_uint32 = item(3)
            bits.fnptr_next_double = item(4)
            generator = cgutils.create_struct_proxy(types.npy_rng)(context, builder)
            generator.bit_generator = bits._getvalue()
            return generator._getvalue()

        return types.npy_rng(s), codegen

    return _generator


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

    Returns the rows whose attrition clock ran out, those promoted and those still in a
    fixed-length stage that ends now, each ascending. The rows that stay are rebased and
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
        c = np.uint16(code[i])   # unsigned: no check for a negative index (~15%)
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


def careers_month(n, month, rebase_all, cols, transitions_y, heads, gone_code, attrition,
                  promotion, promotion_min, early_attrition, early_months, early_multiplier,
                  promotion_to, next_stage, stage_months, continuation, capacity,
                  appoint_to, appoint_sources, appoint_posts, appoint_min_months,
                  appoint_weight, appoint_share, completed, attrition_stream,
                  promotion_stream, recruitment_stream):
    """One agency's careers step at tick ``month`` (``Agency.careers_step`` with
    ``careers.Clocks.step``): the scan, leavers, promotions, completions of fixed stages and
    appointments, drawing from the three streams (:func:`stream`) inside the kernel in the
    reference's order.

    ``cols`` are the roster's columns (``Roster.columns``); ``capacity`` is inf where a
    stage takes every continuer; ``appoint_to`` is -1 when no stage is filled by
    appointment this month. Adds the completions into ``completed[stage, woman]``; returns
    (people moved or removed, people appointed).
    """
    (woman, stage, code, since, until, e_exit, h_exit, e_prom, h_prom, t_ref, r_exit, r_prom,
     review, rest_until, dest, pool, dep_year, dep_year_dest) = cols
    attrition_rng = _generator(attrition_stream)
    promotion_rng = _generator(promotion_stream)
    recruitment_rng = _generator(recruitment_stream)
    exits, promoted, done = careers_scan(
        n, month, rebase_all, stage, code, since, until, e_exit, h_exit, e_prom, h_prom, t_ref,
        r_exit, r_prom, review, attrition, promotion, promotion_min, early_attrition,
        early_months, early_multiplier)
    moved = remove_rows(exits, gone_code, transitions_y, heads, cols)
    targets = np.empty(len(promoted), np.int64)
    for j in range(len(promoted)):
        targets[j] = promotion_to[stage[promoted[j]]]
    for target in _distinct(targets):
        moved += _move_drawn(promoted[targets == target], target, month,
                             month + stage_months[target], cols, transitions_y, heads,
                             gone_code, attrition_rng, promotion_rng)
    moved += _complete(done, month, cols, transitions_y, heads, gone_code, next_stage,
                       stage_months, continuation, capacity, completed, attrition_rng,
                       promotion_rng, recruitment_rng)
    appointed = 0
    if appoint_to >= 0:
        appointed = _appoint(n, month, cols, transitions_y, heads, gone_code,
                             appoint_to, appoint_sources, appoint_posts, appoint_min_months,
                             appoint_weight, appoint_share, attrition_rng, promotion_rng)
        moved += appointed
    return moved, appointed


def _move_drawn(rows, to, month, until_value, cols, transitions_y, heads, gone_code,
                attrition_rng, promotion_rng):
    """``Roster.move`` drawing the fresh clocks (attrition's, then promotion's)."""
    (woman, stage, code, since, until, e_exit, h_exit, e_prom, h_prom, t_ref, r_exit, r_prom,
     review, rest_until, dest, pool, dep_year, dep_year_dest) = cols
    clock_exit = attrition_rng.exponential(size=len(rows))
    clock_prom = promotion_rng.exponential(size=len(rows))
    return move_rows(rows, to, month, until_value, clock_exit, clock_prom, gone_code,
                     transitions_y, heads, cols)


def _complete(done, month, cols, transitions_y, heads, gone_code, next_stage, stage_months,
              continuation, capacity, completed, attrition_rng, promotion_rng,
              recruitment_rng):
    """``careers._complete``: fixed stages ending now; go on into the open places or leave."""
    (woman, stage, code, since, until, e_exit, h_exit, e_prom, h_prom, t_ref, r_exit, r_prom,
     review, rest_until, dest, pool, dep_year, dep_year_dest) = cols
    if len(done) == 0:
        return 0
    for row in done:
        completed[stage[row], 1 if woman[row] else 0] += 1
    u = recruitment_rng.random(len(done))
    goes_on = np.empty(len(done), np.bool_)
    nxt = np.empty(len(done), np.int64)
    for j in range(len(done)):
        row = done[j]
        nxt[j] = next_stage[stage[row]]
        goes_on[j] = u[j] < continuation[code[row]] and nxt[j] != GONE
    moved = remove_rows(done[~goes_on], gone_code, transitions_y, heads, cols)
    on, nxt = done[goes_on], nxt[goes_on]
    for target in _distinct(nxt):
        rows = on[nxt == target]
        places = capacity[target]
        if len(rows) > places:
            keep = _permutation(np.arange(len(rows)), recruitment_rng)[:max(0, int(places))]
            kept = np.zeros(len(rows), np.bool_)
            kept[keep] = True
            moved += remove_rows(rows[~kept], gone_code, transitions_y, heads, cols)
            rows = rows[kept]
        moved += _move_drawn(rows, target, month, month + stage_months[target], cols,
                             transitions_y, heads, gone_code, attrition_rng, promotion_rng)
    return moved


def _appoint(n, month, cols, transitions_y, heads, gone_code, to, sources, posts,
             min_months, weight, share, attrition_rng, promotion_rng):
    """``Agency.appoint``: vacancies of stage ``to`` filled from its sources (``sources``
    per code, ``min_months`` in the stage), by probing rows (:func:`_probe_appointable`)
    without a target share, and for the rest (all of it with one) among every one
    appointable (:func:`_appointable`); returns how many were appointed."""
    (woman, stage, code, since, until, e_exit, h_exit, e_prom, h_prom, t_ref, r_exit, r_prom,
     review, rest_until, dest, pool, dep_year, dep_year_dest) = cols
    vacancies = posts - heads[to, 0] - heads[to, 1]
    if vacancies <= 0:
        return 0
    taken = np.zeros(n, np.bool_)
    chosen = np.empty(vacancies, np.int64)
    m = 0
    if share != share:
        m = _probe_appointable(n, vacancies, month, sources, min_months, weight, woman, code,
                               since, taken, chosen, promotion_rng)
    if m < vacancies:
        women, men = _appointable(n, month, min_months, sources, woman, code, since, taken)
        rest_of = select_split(women, men, vacancies - m, weight, share, promotion_rng)
        chosen[m:m + len(rest_of)] = rest_of
        m += len(rest_of)
    if m == 0:
        return 0
    _move_drawn(chosen[:m], to, month, np.inf, cols, transitions_y, heads, gone_code,
                attrition_rng, promotion_rng)
    return m


def _probe_appointable(n, k, month, sources, min_months, weight, woman, code, since, taken,
                       chosen, rng):
    """:func:`_probe` for appointments (``Agency.appoint`` with ``deployment.probe_rows``):
    those in a source stage with the tenure, not ``taken`` yet; the rows accepted are marked
    in ``taken``."""
    m = used = 0
    budget = _probe_budget(n)
    while m < k and used < budget:
        rows, u = _probe_block(n, k, m, budget - used, weight, rng)
        used += len(rows)
        for t in range(len(rows)):
            i = rows[t]
            if taken[i] or not sources[np.uint16(code[i])] or not month - since[i] >= min_months:
                continue
            if not _kept(u, t, weight, woman[i]):
                continue
            taken[i] = True
            chosen[m] = i
            m += 1
            if m == k:
                break
    return m


# -- roster moves ------------------------------------------------------------------------------

def remove_rows(rows, gone_code, transitions_y, heads, cols):
    """``Roster.remove``: counted as leavers, then their rows cleared; returns the count."""
    (woman, stage, code, since, until, e_exit, h_exit, e_prom, h_prom, t_ref, r_exit, r_prom,
     review, rest_until, dest, pool, dep_year, dep_year_dest) = cols
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
              heads, cols):
    """``Roster.move`` with the fresh clocks already drawn (``clock_exit[j]`` for ``rows[j]``);
    returns the count."""
    (woman, stage, code, since, until, e_exit, h_exit, e_prom, h_prom, t_ref, r_exit, r_prom,
     review, rest_until, dest, pool, dep_year, dep_year_dest) = cols
    counted = _count_moves(rows, to, gone_code, code, transitions_y, heads)
    _enter_stage(rows, to, month, until_value, clock_exit, clock_prom, cols)
    return counted


def _enter_stage(rows, to, month, until_value, clock_exit, clock_prom, cols):
    """The rows start stage ``to`` at ``month``: tenure and fresh clocks (``clock_exit[j]``
    for ``rows[j]``), reviewed at the next tick (``Roster._fresh_clocks``)."""
    (woman, stage, code, since, until, e_exit, h_exit, e_prom, h_prom, t_ref, r_exit, r_prom,
     review, rest_until, dest, pool, dep_year, dep_year_dest) = cols
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


def add_rows(start, women, men, stage_value, month, until_value, since_given,
             attrition_stream, promotion_stream, cols, transitions_y, heads, count):
    """``Roster.add`` into the rows from ``start``: ``women`` then ``men``, with their clocks
    drawn from the two streams (:func:`stream`: attrition's, then promotion's),
    ``since_given[j]`` where given, else the month; counted as entrants into
    ``transitions_y`` when ``count``."""
    (woman, stage, code, since, until, e_exit, h_exit, e_prom, h_prom, t_ref, r_exit, r_prom,
     review, rest_until, dest, pool, dep_year, dep_year_dest) = cols
    k = women + men
    clock_exit = _generator(attrition_stream).exponential(size=k)
    clock_prom = _generator(promotion_stream).exponential(size=k)
    rows = np.arange(start, start + k)
    for j in range(k):
        row = rows[j]
        woman[row] = j < women
        rest_until[row] = -np.inf
        dest[row] = NOWHERE
        pool[row] = False
        dep_year[row] = -1
        dep_year_dest[row, :] = -1
    _enter_stage(rows, stage_value, month, until_value, clock_exit, clock_prom, cols)
    if len(since_given):
        for j in range(k):
            since[rows[j]] = since_given[j]
    heads[stage_value, 0] += men
    heads[stage_value, 1] += women
    if count:
        transitions_y[0, stage_value + 1, 1] += women
        transitions_y[0, stage_value + 1, 0] += men


# -- deployment --------------------------------------------------------------------------------

def rotate(n, month, y, due, rest, eligible, min_months, positions, shares, weight,
           pool_only, ready, cols, deployed, deployed_any, deployment_stream):
    """A month's rotations (``Agency.deploy``): everyone at the due destinations ``due``
    comes home and rests (``rest[j]`` months), then each destination in turn draws its
    rotation among those at home, rested (in the pool where required), in an eligible stage
    (``eligible[j, code]``), trained and senior enough; those sent by an earlier destination
    this month are abroad again, so not at home. Without a target share the rotation is
    drawn by probing rows (:func:`_probe`), with one a full list of the candidates
    (:func:`_at_home`, :func:`select_split`), as is the rest of a rotation the probes did
    not fill. Draws from ``deployment_stream`` (:func:`stream`). Returns the number sent."""
    (woman, stage, code, since, until, e_exit, h_exit, e_prom, h_prom, t_ref, r_exit, r_prom,
     review, rest_until, dest, pool, dep_year, dep_year_dest) = cols
    rng = _generator(deployment_stream)
    _bring_home(n, month, due, rest, dest, rest_until)
    sent = 0
    for j in range(len(due)):
        k = positions[j]
        chosen = np.empty(max(k, 0), np.int64)
        m = 0
        if shares[j] != shares[j]:
            m = _probe(n, k, month, due[j], eligible[j], min_months[j], pool_only, ready,
                       weight, woman, code, since, rest_until, dest, pool, chosen, rng)
        if m < k:
            women, men = _at_home(n, month, eligible[j], min_months[j], pool_only, ready,
                                  woman, code, since, rest_until, dest, pool)
            rest_of = select_split(women, men, k - m, weight, shares[j], rng)
            for row in rest_of:
                dest[row] = due[j]
            chosen[m:m + len(rest_of)] = rest_of
            m += len(rest_of)
        _count_year(chosen[:m], y, woman, dest, deployed, deployed_any, dep_year,
                    dep_year_dest)
        sent += m
    return sent


def _bring_home(n, month, due, rest, dest, rest_until):
    """Everyone at a due destination comes home and rests (``deployment.send_home``)."""
    for i in range(n):
        d = dest[i]
        if d != NOWHERE:
            for k in range(len(due)):
                if due[k] == d:
                    dest[i] = NOWHERE
                    rest_until[i] = month + rest[k]


def _probe(n, k, month, destination, eligible, min_months, pool_only, ready, weight, woman,
           code, since, rest_until, dest, pool, chosen, rng):
    """``deployment.probe``: up to ``k`` people sent to ``destination`` by probing rows
    drawn uniformly, each candidate accepted with its weight's odds (women ``weight``, men
    1, over the larger): weighted sampling without replacement, one person at a time, as the
    urn and the race draw it. Stops after ``n // 4 + 64`` probes, drawn in blocks of twice
    what is missing plus 16 (integers, then uniforms unless ``weight`` is 1). Those accepted
    are posted at once, in ``chosen``; returns their number."""
    m = used = 0
    budget = _probe_budget(n)
    while m < k and used < budget:
        rows, u = _probe_block(n, k, m, budget - used, weight, rng)
        used += len(rows)
        for t in range(len(rows)):
            i = rows[t]
            if dest[i] != NOWHERE or not rest_until[i] <= month or (pool_only and not pool[i]):
                continue
            c = np.uint16(code[i])
            if not (eligible[c] and month - since[i] >= _max(ready[c], min_months)):
                continue
            if not _kept(u, t, weight, woman[i]):
                continue
            dest[i] = destination
            chosen[m] = i
            m += 1
            if m == k:
                break
    return m


def _probe_budget(n):
    """How many rows probing draws at most before the full list takes over (``n // 4 +
    64``; ``deployment.probe_rows``); none from an empty roster."""
    return n // 4 + 64 if n > 0 else 0


def _probe_block(n, k, m, left, weight, rng):
    """The next block of probes, ``m`` of ``k`` found (``deployment.probe_rows``): rows
    drawn uniformly below ``n``, twice what is missing plus 16 (at most ``left``), then a
    uniform for each unless ``weight`` is 1."""
    b = min(2 * (k - m) + 16, left)
    rows = rng.integers(0, n, size=b)
    return rows, (rng.random(b) if weight != 1.0 else np.empty(0))


def _kept(u, t, weight, is_woman):
    """Is probe ``t``'s candidate kept, with the odds of their weight (women ``weight``, men
    1) over the larger weight? Always with equal weights (``u`` is then not drawn)."""
    return weight == 1.0 or u[t] * _max(weight, 1.0) < (weight if is_woman else 1.0)


def _at_home(n, month, eligible, min_months, pool_only, ready, woman, code, since, rest_until,
             dest, pool):
    """Women and men (rows, ascending) who may be sent: at home, rested, in the pool where
    required, in an eligible stage, trained and senior enough."""
    women, men = np.empty(n, np.int64), np.empty(n, np.int64)
    n_w = n_m = 0
    for i in range(n):
        if dest[i] != NOWHERE or not rest_until[i] <= month or (pool_only and not pool[i]):
            continue
        c = np.uint16(code[i])   # unsigned: no check for a negative index (~15%)
        if eligible[c] and month - since[i] >= _max(ready[c], min_months):
            if woman[i]:
                women[n_w] = i
                n_w += 1
            else:
                men[n_m] = i
                n_m += 1
    return women[:n_w], men[:n_m]


def carry_over(n, y, woman, dest, deployed, deployed_any, dep_year, dep_year_dest):
    """Those abroad on 1 January count in the new year (``deployment.carry_over``)."""
    rows = np.empty(n, np.int64)
    k = 0
    for i in range(n):
        if dest[i] != NOWHERE:
            rows[k] = i
            k += 1
    _count_year(rows[:k], y, woman, dest, deployed, deployed_any, dep_year, dep_year_dest)


def select_split(women, men, k, weight, share, rng):
    """``deployment.select`` among candidate rows given as women's and men's (each
    ascending), drawing from ``rng`` inside the kernel in the reference's order (numba's
    Generator gives numpy's draws); ``share`` NaN: no target. Returns the chosen rows as the
    reference orders them: women then men, or every candidate in row order when ``k`` takes
    them all."""
    n_w, n_m = len(women), len(men)
    if k >= n_w + n_m:
        return _merge(women, men)
    if share != share:
        k_w = _women_drawn(n_w, n_m, k, weight, rng)
    else:
        k_w = max(min(n_w, math.ceil(share * k - 1e-9)), k - n_m)
    out = np.empty(k, np.int64)
    out[:k_w] = _pick(women, k_w, rng)
    out[k_w:] = _pick(men, k - k_w, rng)
    return out


def _merge(a, b):
    """Two ascending row lists as one."""
    out = np.empty(len(a) + len(b), np.int64)
    i = j = 0
    for k in range(len(out)):
        if j >= len(b) or (i < len(a) and a[i] < b[j]):
            out[k] = a[i]
            i += 1
        else:
            out[k] = b[j]
            j += 1
    return out


def _pick(rows, k, rng):
    """``deployment._pick``: ``k`` of ``rows`` uniformly without replacement."""
    if k >= len(rows):
        return rows
    if 4 * k >= len(rows):
        return _permutation(rows, rng)[:k]
    picked = _unique_below(rng.integers(0, len(rows), size=k + k // 4 + 8), len(rows))
    while len(picked) < k:
        picked = _unique_below(np.concatenate((picked, rng.integers(0, len(rows), size=k))),
                               len(rows))
    return rows[_permutation(picked, rng)[:k]]


def _unique_below(values, top):
    """``np.unique(values)`` for integers in ``[0, top)``: marked in a table and read back in
    order (no sort: numba's sort is a large piece of code that every process loads)."""
    seen = np.zeros(top, np.bool_)
    for v in values:
        seen[v] = True
    return np.flatnonzero(seen)


def _distinct(values):
    """``np.unique(values)`` for small non-negative integers (stage indexes), ascending."""
    if len(values) == 0:
        return values
    return _unique_below(values, values.max() + 1)


def _kth_smallest(values, k):
    """The ``k``-th smallest (0-based) of ``values``, as ``np.partition(values, k)[k]`` gives
    it (an order statistic is one value, whichever way it is found): Hoare's selection with a
    middle pivot, on a copy. Written out because numba's partition is a large piece of code
    that every process loads with the kernels."""
    a = values.copy()
    lo, hi = 0, len(a) - 1
    while lo < hi:
        pivot = a[(lo + hi) // 2]
        i, j = lo, hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while pivot < a[j]:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return a[k]
    return a[k]


def _permutation(rows, rng):
    """``rng.permutation(rows)`` for a 1-d array: numpy's shuffle (from the last element down,
    each swapped with one drawn by ``random_interval``), the same draws and swaps. numba's
    own goes through its n-dimensional shuffle, a view per element: ~30 ns each, 6x slower."""
    out = rows.copy()
    bits = rng.bit_generator
    for i in range(len(out) - 1, 0, -1):
        j = np.intp(_random_interval(bits, i))
        out[i], out[j] = out[j], out[i]
    return out


def _women_drawn(n_w, n_m, k, weight, rng):
    """``deployment.women_drawn``: the urn for small draws, the race of exponential keys for
    large ones (:func:`_race`)."""
    if k > 64:
        return _race(n_w, n_m, k, weight, rng)
    return women_drawn(rng.random(k), n_w, n_m, weight)


def _race(n_w, n_m, k, weight, rng):
    """The women among the ``k`` smallest of the exponential keys (women's divided by
    ``weight``), drawn as the reference draws them, counted against the k-th key.

    The k-th key is found among the few keys below a threshold ``t`` set so that about
    ``1.25 k`` fall below it: when at least ``k`` do, the ``k`` smallest are all among them.
    Only when fewer do is every key partitioned. A partition of ~10,000 keys had taken as
    long as drawing them."""
    keys = np.empty(n_w + n_m)
    if weight > 0:
        keys[:n_w] = rng.exponential(size=n_w) / weight
    else:
        keys[:n_w] = np.inf
    keys[n_w:] = rng.exponential(size=n_m)
    t = (1.25 * k + 4.0 * math.sqrt(k) + 16.0) / (n_m + (weight * n_w if weight > 0 else 0.0))
    low = np.empty(len(keys))
    c = low_w = 0
    for j in range(len(keys)):
        if keys[j] <= t:
            low[c] = keys[j]
            c += 1
            if j < n_w:
                low_w += 1
    if c < k:
        low, low_w = keys, n_w
        kth = _kth_smallest(keys, k - 1)
    else:
        kth = _kth_smallest(low[:c], k - 1)
    if kth == np.inf:       # every finite key is drawn, the rest are women's inf keys
        return k - n_m
    k_w = 0
    for j in range(low_w):
        if low[j] <= kth:
            k_w += 1
    return k_w


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

def _appointable(n, month, min_months, sources, woman, code, since, taken):
    """Women and men (rows, ascending) in a source stage (``sources`` per code) with the
    tenure to be appointed, not ``taken`` already."""
    women, men = np.empty(n, np.int64), np.empty(n, np.int64)
    n_w = n_m = 0
    for i in range(n):
        if not taken[i] and sources[np.uint16(code[i])] and month - since[i] >= min_months:
            if woman[i]:
                women[n_w] = i
                n_w += 1
            else:
                men[n_m] = i
                n_m += 1
    return women[:n_w], men[:n_m]


def compact(n, cols):
    """``Roster.compact``: the rows of people still here moved up in order; returns their
    number. Column by column (each a sequential copy) rather than row by row across all
    eighteen columns."""
    (woman, stage, code, since, until, e_exit, h_exit, e_prom, h_prom, t_ref, r_exit, r_prom,
     review, rest_until, dest, pool, dep_year, dep_year_dest) = cols
    keep = np.empty(n, np.int64)
    k = 0
    for i in range(n):
        keep[k] = i
        k += stage[i] != GONE
    first = 0           # rows before the first leaver stay where they are
    while first < k and keep[first] == first:
        first += 1
    keep = keep[first:k]
    _move_up(woman, keep, first)
    _move_up(stage, keep, first)
    _move_up(code, keep, first)
    _move_up(since, keep, first)
    _move_up(until, keep, first)
    _move_up(e_exit, keep, first)
    _move_up(h_exit, keep, first)
    _move_up(e_prom, keep, first)
    _move_up(h_prom, keep, first)
    _move_up(t_ref, keep, first)
    _move_up(r_exit, keep, first)
    _move_up(r_prom, keep, first)
    _move_up(review, keep, first)
    _move_up(rest_until, keep, first)
    _move_up(dest, keep, first)
    _move_up(pool, keep, first)
    _move_up(dep_year, keep, first)
    for j in range(len(keep)):      # element by element: a slice a row took three times as long
        row = keep[j]
        for c in range(dep_year_dest.shape[1]):
            dep_year_dest[first + j, c] = dep_year_dest[row, c]
    return k


def _move_up(column, keep, first):
    """``column[first + j] = column[keep[j]]`` (``keep`` ascending, never behind)."""
    for j in range(len(keep)):
        column[first + j] = column[keep[j]]


def census(n, count_pool, woman, stage, dest, pool, posted, pool_stock):
    """Posted people by destination and gender, and (DEMA) pool members by gender, into the
    month's rows ``posted[d, w]`` and ``pool_stock[w]`` (zeroed first)."""
    posted[:] = 0
    pool_stock[:] = 0
    for i in range(n):
        w = 1 if woman[i] else 0
        if dest[i] >= 0:
            posted[np.uint8(dest[i]), w] += 1
        if count_pool and pool[i] and stage[i] != GONE:
            pool_stock[w] += 1


def pool_turnover(n, pool_stream, join, leave, staff, external, woman, stage, code, dest,
                  pool):
    """Staff join the pool, members withdraw (``DemaAgency.pool_step``), with a uniform per
    row from ``pool_stream`` (:func:`stream`); returns the external members who withdrew
    (they leave DEMA), ascending."""
    u = _generator(pool_stream).random(n)
    gone = np.empty(n, np.int64)
    k = 0
    for i in range(n):
        joins = staff[np.uint16(code[i])] and not pool[i] and u[i] < join[1 if woman[i] else 0]
        leaves = pool[i] and stage[i] != GONE and u[i] < leave and dest[i] < 0
        pool[i] = (pool[i] or joins) and not leaves
        if leaves and stage[i] == external:
            gone[k] = i
            k += 1
    return gone[:k]


_INLINE = ("_max", "_min", "_rates", "_next_review", "_probe_budget", "_kept")
_PIECES = ("_count_moves", "_count_year", "_pick", "_unique_below", "_distinct",
           "_kth_smallest", "_permutation", "_women_drawn", "_race", "women_drawn",
           "_move_drawn", "_enter_stage", "_complete",
           "_appoint", "_probe_appointable", "careers_scan", "_appointable", "select_split",
           "_merge", "_at_home", "_bring_home", "_probe", "_probe_block", "_move_up")
#: Kernels called from one place in the engine with fixed types (see ``_Direct``).
_DIRECT = ("careers_month", "rotate", "carry_over", "add_rows", "census", "compact",
           "pool_turnover")
_KERNELS = ("careers_month", "rotate", "carry_over", "remove_rows", "move_rows", "add_rows",
            "census", "compact", "pool_turnover")

# The kernels' types, in numba's notation (``returns(arguments)``; ``[::1]`` a contiguous array):
# what ``sim.model.ahead_of_time`` builds, and what the engine must pass, since neither a
# built kernel nor ``_Direct`` checks an array's type (tests/test_kernels.py holds every
# scenario's calls to these).
_COLUMNS = ("Tuple((b1[::1], i1[::1], i2[::1], " + "f8[::1], " * 11
            + "i1[::1], b1[::1], i2[::1], i2[:, ::1]))")
_COUNTS = "i8[:, :, ::1], i8[:, ::1]"      # a year's transitions, heads by stage and gender
SIGNATURES = {
    "careers_month": f"UniTuple(i8, 2)(i8, f8, b1, {_COLUMNS}, {_COUNTS}, i8, f8[::1], "
                     "f8[::1], f8[::1], f8[::1], f8, f8, i8[::1], i8[::1], f8[::1], f8[::1], "
                     "f8[::1], i8, b1[::1], i8, f8, f8, f8, i8[:, ::1], u8[::1], u8[::1], "
                     "u8[::1])",
    "rotate": "i8(i8, f8, i8, i8[::1], f8[::1], b1[:, ::1], f8[::1], i8[::1], f8[::1], f8, b1, "
              f"f8[::1], {_COLUMNS}, {_COUNTS}, u8[::1])",
    "carry_over": f"none(i8, i8, b1[::1], i1[::1], {_COUNTS}, i2[::1], i2[:, ::1])",
    "remove_rows": f"i8(i8[::1], i8, {_COUNTS}, {_COLUMNS})",
    "move_rows": f"i8(i8[::1], i8, f8, f8, f8[::1], f8[::1], i8, {_COUNTS}, {_COLUMNS})",
    "add_rows": f"none(i8, i8, i8, i8, f8, f8, f8[::1], u8[::1], u8[::1], {_COLUMNS}, {_COUNTS}, "
                "b1)",
    "census": "none(i8, b1, b1[::1], i1[::1], i1[::1], b1[::1], i8[:, ::1], i8[::1])",
    "compact": f"i8(i8, {_COLUMNS})",
    "pool_turnover": "i8[::1](i8, u8[::1], f8[::1], f8, b1[::1], i8, b1[::1], i1[::1], "
                     "i2[::1], i1[::1], b1[::1])",
}
