"""The sweep file: a base scenario, the levers to vary and their ranges, the design, the seed.

A sweep file (TOML, under ``scenarios/sweeps/``) is validated like a scenario file: every
problem is an ``InputError`` naming the file and the key. Each swept key must be a numeric
scenario parameter (:mod:`sim.scenario.levers`); the values at both ends of its range are
checked against the schema before anything runs.

Factors come as ``[[parameters]]`` (the original form; they count as levers) or, in XLRM form
(EMA Workbench's eXogenous uncertainties, Levers, Relations, Measures), as ``[[levers]]`` -- what
a ministry sets -- and ``[[uncertainties]]`` -- what it cannot; the entries are alike. An entry
with ``values`` that are not all numbers (dates, booleans, strings such as ``"never"``) is
*categorical*: each value is validated through the scenario schema, and the designs place its
levels (:mod:`sim.runs.design`).

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

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, ValidationError,
                      field_validator, model_validator)

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


def _finite(v: Any) -> Any:
    """NaN and inf are refused as such (not as "not a boolean, a date or a string")."""
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"{v} is not a finite number")
    return v


# bool first: a TOML true stays a boolean
Value = Annotated[bool | Finite | dt.date | str, BeforeValidator(_finite)]


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def label(v: Any) -> str:
    """A categorical value as text (points.parquet, the report): dates ISO, booleans
    lower-case as in TOML, strings as they are."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return f"{v:g}" if is_number(v) else str(v)


class Parameter(_Strict):
    """One swept factor: a range (``low``/``high``, with ``levels`` for a grid) or ``values``
    (numbers, or categorical values: dates, booleans, strings)."""

    key: str
    low: Finite | None = None
    high: Finite | None = None
    levels: int | None = Field(None, ge=2, le=1000)
    values: list[Value] | None = Field(None, min_length=1)
    start: dt.date | None = Field(None, alias="from")

    @property
    def categorical(self) -> bool:
        """Values that are not all numbers: levels without an order or a distance."""
        return self.values is not None and not all(is_number(v) for v in self.values)

    @property
    def labels(self) -> list[str]:
        """A categorical factor's levels as text, in the file's order."""
        return [label(v) for v in self.values or ()]

    def value_of(self, text: str) -> Any:
        """The file's value of a level given as text."""
        return (self.values or [])[self.labels.index(text)]

    @field_validator("start", mode="before")
    @classmethod
    def _date(cls, v: Any) -> Any:
        return None if v is None else parse_date(v)

    @model_validator(mode="after")
    def _range(self) -> "Parameter":
        if self.values is not None:
            if self.low is not None or self.high is not None or self.levels is not None:
                raise ValueError("give either values or low/high, not both")
            if len(set(label(v) for v in self.values)) != len(self.values):
                raise ValueError("values repeat")
        elif self.low is None or self.high is None:
            raise ValueError("give low and high (or values)")
        elif not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        return self

    @property
    def span(self) -> tuple[float, float]:
        """A numeric factor's lowest and highest value (not for a categorical one)."""
        if self.values is not None:
            assert not self.categorical
            return min(self.values), max(self.values)  # type: ignore[return-value]
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
    parameters: list[Parameter] = Field(default_factory=list, max_length=50)
    levers: list[Parameter] | None = Field(None, max_length=50)
    uncertainties: list[Parameter] | None = Field(None, max_length=50)
    # Scenario discovery: a point "meets" a target when at least this share of its
    # replications do; PRIM looks for the factor ranges where points meet.
    discovery_probability: float = Field(0.8, gt=0, le=1)

    @property
    def factors(self) -> list[Parameter]:
        """Every swept entry: ``parameters``, or ``levers`` then ``uncertainties``."""
        return list(self.parameters) + list(self.levers or ()) + list(self.uncertainties or ())

    @property
    def roles(self) -> list[str]:
        """``lever`` or ``uncertainty`` for each of :attr:`factors` (parameters are levers)."""
        return ["lever"] * (len(self.parameters) + len(self.levers or ())) + \
            ["uncertainty"] * len(self.uncertainties or ())

    @property
    def where(self) -> list[str]:
        """Each factor's place in the file, for messages: ``levers.0``, ``parameters.1``."""
        return ([f"parameters.{i}" for i in range(len(self.parameters))]
                + [f"levers.{i}" for i in range(len(self.levers or ()))]
                + [f"uncertainties.{i}" for i in range(len(self.uncertainties or ()))])

    @model_validator(mode="after")
    def _design(self) -> "SweepFile":
        if self.parameters and (self.levers or self.uncertainties):
            raise ValueError("give [[parameters]] or [[levers]] and [[uncertainties]], not both")
        if not self.factors:
            raise ValueError("nothing is swept: give [[levers]] (and [[uncertainties]]) or "
                             "[[parameters]]")
        if len(self.factors) > 50:
            raise ValueError(f"{len(self.factors)} factors are swept; at most 50 are allowed")
        keys = [p.key for p in self.factors]
        if len(set(keys)) != len(keys):
            raise ValueError("a key is swept twice")
        if self.design == "grid":
            if self.samples is not None:
                raise ValueError("a grid takes its size from the parameters' levels or values; "
                                 "remove samples")
            for p in self.factors:
                if p.values is None and p.levels is None:
                    raise ValueError(f"{p.key}: a grid needs levels (with low/high) or values")
        else:
            if self.samples is None:
                raise ValueError(f"a {self.design} design needs samples")
            if any((p.values is not None and not p.categorical) or p.levels is not None
                   for p in self.factors):
                raise ValueError(f"a {self.design} design samples ranges: give low/high only "
                                 "(or values that are not numbers, for a categorical factor)")
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
        return [p.key for p in self.spec.factors]

    @property
    def categorical(self) -> list[str]:
        """The keys of the categorical factors."""
        return [p.key for p in self.spec.factors if p.categorical]

    @property
    def agencies(self) -> tuple[str, ...] | None:
        return tuple(self.spec.agencies) if self.spec.agencies else None

    def replications_per_task(self) -> int:
        """Fixed by the sweep alone (never by the workers), so resumes cut work identically."""
        r = self.spec.replications
        return self.spec.replications_per_task or math.ceil(
            r / math.ceil(r / MAX_REPLICATIONS_PER_TASK))

    def scenario(self, values: dict[str, Any], seed: int) -> Scenario:
        """The scenario of one point (a categorical factor's value given as its label)."""
        data = self.base_data
        for lev, p in zip(self.levers, self.spec.factors):
            v = p.value_of(values[p.key]) if p.categorical else values[p.key]
            data = merge(data, lev.override(v, p.start))
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
    levers = tuple(_checked_lever(path, where, p, base_data)
                   for where, p in zip(spec.where, spec.factors))
    outputs = _outputs(path, spec, base)
    return Sweep(spec, path, base_path, base_data, base, levers, outputs)


CLI_FLAGS = {"replications": "--replications", "seed": "--seed"}


def design_size(spec: SweepFile) -> int:
    """The number of points the design will have, computed from the file alone (Python
    integers, so a 1000³ grid is counted, not built)."""
    if spec.design == "grid":
        return math.prod(len(p.values) if p.values is not None else p.levels or 0
                         for p in spec.factors)
    samples = spec.samples or 0
    return samples * (len(spec.factors) + 2) if spec.design == "sobol" else samples


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


def _checked_lever(path: Path, where: str, p: Parameter, base_data: dict[str, Any]) -> Lever:
    """The parameter's lever, with both ends of its range (or every categorical value)
    checked against the schema."""
    try:
        lev = lever(p.key, path, categorical=p.categorical)
    except InputError as err:
        raise InputError(path, f"{where}.key", f"{p.key}: {err.problem}") from None
    if p.categorical:
        if p.start is not None and not lev.dated:
            raise InputError(path, f"{where}.from", f"{p.key} is not a dated lever, so it "
                             "cannot change at a date")
        for j, value in enumerate(p.values or ()):
            try:
                validate(merge(base_data, lev.override(value, p.start)), path)
            except InputError as err:
                raise InputError(path, f"{where}.values.{j}",
                                 f"{p.key} = {label(value)!r}: {err.problem}") from None
        return lev
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
    named = [(f"values.{j}", float(v)) for j, v in enumerate(p.values or ())
             if isinstance(v, (int, float))]
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
