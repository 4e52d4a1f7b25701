"""The sweep file: a base scenario, the levers to vary and their ranges, the design, the seed.

A sweep file (TOML, under ``scenarios/sweeps/``) is validated like a scenario file: every
problem is an ``InputError`` naming the file and the key. Each swept key must be a numeric
scenario parameter (:mod:`sim.scenario.levers`); the values at both ends of its range are
checked against the schema before anything runs.

A swept value replaces the lever wholesale (a dated lever becomes that constant for the whole
run, history included) unless the parameter gives ``from = DATE``: then the value applies from
that date and the base's own values hold before it (``[[DATE, value]]`` layered over the base).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sim.model.series import BY_ID
from sim.scenario.dated import parse_date
from sim.scenario.levers import Lever, lever
from sim.scenario.loading import (InputError, input_error, merge, merge_layers, read_toml,
                                  scenario_layers, validate)
from sim.scenario.schema import Scenario
from sim.scenario.targets import UnTarget, by_id, load_targets

AGENCY_NAMES = ("armed_forces", "dema", "police")
MAX_REPLICATIONS_PER_TASK = 10
MAX_POINTS = 100_000             # points of one design
MAX_RUNS = 10_000_000            # points x replications: simulated replications of one sweep

Finite = Annotated[float, Field(allow_inf_nan=False)]   # NaN and inf refused, with the index


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Parameter(_Strict):
    """One swept lever: a range (``low``/``high``, with ``levels`` for a grid) or ``values``."""

    key: str
    low: Finite | None = None
    high: Finite | None = None
    levels: int | None = Field(None, ge=2, le=1000)
    values: list[Finite] | None = Field(None, min_length=1)
    start: dt.date | None = Field(None, alias="from")

    @field_validator("start", mode="before")
    @classmethod
    def _date(cls, v: Any) -> Any:
        return None if v is None else parse_date(v)

    @model_validator(mode="after")
    def _range(self) -> "Parameter":
        if self.values is not None:
            if self.low is not None or self.high is not None or self.levels is not None:
                raise ValueError("give either values or low/high, not both")
            if len(set(self.values)) != len(self.values):
                raise ValueError("values repeat")
        elif self.low is None or self.high is None:
            raise ValueError("give low and high (or values)")
        elif not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        return self

    @property
    def span(self) -> tuple[float, float]:
        if self.values is not None:
            return min(self.values), max(self.values)
        assert self.low is not None and self.high is not None   # checked by _range
        return self.low, self.high


class OutputSpec(_Strict):
    """A result the sensitivity analysis looks at: women's share of a series in a year."""

    series: str
    year: int


class SweepFile(_Strict):
    """The sweep file's schema."""

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    base: str = Field(min_length=1)
    design: Literal["grid", "latin_hypercube", "sobol"]
    samples: int | None = Field(None, ge=2, le=1_000_000)
    replications: int = Field(ge=1, le=100_000)
    replications_per_task: int | None = Field(None, ge=1, le=10_000)
    seed: int = Field(ge=0, le=2**63 - 1)
    random_numbers: Literal["common", "independent"] = "common"
    agencies: list[Literal["armed_forces", "dema", "police"]] | None = Field(None, min_length=1)
    overrides: dict[str, Any] = Field(default_factory=dict)
    targets: list[str] | None = None
    outputs: list[OutputSpec] = Field(default_factory=list)
    parameters: list[Parameter] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _design(self) -> "SweepFile":
        keys = [p.key for p in self.parameters]
        if len(set(keys)) != len(keys):
            raise ValueError("a key is swept twice")
        if self.design == "grid":
            if self.samples is not None:
                raise ValueError("a grid takes its size from the parameters' levels or values; "
                                 "remove samples")
            for p in self.parameters:
                if p.values is None and p.levels is None:
                    raise ValueError(f"{p.key}: a grid needs levels (with low/high) or values")
        else:
            if self.samples is None:
                raise ValueError(f"a {self.design} design needs samples")
            if any(p.values is not None or p.levels is not None for p in self.parameters):
                raise ValueError(f"a {self.design} design samples ranges: give low/high only")
            if self.design == "sobol" and self.samples & (self.samples - 1):
                raise ValueError(f"a sobol design needs samples a power of two (got "
                                 f"{self.samples})")
        return self


@dataclass(frozen=True)
class Output:
    """An output analysed across the sweep, with the target it is held against, if any."""

    series: str
    year: int
    target: UnTarget | None = None

    @property
    def label(self) -> str:
        return f"{self.series} {self.year}"


@dataclass(frozen=True)
class Sweep:
    """A loaded, validated sweep: the file's content, its base scenario and its levers."""

    spec: SweepFile
    path: Path
    base_path: Path
    base_data: dict[str, Any] = field(repr=False)   # base + [overrides], not yet validated
    base: Scenario = field(repr=False)
    levers: tuple[Lever, ...]
    outputs: tuple[Output, ...]

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.spec.parameters]

    @property
    def agencies(self) -> tuple[str, ...] | None:
        return tuple(self.spec.agencies) if self.spec.agencies else None

    def replications_per_task(self) -> int:
        """Fixed by the sweep alone (never by the workers), so resumes cut work identically."""
        r = self.spec.replications
        return self.spec.replications_per_task or math.ceil(
            r / math.ceil(r / MAX_REPLICATIONS_PER_TASK))

    def scenario(self, values: dict[str, float], seed: int) -> Scenario:
        """The scenario of one point."""
        data = self.base_data
        for lev, p in zip(self.levers, self.spec.parameters):
            data = merge(data, lev.override(values[p.key], p.start))
        data = merge(data, {"seed": seed, "replications": self.spec.replications})
        return validate(data, self.path)


def load_sweep(path: Path | str, replications: int | None = None,
               seed: int | None = None) -> Sweep:
    """Read and validate a sweep file (plus the command line's replications and seed).

    The base scenario's files are read once; the base, the base with ``[overrides]`` and both
    ends of every lever's range are validated from that one merge.
    """
    path = Path(path)
    data = read_toml(path)
    if replications is not None:
        data["replications"] = replications
    if seed is not None:
        data["seed"] = seed
    try:
        spec = SweepFile.model_validate(data)
    except ValidationError as err:
        given = {"replications": replications, "seed": seed}
        raise input_error(err, path, flags={k: f for k, f in CLI_FLAGS.items()
                                            if given[k] is not None}) from None
    check_size(path, spec)
    try:
        base_path = (path.parent / spec.base).resolve()
        found = base_path.is_file()
    except (OSError, ValueError):   # a name too long for the system, a NUL byte
        found = False
    if not found:
        raise InputError(path, "base", f"no such scenario file: {spec.base!r}")
    layers = scenario_layers(base_path)
    merged = merge_layers(layers)
    validate(merged, base_path, layers)                 # errors of the base name the base file
    base_data = merge(merged, spec.overrides)
    base = validate(base_data, path, key_prefix="overrides")
    levers = tuple(_checked_lever(path, i, p, base_data) for i, p in enumerate(spec.parameters))
    outputs = _outputs(path, spec, base)
    return Sweep(spec, path, base_path, base_data, base, levers, outputs)


CLI_FLAGS = {"replications": "--replications", "seed": "--seed"}


def design_size(spec: SweepFile) -> int:
    """The number of points the design will have, computed from the file alone (Python
    integers, so a 1000³ grid is counted, not built)."""
    if spec.design == "grid":
        return math.prod(len(p.values) if p.values is not None else p.levels or 0
                         for p in spec.parameters)
    samples = spec.samples or 0
    return samples * (len(spec.parameters) + 2) if spec.design == "sobol" else samples


def check_size(path: Path, spec: SweepFile) -> None:
    """Refuse a sweep too large to plan or to run, before anything is built or written."""
    points = design_size(spec)
    key = "parameters" if spec.design == "grid" else "samples"
    if points > MAX_POINTS:
        raise InputError(path, key, f"the {spec.design} design has {points:,} points; at most "
                         f"{MAX_POINTS:,} are allowed (use fewer levels or samples)")
    if points * spec.replications > MAX_RUNS:
        raise InputError(path, "replications", f"{points:,} points × {spec.replications:,} "
                         f"replications = {points * spec.replications:,} runs; at most "
                         f"{MAX_RUNS:,} are allowed (use fewer points or replications)")


def _checked_lever(path: Path, i: int, p: Parameter, base_data: dict[str, Any]) -> Lever:
    """The parameter's lever, with both ends of its range checked against the schema."""
    where = f"parameters.{i}"
    try:
        lev = lever(p.key, path)
    except InputError as err:
        raise InputError(path, f"{where}.key", f"{p.key}: {err.problem}") from None
    if lev.integer:
        _check_whole(path, where, p)
    if p.start is not None and not lev.dated:
        raise InputError(path, f"{where}.from", f"{p.key} is not a dated lever, so it cannot "
                         "change at a date")
    for value in p.span:
        try:
            validate(merge(base_data, lev.override(value, p.start)), path)
        except InputError as err:
            raise InputError(path, where, f"{p.key} = {value:g}: {err.problem}") from None
    return lev


def _check_whole(path: Path, where: str, p: Parameter) -> None:
    """An integer lever takes whole numbers only: 6.4 and 6.2 would both run as 6 (the same
    point twice), so they are refused rather than rounded; a grid's levels must not repeat
    after rounding either."""
    named = [(f"values.{j}", v) for j, v in enumerate(p.values or ())]
    named += [(k, v) for k, v in (("low", p.low), ("high", p.high)) if v is not None]
    for key, v in named:
        if v != round(v):
            raise InputError(path, f"{where}.{key}", f"{p.key} takes whole numbers; {v:g} is "
                             "not one")
    if p.levels is not None and p.low is not None and p.high is not None:
        levels = [round(p.low + k * (p.high - p.low) / (p.levels - 1)) for k in range(p.levels)]
        if len(set(levels)) != len(levels):
            raise InputError(path, f"{where}.levels", f"{p.levels} levels between {p.low:g} and "
                             f"{p.high:g} repeat whole numbers; use at most "
                             f"{int(p.high - p.low) + 1} levels or give values")


def _outputs(path: Path, spec: SweepFile, base: Scenario) -> tuple[Output, ...]:
    """The outputs to analyse: the targets asked for (default: each modelled series' latest
    target within the horizon) and any extra ``[[outputs]]``."""
    ran = set(spec.agencies or AGENCY_NAMES)

    def usable(series: str | None, year: int) -> bool:
        return (series in BY_ID and BY_ID[series].agency in ran
                and base.start_year <= year <= base.horizon)

    if spec.targets is not None:
        chosen = []
        for i, tid in enumerate(spec.targets):
            try:
                t = by_id(tid)
            except KeyError:
                raise InputError(path, f"targets.{i}", f"no target {tid!r} in "
                                 "calibration/targets.csv") from None
            if not usable(t.series, t.year):
                raise InputError(path, f"targets.{i}", f"{tid} is not modelled by this sweep "
                                 "(its series' agency is not run, or its year is outside "
                                 f"{base.start_year}-{base.horizon})")
            chosen.append(t)
    else:
        latest: dict[str, UnTarget] = {}
        for t in load_targets():
            if t.series and usable(t.series, t.year) and (
                    t.series not in latest or t.year > latest[t.series].year):
                latest[t.series] = t
        chosen = list(latest.values())
    out = [Output(t.series, t.year, t) for t in chosen]  # type: ignore[arg-type]
    for i, o in enumerate(spec.outputs):
        if not usable(o.series, o.year):
            raise InputError(path, f"outputs.{i}", f"{o.series} {o.year}: not a series this "
                             f"sweep models in {base.start_year}-{base.horizon}")
        out.append(Output(o.series, o.year))
    return tuple(out)
