"""Checks on the calibration data files: calibration/observed.csv and calibration/targets.csv.

The reference list ``PLAN_SECTION4`` below was written by hand from reading section 4 of the plan
(seeds/000_96805fc2a148444a.txt, "Danish authorities' national WPS priorities"), independently of
the CSV, so a typo in either shows up as a mismatch.

Each check is a function returning a list of problems; the tests assert that the real files have
none, and the ``test_checker_catches_*`` tests feed each check a deliberately broken copy to show
that it can fail.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[1]
OBSERVED = ROOT / "calibration" / "observed.csv"
TARGETS = ROOT / "calibration" / "targets.csv"

TOL = 1e-9

# Every workforce figure of the plan's section 4, as (series, year, share of women).
# Context series (no model series) are included: section 4 states them too.
PLAN_SECTION4: list[tuple[str, int, float]] = [
    # Danish Armed Forces
    ("armed_forces.military", 2017, 0.072),      # "from 7.2% in 2017 to 9.6% in 2023"
    ("armed_forces.military", 2023, 0.096),      # "an average of 9.6% of military employees in 2023"
    ("armed_forces.deployed", 2023, 0.093),      # "approximately 3,400 soldiers ... of whom 9.3% were women"
    ("armed_forces.leaders", 2023, 0.025),       # "only 2.5% of the military leaders are women"
    ("armed_forces.conscripts", 2023, 0.25),     # "nearly 1,200 women ... approximately 25% of the conscript ranks"
    ("defence_command.all_staff", 2023, 0.132),  # "13.2% of Defence Command Denmark"
    ("mod_organisation.all_staff", 2023, 0.121),  # "12.1% of the Ministry of Defence organisation"
    # Danish Emergency Management Agency
    ("dema.staff", 2023, 0.292),                 # "29.2% of the staff"
    ("dema.uniformed", 2023, 0.164),             # "16.4% of the uniformed staff in 2023"
    ("dema.international_pool", 2023, 0.127),    # "end of 2023 ... 12.7% of ... International Personnel Pool"
    ("dema.international_pool", 2024, 0.36),     # "In 2024, this figure increased to 36%"
    ("dema.posted", 2023, 0.026),                # "2.6% of posted personnel at the end of 2023"
    ("dema.posted", 2024, 0.20),                 # "In 2024, 20% of posted personnel were women"
    ("dema.conscripts", 2023, 0.28),             # "525 women, corresponding to 28% of those who completed"
    ("dema.managers", 2024, 0.20),               # "As of 1 January 2024, women comprise 20% of this group"
    # Danish Police
    ("police.officers", 2014, 0.139),            # "from 13.9% in 2014
    ("police.officers", 2024, 0.211),            #  to 21.1% in 2024"
    ("police.students", 2010, 0.167),            # "from 16.7% in 2010
    ("police.students", 2024, 0.34),             #  to 34% in 2024"
    ("police.cadets", 2017, 0.138),              # "from 13.8% in 2017
    ("police.cadets", 2024, 0.349),              #  to 34.9% in 2024"
    ("police.employees", 2024, 0.36),            # "In 2024, 36% of Danish Police employees were women"
    ("police.leaders", 2024, 0.09),              # "9% of police leaders"
    ("police.all_leaders", 2024, 0.232),         # "23.2% of all leaders in the Danish Police"
    ("police.posted", 2024, 0.12),               # "posted staff in 2024 was calculated as 12%"
    # Ministry of Foreign Affairs
    ("mfa.managers_home", 2024, 0.50),           # "equal gender balance ... among managers in ... Service at Home"
    ("mfa.deputy_managers", 2024, 0.50),         # "50/50 gender balance in the deputy manager group"
    ("mfa.new_managers", 2024, 0.50),            # "and among new managerial appointments"
    ("mfa.managers_abroad", 2024, 0.25),         # "men still account for three-quarters of managers"
    ("mfa.staff", 2024, 0.52),                   # "women comprise 52% of staff"
]

# Implied total head counts, (series, year, women, total) as the plan gives or implies them.
PLAN_COUNTS: list[tuple[str, int, int | None, int]] = [
    ("armed_forces.deployed", 2023, None, 3400),    # "approximately 3,400 soldiers"
    ("armed_forces.conscripts", 2023, 1200, 4800),  # 1,200 women / 25%
    ("dema.conscripts", 2023, 525, 1875),           # 525 women / 28%
]

MEASURES = {"stock_avg", "stock_end", "stock_start", "flow", "deployed_during"}
USES = {"calibrate", "context"}
PRECISIONS = {0.0005, 0.005, 0.025}
OBSERVED_COLUMNS = ["series", "year", "measure", "value", "count", "source", "precision", "use",
                    "note"]

TARGET_COLUMNS = ["target_id", "series", "year", "target", "kind", "status", "confidence", "source"]
KINDS = {"un_dpo", "national"}
STATUSES = {"stated", "interpolated"}
CONFIDENCES = {"H", "M", "L", "M/H"}
UN_MILITARY_LINES = {"un.military_contingents", "un.staff_officers_observers"}
SUBSERIES = {"armed_forces.deployed.un_contingent", "armed_forces.deployed.un_staff_observer",
             "police.posted.un_ipo"}


def _read(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema_length=0)  # all strings; cast explicitly below


@pytest.fixture(scope="module")
def observed() -> pl.DataFrame:
    return _read(OBSERVED)


@pytest.fixture(scope="module")
def targets() -> pl.DataFrame:
    return _read(TARGETS)


def _num(x: str | None) -> float | None:
    return None if x in (None, "") else float(x)


# ---------------------------------------------------------------- checks on observed.csv

def check_plan_figures_present(obs: pl.DataFrame) -> list[str]:
    problems = []
    rows = obs.to_dicts()
    for series, year, value in PLAN_SECTION4:
        hits = [r for r in rows if r["series"] == series and int(r["year"]) == year]
        if len(hits) != 1:
            problems.append(f"{series} {year}: {len(hits)} rows, expected 1")
        elif abs(float(hits[0]["value"]) - value) > TOL:
            problems.append(f"{series} {year}: value {hits[0]['value']} != plan {value}")
    return problems


def check_calibrate_rows_listed(obs: pl.DataFrame) -> list[str]:
    listed = {(s, y) for s, y, _ in PLAN_SECTION4}
    return [f"calibrate row {r['series']} {r['year']} is not a section-4 figure of the "
            "reference list"
            for r in obs.filter(pl.col("use") == "calibrate").to_dicts()
            if (r["series"], int(r["year"])) not in listed]


def check_section4_rows_listed(obs: pl.DataFrame) -> list[str]:
    listed = {(s, y) for s, y, _ in PLAN_SECTION4}
    return [f"{r['series']} {r['year']} cites §4 but is missing from the reference list"
            for r in obs.to_dicts()
            if r["source"].startswith("§4") and (r["series"], int(r["year"])) not in listed]


def check_observed_vocab(obs: pl.DataFrame) -> list[str]:
    problems = []
    if obs.columns[:6] != OBSERVED_COLUMNS[:6]:
        problems.append(f"header starts {obs.columns[:6]}")
    for r in obs.to_dicts():
        key = f"{r['series']} {r['year']}"
        v = float(r["value"])
        if not 0.0 <= v <= 1.0:
            problems.append(f"{key}: value {v} not a fraction")
        if r["measure"] not in MEASURES:
            problems.append(f"{key}: measure {r['measure']!r}")
        if not 2010 <= int(r["year"]) <= 2024:
            problems.append(f"{key}: year outside 2010..2024")
        if "§2" not in (r["source"] or "") and "§4" not in (r["source"] or ""):
            problems.append(f"{key}: source cites no section")
        if r["use"] not in USES:
            problems.append(f"{key}: use {r['use']!r}")
        p = _num(r["precision"])
        if p is None or not any(abs(p - q) < TOL for q in PRECISIONS):
            problems.append(f"{key}: precision {r['precision']!r}")
        elif p < 0.025:
            # the stated digits: 0.0005 -> one decimal of a percent, 0.005 -> whole percent
            scaled = v / (2 * p)
            if abs(scaled - round(scaled)) > 1e-6:
                problems.append(f"{key}: value {v} has more digits than precision {p} allows")
        n = _num(r["count"])
        if n is not None and (n <= 0 or n != int(n)):
            problems.append(f"{key}: count {r['count']!r} not a positive integer")
    dup = obs.group_by(["series", "year", "measure"]).len().filter(pl.col("len") > 1)
    problems += [f"duplicate row {d['series']} {d['year']} {d['measure']}" for d in dup.to_dicts()]
    return problems


def check_counts(obs: pl.DataFrame) -> list[str]:
    problems = []
    rows = {(r["series"], int(r["year"])): r for r in obs.to_dicts()}
    for series, year, women, total in PLAN_COUNTS:
        r = rows.get((series, year))
        if r is None or _num(r["count"]) != total:
            problems.append(f"{series} {year}: count should be {total}")
            continue
        if women is not None:
            implied = women / float(r["value"])
            if abs(implied - total) > 1e-6 * total:
                problems.append(f"{series} {year}: {women} / {r['value']} = {implied}, not {total}")
            if str(women) not in (r["note"] or "").replace(",", ""):
                problems.append(f"{series} {year}: note does not give the women count {women}")
    return problems


# ---------------------------------------------------------------- checks on targets.csv

def known_series(obs: pl.DataFrame) -> set[str]:
    return set(obs.filter(pl.col("use") == "calibrate")["series"].to_list()) | SUBSERIES


def check_targets_vocab(tg: pl.DataFrame) -> list[str]:
    problems = []
    if tg.columns[:8] != TARGET_COLUMNS:
        problems.append(f"header {tg.columns}")
    for r in tg.to_dicts():
        key = r["target_id"]
        t = float(r["target"])
        if not 0.0 <= t <= 1.0:
            problems.append(f"{key}: target {t} not a fraction")
        if r["kind"] not in KINDS:
            problems.append(f"{key}: kind {r['kind']!r}")
        if r["status"] not in STATUSES:
            problems.append(f"{key}: status {r['status']!r}")
        if r["confidence"] not in CONFIDENCES:
            problems.append(f"{key}: confidence {r['confidence']!r}")
        if r["status"] == "interpolated" and r["confidence"] != "L":
            problems.append(f"{key}: interpolated rows must have confidence L")
        if not key.endswith(f".{r['year']}"):
            problems.append(f"{key}: id does not end with its year {r['year']}")
        if (not key.startswith(("un.", "national."))
                or key.split(".")[0] != {"un_dpo": "un"}.get(r["kind"], r["kind"])):
            problems.append(f"{key}: id prefix does not match kind {r['kind']}")
        if not (r["source"] or "").strip():
            problems.append(f"{key}: no source")
    if tg["target_id"].n_unique() != tg.height:
        problems.append("duplicate target_id")
    return problems


def check_un_military_lines(tg: pl.DataFrame) -> list[str]:
    problems = []
    for line in sorted(UN_MILITARY_LINES):
        rows = [r for r in tg.to_dicts() if r["target_id"].rsplit(".", 1)[0] == line]
        years = sorted(int(r["year"]) for r in rows)
        if years != list(range(2021, 2029)):
            problems.append(f"{line}: years {years}, expected 2021..2028")
        stated = {int(r["year"]): float(r["target"]) for r in rows if r["status"] == "stated"}
        for r in rows:
            if r["status"] != "interpolated":
                continue
            y = int(r["year"])
            below = [s for s in stated if s < y]
            above = [s for s in stated if s > y]
            if not below or not above:
                problems.append(f"{r['target_id']}: interpolated without stated neighbours")
                continue
            lo, hi = max(below), min(above)
            line_value = stated[lo] + (stated[hi] - stated[lo]) * (y - lo) / (hi - lo)
            if abs(float(r["target"]) - line_value) > TOL:
                problems.append(f"{r['target_id']}: {r['target']} off the line {lo}-{hi} "
                                f"({line_value})")
    return problems


def check_target_series_known(tg: pl.DataFrame, known: set[str]) -> list[str]:
    return [f"{r['target_id']}: unknown series {r['series']!r}"
            for r in tg.to_dicts() if r["series"] not in (None, "") and r["series"] not in known]


def check_target_rows_required(tg: pl.DataFrame) -> list[str]:
    ids = dict(zip(tg["target_id"].to_list(), tg.to_dicts()))
    want = {
        "un.formed_police_units.2022": ("", 0.12), "un.formed_police_units.2025": ("", 0.15),
        "un.formed_police_units.2028": ("", 0.20),
        "un.individual_police_officers.2028": ("police.posted.un_ipo", 0.30),
        "un.police_overall.2028": ("police.posted", 0.20),
        "un.military_contingents.2028": ("armed_forces.deployed.un_contingent", 0.15),
        "un.staff_officers_observers.2028": ("armed_forces.deployed.un_staff_observer", 0.25),
        "national.dema_managers.2028": ("dema.managers", 0.40),
        "national.police_leaders.2030": ("police.leaders", 0.20),
    }
    problems = []
    for tid, (series, value) in want.items():
        r = ids.get(tid)
        if r is None:
            problems.append(f"{tid}: missing")
            continue
        if (r["series"] or "") != series or abs(float(r["target"]) - value) > TOL:
            problems.append(f"{tid}: ({r['series']!r}, {r['target']}) != ({series!r}, {value})")
        if tid.endswith(".2028") and tid.startswith("un.") and "formed_police" not in tid \
                and "§2" not in r["source"]:
            problems.append(f"{tid}: 2028 UN row should cite §2")
    fpu = [r for r in tg.to_dicts() if r["target_id"].startswith("un.formed_police_units.")]
    if (sorted(int(r["year"]) for r in fpu) != [2022, 2025, 2028]
            or any(r["status"] != "stated" for r in fpu)):
        problems.append("formed police units: expected stated rows 2022, 2025, 2028 only")
    return problems


# ---------------------------------------------------------------- tests on the real files

def test_every_section4_figure_is_in_observed(observed):
    assert check_plan_figures_present(observed) == []


def test_no_calibrate_row_outside_the_plan_list(observed):
    assert check_calibrate_rows_listed(observed) == []
    assert check_section4_rows_listed(observed) == []


def test_observed_values_measures_years_sources(observed):
    assert check_observed_vocab(observed) == []


def test_observed_counts_match_the_plan(observed):
    assert check_counts(observed) == []


def test_targets_vocab_and_fractions(targets):
    assert check_targets_vocab(targets) == []


def test_un_military_interpolation_on_the_line(targets):
    assert check_un_military_lines(targets) == []


def test_target_series_are_model_series(observed, targets):
    assert check_target_series_known(targets, known_series(observed)) == []


def test_required_target_rows(targets):
    assert check_target_rows_required(targets) == []


# ---------------------------------------------------------------- each check can fail

def _set(df: pl.DataFrame, row: int, col: str, value: str) -> pl.DataFrame:
    return df.with_columns(
        pl.when(pl.int_range(pl.len()) == row).then(pl.lit(value)).otherwise(pl.col(col))
        .alias(col))


def _row(df: pl.DataFrame, **match) -> int:
    idx = [i for i, r in enumerate(df.to_dicts()) if all(r[k] == v for k, v in match.items())]
    assert len(idx) == 1, match
    return idx[0]


def test_checker_catches_wrong_or_missing_figure(observed):
    i = _row(observed, series="police.cadets", year="2024")
    assert check_plan_figures_present(_set(observed, i, "value", "0.348"))
    assert check_plan_figures_present(observed.filter(pl.int_range(pl.len()) != i))


def test_checker_catches_unlisted_calibrate_row(observed):
    i = _row(observed, series="civilian_csdp.posted", year="2024")
    assert check_calibrate_rows_listed(_set(observed, i, "use", "calibrate"))
    assert check_section4_rows_listed(_set(observed, i, "source", "§4: invented"))


@pytest.mark.parametrize("col,value", [
    ("value", "9.6"), ("measure", "stock"), ("year", "2025"), ("year", "2009"),
    ("source", "the plan"), ("use", "fit"), ("precision", "0.001"), ("count", "-3"),
])
def test_checker_catches_bad_observed_row(observed, col, value):
    i = _row(observed, series="armed_forces.military", year="2023")
    assert check_observed_vocab(_set(observed, i, col, value))


def test_checker_catches_bad_count(observed):
    i = _row(observed, series="dema.conscripts", year="2023")
    assert check_counts(_set(observed, i, "count", "545"))
    assert check_counts(_set(observed, i, "value", "0.29"))


@pytest.mark.parametrize("col,value", [
    ("target", "15"), ("kind", "un"), ("status", "guessed"), ("confidence", "X"), ("year", "2027"),
])
def test_checker_catches_bad_target_row(targets, col, value):
    i = _row(targets, target_id="un.military_contingents.2028")
    assert check_targets_vocab(_set(targets, i, col, value))


def test_checker_catches_interpolated_confidence(targets):
    i = _row(targets, target_id="un.military_contingents.2026")
    assert check_targets_vocab(_set(targets, i, "confidence", "M"))


def test_checker_catches_off_line_interpolation(targets):
    i = _row(targets, target_id="un.staff_officers_observers.2023")
    assert check_un_military_lines(_set(targets, i, "target", "0.205"))
    j = _row(targets, target_id="un.military_contingents.2021")
    assert check_un_military_lines(_set(targets, j, "status", "interpolated"))
    assert check_un_military_lines(targets.filter(pl.int_range(pl.len()) != j))


def test_checker_catches_unknown_series(observed, targets):
    i = _row(targets, target_id="un.individual_police_officers.2028")
    assert check_target_series_known(_set(targets, i, "series", "police.ipo"),
                                     known_series(observed))
    # a context series of observed.csv is not a model series
    assert check_target_series_known(_set(targets, i, "series", "police.all_leaders"),
                                     known_series(observed))


def test_checker_catches_missing_target_row(targets):
    i = _row(targets, target_id="national.police_leaders.2030")
    assert check_target_rows_required(targets.filter(pl.int_range(pl.len()) != i))
    j = _row(targets, target_id="un.formed_police_units.2025")
    assert check_target_rows_required(_set(targets, j, "series", "police.posted"))
