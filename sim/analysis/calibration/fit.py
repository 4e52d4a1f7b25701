"""Calibration: fitting the free parameters to the plan's 2017-2024 figures, with uncertainty.

The plan gives one or two figures per series, so the fit is small and the honest part is saying
what it does and does not pin down. The pieces, in the order a run uses them:

1. **Config** (``calibration/config.toml``): the free parameters, each with bounds, a start value,
   an optional Gaussian prior, and where it goes in a scenario (a plain key, or a ``$name``
   point inside a dated lever's template). Every mistake is an ``InputError`` naming the key.
2. **Figures** (``calibration/observed.csv``, rows with ``use = "calibrate"``): each is mapped to
   the model cell it is comparable with (same measure; an observed ``stock_start`` in year *y*
   is the model's end-of-year stock of *y - 1*). Incomparable measures are refused.
3. **Objective**: a weighted least-squares (Gaussian) misfit of the simulated mean share to each
   figure. Each figure's variance is the rounding of its stated precision (uniform, so
   ``precision**2 / 3``) plus the process noise of the group, i.e. the between-replication
   variance of the simulated share (this is the binomial noise of small groups such as DEMA's
   ~25 posted people, and more), plus the Monte Carlo error of the mean over ``R`` replications.
   Priors add ``((value - mean) / sd)**2``. The same replication indices (common random numbers)
   are used at every evaluation, so the simulated objective is smooth in the parameters.
4. **Fit**: agencies share no people and no random streams, so each agency's parameters are
   fitted to its own figures alone (``scipy.optimize.least_squares``, trust-region reflective, in
   coordinates scaled to each parameter's bounds), with finite-difference Jacobians evaluated in
   parallel. The weights are set from a pilot run at the start values and renewed once at the fit.
5. **Uncertainty**: a Laplace (Gauss-Newton) approximation of the posterior from the Jacobian at
   the fit; one-dimensional **profiles** of the data misfit (each grid value with the other
   parameters moved to their linearised conditional optimum under their priors, then simulated)
   show which parameters the data cannot pin down (flat profiles) and so rest on their prior.

The report (``sim.reports.calibration``) and the ``calibrate`` command build on :func:`calibrate`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import polars as pl
from pydantic import ValidationError
from scipy.optimize import least_squares

from sim.scenario import loading
from sim.model.census import Tally
from sim.scenario.dated import Dated, month_number, parse_date
from sim.scenario.loading import InputError, merge, read_toml
from sim.model.replication import simulate
from sim.scenario.schema import Scenario
from sim.model.series import AF, BY_ID, DEMA, POLICE, SERIES, Series

AGENCY_ORDER = (AF, DEMA, POLICE)
SERIES_INDEX = {s.id: j for j, s in enumerate(SERIES)}
MIN_FIT_HORIZON = 2025          # the schema's smallest horizon
PROFILE_LEVEL = 2.71            # chi-square(1) 90% quantile: profile intervals and flatness
FLAT_COVERAGE = 0.5             # a profile open over half the prior's range or more is flat
REFERENCE_RE = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")


# -- the configuration ----------------------------------------------------------------------


@dataclass(frozen=True)
class Prior:
    """A Gaussian prior on a parameter's value, and the assumption it stands for."""

    mean: float
    sd: float
    why: str


@dataclass(frozen=True)
class FreeParameter:
    """One fitted scalar: its range, start, prior, and the scenario keys it is written to."""

    name: str
    agency: str
    lo: float
    hi: float
    start: float
    prior: Prior | None
    keys: tuple[str, ...]       # plain placements; lever placements live in Config.levers
    note: str

    @property
    def span(self) -> float:
        return self.hi - self.lo

    def to_unit(self, value: float) -> float:
        return (value - self.lo) / self.span

    def from_unit(self, u: float) -> float:
        return self.lo + u * self.span


@dataclass(frozen=True)
class Mode:
    """How much work a run does (``full`` for the fitted file, ``quick`` for a coarse look)."""

    replications: dict[str, int]    # per evaluation, by agency (the noisier ones need more)
    pilot_replications: int
    iterations: int
    profile_points: int
    draws: int
    report_replications: int


@dataclass(frozen=True)
class Config:
    path: Path
    observed: Path
    scenario: Path
    fitted: Path
    seed: int | None
    step: dict[str, float]          # finite-difference step by agency
    modes: dict[str, Mode]
    parameters: tuple[FreeParameter, ...]
    levers: dict[str, Any]          # scenario key -> template with "$name" / "base" values
    inertia: tuple[float, float, str]
    notes: dict[str, str]

    def agency_parameters(self, agency: str) -> tuple[FreeParameter, ...]:
        return tuple(p for p in self.parameters if p.agency == agency)

    @property
    def agencies(self) -> tuple[str, ...]:
        return tuple(a for a in AGENCY_ORDER if self.agency_parameters(a))


MODE_KEYS = ("replications", "pilot_replications", "iterations", "profile_points", "draws",
             "report_replications")
PARAM_KEYS = {"key", "bounds", "start", "prior", "note"}
TOP_KEYS = {"observed", "scenario", "fitted", "fit", "modes", "inertia", "parameters",
            "levers", "notes"}


def _number(path: Path, key: str, raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        raise InputError(path, key, f"must be a number (got {raw!r})")
    return float(raw)


def _count(path: Path, key: str, raw: Any, low: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < low:
        raise InputError(path, key, f"must be a whole number >= {low} (got {raw!r})")
    return raw


def _table(path: Path, key: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InputError(path, key, "must be a table")
    return raw


def _file(path: Path, key: str, raw: Any, must_exist: bool = True) -> Path:
    if not isinstance(raw, str) or not raw:
        raise InputError(path, key, "must be a file name (a string)")
    target = (path.parent / raw).resolve()
    if must_exist and not target.is_file():
        raise InputError(path, key, f"no such file: {raw}")
    return target


def _agency_of(path: Path, key: str, scenario_key: str) -> str:
    try:
        loading.check_key(scenario_key, path)
    except InputError:
        raise InputError(path, key, f"{scenario_key!r} is not a parameter of the scenario "
                         "schema") from None
    agency = scenario_key.split(".")[0]
    if agency not in AGENCY_ORDER:
        raise InputError(path, key, f"{scenario_key!r} is not an agency's parameter "
                         f"(expected one of {', '.join(AGENCY_ORDER)})")
    return agency


def _prior(path: Path, key: str, raw: Any, lo: float, hi: float) -> Prior | None:
    if raw is None:
        return None
    raw = _table(path, key, raw)
    unknown = set(raw) - {"mean", "sd", "why"}
    if unknown:
        raise InputError(path, f"{key}.{sorted(unknown)[0]}", "unknown key")
    for k in ("mean", "sd", "why"):
        if k not in raw:
            raise InputError(path, f"{key}.{k}", "required key is missing")
    mean, sd = _number(path, f"{key}.mean", raw["mean"]), _number(path, f"{key}.sd", raw["sd"])
    if sd <= 0:
        raise InputError(path, f"{key}.sd", f"must be positive (got {sd:g})")
    if not lo <= mean <= hi:
        raise InputError(path, f"{key}.mean", f"{mean:g} is outside the bounds [{lo:g}, {hi:g}]")
    if not isinstance(raw["why"], str) or not raw["why"].strip():
        raise InputError(path, f"{key}.why", "must say what assumption the prior stands for")
    return Prior(mean, sd, raw["why"])


def _parameter(path: Path, name: str, raw: Any) -> FreeParameter:
    key = f"parameters.{name}"
    raw = _table(path, key, raw)
    unknown = set(raw) - PARAM_KEYS
    if unknown:
        raise InputError(path, f"{key}.{sorted(unknown)[0]}", "unknown key")
    bounds = raw.get("bounds")
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise InputError(path, f"{key}.bounds", "must be [low, high]")
    lo, hi = (_number(path, f"{key}.bounds", b) for b in bounds)
    if not lo < hi:
        raise InputError(path, f"{key}.bounds", f"low ({lo:g}) must be below high ({hi:g})")
    prior = _prior(path, f"{key}.prior", raw.get("prior"), lo, hi)
    default_start = prior.mean if prior else (lo + hi) / 2
    start = _number(path, f"{key}.start", raw.get("start", default_start))
    if not lo <= start <= hi:
        raise InputError(path, f"{key}.start", f"{start:g} is outside the bounds [{lo:g}, {hi:g}]")
    keys = raw.get("key", [])
    keys = [keys] if isinstance(keys, str) else keys
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise InputError(path, f"{key}.key", "must be a scenario key or a list of them")
    agencies = {_agency_of(path, f"{key}.key", k) for k in keys}
    if len(agencies) > 1:
        raise InputError(path, f"{key}.key", "places the parameter in more than one agency; "
                         "agencies are fitted separately")
    note = raw.get("note", "")
    if not isinstance(note, str):
        raise InputError(path, f"{key}.note", "must be text")
    return FreeParameter(name, agencies.pop() if agencies else "", lo, hi, start, prior,
                         tuple(keys), note)


def _template_refs(template: Any) -> list[str]:
    """The ``$name`` references in a lever template, in order."""
    if isinstance(template, str):
        m = REFERENCE_RE.match(template)
        return [m.group(1)] if m else []
    if isinstance(template, dict):
        return [r for v in template.values() for r in _template_refs(v)]
    if isinstance(template, list):
        return [r for v in template for r in _template_refs(v)]
    return []


def _levers(path: Path, raw: Any, params: dict[str, FreeParameter]) -> dict[str, Any]:
    raw = _table(path, "levers", raw or {})
    for scenario_key, template in raw.items():
        key = f"levers.{scenario_key}"
        agency = _agency_of(path, key, scenario_key)
        if not isinstance(template, (list, dict)):
            raise InputError(path, key, "must be a dated lever: [[date, value], ...] or "
                             "{ linear = [[date, value], ...] }")
        refs = _template_refs(template)
        if not refs:
            raise InputError(path, key, "names no parameter (use \"$name\" for a fitted point)")
        for ref in refs:
            if ref not in params:
                raise InputError(path, key, f"${ref} is not a parameter of [parameters]")
            if params[ref].agency not in ("", agency):
                raise InputError(path, key, f"${ref} belongs to {params[ref].agency}, the lever "
                                 f"to {agency}; agencies are fitted separately")
            params[ref] = replace(params[ref], agency=agency)
    return raw


def _modes(path: Path, raw: Any) -> dict[str, Mode]:
    raw = _table(path, "modes", raw)
    out = {}
    for mode in ("full", "quick"):
        table = _table(path, f"modes.{mode}", raw.get(mode))
        unknown = set(table) - set(MODE_KEYS)
        if unknown:
            raise InputError(path, f"modes.{mode}.{sorted(unknown)[0]}", "unknown key")
        values: dict[str, Any] = {}
        for k in MODE_KEYS:
            if k not in table:
                raise InputError(path, f"modes.{mode}.{k}", "required key is missing")
            if k == "replications":
                values[k] = _replications(path, f"modes.{mode}.{k}", table[k])
                continue
            values[k] = _count(path, f"modes.{mode}.{k}", table[k],
                               0 if k in ("profile_points", "iterations") else 2)
        if values["profile_points"] == 1:
            raise InputError(path, f"modes.{mode}.profile_points", "must be 0 (none) or >= 2")
        out[mode] = Mode(**values)
    return out


def _replications(path: Path, key: str, raw: Any) -> dict[str, int]:
    """A count for every agency, or a table of counts by agency."""
    if not isinstance(raw, dict):
        n = _count(path, key, raw, 2)
        return {a: n for a in AGENCY_ORDER}
    unknown = set(raw) - set(AGENCY_ORDER)
    if unknown:
        raise InputError(path, f"{key}.{sorted(unknown)[0]}", "not an agency")
    missing = set(AGENCY_ORDER) - set(raw)
    if missing:
        raise InputError(path, f"{key}.{sorted(missing)[0]}", "required key is missing")
    return {a: _count(path, f"{key}.{a}", raw[a], 2) for a in AGENCY_ORDER}


def _steps(path: Path, raw: Any) -> dict[str, float]:
    """The finite-difference step (fraction of each parameter's range), for every agency or
    by agency."""
    table = raw if isinstance(raw, dict) else {a: raw for a in AGENCY_ORDER}
    unknown = set(table) - set(AGENCY_ORDER)
    if unknown:
        raise InputError(path, f"fit.step.{sorted(unknown)[0]}", "not an agency")
    out = {}
    for a in AGENCY_ORDER:
        key = f"fit.step.{a}" if isinstance(raw, dict) else "fit.step"
        if a not in table:
            raise InputError(path, key, "required key is missing")
        out[a] = _number(path, key, table[a])
        if not 0 < out[a] <= 0.5:
            raise InputError(path, key, f"must be in (0, 0.5] (got {out[a]:g})")
    return out


def _inertia(path: Path, raw: Any) -> tuple[float, float, str]:
    raw = _table(path, "inertia", raw)
    lo, hi = (_number(path, f"inertia.{k}", raw.get(k)) for k in ("low", "high"))
    if not lo < hi:
        raise InputError(path, "inertia.low", "must be below inertia.high")
    return lo, hi, str(raw.get("source", ""))


def load_config(path: Path | str) -> Config:
    """Read and check the calibration config; every problem names its key."""
    path = Path(path).resolve()
    raw = read_toml(path)
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise InputError(path, sorted(unknown)[0], "unknown key")
    fit = _table(path, "fit", raw.get("fit", {}))
    unknown = set(fit) - {"seed", "step"}
    if unknown:
        raise InputError(path, f"fit.{sorted(unknown)[0]}", "unknown key")
    step = _steps(path, fit.get("step", 0.15))
    seed = fit.get("seed")
    if seed is not None:
        seed = _count(path, "fit.seed", seed, 0)
    params_raw = _table(path, "parameters", raw.get("parameters"))
    if not params_raw:
        raise InputError(path, "parameters", "no parameter to fit")
    params = {name: _parameter(path, name, p) for name, p in params_raw.items()}
    levers = _levers(path, raw.get("levers"), params)
    placed = {r for t in levers.values() for r in _template_refs(t)}
    for name, p in params.items():
        if not p.keys and name not in placed:
            raise InputError(path, f"parameters.{name}.key", "the parameter is placed nowhere "
                             "(give a key or use $" + name + " in [levers])")
    notes = {str(k): str(v) for k, v in _table(path, "notes", raw.get("notes", {})).items()}
    cfg = Config(path, _file(path, "observed", raw.get("observed")),
                 _file(path, "scenario", raw.get("scenario")),
                 _file(path, "fitted", raw.get("fitted"), must_exist=False), seed, step,
                 _modes(path, raw.get("modes")), tuple(params.values()), levers,
                 _inertia(path, raw.get("inertia")), notes)
    check_placements(cfg, loading.resolve(cfg.scenario, calibrated=False))
    return cfg


# -- placing parameter values into a scenario -----------------------------------------------


def _at(data: dict[str, Any], key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        node = node[part]
    return node


def _fill(template: Any, values: dict[str, float], base_lever: Dated) -> Any:
    """A lever template with ``$name`` replaced by values and ``base`` by the base lever."""
    if isinstance(template, dict):
        return {k: _fill(v, values, base_lever) for k, v in template.items()}
    if isinstance(template, list):
        if len(template) in (2, 3) and not isinstance(template[0], list):
            day, value, *rest = template
            if value == "base":
                value = base_lever.at(month_number(parse_date(day)))
            elif isinstance(value, str) and (ref := REFERENCE_RE.match(value)):
                value = values[ref.group(1)]
            return [day, value, *rest]
        return [_fill(v, values, base_lever) for v in template]
    return template


def placement(cfg: Config, values: dict[str, float], base: dict[str, Any],
              agency: str | None = None) -> dict[str, Any]:
    """The scenario overrides that put ``values`` (by parameter name) in place."""
    out: dict[str, Any] = {}
    for p in cfg.parameters:
        if agency is None or p.agency == agency:
            for key in p.keys:
                out = merge(out, loading.dotted(key, values[p.name]))
    for key, template in cfg.levers.items():
        if agency is None or key.split(".")[0] == agency:
            filled = _fill(template, values, Dated.parse(_at(base, key)))
            out = merge(out, loading.dotted(key, filled))
    return out


def build_scenario(base: dict[str, Any], overrides: dict[str, Any]) -> Scenario:
    return Scenario.model_validate(merge(base, overrides))


def check_placements(cfg: Config, base: dict[str, Any]) -> None:
    """Every parameter at its start, low and high bound must make a valid scenario."""
    start = {p.name: p.start for p in cfg.parameters}
    for p in cfg.parameters:
        for which, value in (("start", p.start), ("bounds", p.lo), ("bounds", p.hi)):
            try:
                build_scenario(base, placement(cfg, {**start, p.name: value}, base))
            except (ValidationError, ValueError, KeyError) as err:
                problem = err.errors()[0]["msg"] if isinstance(err, ValidationError) else str(err)
                raise InputError(cfg.path, f"parameters.{p.name}.{which}",
                                 f"{value:g} makes an invalid scenario: {problem}") from None


# -- the observed figures -------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One plan figure and the model cell it is compared with."""

    series: str
    year: int
    measure: str
    value: float
    count: float | None
    precision: float
    note: str
    model_year: int        # the model's year holding the comparable value
    end: bool              # read the year-end stock of a stock_avg series

    @property
    def agency(self) -> str:
        return BY_ID[self.series].agency

    @property
    def label(self) -> str:
        return f"{self.series} {self.year}"

    def cell(self, start_year: int) -> tuple[int, int, bool]:
        return self.model_year - start_year, SERIES_INDEX[self.series], self.end


def comparable(measure: str, year: int, s: Series) -> tuple[int, bool] | None:
    """(model year, read the year-end stock) for an observed measure, or None if incomparable.

    Like is compared with like: the same measure in the same year; a stock at 1 January of
    *y* is the stock at the end of *y - 1*; a stock at a date can be read from a stock series.
    """
    if measure == s.measure:
        return year, False
    if measure == "stock_start" and s.measure == "stock_end":
        return year - 1, False
    if s.kind == "stock" and measure in ("stock_start", "stock_end"):
        return (year - 1 if measure == "stock_start" else year), True
    return None


def load_figures(path: Path, start_year: int) -> tuple[Figure, ...]:
    """The ``calibrate`` rows of observed.csv, each mapped to a comparable model cell."""
    try:
        frame = pl.read_csv(path, schema_overrides={"count": pl.Float64, "note": pl.Utf8,
                                                    "precision": pl.Float64,
                                                    "value": pl.Float64})
    except Exception as err:  # polars raises several kinds for unreadable CSV
        raise InputError(path, None, f"unreadable CSV: {err}") from None
    missing = ({"series", "year", "measure", "value", "count", "precision", "use"}
               - set(frame.columns))
    if missing:
        raise InputError(path, sorted(missing)[0], "required column is missing")
    out = []
    for i, row in enumerate(frame.iter_rows(named=True), start=2):
        if row["use"] != "calibrate":
            continue
        where = f"line {i}"
        s = BY_ID.get(row["series"])
        if s is None:
            raise InputError(path, f"{where}: series", f"{row['series']!r} is not a model series")
        mapped = comparable(row["measure"], int(row["year"]), s)
        if mapped is None:
            raise InputError(path, f"{where}: measure", f"{row['measure']} cannot be compared "
                             f"with the model's {s.measure} for {s.id}")
        if mapped[0] < start_year:
            raise InputError(path, f"{where}: year", f"{row['year']} is before the model's "
                             f"start year {start_year}")
        if not (row["precision"] or 0) > 0:
            raise InputError(path, f"{where}: precision", "must be positive")
        out.append(Figure(s.id, int(row["year"]), row["measure"], float(row["value"]),
                          row["count"], float(row["precision"]), row.get("note") or "",
                          *mapped))
    return tuple(out)


# -- simulating: one evaluation = R replications of one agency at one parameter point ---------

_BASE: dict[str, Any] = {}


def _init_worker(base: dict[str, Any]) -> None:
    global _BASE
    _BASE = base


def _cells_task(overrides: dict[str, Any], agency: str | None, reps: list[int],
                cells: list[tuple[int, int, bool]]) -> tuple[np.ndarray, np.ndarray]:
    """Women and total in each cell, per replication: arrays ``[rep, cell]``."""
    scenario = build_scenario(_BASE, overrides)
    women = np.empty((len(reps), len(cells)))
    total = np.empty((len(reps), len(cells)))
    for i, r in enumerate(reps):
        t = simulate(scenario, r, agencies=(agency,) if agency else None).tally
        for k, (y, j, end) in enumerate(cells):
            w, n = (t.women_end, t.total_end) if end else (t.women, t.total)
            women[i, k], total[i, k] = w[y, j], n[y, j]
    return women, total


def _tally_task(overrides: dict[str, Any], reps: list[int]) -> list[Tally]:
    scenario = build_scenario(_BASE, overrides)
    return [simulate(scenario, r).tally for r in reps]


class Simulator:
    """Runs evaluations, in parallel when ``workers > 1``; results never depend on workers.

    Each job is split into chunks of replications; chunks are gathered back in job and
    replication order, so the numbers are the same for any number of workers.
    """

    def __init__(self, base: dict[str, Any], workers: int,
                 tick: Callable[[int], None] | None = None):
        self.base, self.workers, self.tick = base, workers, tick or (lambda n: None)
        self.pool = ProcessPoolExecutor(workers, initializer=_init_worker,
                                        initargs=(base,)) if workers > 1 else None
        self.evaluations = 0
        _init_worker(base)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def __enter__(self) -> "Simulator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _chunks(self, reps: Sequence[int]) -> list[list[int]]:
        reps = list(reps)
        size = max(1, math.ceil(len(reps) / self.workers))
        return [reps[i:i + size] for i in range(0, len(reps), size)]

    def _map(self, fn: Callable, calls: list[tuple]) -> list[Any]:
        if self.pool is None:
            return [fn(*c) for c in calls]
        return [f.result() for f in [self.pool.submit(fn, *c) for c in calls]]

    def cells(self, jobs: list[dict[str, Any]], agency: str | None, reps: Sequence[int],
              cells: list[tuple[int, int, bool]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each override set in ``jobs``: women and total ``[rep, cell]``."""
        chunks = self._chunks(reps)
        calls = [(job, agency, c, cells) for job in jobs for c in chunks]
        out = self._map(_cells_task, calls)
        self.evaluations += len(jobs)
        self.tick(len(jobs))
        n = len(chunks)
        return [(np.vstack([w for w, _ in out[i * n:(i + 1) * n]]),
                 np.vstack([t for _, t in out[i * n:(i + 1) * n]])) for i in range(len(jobs))]

    def tallies(self, jobs: list[tuple[dict[str, Any], list[int]]]) -> list[Tally]:
        """Full-model tallies, one job per override set and its replications, in order."""
        calls = [(ov, c) for ov, reps in jobs for c in self._chunks(reps)]
        out = [t for part in self._map(_tally_task, calls) for t in part]
        self.tick(len(jobs))
        return out


def shares(women: np.ndarray, total: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, women / np.where(total > 0, total, 1), np.nan)


# -- the objective and the fit of one agency ------------------------------------------------


@dataclass
class Profile:
    """The data misfit along one parameter, the others at their linearised conditional best."""

    parameter: str
    values: np.ndarray
    chi2_data: np.ndarray

    @property
    def delta(self) -> np.ndarray:
        return self.chi2_data - np.nanmin(self.chi2_data)

    def interval(self) -> tuple[float, float]:
        """Where the profile misfit is within the 90% level of its minimum, interpolating
        linearly between grid points (the grid's ends if it never rises that far)."""
        x, d = self.values, self.delta
        best = int(np.nanargmin(d))
        ends = []
        for step in (-1, 1):
            i = best
            while 0 <= i + step < len(x) and d[i + step] <= PROFILE_LEVEL:
                i += step
            j = i + step
            if 0 <= j < len(x):
                frac = (PROFILE_LEVEL - d[i]) / (d[j] - d[i])
                ends.append(x[i] + frac * (x[j] - x[i]))
            else:
                ends.append(x[i])
        return float(min(ends)), float(max(ends))

    @property
    def coverage(self) -> float:
        """The share of the profiled range (the prior's plausible range) the data cannot
        exclude at the 90% level."""
        lo, hi = self.interval()
        span = self.values.max() - self.values.min()
        return float((hi - lo) / span) if span > 0 else 1.0

    @property
    def flat(self) -> bool:
        """The data leave at least half of the prior's plausible range open: the prior decides."""
        return self.coverage >= FLAT_COVERAGE


@dataclass
class AgencyFit:
    """What fitting one agency produced."""

    agency: str
    parameters: tuple[FreeParameter, ...]
    figures: tuple[Figure, ...]
    values: np.ndarray
    cov: np.ndarray
    sigma: np.ndarray              # per figure: the standard deviation used as its weight
    simulated: np.ndarray          # per figure: the simulated mean share at the fit
    process_sd: np.ndarray         # per figure: between-replication sd at the fit
    chi2_data: float
    penalty: float
    evaluations: int
    message: str
    profiles: list[Profile] = field(default_factory=list)

    @property
    def objective(self) -> float:
        return self.chi2_data + self.penalty

    @property
    def sd(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov), 0, None))

    def data_weight(self) -> np.ndarray:
        """How much the data narrowed each parameter: 1 - (posterior sd / prior sd)**2
        (0 = the prior alone, 1 = the data alone)."""
        prior = np.array([prior_sd(p) for p in self.parameters])
        return np.clip(1 - (self.sd / prior) ** 2, 0, 1)


def _prior_rows(params: Sequence[FreeParameter], values: np.ndarray) -> np.ndarray:
    return np.array([(v - p.prior.mean) / p.prior.sd for p, v in zip(params, values)
                     if p.prior is not None])


def _prior_jacobian(params: Sequence[FreeParameter]) -> np.ndarray:
    """d(prior residual)/d(value) rows."""
    rows = [np.eye(len(params))[i] / p.prior.sd for i, p in enumerate(params) if p.prior]
    return np.array(rows).reshape(len(rows), len(params))


def _bounds_precision(params: Sequence[FreeParameter]) -> np.ndarray:
    """Precision of the uniform-over-bounds prior of parameters without a Gaussian one."""
    return np.diag([0.0 if p.prior else 12.0 / p.span ** 2 for p in params])


class AgencyObjective:
    """The simulated, weighted misfit of one agency's parameters to its figures."""

    def __init__(self, cfg: Config, agency: str, figures: Sequence[Figure], sim: Simulator,
                 reps: int, seed: int, horizon: int, start_year: int):
        self.cfg, self.agency, self.figures, self.sim = cfg, agency, tuple(figures), sim
        self.params = cfg.agency_parameters(agency)
        self.reps = list(range(reps))
        self.fixed = {"seed": seed, "horizon": horizon}
        self.cells = [f.cell(start_year) for f in self.figures]
        self.observed = np.array([f.value for f in self.figures])
        self.rounding = np.array([f.precision for f in self.figures]) ** 2 / 3
        self.sigma = np.sqrt(self.rounding)
        self._cache: dict[bytes, np.ndarray] = {}

    def overrides(self, values: np.ndarray) -> dict[str, Any]:
        named = {p.name: float(v) for p, v in zip(self.params, values)}
        others = {p.name: p.start for p in self.cfg.parameters if p.agency != self.agency}
        return merge(self.fixed, placement(self.cfg, {**others, **named}, self.sim.base,
                                           self.agency))

    def values(self, u: np.ndarray) -> np.ndarray:
        return np.array([p.from_unit(x) for p, x in zip(self.params, u)])

    def simulate(self, points: list[np.ndarray], reps: list[int] | None = None
                 ) -> list[np.ndarray]:
        """Per-replication shares ``[rep, figure]`` at each parameter point (values)."""
        jobs = [self.overrides(v) for v in points]
        out = self.sim.cells(jobs, self.agency, reps or self.reps, self.cells)
        return [shares(w, t) for w, t in out]

    def set_weights(self, draws: np.ndarray) -> None:
        """Figure variances: rounding + process noise + Monte Carlo error of the mean."""
        process = np.nanvar(draws, axis=0, ddof=1)
        process = np.where(np.isfinite(process), process, 0.25)
        self.sigma = np.sqrt(self.rounding + process * (1 + 1 / len(self.reps)))

    def data_residuals(self, means: np.ndarray) -> np.ndarray:
        r = (means - self.observed) / self.sigma
        return np.where(np.isfinite(r), r, 10.0)   # a group that does not exist: a big miss

    def means(self, points: list[np.ndarray]) -> list[np.ndarray]:
        """Mean simulated share per figure at each point (values), cached by point."""
        keys = [np.asarray(v, float).tobytes() for v in points]
        todo = {k: v for k, v in zip(keys, points) if k not in self._cache}
        if todo:
            for k, draws in zip(todo, self.simulate(list(todo.values()))):
                self._cache[k] = np.nanmean(draws, axis=0)
        return [self._cache[k] for k in keys]

    def residuals(self, u: np.ndarray) -> np.ndarray:
        v = self.values(u)
        return np.concatenate([self.data_residuals(self.means([v])[0]),
                               _prior_rows(self.params, v)])

    def jacobian(self, u: np.ndarray, step: float) -> np.ndarray:
        """Forward differences in unit coordinates (backward at the upper bound), in parallel."""
        steps = np.where(u + step <= 1, step, -step)
        points = [self.values(u)]
        for i in range(len(u)):
            x = u.copy()
            x[i] += steps[i]
            points.append(self.values(x))
        means = self.means(points)
        base = self.data_residuals(means[0])
        cols = [(self.data_residuals(m) - base) / s for m, s in zip(means[1:], steps)]
        data = np.column_stack(cols) if cols else np.zeros((len(base), 0))
        span = np.array([p.span for p in self.params])
        return np.vstack([data, _prior_jacobian(self.params) * span])


def _least_squares(obj: AgencyObjective, u0: np.ndarray, step: float, iterations: int
                   ) -> tuple[np.ndarray, str]:
    """Trust-region least squares in unit coordinates; returns the point and how it ended."""
    if iterations == 0:
        return u0, "not fitted (no iterations in this mode)"
    res = least_squares(obj.residuals, u0, jac=lambda u: obj.jacobian(u, step), bounds=(0, 1),
                        method="trf", x_scale=1.0, max_nfev=iterations, ftol=1e-4, xtol=1e-3,
                        gtol=1e-6)
    ended = "iteration limit reached" if res.status == 0 else "converged"
    return np.clip(res.x, 0, 1), f"{ended} after {res.nfev} iterations"


def fit_agency(cfg: Config, agency: str, figures: Sequence[Figure], sim: Simulator, mode: Mode,
               seed: int, horizon: int, start_year: int,
               stage: Callable[[str], None] = lambda s: None) -> AgencyFit:
    """Fit one agency: pilot weights, least squares, renewed weights, Laplace, profiles."""
    obj = AgencyObjective(cfg, agency, figures, sim, mode.replications[agency], seed, horizon,
                          start_year)
    evaluations_before = sim.evaluations
    params = obj.params
    u = np.array([p.to_unit(p.start) for p in params])
    message = "no figure to fit: the parameters stay at their start values"
    if figures:
        stage(f"{agency}: pilot ({mode.pilot_replications} replications) for the weights")
        pilot = list(range(mode.pilot_replications))
        obj.set_weights(obj.simulate([obj.values(u)], pilot)[0])
        stage(f"{agency}: fitting {len(params)} parameters to {len(figures)} figures")
        u, message = _least_squares(obj, u, cfg.step[agency], mode.iterations)
        old = obj.sigma.copy()
        obj.set_weights(obj.simulate([obj.values(u)], pilot)[0])
        if np.max(np.abs(np.log(obj.sigma / old))) > math.log(1.25):
            stage(f"{agency}: weights changed at the fit; refining")
            u, again = _least_squares(obj, u, cfg.step[agency], max(1, mode.iterations // 2))
            message += f"; weights renewed at the fit, then {again}"
    values = obj.values(u)
    jac = obj.jacobian(u, cfg.step[agency]) if figures else np.zeros((0, len(params)))
    n_data = len(figures)
    jd = jac[:n_data] / np.array([p.span for p in params])      # per unit of value
    jp = _prior_jacobian(params)
    precision = jd.T @ jd + jp.T @ jp + _bounds_precision(params)
    cov = np.linalg.pinv(precision)
    draws = obj.simulate([values])[0] if figures else np.zeros((1, 0))
    means = np.nanmean(draws, axis=0) if figures else np.zeros(0)
    chi2 = float(np.sum(obj.data_residuals(means) ** 2)) if figures else 0.0
    penalty = float(np.sum(_prior_rows(params, values) ** 2))
    fit = AgencyFit(agency, params, tuple(figures), values, cov, obj.sigma.copy(), means,
                    np.nanstd(draws, axis=0, ddof=1) if figures else np.zeros(0), chi2, penalty,
                    0, message)
    if figures and mode.profile_points:
        stage(f"{agency}: profiles ({mode.profile_points} points per parameter)")
        fit.profiles = profiles(obj, u, jac, mode.profile_points)
    fit.evaluations = sim.evaluations - evaluations_before
    return fit


UNIFORM_UNIT_PRECISION = math.sqrt(12.0)   # 1 / sd of a uniform prior over [0, 1]


def _conditional(jac: np.ndarray, r0: np.ndarray, u: np.ndarray, i: int, target: float,
                 uniform: Sequence[bool] | None = None) -> np.ndarray:
    """Unit coordinates with parameter ``i`` at ``target`` and the others at the linearised
    minimiser of the full (data + prior) residual.

    A parameter with no Gaussian prior (``uniform``) is held by its bounds' prior, a uniform one
    of sd 1/sqrt(12) in unit coordinates, as in the Laplace approximation. Without that row a
    Jacobian column made only of Monte Carlo noise (a parameter the figures do not see, e.g.
    the 2024 academy point in a fit up to 2021) reads as a lever of any strength, and the
    least-squares step throws such parameters to their bounds: the profile then measures the
    throw, not the data.
    """
    if target == u[i]:
        return u.copy()
    d_i = target - u[i]
    others = [k for k in range(len(u)) if k != i]
    x = u.copy()
    x[i] = target
    if others:
        held = [k for k in others if uniform is not None and uniform[k]]
        damping = np.zeros((len(held), len(others)))
        for row, k in enumerate(held):
            damping[row, others.index(k)] = UNIFORM_UNIT_PRECISION
        a = np.vstack([jac[:, others], damping])
        b = np.concatenate([-(r0 + jac[:, i] * d_i), np.zeros(len(held))])
        delta, *_ = np.linalg.lstsq(a, b, rcond=None)
        x[others] = np.clip(u[others] + delta, 0, 1)
    return x


def prior_sd(p: FreeParameter) -> float:
    """The prior's sd: the Gaussian one, or that of a uniform prior over the bounds."""
    return p.prior.sd if p.prior else p.span / math.sqrt(12)


def profile_grid(p: FreeParameter, best: float, points: int) -> np.ndarray:
    """``points`` values evenly from 2 prior sds below the fit to 2 above, clipped to the bounds
    (the fit itself among them when ``points`` is odd): the range the prior calls plausible,
    over which a flat profile means the prior decides."""
    grid = best + np.linspace(-2, 2, points) * prior_sd(p)
    return np.unique(np.concatenate([np.clip(grid, p.lo, p.hi), [best]]))


def profiles(obj: AgencyObjective, u: np.ndarray, jac: np.ndarray, points: int
             ) -> list[Profile]:
    """Simulated one-step profiles of the data misfit around the fit, one per parameter."""
    r0 = obj.residuals(u)
    uniform = [p.prior is None for p in obj.params]
    plan = []
    for i, p in enumerate(obj.params):
        for value in profile_grid(p, p.from_unit(u[i]), points):
            plan.append((i, value, _conditional(jac, r0, u, i, p.to_unit(value), uniform)))
    means = obj.means([obj.values(x) for _, _, x in plan])
    out = []
    for i, p in enumerate(obj.params):
        rows = [(v, m) for (k, v, _), m in zip(plan, means) if k == i]
        chi2 = np.array([np.sum(obj.data_residuals(m) ** 2) for _, m in rows])
        out.append(Profile(p.name, np.array([v for v, _ in rows]), chi2))
    return out


# -- predictions: the fitted model, with and without parameter uncertainty -------------------


@dataclass
class Predictions:
    """Per-replication shares by year and series (``[rep, year, series]``)."""

    years: np.ndarray
    women: np.ndarray
    total: np.ndarray
    women_end: np.ndarray
    total_end: np.ndarray

    @classmethod
    def of(cls, tallies: list[Tally]) -> "Predictions":
        return cls(tallies[0].years, *(np.stack([getattr(t, k) for t in tallies])
                                       for k in ("women", "total", "women_end", "total_end")))

    def share(self, series: str, end: bool = False) -> np.ndarray:
        j = SERIES_INDEX[series]
        w, t = (self.women_end, self.total_end) if end else (self.women, self.total)
        return shares(w[:, :, j], t[:, :, j])

    def at(self, f: Figure) -> np.ndarray:
        y = int(np.searchsorted(self.years, f.model_year))
        return self.share(f.series, f.end)[:, y]

    def size(self, f: Figure) -> float:
        y = int(np.searchsorted(self.years, f.model_year))
        j = SERIES_INDEX[f.series]
        t = self.total_end if f.end else self.total
        return float(np.nanmean(t[:, y, j]))


def draw_parameters(fits: Sequence[AgencyFit], n: int, seed: int) -> list[dict[str, float]]:
    """``n`` parameter sets from the Laplace posterior, each agency independently, clipped to
    the bounds. The draws use their own stream (not the model's), keyed by ``seed``."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0xCA1,)))
    out: list[dict[str, float]] = [{} for _ in range(n)]
    for fit in fits:
        if not len(fit.values):
            continue
        z = rng.multivariate_normal(fit.values, fit.cov, size=n, method="eigh")
        lo = np.array([p.lo for p in fit.parameters])
        hi = np.array([p.hi for p in fit.parameters])
        z = np.clip(z, lo, hi)
        for i in range(n):
            out[i].update({p.name: float(v) for p, v in zip(fit.parameters, z[i])})
    return out


# -- the whole calibration ------------------------------------------------------------------


@dataclass
class Calibration:
    """Everything a calibration run found, for the report and the fitted file."""

    cfg: Config
    mode_name: str
    until: int | None
    seed: int
    start_year: int
    fits: list[AgencyFit]
    fitted_figures: tuple[Figure, ...]
    held_out: tuple[Figure, ...]
    overrides: dict[str, Any]
    process: Predictions            # the fitted point, process noise only
    predictive: Predictions         # parameters drawn from the approximate posterior
    mode: Mode
    date: str

    @property
    def objective(self) -> float:
        return sum(f.objective for f in self.fits)

    @property
    def chi2_data(self) -> float:
        return sum(f.chi2_data for f in self.fits)


def split_figures(figures: Sequence[Figure], until: int | None
                  ) -> tuple[tuple[Figure, ...], tuple[Figure, ...]]:
    """Figures fitted (year <= until) and held out for the back-test (year > until)."""
    if until is None:
        return tuple(figures), ()
    return (tuple(f for f in figures if f.year <= until),
            tuple(f for f in figures if f.year > until))


def calibrate(cfg: Config, mode_name: str = "full", until: int | None = None, workers: int = 1,
              stage: Callable[[str], None] = lambda s: None,
              tick: Callable[[int], None] | None = None) -> Calibration:
    """Fit every agency, then simulate the fitted model with and without parameter uncertainty."""
    mode = cfg.modes[mode_name]
    base = loading.resolve(cfg.scenario, calibrated=False)
    start_year = int(base["start_year"])
    seed = cfg.seed if cfg.seed is not None else int(base["seed"])
    figures = load_figures(cfg.observed, start_year)
    fitted_figs, held_out = split_figures(figures, until)
    if not fitted_figs:
        raise InputError("--until", None, f"no observed figure up to {until} to fit")
    last = max(f.model_year for f in figures)
    horizon = max(MIN_FIT_HORIZON, last + 1)
    fits = []
    with Simulator(base, workers, tick) as sim:
        for agency in cfg.agencies:
            own = [f for f in fitted_figs if f.agency == agency]
            fits.append(fit_agency(cfg, agency, own, sim, mode, seed, horizon, start_year,
                                   stage))
        best = {p.name: float(v) for fit in fits for p, v in zip(fit.parameters, fit.values)}
        overrides = placement(cfg, best, base)
        stage(f"simulating the fitted model ({mode.report_replications} replications) and "
              f"{mode.draws} posterior draws")
        with_seed = merge(overrides, {"seed": seed})
        process = Predictions.of(sim.tallies([(with_seed, list(range(mode.report_replications)))]))
        draws = draw_parameters(fits, mode.draws, seed)
        jobs = [(merge(placement(cfg, d, base), {"seed": seed}), [i])
                for i, d in enumerate(draws)]
        predictive = Predictions.of(sim.tallies(jobs))
    return Calibration(cfg, mode_name, until, seed, start_year, fits,
                       fitted_figs, held_out, overrides, process, predictive, mode,
                       dt.date.today().isoformat())
