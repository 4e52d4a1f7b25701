"""The output series: what the simulator counts, named as in ``calibration/observed.csv``.

Each series is a group of people in one agency counted by gender, with the measure that the
plan's figure for it uses, so calibration compares like with like:

- ``stock_avg``       mean of the twelve monthly head counts of the year;
- ``stock_end``       head count at the end of the year (= ``stock_start`` of the next);
- ``flow``            people entering (``intake``) or completing (``completed``) a stage;
- ``deployed_during`` distinct persons deployed at any time in the year.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Series:
    id: str
    agency: str
    kind: str          # stock | pool | deployed | posted | intake | completed
    measure: str
    description: str
    stages: tuple[str, ...] = ()
    destination: str | None = None   # None with deployed/posted: all destinations


AF, DEMA, POLICE = "armed_forces", "dema", "police"

AF_STAGES = ("conscript", "rank_and_file", "leader")
AF_DESTINATIONS = ("un_contingent", "un_staff_observer", "nato", "eu_csdp", "other")
DEMA_STAGES = ("conscript", "uniformed", "civilian", "manager", "external")
DEMA_DESTINATIONS = ("eu_ucpm", "un", "nato")
POLICE_STAGES = ("student", "cadet", "officer", "leader", "civilian")
POLICE_DESTINATIONS = ("un_ipo", "eu_csdp", "trainer_pool", "frontex")

STAGES = {AF: AF_STAGES, DEMA: DEMA_STAGES, POLICE: POLICE_STAGES}
DESTINATIONS = {AF: AF_DESTINATIONS, DEMA: DEMA_DESTINATIONS, POLICE: POLICE_DESTINATIONS}

_DEST_NAMES = {
    "un_contingent": "UN military contingents", "un_staff_observer":
    "UN staff officers and military observers", "nato": "NATO", "eu_csdp": "EU CSDP missions",
    "other": "other operations (coalitions, maritime)", "eu_ucpm":
    "EU Civil Protection Mechanism", "un": "UN", "un_ipo": "UN individual police officers",
    "trainer_pool": "the trainer pool", "frontex": "Frontex",
}


def _catalogue() -> tuple[Series, ...]:
    s = [
        Series("armed_forces.military", AF, "stock", "stock_avg",
               "Armed Forces military employees (rank and file and leaders)",
               ("rank_and_file", "leader")),
        Series("armed_forces.rank_and_file", AF, "stock", "stock_avg",
               "Armed Forces privates (rank and file)", ("rank_and_file",)),
        Series("armed_forces.leaders", AF, "stock", "stock_avg",
               "Armed Forces leaders (NCOs and officers)", ("leader",)),
        Series("armed_forces.conscripts", AF, "intake", "flow",
               "Armed Forces conscripts called up in the year", ("conscript",)),
        Series("armed_forces.conscripts.serving", AF, "stock", "stock_avg",
               "Armed Forces conscripts in service", ("conscript",)),
        Series("armed_forces.deployed", AF, "deployed", "deployed_during",
               "Armed Forces personnel deployed abroad during the year"),
        Series("dema.staff", DEMA, "stock", "stock_avg", "DEMA staff (uniformed, civilian, "
               "managers)", ("uniformed", "civilian", "manager")),
        Series("dema.uniformed", DEMA, "stock", "stock_avg", "DEMA uniformed staff",
               ("uniformed",)),
        Series("dema.civilian", DEMA, "stock", "stock_avg", "DEMA civilian staff",
               ("civilian",)),
        Series("dema.managers", DEMA, "stock", "stock_end", "DEMA office and unit managers",
               ("manager",)),
        Series("dema.conscripts", DEMA, "completed", "flow",
               "DEMA conscripts completing service in the year", ("conscript",)),
        Series("dema.conscripts.intake", DEMA, "intake", "flow",
               "DEMA conscripts called up in the year", ("conscript",)),
        Series("dema.international_pool", DEMA, "pool", "stock_end",
               "DEMA International Personnel Pool members"),
        Series("dema.posted", DEMA, "posted", "stock_end", "DEMA personnel posted abroad"),
        Series("police.students", POLICE, "stock", "stock_avg", "Police academy students",
               ("student",)),
        Series("police.cadets", POLICE, "stock", "stock_avg", "Police cadets", ("cadet",)),
        Series("police.officers", POLICE, "stock", "stock_avg",
               "Police officers (including those in leadership)", ("officer", "leader")),
        Series("police.leaders", POLICE, "stock", "stock_avg",
               "Police officers in leadership", ("leader",)),
        Series("police.employees", POLICE, "stock", "stock_avg", "All police employees",
               POLICE_STAGES),
        Series("police.posted", POLICE, "deployed", "deployed_during",
               "Police posted abroad during the year"),
    ]
    for dest in AF_DESTINATIONS:
        s.append(Series(f"armed_forces.deployed.{dest}", AF, "deployed", "deployed_during",
                        f"Armed Forces deployed to {_DEST_NAMES[dest]}", destination=dest))
    for dest in DEMA_DESTINATIONS:
        s.append(Series(f"dema.posted.{dest}", DEMA, "posted", "stock_end",
                        f"DEMA posted to {_DEST_NAMES[dest]}", destination=dest))
    for dest in POLICE_DESTINATIONS:
        s.append(Series(f"police.posted.{dest}", POLICE, "deployed", "deployed_during",
                        f"Police posted to {_DEST_NAMES[dest]}", destination=dest))
    return tuple(s)


SERIES: tuple[Series, ...] = _catalogue()
BY_ID: dict[str, Series] = {s.id: s for s in SERIES}
STOCK_KINDS = ("stock",)
