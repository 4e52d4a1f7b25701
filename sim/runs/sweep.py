"""Sweeps: one base scenario run at many lever values, resumably, on a laptop or a Dask cluster.

A sweep file (TOML, under ``scenarios/sweeps/``) names a base scenario, the levers to vary
(dotted scenario keys with their ranges), a design that places the points (``grid``,
``latin_hypercube`` or ``sobol``), the replications per point and a seed. This module turns it
into work and runs it:

1. **Load** -- the file is validated like a scenario file: every problem is an ``InputError``
   naming the file and the key. Each swept key must be a numeric scenario parameter; the
   values at both ends of its range are checked against the schema before anything runs.
2. **Design** -- the points, as a table (``points.parquet``). A ``sobol`` design holds the
   Saltelli blocks A, B and AB_i that ``sim.analysis.sensitivity`` needs for Sobol indices.
3. **Tasks** -- each task is several replications of one point. Its scenario seed and
   replication indices are fixed here, at submit time, from the sweep seed alone (see
   :func:`point_seed`), and the task size depends only on the sweep file, so the results are
   the same on one worker, eight, or a Dask cluster, and a resumed sweep cuts the work the same
   way as the first attempt.
4. **Run** -- tasks go to an in-process loop, a local process pool or a Dask scheduler. The
   parent writes each finished task to ``results/<task>.parquet`` atomically, so a sweep killed
   at any moment (even by SIGKILL) leaves only complete files; rerunning the command skips them.
   A failing task is retried once, then reported with its point's parameters; the others go on.
5. **Collect** -- ``summary.parquet`` (per point, year and series: the share's quantiles) once
   every task has finished.

The folder remembers the sweep that made it (a fingerprint of the resolved sweep, the base
scenario and the points, in ``sweep.json``); a different sweep is refused rather than mixed in.

A swept value replaces the lever wholesale (a dated lever becomes that constant for the whole
run, history included) unless the parameter gives ``from = DATE``: then the value applies from
that date and the base's own values hold before it (``[[DATE, value]]`` layered over the base).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import inspect
import itertools
import json
import math
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Protocol

import numpy as np
import polars as pl
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator,
                      model_validator)
from scipy.stats import qmc

from sim import __version__
from sim.scenario.dated import Dated, parse_date
from sim.scenario.loading import (InputError, _problem, check_key, dotted, load_scenario, merge,
                         read_toml, resolve)
from sim.model.replication import ReplicationResult, simulate
from sim.runs.outputs import claim_folder, remove_leftovers, resolved_toml, write_parquet, write_text
from sim.runs.replications import runs_frame, summary_frame
from sim.scenario.schema import Scenario
from sim.model.series import BY_ID, SERIES
from sim.scenario.targets import UnTarget, by_id, load_targets

AGENCY_NAMES = ("armed_forces", "dema", "police")
RESULT_COLUMNS = ("point", "replication", "year", "series", "measure", "women", "total", "share")
NOT_SWEPT = {"seed", "replications", "start_year", "horizon"}
MAX_REPLICATIONS_PER_TASK = 10
DESIGN_KEY, POINT_KEY = 0, 1          # spawn keys of the design's and the points' seeds


# -- levers: what a dotted key may be swept over ------------------------------------------


@dataclass(frozen=True)
class Lever:
    """A numeric scenario parameter seen from a sweep: its bounds, whether it is dated or whole."""

    key: str
    dated: bool
    integer: bool
    low: float | None
    high: float | None
    unit: str = ""
    source: str = ""          # provenance, as in the schema
    doc: str = ""

    def override(self, value: float, start: dt.date | None = None) -> dict[str, Any]:
        """The scenario override setting this lever: wholesale, or from ``start`` on."""
        v: float | int = int(round(value)) if self.integer else float(value)
        return dotted(self.key, [[start, v]] if start is not None else v)


def lever(key: str, file: Path | str = "<command line>") -> Lever:
    """The lever a dotted key names; an InputError if it is not a numeric parameter."""
    check_key(key, file)
    if key in NOT_SWEPT:
        raise InputError(file, key, "cannot be swept (set it in the base scenario or "
                         "[overrides])")
    model: type[BaseModel] = Scenario
    parts = key.split(".")
    for part in parts[:-1]:
        model = model.model_fields[part].annotation  # type: ignore[assignment]
    info = model.model_fields[parts[-1]]
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    about = {"unit": str(extra.get("unit", "")), "source": str(extra.get("source", "")),
             "doc": info.description or ""}
    if info.annotation is Dated:
        low, high = _dated_bounds(info.metadata)
        return Lever(key, True, False, low, high, **about)
    if info.annotation in (int, float):
        low = next((m.ge for m in info.metadata if hasattr(m, "ge")), None)
        high = next((m.le for m in info.metadata if hasattr(m, "le")), None)
        return Lever(key, False, info.annotation is int, low, high, **about)
    raise InputError(file, key, "is not a numeric parameter, so it cannot be swept")


def _dated_bounds(metadata: list[Any]) -> tuple[float | None, float | None]:
    """The range a dated lever's validator enforces (``sim.scenario.schema._bounded``), if any."""
    for m in metadata:
        func = getattr(m, "func", None)
        if func is not None:
            found = inspect.getclosurevars(func).nonlocals
            if "lo" in found and "hi" in found:
                return found["lo"], found["hi"]
    return None, None


# -- the sweep file -----------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Parameter(_Strict):
    """One swept lever: a range (``low``/``high``, with ``levels`` for a grid) or ``values``."""

    key: str
    low: float | None = None
    high: float | None = None
    levels: int | None = Field(None, ge=2, le=1000)
    values: list[float] | None = Field(None, min_length=1)
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
        return self.low, self.high  # type: ignore[return-value]


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
        try:
            return Scenario.model_validate(data)
        except ValidationError as err:
            first = err.errors()[0]
            raise InputError(self.path, ".".join(map(str, first["loc"])),
                             _problem(first)) from None


def load_sweep(path: Path | str, replications: int | None = None,
               seed: int | None = None) -> Sweep:
    """Read and validate a sweep file (plus the command line's replications and seed)."""
    path = Path(path)
    data = read_toml(path)
    if replications is not None:
        data["replications"] = replications
    if seed is not None:
        data["seed"] = seed
    try:
        spec = SweepFile.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        raise InputError(path, ".".join(map(str, first["loc"])) or None,
                         _problem(first)) from None
    try:
        base_path = (path.parent / spec.base).resolve()
        found = base_path.is_file()
    except (OSError, ValueError):   # a name too long for the system, a NUL byte
        found = False
    if not found:
        raise InputError(path, "base", f"no such scenario file: {spec.base!r}")
    load_scenario(base_path)                       # errors of the base name the base file
    base = _with_overrides(path, base_path, spec.overrides)
    levers = tuple(_checked_lever(path, i, p, base_path, spec.overrides)
                   for i, p in enumerate(spec.parameters))
    base_data = merge(resolve(base_path), spec.overrides)
    outputs = _outputs(path, spec, base)
    return Sweep(spec, path, base_path, base_data, base, levers, outputs)


def _with_overrides(path: Path, base_path: Path, overrides: dict[str, Any]) -> Scenario:
    try:
        return load_scenario(base_path, overrides)
    except InputError as err:
        raise InputError(path, f"overrides.{err.key}" if err.key else "overrides",
                         err.problem) from None


def _checked_lever(path: Path, i: int, p: Parameter, base_path: Path,
                   overrides: dict[str, Any]) -> Lever:
    """The parameter's lever, with both ends of its range checked against the schema."""
    where = f"parameters.{i}"
    try:
        lev = lever(p.key, path)
    except InputError as err:
        raise InputError(path, f"{where}.key", f"{p.key}: {err.problem}") from None
    if p.start is not None and not lev.dated:
        raise InputError(path, f"{where}.from", f"{p.key} is not a dated lever, so it cannot "
                         "change at a date")
    for value in p.span:
        try:
            load_scenario(base_path, merge(overrides, lev.override(value, p.start)))
        except InputError as err:
            raise InputError(path, where, f"{p.key} = {value:g}: {err.problem}") from None
    return lev


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


# -- the design ---------------------------------------------------------------------------


def design_points(sweep: Sweep) -> pl.DataFrame:
    """The points: ``point``, ``block``, ``row``, ``swapped`` and one column per swept key.

    ``block`` is ``grid`` or ``lhs``, or for a Sobol design ``A``, ``B`` or ``AB`` (A with the
    column ``swapped`` taken from B); ``row`` is the row within the block.
    """
    spec, keys = sweep.spec, sweep.keys
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(DESIGN_KEY,)))
    if spec.design == "grid":
        axes = [p.values if p.values is not None else np.linspace(p.low, p.high, p.levels)
                for p in spec.parameters]
        x = np.array(list(itertools.product(*axes)), dtype=float)
        blocks = [("grid", x, -1)]
    elif spec.design == "latin_hypercube":
        u = qmc.LatinHypercube(d=len(keys), rng=rng).random(spec.samples)
        blocks = [("lhs", _scale(sweep, u), -1)]
    else:
        u = qmc.Sobol(d=2 * len(keys), scramble=True, rng=rng).random(spec.samples)
        a, b = _scale(sweep, u[:, :len(keys)]), _scale(sweep, u[:, len(keys):])
        blocks = [("A", a, -1), ("B", b, -1)]
        for i in range(len(keys)):
            ab = a.copy()
            ab[:, i] = b[:, i]
            blocks.append(("AB", ab, i))
    frames = []
    for name, x, swapped in blocks:
        x = np.column_stack([np.round(x[:, i]) if lev.integer else x[:, i]
                             for i, lev in enumerate(sweep.levers)])
        frames.append(pl.DataFrame({"block": [name] * len(x), "row": np.arange(len(x)),
                                    "swapped": np.full(len(x), swapped)}).hstack(
            pl.DataFrame(x, schema=keys, orient="row")))
    points = pl.concat(frames)
    return points.select(pl.int_range(points.height, dtype=pl.Int32).alias("point"),
                         pl.col("block"), pl.col("row").cast(pl.Int32),
                         pl.col("swapped").cast(pl.Int32), *[pl.col(k) for k in keys])


def _scale(sweep: Sweep, u: np.ndarray) -> np.ndarray:
    low = np.array([p.low for p in sweep.spec.parameters])
    high = np.array([p.high for p in sweep.spec.parameters])
    return low + u * (high - low)


# -- seeds and tasks ----------------------------------------------------------------------


def point_seed(sweep: Sweep, point: int) -> int:
    """The scenario seed of a point.

    ``common`` (the default): the sweep seed itself, so replication ``r`` of every point draws
    from the same streams (common random numbers). Differences between points are then the
    levers' effect with most of the Monte Carlo noise cancelled, which makes tornado bars,
    Sobol indices and goal-seeking much sharper for the same work. ``independent``: a seed per
    point from ``SeedSequence(seed, spawn_key=(1, point))``, for analyses that need points to
    be statistically independent. Either way a replication's streams are a function of
    ``(sweep seed, point, replication)`` fixed before any task is submitted.
    """
    if sweep.spec.random_numbers == "common":
        return sweep.spec.seed
    state = np.random.SeedSequence(sweep.spec.seed, spawn_key=(POINT_KEY, point))
    return int(state.generate_state(1, np.uint64)[0] >> np.uint64(1))


@dataclass(frozen=True)
class Task:
    """Several replications of one point: the unit of work, of retry and of resume."""

    point: int
    seed: int
    replications: tuple[int, ...]

    @property
    def name(self) -> str:
        return f"p{self.point:06d}-r{self.replications[0]:05d}-{self.replications[-1]:05d}"


def plan_tasks(sweep: Sweep, points: pl.DataFrame) -> list[Task]:
    size = sweep.replications_per_task()
    reps = range(sweep.spec.replications)
    return [Task(p, point_seed(sweep, p), tuple(reps[i:i + size]))
            for p in points["point"].to_list() for i in range(0, len(reps), size)]


def fingerprint(sweep: Sweep, points: pl.DataFrame) -> str:
    """What the results depend on: the resolved sweep, the base scenario and the points."""
    content = {
        "sweep": sweep.spec.model_dump(mode="python", exclude={"description"}),
        "base": sweep.base.model_dump(mode="python"),
        "points": hashlib.sha256(points.select(sweep.keys).to_numpy().tobytes()).hexdigest(),
    }
    text = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# -- running one task ---------------------------------------------------------------------


def run_task(scenario: Scenario, task: Task,
             agencies: tuple[str, ...] | None) -> list[ReplicationResult]:
    """The task's replications. Runs on a worker, so it touches numpy only: polars' thread
    pool does not survive a fork, and the parent builds the tables anyway."""
    return [simulate(scenario, r, agencies) for r in task.replications]


def task_frame(task: Task, results: list[ReplicationResult],
               agencies: tuple[str, ...] | None) -> pl.DataFrame:
    """A task's result rows (only the series of the agencies run)."""
    frame = runs_frame(results).select(*RESULT_COLUMNS[1:])
    if agencies is not None:
        kept = [s.id for s in SERIES if s.agency in agencies]
        frame = frame.filter(pl.col("series").is_in(kept))
    return frame.select(pl.lit(task.point, dtype=pl.Int32).alias("point"), pl.all())


# -- where tasks run ----------------------------------------------------------------------


class Backend(Protocol):
    """Something that runs tasks and says when they are done (futures-like)."""

    capacity: int

    def submit(self, scenario: Scenario, task: Task, agencies: tuple[str, ...] | None,
               attempt: int) -> Any: ...

    def wait_any(self, futures: list[Any]) -> list[Any]: ...

    def close(self) -> None: ...


class InlineBackend:
    """One worker: tasks run in this process, one at a time."""

    capacity = 1

    def __init__(self, task_fn: Callable[..., list[ReplicationResult]] | None = None):
        self.task_fn = task_fn or run_task

    def submit(self, scenario, task, agencies, attempt) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(self.task_fn(scenario, task, agencies))
        except Exception as err:  # reported by the driver with the point's parameters
            fut.set_exception(err)
        return fut

    def wait_any(self, futures: list[Future]) -> list[Future]:
        return list(wait(futures, return_when=FIRST_COMPLETED).done)

    def close(self) -> None:
        pass


class PoolBackend:
    """A local process pool; a pool broken by a dead worker is replaced for the retries."""

    def __init__(self, workers: int):
        self.workers = workers
        self.capacity = 2 * workers
        self.pool = ProcessPoolExecutor(max_workers=workers)

    def submit(self, scenario, task, agencies, attempt) -> Future:
        try:
            return self.pool.submit(run_task, scenario, task, agencies)
        except BrokenProcessPool:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = ProcessPoolExecutor(max_workers=self.workers)
            return self.pool.submit(run_task, scenario, task, agencies)

    def wait_any(self, futures: list[Future]) -> list[Future]:
        return list(wait(futures, return_when=FIRST_COMPLETED).done)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskBackend:
    """A running Dask distributed scheduler (``tcp://HOST:PORT``); the workers need this
    package installed. Results come back to this process, which alone writes files."""

    def __init__(self, address: str, timeout: str = "20s"):
        try:
            from distributed import Client
        except ImportError:
            raise InputError("--dask", None, "needs dask[distributed]: pip install "
                             "'wps-deploy-sim[dask]'") from None
        try:
            self.client = Client(address, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as err:
            raise InputError("--dask", None, f"cannot reach a Dask scheduler at {address}: "
                             f"{err}") from None
        threads = sum(self.client.nthreads().values())
        self.capacity = max(4, 2 * threads)

    def submit(self, scenario, task, agencies, attempt):
        import uuid

        return self.client.submit(run_task, scenario, task, agencies, pure=False,
                                  key=f"sweep-{task.name}-{attempt}-{uuid.uuid4().hex[:8]}")

    def wait_any(self, futures: list[Any]) -> list[Any]:
        from distributed import wait as dask_wait

        return list(dask_wait(futures, return_when="FIRST_COMPLETED").done)

    def close(self) -> None:
        self.client.close()


def backend_for(workers: int, dask: str | None) -> Backend:
    if dask:
        return DaskBackend(dask)
    return InlineBackend() if workers <= 1 else PoolBackend(workers)


# -- driving the tasks --------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """A task that failed twice, with what is needed to understand it."""

    task: Task
    values: dict[str, float]
    error: str

    def describe(self) -> str:
        params = ", ".join(f"{k} = {v:g}" for k, v in self.values.items())
        return f"task {self.task.name} (point {self.task.point}: {params}) failed twice: " \
               f"{self.error}"


def drive(sweep: Sweep, points: pl.DataFrame, tasks: Iterable[Task], backend: Backend,
          on_done: Callable[[Task, list[ReplicationResult]], None]) -> list[Failure]:
    """Run the tasks with at most ``backend.capacity`` in flight; retry each failure once."""
    values = {row["point"]: {k: row[k] for k in sweep.keys}
              for row in points.iter_rows(named=True)}
    queue: deque[tuple[Task, int]] = deque((t, 0) for t in tasks)
    pending: dict[Any, tuple[Task, int]] = {}
    failures: list[Failure] = []
    cached: tuple[int, Scenario] | None = None
    while queue or pending:
        while queue and len(pending) < backend.capacity:
            task, attempt = queue.popleft()
            if cached is None or cached[0] != task.point:
                cached = (task.point, sweep.scenario(values[task.point], task.seed))
            pending[backend.submit(cached[1], task, sweep.agencies, attempt)] = (task, attempt)
        for fut in backend.wait_any(list(pending)):
            task, attempt = pending.pop(fut)
            try:
                results = fut.result()
            except (Exception, asyncio.CancelledError) as err:   # Dask's cancelled futures
                if attempt == 0:
                    queue.appendleft((task, 1))
                else:
                    failures.append(Failure(task, values[task.point],
                                            f"{type(err).__name__}: {err}"))
                continue
            on_done(task, results)
    return failures


# -- the sweep folder ---------------------------------------------------------------------

SWEEP_JSON, POINTS, BASE, RESULTS = "sweep.json", "points.parquet", "base_scenario.toml", "results"
SUMMARY = "summary.parquet"


def prepare_folder(out: Path, the_plan: "Plan") -> bool:
    """Make (or recognise) the sweep's folder; True when resuming an earlier attempt.

    Runs before any simulation, so bad input leaves nothing behind.
    """
    sweep, points, fp = the_plan.sweep, the_plan.points, the_plan.fingerprint
    claim_folder(out)
    record = out / SWEEP_JSON
    resumed = record.is_file()
    if resumed:
        try:
            earlier = json.loads(record.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InputError(record, None, "unreadable; this folder cannot be resumed") from None
        if earlier.get("fingerprint") != fp:
            raise InputError(out, None, f"holds results of a different sweep (made from "
                             f"{earlier.get('sweep_file', '?')}, fingerprint "
                             f"{str(earlier.get('fingerprint'))[:12]}; this sweep is "
                             f"{fp[:12]}): choose another --out or delete the folder")
    else:
        if out.is_dir() and any(out.iterdir()):
            raise InputError(out, None, "the folder is not empty and holds no sweep.json; "
                             "choose another --out")
        # The record first: a sweep killed at any later point is recognised and resumed.
        write_text(json.dumps({
            "fingerprint": fp, "sweep_file": str(sweep.path), "package_version": __version__,
            "sweep": sweep.spec.model_dump(mode="json", by_alias=True),
        }, indent=2, default=str) + "\n", record)
    (out / RESULTS).mkdir(parents=True, exist_ok=True)
    remove_leftovers(out / RESULTS)   # temporary files of a killed attempt
    if not (out / POINTS).is_file():
        write_parquet(points, out / POINTS)
    if not (out / BASE).is_file():
        write_text(resolved_toml(sweep.base, sweep=sweep.spec.name), out / BASE)
    return resumed


def finished(out: Path) -> set[str]:
    """Names of the tasks already written in a folder made by :func:`prepare_folder`."""
    return {p.stem for p in (out / RESULTS).glob("*.parquet")}


def write_task(out: Path, task: Task, frame: pl.DataFrame) -> None:
    write_parquet(frame, out / RESULTS / f"{task.name}.parquet")


def collect(out: Path) -> pl.DataFrame:
    """Every result row, in point, replication, year, series order."""
    files = sorted((out / RESULTS).glob("*.parquet"))
    if not files:
        raise ValueError("no results yet")
    order = {s.id: i for i, s in enumerate(SERIES)}
    return (pl.concat([pl.read_parquet(f) for f in files])
            .with_columns(pl.col("series").replace_strict(order).alias("_order"))
            .sort("point", "replication", "year", "_order").drop("_order"))


def summarize(results: pl.DataFrame) -> pl.DataFrame:
    """Per point, year and series: the share's mean, quantiles and standard error."""
    return pl.concat([summary_frame(part).select(
        pl.lit(point, dtype=pl.Int32).alias("point"), pl.all())
        for (point,), part in results.partition_by("point", as_dict=True,
                                                   maintain_order=True).items()])


@dataclass(frozen=True)
class Plan:
    """The sweep's points, its tasks, and the fingerprint its folder is marked with."""

    sweep: Sweep
    points: pl.DataFrame
    tasks: tuple[Task, ...]
    fingerprint: str

    def values(self, point: int) -> dict[str, float]:
        row = self.points.row(point, named=True)
        return {k: row[k] for k in self.sweep.keys}


def make_plan(sweep: Sweep) -> Plan:
    points = design_points(sweep)
    return Plan(sweep, points, tuple(plan_tasks(sweep, points)), fingerprint(sweep, points))


def run_sweep(the_plan: Plan, out: Path, backend: Backend,
              progress: Callable[[int], None] | None = None) -> list[Failure]:
    """Run the tasks not yet in ``out`` (prepared by :func:`prepare_folder`); every finished
    task is written at once, so an interruption loses only the tasks in flight."""
    done = finished(out)
    todo = [t for t in the_plan.tasks if t.name not in done]

    def on_done(task: Task, results: list[ReplicationResult]) -> None:
        write_task(out, task, task_frame(task, results, the_plan.sweep.agencies))
        if progress:
            progress(len(task.replications))

    try:
        return drive(the_plan.sweep, the_plan.points, todo, backend, on_done)
    finally:
        backend.close()
