"""The scenario schema: every parameter, its default, unit, valid range and provenance.

This module is the single source of truth for what a scenario file may say. Each field carries
its documentation, which `python run_scenario.py schema` (and the README's scenario reference)
is generated from. Provenance says where a default comes from:

- ``observed``   a figure of the plan (the data itself lives in ``calibration/observed.csv``);
- ``calibrated`` fitted to the plan's 2017-2024 figures (``calibration/fitted.toml`` overrides
                 the default shown here);
- ``external``   a public UN or Danish figure, with a confidence grade H/M/L (see DOMAIN.md);
- ``assumed``    a stated modelling assumption, a lever a scenario should question.

Levers typed *dated* accept a value or a list of ``[date, value]`` changes (see
``sim.scenario.dated``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, JsonValue, field_validator,
                      model_validator)
from pydantic.fields import FieldInfo

from sim.scenario.dated import Dated, parse_date

REFORM_DATE = dt.date(2025, 7, 1)


@dataclass(frozen=True)
class DatedRange:
    """The valid range of a dated lever's values, kept in the field's metadata (like
    pydantic's ``ge``/``le``) so sweeps and the reference read it from there."""

    ge: float | None
    le: float | None
    optional: bool = False      # None ("off") allowed

    def __call__(self, d: Dated) -> Dated:
        for v in d.values():
            if v is None:
                if not self.optional:
                    raise ValueError("this lever cannot be \"off\"")
                continue
            if self.ge is not None and v < self.ge:
                raise ValueError(f"{v:g} is below the minimum {self.ge:g}")
            if self.le is not None and v > self.le:
                raise ValueError(f"{v:g} is above the maximum {self.le:g}")
        return d


def _bounded(lo: float | None, hi: float | None, optional: bool = False) -> Any:
    rng = DatedRange(lo, hi, optional)
    return Annotated[Dated, rng, AfterValidator(rng)]


def bounds(info: FieldInfo) -> tuple[float | None, float | None]:
    """A field's valid range, plain number or dated lever alike (None where open)."""
    lo = hi = None
    for m in info.metadata:
        lo = getattr(m, "ge", lo)
        hi = getattr(m, "le", hi)
    return lo, hi


if TYPE_CHECKING:
    # What a type checker sees: the runtime aliases below are built by a function, which a
    # static checker cannot read as a type; the range they add is checked at run time only.
    class DatedNumber(Dated):
        """A lever that cannot be "off" (its range check rejects None): its value is a number."""

        def at(self, month: float) -> float: ...

    DatedShare = DatedNumber
    DatedTarget = Dated
    DatedCount = DatedNumber
    DatedRatio = DatedNumber
    DatedMonths = DatedNumber
    DatedRestMonths = DatedNumber
    DatedOptionalMonths = Dated
else:
    DatedShare = _bounded(0.0, 1.0)
    DatedTarget = _bounded(0.0, 1.0, optional=True)
    DatedCount = _bounded(0.0, 1e6)
    DatedRatio = _bounded(0.0, 20.0)
    DatedMonths = _bounded(1.0, 120.0)
    DatedRestMonths = _bounded(0.0, 120.0)
    DatedOptionalMonths = _bounded(0.0, 120.0, optional=True)


def param(default: Any, doc: str, *, unit: str, source: str, ge: float | None = None,
          le: float | None = None, plausible: tuple[float, float] | None = None) -> Any:
    """A documented field: default, unit, provenance and (for plain numbers) the valid range.

    ``plausible`` is the range the evidence allows (narrower than the valid range): where a
    default rests on a weak source, the range is what a sweep or an uncertainty analysis
    should span.
    """
    dated = isinstance(default, (list, dict))
    default = Dated.parse(default) if dated or unit.endswith("(dated)") else default
    extra: dict[str, JsonValue] = {"unit": unit, "source": source}
    if plausible is not None:
        extra["plausible"] = list(plausible)
    return Field(default, description=doc, ge=ge, le=le, json_schema_extra=extra)


class Section(BaseModel):
    """A block of a scenario: unknown keys are errors, values are immutable once loaded.

    Strict types: a TOML string or boolean is never quietly read as a number (``horizon =
    "2030"`` or ``leaders = true`` is a mistake to report, not to guess at).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, strict=True)


# -- shared building blocks ---------------------------------------------------------------


class Conscription(Section):
    """The draft: volunteers are taken first, a lottery among the fit fills the remaining places.

    Before ``equal_from`` only men are in the lottery and women serve by volunteering (the
    "right to conscription", since 1998); from that date everyone who turns 18 registers and
    the lottery draws women and men alike (L 221, 2025). The reform also acts before any
    lottery: registration and Defence Day for all women raise women's volunteering, by the
    factor ``women_registration_effect`` (Norway's path after 2015 is the analogue).
    """

    places: DatedCount = param(4700, "Conscript places per year.", unit="persons/year (dated)",
                               source="external H")
    intakes_per_year: int = param(2, "Intakes a year, spread evenly (February, August for 2).",
                                  unit="count", source="assumed", ge=1, le=12)
    service_months: DatedMonths = param(4, "Length of service.", unit="months (dated)",
                                        source="external H")
    equal_from: dt.date | None = param(REFORM_DATE, "Date from which women are in the draft "
                                       "lottery; \"never\" keeps conscription for men only.",
                                       unit="date", source="observed (plan §4)")
    cohort_men: int = param(35000, "Men turning 18 each year.", unit="persons/year",
                            source="assumed", ge=0, le=200000)
    cohort_women: int = param(33000, "Women turning 18 each year.", unit="persons/year",
                              source="assumed", ge=0, le=200000)
    volunteer_rate_men: DatedShare = param(
        0.10, "Share of a cohort's men who volunteer. About 90% of ~4,200 conscripts volunteered "
        "around 2010, ~10% of them women: ~3,360 men, 0.096 of 35,000; recently \"nearly all\" "
        "places are filled by volunteers: ~3,500 men in 2023, 0.10.", unit="fraction (dated)",
        source="external M (Sørensen & Kold; DOMAIN.md)", plausible=(0.09, 0.115))
    volunteer_rate_women: DatedShare = param(0.03, "Share of a cohort's women who volunteer "
                                             "(before any effect of registration).",
                                             unit="fraction (dated)", source="calibrated")
    women_registration_effect: DatedRatio = param(
        [[2010, 1.0], [REFORM_DATE, 1.0, "linear"], [dt.date(2031, 7, 1), 1.65]],
        "Factor on women's volunteering from equal_from on: registration and Defence Day for "
        "all women. Norway (universal conscription from 2015) went from 13.6% women among "
        "conscripts in 2014 to ~30% in 2020, an odds ratio of 2.7 in six years that includes "
        "drafting women; half of it on the log scale (1.65), reached linearly six years after "
        "the reform, is taken as the registration channel. 1 = no effect (the reform acts "
        "through the lottery only). Ignored before equal_from and when it is \"never\".",
        unit="ratio (dated)", source="external M/H (Norway), transfer to Denmark L",
        plausible=(1.0, 2.7))
    fit_rate_men: float = param(0.6, "Share of non-volunteer men fit for service (lottery pool).",
                                unit="fraction", source="assumed", ge=0, le=1)
    fit_rate_women: float = param(0.5, "Share of non-volunteer women fit for service.",
                                  unit="fraction", source="assumed", ge=0, le=1)
    dropout_men: DatedShare = param(0.11, "Probability a man leaves service early.",
                                    unit="fraction (dated)", source="external M (2018)")
    dropout_women: DatedShare = param(0.19, "Probability a woman leaves service early.",
                                      unit="fraction (dated)", source="external M (2018)")
    continuation_men: DatedShare = param(0.2, "Probability a man who completes service "
                                         "continues into professional service.",
                                         unit="fraction (dated)", source="assumed")
    continuation_women: DatedShare = param(0.2, "Probability a woman who completes service "
                                           "continues into professional service.",
                                           unit="fraction (dated)", source="assumed")

    @field_validator("equal_from", mode="before")
    @classmethod
    def _never(cls, v: Any) -> Any:
        if v is None or v == "never":   # None: a loaded scenario's own dump, validated again
            return None
        return parse_date(v)


class Recruitment(Section):
    """Direct recruitment into a stage: a fixed yearly number plus whatever fills the posts.

    Each month the stage recruits ``recruits / 12`` plus the gap between ``establishment`` (the
    posts) and the people in post, so an establishment above zero makes recruitment a pull
    (vacancies are refilled) and zero makes it a push (a fixed intake).
    """

    recruits: DatedCount = param(0, "Fixed recruits per year on top of filling posts.",
                                 unit="persons/year (dated)", source="assumed")
    establishment: DatedCount = param(0, "Posts to fill (0 = no pull).",
                                      unit="persons (dated)", source="assumed")
    women_share: DatedShare = param(0.2, "Women's share of recruits.", unit="fraction (dated)",
                                    source="calibrated")


class Careers(Section):
    """Attrition by gender, stage and tenure; promotion that fills posts.

    Men's yearly attrition hazards are given per stage; women's are men's times
    ``women_attrition_ratio``. In the first ``early_years`` in a stage attrition is
    ``early_multiplier`` times higher. Each month the upper stage's vacancies (establishment
    minus people in post) are filled from the stage below among those with at least
    ``promotion_min_years`` in it: women with relative odds ``women_promotion_ratio``, or first
    up to ``women_appointment_share``. With no establishment (0) promotion is a hazard
    (``promotion_rate``) instead.
    """

    women_attrition_ratio: DatedRatio = param(1.35, "Women's attrition hazard / men's.",
                                              unit="ratio (dated)",
                                              source="external M (GAO-20-61, UK MoD: 1.3-1.4)")
    early_years: float = param(2.0, "Years in a stage counted as early tenure.", unit="years",
                               source="assumed", ge=0, le=20)
    early_multiplier: float = param(1.5, "Attrition multiplier in early tenure.", unit="ratio",
                                    source="assumed", ge=0, le=20)
    promotion_rate: DatedRatio = param(0.08, "Men's yearly promotion hazard once eligible; "
                                       "used only where the upper stage has no establishment "
                                       "(0 posts), otherwise vacancies set promotions.",
                                       unit="1/year (dated)", source="assumed")
    women_promotion_ratio: DatedRatio = param(1.0, "Women's relative odds of appointment to a "
                                              "vacancy against an eligible man's (the hazard "
                                              "ratio where promotion is a rate).",
                                              unit="ratio (dated)", source="calibrated")
    women_appointment_share: DatedTarget = param(
        "off", "Appoint eligible women first until they make up at least this share of each "
        "month's appointments (rounded up; \"off\" = by relative odds). How DEMA means to "
        "reach 40% women managers by 2028 and the police 20% women leaders by 2030 (plan §4).",
        unit="fraction or off (dated)", source="assumed")
    promotion_min_years: float = param(3.0, "Years in the stage before promotion is possible.",
                                       unit="years", source="assumed", ge=0, le=40)


class Destination(Section):
    """One kind of deployment: posts held abroad, rotated in batches, with its own rest."""

    positions: DatedCount = param(0, "Posts held abroad at a time.", unit="persons (dated)",
                                  source="assumed")
    rotation_months: int = param(6, "Length of a rotation; all posts rotate together.",
                                 unit="months", source="external H", ge=1, le=36)
    first_month: int = param(1, "Calendar month of the first rotation in a year.", unit="month",
                             source="assumed", ge=1, le=12)
    target_share: DatedTarget = param("off", "Select women first until they make up at least "
                                      "this share of each rotation, rounded up to whole "
                                      "persons (\"off\" = select by propensity).",
                                      unit="fraction or off (dated)", source="assumed")
    rest_months: DatedOptionalMonths = param("off", "Months at home after a rotation here "
                                             "before the next deployment anywhere (\"off\" = "
                                             "the agency's rest_months).",
                                             unit="months or off (dated)", source="assumed")
    min_years_in_stage: float = param(0.0, "Years in their stage before someone can be sent "
                                      "here (seniority the posts ask for).", unit="years",
                                      source="assumed", ge=0, le=40)


class Deployment(Section):
    """Who is sent: eligible, available (not deployed, rest over) people, drawn by propensity.

    A woman's odds of being selected are ``women_selection_weight`` times a man's (weighted
    sampling without replacement); a destination's ``target_share`` overrides that.
    """

    rest_months: DatedRestMonths = param(24, "Minimum months at home between deployments, "
                                         "where a destination does not set its own.",
                                         unit="months (dated)", source="external H (old norm)")
    women_selection_weight: DatedRatio = param(1.0, "Women's relative odds of selection.",
                                               unit="ratio (dated)", source="calibrated")


def _dest(positions: Any, rotation: int, first: int, source: str = "assumed", *,
          rest: float | None = None, seniority: float = 0.0) -> Any:
    """A destination's defaults; ``source`` is the provenance of its post count."""
    def make() -> Destination:
        return Destination.model_validate(
            {"positions": positions, "rotation_months": rotation, "first_month": first,
             "rest_months": "off" if rest is None else rest, "min_years_in_stage": seniority})
    shown = positions if not isinstance(positions, list) else \
        ", ".join(f"{v} from {d}" for d, v in positions)
    return Field(default_factory=make,
                 description=f"Destination (default posts: {shown}; {rotation}-month rotations"
                             f"{'' if rest is None else f', {rest:g} months of rest after'}; "
                             f"posts: {source}).",
                 json_schema_extra={"posts_source": source})


# -- the Armed Forces ---------------------------------------------------------------------


class ArmedForcesInitial(Section):
    """The Armed Forces' professional military staff at the start year."""

    rank_and_file: int = param(6400, "Privates (rank and file) at the start.", unit="persons",
                               source="external M (6,432 in 2022)", ge=0, le=100000)
    leaders: int = param(6900, "NCOs and officers (leaders) at the start.", unit="persons",
                         source="external M (6,877 in 2022)", ge=0, le=100000)
    women_share_rank_and_file: float = param(0.12, "Women's share of rank and file at the start.",
                                             unit="fraction", source="calibrated", ge=0, le=1)
    women_share_leaders: float = param(0.02, "Women's share of leaders at the start.",
                                       unit="fraction", source="calibrated", ge=0, le=1)
    mean_tenure_years: float = param(7.0, "Mean years in stage at the start (exponential).",
                                     unit="years", source="assumed", ge=0, le=40)


class ArmedForcesCareers(Careers):
    """The Armed Forces' careers: rank and file -> leaders (NCOs and officers).

    Leaders are one stage: no source gives the NCO/officer split or women's share among
    officers (the plan's 2.5% is for all military leaders), so UN staff officer and observer
    posts ask for seniority among leaders instead (``min_years_in_stage``).
    """

    establishment_leaders: DatedCount = param(6900, "Leader posts (NCOs and officers) that "
                                              "promotion from the rank and file keeps filled.",
                                              unit="persons (dated)",
                                              source="external M (6,877 in 2022)")

    attrition_rank_and_file: DatedRatio = param(0.10, "Men's yearly attrition hazard, rank and "
                                                "file.", unit="1/year (dated)", source="assumed")
    attrition_leaders: DatedRatio = param(0.05, "Men's yearly attrition hazard, leaders.",
                                          unit="1/year (dated)", source="assumed")


class ArmedForcesConscription(Conscription):
    """The Armed Forces' draft: places and service length as legislated."""

    places: DatedCount = param([[2010, 4200], [2018, 4700], [REFORM_DATE, 4700, "linear"],
                                [2033, 6500]],
                               "Conscript places per year (4,200 in 2017, 4,700 2018-2024, "
                               "rising to 6,500 by 2033; the phase-in is assumed linear).",
                               unit="persons/year (dated)", source="external H/M")
    service_months: DatedMonths = param([[2010, 4], [REFORM_DATE, 11]],
                                        "Length of service (4 months; 11 from the reform).",
                                        unit="months (dated)", source="external H")


class ArmedForcesTraining(Section):
    """Months in a stage before a person can first be deployed from it."""

    rank_and_file: float = param(6.0, "Months of training after joining the rank and file "
                                 "(continuing conscripts included) before a first deployment.",
                                 unit="months", source="assumed", ge=0, le=60)
    leader: float = param(0.0, "Months after becoming a leader before deploying as one "
                          "(leaders come trained from the rank and file).", unit="months",
                          source="assumed", ge=0, le=60)


class ArmedForcesDeployment(Deployment):
    """Where the Armed Forces deploy: UN contingents, UN staff officer and observer posts,
    NATO, EU CSDP (from 2025) and other operations.

    The UN post counts are external (DOMAIN.md): on 30 April 2016 Denmark had 41 uniformed
    personnel in UN peacekeeping, 29 troops (MINUSMA 18, UNMISS 11) and 12 military experts
    (UNTSO 10, UNMISS 2) (Providing for Peacekeeping, M); today the Danish Defence serves in 2
    of 16 operations (M), so contingents are taken as none from 2018 (the year is L).
    """

    training_months: ArmedForcesTraining = Field(default_factory=ArmedForcesTraining)
    un_contingent: Destination = _dest(
        [[2010, 29], [2018, 0]], 6, 2,
        "external M: 29 troops on 30 April 2016 (Providing for Peacekeeping); none now "
        "(Danish Defence: 2 of 16 UN operations), from 2018 (L)")
    un_staff_observer: Destination = _dest(
        12, 12, 3, "external M: 12 military experts on 30 April 2016; 'a few dozen' at most "
        "now (L), plausible 0-36", seniority=4.0)
    nato: Destination = _dest(1000, 6, 1, "assumed; with 'other', ~3,400 persons a year "
                              "(plan §4, 2023)")
    eu_csdp: Destination = _dest([[1900, 0], [2025, 40]], 6, 4,
                                  "assumed; none before 2025, 40 from 2025 per the plan §2")
    other: Destination = _dest(400, 4, 1, "assumed; maritime 3-4 months (external H)")


class ArmedForces(Section):
    """Danish Armed Forces: conscripts -> rank and file -> leaders (NCOs and officers)."""

    initial: ArmedForcesInitial = Field(default_factory=ArmedForcesInitial)
    conscription: ArmedForcesConscription = Field(default_factory=ArmedForcesConscription)
    recruitment: Recruitment = Field(default_factory=lambda: Recruitment.model_validate(
        {"recruits": 0, "establishment": 6400, "women_share": 0.15}))
    careers: ArmedForcesCareers = Field(default_factory=ArmedForcesCareers)
    deployment: ArmedForcesDeployment = Field(default_factory=ArmedForcesDeployment)


# -- DEMA ---------------------------------------------------------------------------------


class DemaInitial(Section):
    """DEMA's staff and International Personnel Pool at the start year."""

    uniformed: int = param(600, "Uniformed staff at the start.", unit="persons",
                           source="assumed", ge=0, le=100000)
    civilian: int = param(550, "Civilian staff at the start.", unit="persons", source="assumed",
                          ge=0, le=100000)
    managers: int = param(60, "Office and unit managers at the start.", unit="persons",
                          source="assumed", ge=0, le=10000)
    women_share_uniformed: float = param(0.12, "Women's share of uniformed staff at the start.",
                                         unit="fraction", source="calibrated", ge=0, le=1)
    women_share_civilian: float = param(0.45, "Women's share of civilian staff at the start.",
                                        unit="fraction", source="assumed", ge=0, le=1)
    women_share_managers: float = param(0.15, "Women's share of managers at the start.",
                                        unit="fraction", source="calibrated", ge=0, le=1)
    pool_external: int = param(60, "Pool members from outside DEMA at the start.",
                               unit="persons", source="assumed", ge=0, le=10000)
    pool_staff_share: float = param(0.12, "Share of staff in the pool at the start.",
                                    unit="fraction", source="assumed", ge=0, le=1)
    women_share_pool_external: float = param(0.12, "Women's share of external pool members.",
                                             unit="fraction", source="calibrated", ge=0, le=1)
    mean_tenure_years: float = param(7.0, "Mean years in stage at the start (exponential).",
                                     unit="years", source="assumed", ge=0, le=40)


class DemaConscription(Conscription):
    """DEMA's draft: places and the 9-month service."""

    places: DatedCount = param([[2010, 420], [2018, 545], [REFORM_DATE, 545, "linear"],
                                [2033, 1000]],
                               "Conscript places per year (420, then 545 under the 2018-23 "
                               "agreement, rising to 1,000 by 2033; phase-in assumed linear).",
                               unit="persons/year (dated)", source="external H/M")
    service_months: DatedMonths = param(9, "Length of service.", unit="months (dated)",
                                        source="external H")
    volunteer_rate_men: DatedShare = param(0.012, "Share of a cohort's men who volunteer.",
                                           unit="fraction (dated)", source="assumed")
    volunteer_rate_women: DatedShare = param(0.005, "Share of a cohort's women who volunteer.",
                                             unit="fraction (dated)", source="calibrated")
    continuation_men: DatedShare = param(0.1, "Probability a man who completes service "
                                         "joins the uniformed staff.", unit="fraction (dated)",
                                         source="assumed")
    continuation_women: DatedShare = param(0.1, "Probability a woman who completes service "
                                           "joins the uniformed staff.", unit="fraction (dated)",
                                           source="assumed")


class DemaCareers(Careers):
    """DEMA's careers: uniformed and civilian staff -> managers."""

    attrition_uniformed: DatedRatio = param(0.08, "Men's yearly attrition, uniformed staff.",
                                            unit="1/year (dated)", source="assumed")
    attrition_civilian: DatedRatio = param(0.08, "Men's yearly attrition, civilian staff.",
                                           unit="1/year (dated)", source="assumed")
    attrition_managers: DatedRatio = param(0.06, "Men's yearly attrition, managers.",
                                           unit="1/year (dated)", source="assumed")
    establishment_managers: DatedCount = param(60, "Manager posts that appointments from the "
                                               "uniformed and civilian staff keep filled.",
                                               unit="persons (dated)", source="assumed")
    promotion_rate: DatedRatio = param(0.006, "Men's yearly hazard of becoming a manager "
                                       "(only with no manager establishment).",
                                       unit="1/year (dated)", source="assumed")
    promotion_min_years: float = param(5.0, "Years in staff before becoming a manager.",
                                       unit="years", source="assumed", ge=0, le=40)


class DemaPool(Section):
    """The International Personnel Pool: staff who sign up, and members recruited from outside.

    Every member, staff or external, withdraws from the pool at ``leave_rate`` (not while
    posted); a staff member also leaves it by leaving DEMA, and an external member who
    withdraws leaves DEMA's books. External recruitment keeps the pool at ``size`` members.
    """

    size: DatedCount = param(300, "Members the pool is kept at by external recruitment "
                             "(on top of external_recruits).", unit="persons (dated)",
                             source="assumed", plausible=(150, 500))
    staff_join_rate: DatedRatio = param(0.02, "Yearly hazard that a staff member joins the pool.",
                                        unit="1/year (dated)", source="assumed")
    women_join_ratio: DatedRatio = param(1.0, "Women's join hazard / men's.",
                                         unit="ratio (dated)", source="assumed")
    leave_rate: DatedRatio = param(0.1, "Yearly hazard that a member withdraws from the pool "
                                   "(the same for staff and external members).",
                                   unit="1/year (dated)", source="assumed")
    external_recruits: DatedCount = param(8, "External members recruited per year on top of "
                                          "those that keep the pool at its size (a "
                                          "recruitment drive raises it).",
                                          unit="persons/year (dated)", source="assumed")
    external_women_share: DatedShare = param(0.15, "Women's share of external recruits.",
                                             unit="fraction (dated)", source="calibrated")


class DemaTraining(Section):
    """Months in a stage before a pool member can first be posted from it."""

    uniformed: float = param(3.0, "Months as uniformed staff before a first posting.",
                             unit="months", source="assumed", ge=0, le=60)
    civilian: float = param(3.0, "Months as civilian staff before a first posting.",
                            unit="months", source="assumed", ge=0, le=60)
    manager: float = param(0.0, "Months as a manager before posting as one.", unit="months",
                           source="assumed", ge=0, le=60)
    external: float = param(2.0, "Months after an external member joins (the pool's induction "
                            "course) before a first posting.", unit="months",
                            source="assumed", ge=0, le=60)


class DemaDeployment(Deployment):
    """Where DEMA posts its International Personnel Pool: the EU Civil Protection Mechanism,
    the UN and NATO."""

    training_months: DemaTraining = Field(default_factory=DemaTraining)
    eu_ucpm: Destination = _dest(25, 3, 1, "assumed; EU Civil Protection Mechanism", rest=6)
    un: Destination = _dest(10, 6, 2, rest=12)
    nato: Destination = _dest(5, 6, 3, rest=12)


class Dema(Section):
    """DEMA: conscripts -> uniformed staff; civilian staff; managers; the international pool."""

    initial: DemaInitial = Field(default_factory=DemaInitial)
    conscription: DemaConscription = Field(default_factory=DemaConscription)
    uniformed_recruitment: Recruitment = Field(default_factory=lambda: Recruitment.model_validate(
        {"recruits": 0, "establishment": 600, "women_share": 0.15}))
    civilian_recruitment: Recruitment = Field(default_factory=lambda: Recruitment.model_validate(
        {"recruits": 0, "establishment": 550, "women_share": 0.45}))
    careers: DemaCareers = Field(default_factory=DemaCareers)
    pool: DemaPool = Field(default_factory=DemaPool)
    deployment: DemaDeployment = Field(default_factory=DemaDeployment)


# -- the police ---------------------------------------------------------------------------


class PoliceInitial(Section):
    """The police at the start year."""

    officers: int = param(10000, "Police officers (not in leadership) at the start.",
                          unit="persons", source="external M (~11,400 officers in 2022)",
                          ge=0, le=100000)
    leaders: int = param(1000, "Police officers in leadership at the start.", unit="persons",
                         source="assumed", ge=0, le=100000)
    civilians: int = param(5000, "Civilian employees at the start.", unit="persons",
                           source="assumed", ge=0, le=100000)
    students: int = param(1200, "Academy students at the start.", unit="persons",
                          source="assumed", ge=0, le=100000)
    cadets: int = param(0, "Politikadets at the start (the course began in March 2017).",
                        unit="persons", source="external M", ge=0, le=100000)
    women_share_officers: float = param(0.12, "Women's share of officers at the start.",
                                        unit="fraction", source="calibrated", ge=0, le=1)
    women_share_leaders: float = param(0.05, "Women's share of leaders at the start.",
                                       unit="fraction", source="calibrated", ge=0, le=1)
    women_share_civilians: float = param(0.65, "Women's share of civilians at the start.",
                                         unit="fraction", source="assumed", ge=0, le=1)
    women_share_students: float = param(0.167, "Women's share of students at the start.",
                                        unit="fraction", source="observed (plan §4, 2010)",
                                        ge=0, le=1)
    women_share_cadets: float = param(0.14, "Women's share of cadets at the start.",
                                      unit="fraction", source="assumed", ge=0, le=1)
    mean_tenure_years: float = param(10.0, "Mean years in stage at the start (exponential).",
                                     unit="years", source="assumed", ge=0, le=40)


class PoliceAcademy(Section):
    """The police's basic programme: students at the academy, then officers.

    Admissions keep the officer posts filled: each intake admits ``intake / intakes_per_year``
    plus the gap between ``establishment`` and the officers expected in post when the intake
    graduates (officers and leaders now, plus students expected to graduate, minus the
    officers expected to leave meanwhile at men's rates).
    """

    intake: DatedCount = param(0, "Fixed admissions per year on top of those that fill the "
                               "officer posts.", unit="persons/year (dated)", source="assumed")
    establishment: DatedCount = param(
        {"linear": [[2010, 11000], [2022, 11400]]},
        "Police officer posts (leaders included) the admissions keep filled.",
        unit="persons (dated)", source="external M (~11,400 officers in 2022); 2010 assumed")
    intakes_per_year: int = param(2, "Admissions a year.", unit="count", source="assumed", ge=1,
                                  le=12)
    women_share: DatedShare = param({"linear": [[2010, 0.17], [2024, 0.34]]},
                                    "Women's share of admitted students.",
                                    unit="fraction (dated)", source="calibrated")
    student_months: DatedMonths = param(33, "Months in the basic programme, practical training "
                                        "included, before becoming an officer.",
                                        unit="months (dated)", source="assumed")
    dropout_men: DatedShare = param(0.10, "Probability a man leaves the programme.",
                                    unit="fraction (dated)", source="assumed")
    dropout_women: DatedShare = param(0.12, "Probability a woman leaves the programme.",
                                      unit="fraction (dated)", source="assumed")


class PoliceCadets(Section):
    """The politikadet track (since March 2017): a short course at the Police Academy for
    guarding, escorts and border control, then service as a cadet; its own intake and exits.
    Some cadets go on to the academy's basic programme (``to_academy_rate``)."""

    intake: DatedCount = param([[2010, 0], [dt.date(2017, 3, 1), 110]],
                               "Cadets admitted per year (first class 1 March 2017: 55; up to "
                               "125 a class planned; two classes a year assumed).",
                               unit="persons/year (dated)", source="external M (class size)",
                               plausible=(55, 250))
    intakes_per_year: int = param(2, "Classes a year.", unit="count", source="assumed", ge=1,
                                  le=12)
    women_share: DatedShare = param({"linear": [[2017, 0.09], [2024, 0.35]]},
                                    "Women's share of admitted cadets (5 of 55 in the first "
                                    "class).", unit="fraction (dated)", source="calibrated")
    course_months: float = param(6.0, "Months of the cadet course (about 6).", unit="months",
                                 source="external M", ge=1, le=36)
    attrition: DatedRatio = param(0.3, "Men's yearly hazard of leaving the cadet service "
                                  "(fixed-term posts; women x women_attrition_ratio).",
                                  unit="1/year (dated)", source="assumed", plausible=(0.15, 0.6))
    to_academy_rate: DatedRatio = param(0.05, "Yearly hazard that a cadet who has finished the "
                                        "course goes on to the academy's basic programme.",
                                        unit="1/year (dated)", source="assumed",
                                        plausible=(0.0, 0.2))


class PoliceCareers(Careers):
    """The police's careers: officers -> leaders; civilian staff."""

    attrition_officers: DatedRatio = param(0.035, "Men's yearly attrition, officers.",
                                           unit="1/year (dated)", source="assumed")
    attrition_leaders: DatedRatio = param(0.05, "Men's yearly attrition, leaders.",
                                          unit="1/year (dated)", source="assumed")
    attrition_civilians: DatedRatio = param(0.08, "Men's yearly attrition, civilians.",
                                            unit="1/year (dated)", source="assumed")
    establishment_leaders: DatedCount = param(1000, "Leader posts that appointments from the "
                                              "officers keep filled.", unit="persons (dated)",
                                              source="assumed")
    promotion_rate: DatedRatio = param(0.01, "Men's yearly hazard of becoming a leader (only "
                                       "with no leader establishment).",
                                       unit="1/year (dated)", source="assumed")
    promotion_min_years: float = param(8.0, "Years as an officer before leadership.",
                                       unit="years", source="assumed", ge=0, le=40)


class PoliceTraining(Section):
    """Months in a stage before a first posting from it."""

    officer: float = param(0.0, "Months as an officer before a first posting (the programme "
                           "is the training).", unit="months", source="assumed", ge=0, le=60)
    leader: float = param(0.0, "Months as a leader before posting as one.", unit="months",
                          source="assumed", ge=0, le=60)


class PoliceDeployment(Deployment):
    """Where the police post officers: UN individual police officers, civilian CSDP missions,
    the trainer pool and Frontex.

    In 2018 24 Danish officers served on 12 EU, UN and OSCE missions, 13 of them leaders
    (Dansk Politi, M), and none of Denmark's 41 uniformed UN personnel in April 2016 was police
    (M): missions ask for experience, so they take officers with some years in post.
    """

    training_months: PoliceTraining = Field(default_factory=PoliceTraining)
    un_ipo: Destination = _dest(4, 12, 1, "external L: part of the 24 officers on EU, UN and "
                                "OSCE missions in 2018; none in UN service in April 2016 (M)",
                                rest=12, seniority=5.0)
    eu_csdp: Destination = _dest(20, 12, 7, "external M/L: the rest of the 24 officers on "
                                 "missions in 2018", rest=12, seniority=5.0)
    trainer_pool: Destination = _dest(5, 1, 1, "assumed; short deployments", rest=2)
    frontex: Destination = _dest(20, 2, 1, "assumed", rest=4)


class Police(Section):
    """The police: students -> officers -> leaders; politikadets on their own track;
    civilians; international postings."""

    initial: PoliceInitial = Field(default_factory=PoliceInitial)
    academy: PoliceAcademy = Field(default_factory=PoliceAcademy)
    cadets: PoliceCadets = Field(default_factory=PoliceCadets)
    civilian_recruitment: Recruitment = Field(default_factory=lambda: Recruitment.model_validate(
        {"recruits": 0, "establishment": 5000, "women_share": 0.65}))
    careers: PoliceCareers = Field(default_factory=PoliceCareers)
    deployment: PoliceDeployment = Field(default_factory=PoliceDeployment)


# -- the scenario -------------------------------------------------------------------------


class Scenario(Section):
    """A scenario: what the world looks like (levers and assumptions) and how to run it."""

    name: str = Field(description="Short name; used (made safe) as the output folder name.",
                      min_length=1, max_length=200)
    description: str = param("", "What the scenario asks.", unit="text", source="assumed")
    extends: str | None = param(None, "A scenario file (relative to this one) whose values this "
                                "file overrides.", unit="path", source="assumed")
    calibration: str | None = param(None, "A fitted-parameter file (relative to this one) "
                                    "layered beneath the scenario's own values.", unit="path",
                                    source="calibrated")
    start_year: int = param(2010, "First simulated year (the initial population is set on "
                            "1 January).", unit="year", source="assumed", ge=2000, le=2024)
    horizon: int = param(2035, "Last simulated year (inclusive).", unit="year",
                         source="assumed", ge=2025, le=2060)
    replications: int = param(400, "Independent replications. 400 keeps the Monte Carlo "
                              "standard error of every headline share of the baseline under "
                              "0.5 points (the 12-post UN police share needs about 360).",
                              unit="count", source="assumed",
                              ge=1, le=100000)
    seed: int = param(20250701, "Root seed; replication r uses SeedSequence(seed, (r, ...)).",
                      unit="integer", source="assumed", ge=0, le=2**63 - 1)
    meta: dict[str, Any] = Field(default_factory=dict, description="Informational notes "
                                 "(written into resolved scenarios); ignored by the model.")
    armed_forces: ArmedForces = Field(default_factory=ArmedForces)
    dema: Dema = Field(default_factory=Dema)
    police: Police = Field(default_factory=Police)

    @model_validator(mode="after")
    def _years(self) -> "Scenario":
        if self.horizon <= self.start_year:
            raise ValueError(f"horizon ({self.horizon}) must be after start_year "
                             f"({self.start_year})")
        return self

    @property
    def years(self) -> range:
        return range(self.start_year, self.horizon + 1)
