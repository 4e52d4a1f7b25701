"""One replication of the model: the SimPy environment, its processes, and the result.

The clock counts absolute months (``year * 12 + month - 1``). Five processes run on it, one
per phase of the month, so the order is explicit rather than an accident of scheduling: careers
(attrition, promotion, end of fixed stages) over the month just ended, the census, intakes
(conscription, recruitment, academy, pool recruitment), deployments, and DEMA's pool joiners
and leavers. Each phase acts for every agency in turn (Armed Forces, DEMA, police): the agencies
share no people, so the order among them changes no number. Intakes and deployments wait for
their own months.

One process per phase rather than per agency and phase: the same calls in the same order, with
a third of the events (a SimPy event costs ~5 us of Python; issue #18).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

import simpy

from sim.model.agencies import AGENCY_CLASSES, Agency
from sim.model.census import Tally, tally
from sim.scenario.schema import Scenario

CAREERS, CENSUS, INTAKE, DEPLOY, POOL = 0.0, 0.1, 0.2, 0.3, 0.4


@dataclass(frozen=True)
class ReplicationResult:
    """Counts by year and series for one replication (see ``sim.model.census.Tally``)."""

    replication: int
    tally: Tally
    simpy_events: int
    person_events: int


#: The phases of a month: offset, the agency's method, and its first and last months
#: relative to the agency's ``start`` and ``end`` (careers tick from the month after the start,
#: intakes and deployments stop before the end).
PHASES = ((CAREERS, "careers_step", 1, 0), (CENSUS, "census", 0, 0),
          (INTAKE, "intake", 0, -1), (DEPLOY, "deploy", 0, -1), (POOL, "pool_step", 0, -1))


def _monthly(env: simpy.Environment, phase: float,
             acts: list[tuple[int, int, Callable[[int], None]]]
             ) -> Generator[simpy.Event, None, None]:
    """At the given phase of every month, call each ``act(month)`` whose months
    (``first`` to ``last``) include it, in the order given."""
    first = min(a[0] for a in acts)
    last = max(a[1] for a in acts)
    yield env.timeout(first + phase - env.now)
    for month in range(first, last + 1):
        for start, end, act in acts:
            if start <= month <= end:
                act(month)
        if month < last:
            yield env.timeout(1)


def build(scenario: Scenario, replication: int,
          agencies: tuple[str, ...] | None = None) -> tuple[simpy.Environment, list[Agency]]:
    env = simpy.Environment(initial_time=scenario.start_year * 12)
    built = [cls(scenario, replication) for name, cls in AGENCY_CLASSES.items()
             if agencies is None or name in agencies]
    for a in built:
        a.populate()
    for phase, method, first, last in PHASES:
        acts = [(a.start + first, a.end + last, getattr(a, method)) for a in built
                if hasattr(a, method)]      # only DEMA has a pool
        if acts:
            env.process(_monthly(env, phase, acts))
    return env, built


def simulate(scenario: Scenario, replication: int,
             agencies: tuple[str, ...] | None = None) -> ReplicationResult:
    """Run one replication to the end of the horizon.

    ``agencies`` limits the run to some of ``armed_forces``, ``dema``, ``police`` (the others'
    series are NaN); each agency's numbers are the same as in a full run, as the agencies share
    no people and draw from their own streams.
    """
    env, built = build(scenario, replication, agencies)
    events = run_to_end(env)
    return ReplicationResult(replication, tally(scenario, built), events,
                             sum(a.person_events for a in built))


def run_to_end(env: simpy.Environment) -> int:
    """Step ``env`` until nothing is scheduled; returns the number of events processed."""
    events = 0
    while True:
        try:
            env.step()
        except simpy.core.EmptySchedule:
            return events
        events += 1
