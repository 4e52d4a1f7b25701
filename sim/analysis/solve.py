"""Goal-seeking: the smallest value of one lever that meets a target with a given probability.

The planners' question -- how many women must we recruit, or deploy, to reach 15% of the
contingents by 2028? -- is a root-finding problem on a noisy model. We answer it by bisection
on the lever's range, evaluating each value with the same replication indices and seed (paired
replications, common random numbers). Pairing matters: the estimated probability of meeting
the target then moves with the lever rather than with the luck of each evaluation, so
successive bisection steps compare like with like.

A lever value *meets* the target when, in at least ``prob`` of the replications, women's share
of the target's series in the year ``by`` (default: the target's own year) is at least the
target. The search assumes that raising the lever does not lower that probability: if the low
end already meets the target the answer is the low end; if the high end does not, the target is
not reachable by that year within the range, and we report the first later year in which it is
met at the high end (within the horizon).

Under uncertainty (the default): each pair of replications draws its parameters
(:mod:`sim.analysis.draws`: the calibration's posterior, the stated assumptions' plausible
ranges), the same draw for replication ``r`` at every lever value, so the probability is taken
across the parameters' uncertainty as well as chance, and the bisection stays paired.
``--fixed-parameters`` asks across chance alone. The lever itself, being set, is never drawn.

Only the agency of the target's series is simulated: agencies share no people and draw from
their own streams, so its numbers are exactly those of a full run.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, cast

import polars as pl

from sim.scenario.loading import InputError, load_scenario, merge
from sim.runs.replications import batches, drawn_batch, runs_frame
from sim.scenario.schema import Scenario
from sim.analysis.intervals import wilson
from sim.model.series import BY_ID
from sim.analysis.attainment import prob_meet, probability
from sim.runs.backends import Backend, InlineBackend, run_ordered
from sim.runs.design import Task
from sim.runs.sweep import run_task
from sim.scenario.levers import Lever, lever
from sim.scenario.targets import UnTarget


@dataclass(frozen=True)
class Question:
    """What is asked: a lever, a target, a probability, a year, a range, a precision."""

    base: Path
    lever: Lever
    target: UnTarget
    prob: float
    by: int
    low: float
    high: float
    tolerance: float
    replications: int
    seed: int
    horizon: int
    start: dt.date | None = None      # the lever changes from this date (else: whole run)
    # Parameter draws (sim.analysis.draws.ParameterDraws): replication r of every lever value
    # runs under the same draw, so P(meet) is taken across the parameters' uncertainty as
    # well as chance. None: the parameters are fixed (--fixed-parameters).
    draws: Any = field(default=None, compare=False)

    @property
    def series(self) -> str:
        return self.target.series  # type: ignore[return-value]


@dataclass(frozen=True)
class Evaluation:
    """One lever value: the chance of meeting the target, year by year."""

    value: float
    prob: float                         # in the year ``by``
    prob_low: float                     # 90% Wilson interval
    prob_high: float
    median_share: float
    prob_by_year: dict[int, float]

    def met(self, q: Question) -> bool:
        return self.prob >= q.prob


@dataclass(frozen=True)
class Solution:
    question: Question
    status: str                         # found | met_at_low | not_reachable
    value: float | None
    bracket: tuple[float, float] | None  # (largest value failing, smallest meeting)
    evaluations: tuple[Evaluation, ...]
    earliest_year_at_high: int | None = None

    def describe(self) -> str:
        q = self.question
        across = ("parameters drawn per pair of replications: across the parameters' "
                  "uncertainty and chance" if q.draws is not None else
                  "parameters fixed: across chance only")
        what = (f"{q.target.target_id}: women's share of {q.series} at least "
                f"{q.target.target:.0%} in {q.by} with probability at least {q.prob:.0%} "
                f"({q.replications} paired replications; {across})")
        if self.status == "met_at_low":
            e = self.evaluations[0]
            return (f"{what}\nalready met at the low end of the range: {q.lever.key} = "
                    f"{_fmt(q.low)} (P = {e.prob:.0%}, 90% interval {e.prob_low:.0%}-"
                    f"{e.prob_high:.0%})")
        if self.status == "found":
            e = next(e for e in self.evaluations if e.value == self.value)
            lo, hi = self.bracket  # type: ignore[misc]
            return (f"{what}\nsmallest {q.lever.key} that meets it: {_fmt(self.value)} "
                    f"(between {_fmt(lo)}, which does not, and {_fmt(hi)}; P = {e.prob:.0%}, "
                    f"90% interval {e.prob_low:.0%}-{e.prob_high:.0%}; median share "
                    f"{e.median_share:.1%})")
        top = self.evaluations[-1] if self.evaluations[-1].value == q.high else next(
            e for e in self.evaluations if e.value == q.high)
        later = (f"at {q.lever.key} = {_fmt(q.high)} it would be reached in "
                 f"{self.earliest_year_at_high}" if self.earliest_year_at_high else
                 f"at {q.lever.key} = {_fmt(q.high)} it is not reached by the horizon "
                 f"{q.horizon} either")
        return (f"{what}\nnot reachable by {q.by} within the lever's range {_fmt(q.low)} to "
                f"{_fmt(q.high)}: at the top P = {top.prob:.0%} (90% interval "
                f"{top.prob_low:.0%}-{top.prob_high:.0%}); {later}")


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.6g}"


def question(base: Path | str, lever_key: str, target: UnTarget, *, prob: float = 0.8,
             by: int | None = None, low: float | None = None, high: float | None = None,
             tolerance: float | None = None, replications: int | None = None,
             seed: int | None = None, start: dt.date | None = None,
             fixed_parameters: bool = False) -> Question:
    """Check the question against the schema and the base scenario; InputError if unsound.
    Unless ``fixed_parameters``, each replication draws its parameters (as ``run`` does)."""
    base = Path(base)
    scenario = load_scenario(base)
    lev = lever(lever_key)
    if target.series is None or target.series not in BY_ID:
        raise InputError("--target", None, f"{target.target_id} has no modelled series")
    if not 0 < prob <= 1:
        raise InputError("--prob", None, f"{prob:g} must be above 0 and at most 1")
    if start is not None and not lev.dated:
        raise InputError("--from", None, f"{lever_key} is not a dated lever")
    by = by if by is not None else target.year
    if not scenario.start_year <= by <= 2060:
        raise InputError("--by", None, f"{by} is outside {scenario.start_year}-2060")
    low = low if low is not None else lev.low
    high = high if high is not None else lev.high
    for name, v in (("--low", low), ("--high", high)):
        if v is None:
            raise InputError(name, None, f"{lever_key} has no bound in the schema; give {name}")
    assert low is not None and high is not None       # both checked just above
    if not low < high:
        raise InputError("--low", None, f"{low:g} must be below --high {high:g}")
    tol = tolerance if tolerance is not None else (high - low) / 100
    if tol <= 0:
        raise InputError("--tolerance", None, "must be positive")
    if lev.integer:
        tol = max(tol, 1.0)
    draws = None
    if not fixed_parameters:
        from sim.analysis.draws import ParameterDraws, pinned_keys
        from sim.scenario.loading import fitted_parameters

        draws = ParameterDraws.load(fitted_parameters(base)).with_pinned(
            pinned_keys(base, scenario))
    q = Question(base, lev, target, prob, by, float(low), float(high), tol,
                 replications or scenario.replications,
                 seed if seed is not None else scenario.seed, max(scenario.horizon, by), start,
                 draws)
    for name, v in (("--low", q.low), ("--high", q.high)):
        try:
            scenario_at(q, v)
        except InputError as err:
            raise InputError(name, err.key, err.problem) from None
    return q


def scenario_at(q: Question, value: float) -> Scenario:
    """The base scenario with the lever at ``value`` (paired: same seed, same replications)."""
    overrides = merge({"horizon": q.horizon, "seed": q.seed, "replications": q.replications},
                      q.lever.override(value, q.start))
    return load_scenario(q.base, overrides)


def evaluate(q: Question, value: float, backend: Backend) -> Evaluation:
    """Run the paired replications at one lever value."""
    scenario = scenario_at(q, value)
    agencies = (BY_ID[q.series].agency,)
    chunks = batches(range(q.replications), backend.workers)
    if q.draws is None:
        done = run_ordered(backend, run_task, [(scenario, Task(0, q.seed, tuple(c)), agencies)
                                               for c in chunks])
    else:
        done = run_ordered(backend, drawn_batch,
                           [([(q.draws.apply(scenario, r), r) for r in c], agencies)
                            for c in chunks])
    results = sorted((r for out in done for r in out), key=lambda r: r.replication)
    shares = (runs_frame(results).filter(pl.col("series") == q.series)
              .select("replication", "year", "share").sort("year", "replication"))
    prob_by_year: dict[int, float] = {}
    for (year,), part in shares.partition_by("year", as_dict=True, maintain_order=True).items():
        p = probability(*prob_meet(part["share"].to_numpy(), q.target.target))
        prob_by_year[int(year)] = p if p is not None else 0.0
    in_year = shares.filter(pl.col("year") == q.by)["share"]
    hits, n = prob_meet(in_year.to_numpy(), q.target.target)
    lo, hi = wilson(hits, n)
    median = cast(float | None, in_year.drop_nulls().median())     # a float column's median
    return Evaluation(value, float(hits / n) if n else 0.0, float(lo), float(hi),
                      float(median) if median is not None else float("nan"), prob_by_year)


def solve(q: Question, backend: Backend | None = None,
          report: Callable[[Evaluation], None] = lambda _: None) -> Solution:
    """Bisect for the smallest lever value that meets the target (see the module)."""
    backend = backend or InlineBackend()
    seen: list[Evaluation] = []

    def at(value: float) -> Evaluation:
        e = evaluate(q, value, backend)
        seen.append(e)
        report(e)
        return e

    low_e = at(q.low)
    if low_e.met(q):
        return Solution(q, "met_at_low", q.low, None, tuple(seen))
    high_e = at(q.high)
    if not high_e.met(q):
        later = [y for y, p in sorted(high_e.prob_by_year.items()) if y > q.by and p >= q.prob]
        return Solution(q, "not_reachable", None, None, tuple(seen),
                        later[0] if later else None)
    lo, hi = q.low, q.high
    while hi - lo > q.tolerance:
        mid = _middle(q, lo, hi)
        if mid in (lo, hi):
            break
        if at(mid).met(q):
            hi = mid
        else:
            lo = mid
    return Solution(q, "found", hi, (lo, hi), tuple(seen))


def _middle(q: Question, lo: float, hi: float) -> float:
    mid = (lo + hi) / 2
    return float(math.floor(mid)) if q.lever.integer else mid
