"""The calibration's configuration (``calibration/config.toml``): the free parameters, each
with bounds, a start value, an optional Gaussian prior and where it goes in a scenario (a plain
key, or a ``$name`` point inside a dated lever's template); and placing values into a scenario.
Every mistake is an ``InputError`` naming the key."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sim.model.series import AF, DEMA, POLICE
from sim.scenario import loading
from sim.scenario.dated import Dated, month_number, parse_date
from sim.scenario.loading import InputError, input_error, merge, read_toml
from sim.scenario.schema import Scenario

AGENCY_ORDER = (AF, DEMA, POLICE)
MIN_FIT_HORIZON = 2025          # the schema's smallest horizon
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


def load_config(path: Path | str, check: bool = True) -> Config:
    """Read and check the calibration config; every problem names its key.

    ``check=False`` skips :func:`check_placements` (a scenario built and validated at each
    parameter's start and bounds, a tenth of a second): for a caller that validates every
    scenario it places anyway, as the parameter draws of each ``run`` do."""
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
    if check:
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
                problem = (input_error(err, cfg.path).problem if isinstance(err, ValidationError)
                           else str(err))
                raise InputError(cfg.path, f"parameters.{p.name}.{which}",
                                 f"{value:g} makes an invalid scenario: {problem}") from None
