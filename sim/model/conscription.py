"""Conscription: the draft mechanism, volunteers first, then a lottery among the fit.

Before equal conscription only men are in the lottery; women serve by volunteering (the
"right to conscription", since 1998). From the reform date every 18-year-old registers and the
lottery draws women and men alike. The reform has a second channel that acts before any
lottery: registration and Defence Day for all women raise women's volunteering
(:func:`women_volunteer_rate`), as universal conscription did in Norway. Places, service
length, volunteering, the registration effect and the date are all scenario levers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np


@dataclass(frozen=True)
class Draft:
    """One intake's inputs (a fraction of the year's places and cohort)."""

    places: int
    cohort_men: int
    cohort_women: int
    volunteer_rate_men: float
    volunteer_rate_women: float
    fit_rate_men: float
    fit_rate_women: float
    women_in_lottery: bool


def women_volunteer_rate(base: float, registration_effect: float, reformed: bool) -> float:
    """Women's volunteering: the pre-reform rate, times the registration effect once women
    register and attend Defence Day (capped at 1)."""
    return min(1.0, base * registration_effect) if reformed else base


def draft(d: Draft, rng: np.random.Generator) -> tuple[int, int]:
    """Women and men called up: volunteers first, then the lottery fills what is left."""
    vol_m = int(rng.binomial(d.cohort_men, d.volunteer_rate_men))
    vol_w = int(rng.binomial(d.cohort_women, d.volunteer_rate_women))
    if vol_m + vol_w >= d.places:
        women = int(rng.hypergeometric(vol_w, vol_m, d.places)) if d.places else 0
        return women, d.places - women
    left = d.places - vol_m - vol_w
    fit_m = int(rng.binomial(d.cohort_men - vol_m, d.fit_rate_men))
    fit_w = int(rng.binomial(d.cohort_women - vol_w, d.fit_rate_women)) if d.women_in_lottery else 0
    drawn = min(left, fit_m + fit_w)
    lot_w = int(rng.hypergeometric(fit_w, fit_m, drawn)) if drawn else 0
    return vol_w + lot_w, vol_m + drawn - lot_w


@cache
def intake_months(intakes_per_year: int, first: int = 1) -> tuple[int, ...]:
    """Calendar months (0-based) of the intakes: 2 a year from February (``first = 1``) ->
    February and August."""
    step = 12 / intakes_per_year
    return tuple(int(first + i * step) % 12 for i in range(intakes_per_year))
