"""The reports' shared conventions: colours, milestones, how shares, intervals and
probabilities are written, and the names of series and target categories."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, TypeGuard

from sim.analysis.intervals import wilson
from sim.model.series import AF, BY_ID, DEMA, POLICE
from sim.scenario.schema import REFORM_DATE
from sim.scenario.targets import UnTarget

CHANCE_NOTE = ("Intervals are 5th-95th percentiles over the replications (90%), the 50% band "
               "the 25th-75th. This run held the parameters fixed (--fixed-parameters): the "
               "intervals and probabilities are the spread of chance alone (people and random "
               "draws), not the uncertainty of the calibrated parameters or the stated "
               "assumptions.")
DRAWN_NOTE = ("Intervals are 5th-95th percentiles over the replications (90%), the 50% band the "
              "25th-75th; each pair of replications draws its own parameters, so intervals and "
              "chances include the parameters' uncertainty (calibration posterior, stated "
              "assumptions' plausible ranges) as well as chance.")


def interval_note(drawn: bool) -> str:
    """What a report's intervals include: parameters and chance, or chance alone."""
    return DRAWN_NOTE if drawn else CHANCE_NOTE


INTERVAL_NOTE = ("Intervals are 5th-95th percentiles over the replications (90%), the 50% band "
                 "the 25th-75th: the spread from people and random draws with the parameters "
                 "fixed. Uncertainty in the calibrated parameters is not in these bands (see "
                 "the calibration report).")

# -- shared pieces: milestones, formatting, colours ---------------------------------------------


@dataclass(frozen=True)
class Milestone:
    """A date the plan or the UN holds the forecast to, drawn as a vertical line."""

    x: float          # fractional year on the charts' axis
    short: str
    label: str


MILESTONES = (
    Milestone(REFORM_DATE.year + (REFORM_DATE.month - 1) / 12, "1 Jul 2025",
              f"{REFORM_DATE:%-d %B %Y}: equal conscription (as legislated)"),
    Milestone(2027, "review 2027", "2027: the plan's mid-term review"),
    Milestone(2028, "UN 2028", "2028: the UN DPO targets"),
    Milestone(2029, "plan ends", "2029: the plan ends"),
)

COLOURS = ("#1f5f9e", "#c0392b", "#2e8b57", "#8e44ad", "#d35400", "#16a085", "#7f8c8d")
WOMEN_COLOUR, MEN_COLOUR = "#94346e", "#3a6ea5"
TARGET_COLOUR, OBSERVED_COLOUR = "#111111", "#e67e22"
AGENCY_NAMES = {AF: "Armed Forces", DEMA: "DEMA", POLICE: "Police"}


def rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def finite(x: Any) -> TypeGuard[float]:
    """A real number that is not NaN or infinite (numpy scalars included)."""
    return isinstance(x, numbers.Real) and math.isfinite(x)


def pct(x: float | None, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%" if finite(x) else "n/a"


def pct_interval(mid: float | None, lo: float | None, hi: float | None) -> str:
    """``12.3% (10.1-14.0%)``: a median with its 90% interval."""
    if not finite(mid):
        return "n/a"
    return f"{pct(mid)} ({100 * lo:.1f}–{pct(hi)})" if finite(lo) and finite(hi) else pct(mid)


def count_interval(mid: float, lo: float, hi: float) -> str:
    return f"{mid:,.0f} ({lo:,.0f}–{hi:,.0f})"




def probability(p: float | None, n: int) -> str:
    """A probability with its Monte Carlo 90% interval: ``42% (30–55%)``."""
    if not finite(p):
        return "n/a"
    lo, hi = (float(b) for b in wilson(p * n, n))
    return f"{100 * p:.0f}% ({100 * lo:.0f}–{100 * hi:.0f}%)"


def series_title(series_id: str) -> str:
    return BY_ID[series_id].description if series_id in BY_ID else series_id


CATEGORY_NAMES = {"staff_officers_observers": "staff officers and military observers",
                  "police_overall": "overall police forces",
                  "dema_managers": "DEMA office and unit managers",
                  "police_leaders": "police officers in leadership"}


def category_title(target: UnTarget) -> str:
    """``un.military_contingents.2028`` -> ``UN military contingents``."""
    kind, category = target.target_id.split(".")[:2]
    prefix = "UN" if kind == "un" else "National:"
    return f"{prefix} {CATEGORY_NAMES.get(category, category.replace('_', ' '))}"


MEASURE_WORDS = {"deployed_during": "deployed in the year", "stock_end": "at year end",
                 "stock_avg": "on average in the year", "flow": "in the year"}


def group_size(series_id: str, size: float) -> str:
    """A group's size the way a reader counts it: ``~90 deployed in the year``."""
    return f"~{size:,.0f} {MEASURE_WORDS.get(BY_ID[series_id].measure, '')}".rstrip()


def points(x: float | None, signed: bool = True) -> str:
    """A difference in share as percentage points: ``+1.2 pts``."""
    if not finite(x):
        return "n/a"
    return f"{100 * x:+.1f} pts" if signed else f"{100 * x:.1f} pts"


def points_interval(mid: float | None, lo: float | None, hi: float | None) -> str:
    if not finite(mid):
        return "n/a"
    assert lo is not None and hi is not None      # an interval is given wherever mid is
    return f"{points(mid)} ({100 * lo:+.1f} to {100 * hi:+.1f})"
