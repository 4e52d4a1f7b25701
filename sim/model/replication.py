"""One replication of the model: the SimPy environment, its processes, and the result.

The clock counts absolute months (``year * 12 + month - 1``). Each agency runs five processes
on it, at fixed phases within the month so their order is explicit rather than an accident of
scheduling: careers (attrition, promotion, end of fixed stages) over the month just ended, the
census, intakes (conscription, recruitment, academy, pool recruitment), deployments, and for
DEMA the pool's joiners and leavers. Intakes and deployments wait for their own months.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

import simpy

from sim.model.agencies import AGENCY_CLASSES, Agency, DemaAgency
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


def _monthly(env: simpy.Environment, first: int, last: int, phase: float,
             act: Callable[[int], None]) -> Generator[simpy.Event, None, None]:
    """Call ``act(month)`` at every month from ``first`` to ``last`` at the given phase."""
    yield env.timeout(first + phase - env.now)
    for month in range(first, last + 1):
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
        env.process(_monthly(env, a.start + 1, a.end, CAREERS, a.careers_step))
        env.process(_monthly(env, a.start, a.end, CENSUS, a.census))
        env.process(_monthly(env, a.start, a.end - 1, INTAKE, a.intake))
        env.process(_monthly(env, a.start, a.end - 1, DEPLOY, a.deploy))
        if isinstance(a, DemaAgency):
            env.process(_monthly(env, a.start, a.end - 1, POOL, a.pool_step))
    return env, built


def simulate(scenario: Scenario, replication: int,
             agencies: tuple[str, ...] | None = None) -> ReplicationResult:
    """Run one replication to the end of the horizon.

    ``agencies`` limits the run to some of ``armed_forces``, ``dema``, ``police`` (the others'
    series are NaN); each agency's numbers are the same as in a full run, as the agencies share
    no people and draw from their own streams.
    """
    env, built = build(scenario, replication, agencies)
    events = 0
    while True:
        try:
            env.step()
        except simpy.core.EmptySchedule:
            break
        events += 1
    return ReplicationResult(replication, tally(scenario, built), events,
                             sum(a.person_events for a in built))
