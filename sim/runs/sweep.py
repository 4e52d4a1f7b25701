"""Running a sweep, resumably: tasks to a backend, each finished task written at once.

Tasks go to an in-process loop, a local process pool or a Dask scheduler
(:mod:`sim.runs.backends`). The parent writes each finished task to
``results/<task>.parquet`` atomically, so a sweep killed at any moment (even by SIGKILL) leaves
only complete files; rerunning the command skips them. A failing task is retried once, then
reported with its point's parameters; the others go on.

The folder remembers the sweep that made it (a fingerprint of the resolved sweep, the base
scenario and the points, in ``sweep.json``); a different sweep is refused rather than mixed in.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import polars as pl

from sim import __version__
from sim.model.replication import ReplicationResult, simulate
from sim.model.series import SERIES
from sim.runs.backends import Backend, abort
from sim.runs.design import Plan, Task
from sim.runs.outputs import (claim_folder, remove_leftovers, resolved_toml, write_parquet,
                              write_text)
from sim.runs.provenance import library_versions
from sim.runs.replications import runs_frame
from sim.runs.sweep_file import Sweep, label
from sim.scenario.loading import InputError
from sim.scenario.schema import Scenario

RESULT_COLUMNS = ("point", "replication", "year", "series", "measure", "women", "total", "share")


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



@dataclass(frozen=True)
class Failure:
    """A task that failed twice, with what is needed to understand it."""

    task: Task
    values: dict[str, Any]
    error: str

    def describe(self) -> str:
        params = ", ".join(f"{k} = {label(v)}" for k, v in self.values.items())
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
        capacity = backend.capacity   # read at each top-up: a Dask cluster may have grown
        while queue and len(pending) < capacity:
            task, attempt = queue.popleft()
            if cached is None or cached[0] != task.point:
                cached = (task.point, sweep.scenario(values[task.point], task.seed))
            pending[backend.submit(run_task, cached[1], task, sweep.agencies)] = (task, attempt)
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


SWEEP_JSON, POINTS, BASE, RESULTS = "sweep.json", "points.parquet", "base_scenario.toml", "results"
SUMMARY = "summary.parquet"


SWEEP_FILES = {SWEEP_JSON, POINTS, BASE, SUMMARY, "sensitivity.parquet", "discovery.csv",
               "report.html"}
TASK_FILE = re.compile(r"p\d{6}-r\d{5}-\d{5}\.parquet")


def prepare_folder(out: Path, the_plan: Plan) -> bool:
    """Make (or recognise) the sweep's folder; True when resuming an earlier attempt.

    Runs before any simulation, so bad input leaves nothing behind; the caller holds the
    folder's lock (:class:`sim.runs.outputs.FolderLock`). A refused folder is left untouched,
    and only this tool's own temporary files are ever removed from an accepted one.
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
        if not isinstance(earlier, dict) or earlier.get("fingerprint") != fp:
            earlier = earlier if isinstance(earlier, dict) else {}
            raise InputError(out, None, f"holds results of a different sweep (made from "
                             f"{earlier.get('sweep_file', '?')}, fingerprint "
                             f"{str(earlier.get('fingerprint'))[:12]}; this sweep is "
                             f"{fp[:12]}): choose another --out or delete the folder")
        check_numpy(record, earlier)
    else:
        if out.is_dir() and any(out.iterdir()):
            raise InputError(out, None, "the folder is not empty and holds no sweep.json; "
                             "choose another --out")
        # The record first: a sweep killed at any later point is recognised and resumed.
        write_text(json.dumps({
            "fingerprint": fp, "sweep_file": str(sweep.path), "package_version": __version__,
            "versions": library_versions(),
            "sweep": sweep.spec.model_dump(mode="json", by_alias=True),
        }, indent=2, default=str) + "\n", record)
    remove_leftovers(out, SWEEP_FILES.__contains__)
    (out / RESULTS).mkdir(parents=True, exist_ok=True)
    remove_leftovers(out / RESULTS, lambda name: bool(TASK_FILE.fullmatch(name)))
    if not (out / POINTS).is_file():
        write_parquet(points, out / POINTS)
    if not (out / BASE).is_file():
        write_text(resolved_toml(sweep.base, sweep=sweep.spec.name), out / BASE)
    return resumed


def check_numpy(record: Path, earlier: dict[str, Any]) -> None:
    """Refuse to resume under another numpy: its generators fix every random stream, so the
    remaining tasks would not be draws of the same sweep. (A record from before versions were
    kept has nothing to compare and resumes.)"""
    recorded = (earlier.get("versions") or {}).get("numpy")
    current = library_versions()["numpy"]
    if recorded is not None and recorded != current:
        raise InputError(record, "versions.numpy", f"this sweep was started with numpy "
                         f"{recorded} and this environment has numpy {current}; random streams "
                         f"may differ, so it cannot be resumed here: install numpy=={recorded} "
                         f"or choose another --out")


def finished(out: Path) -> set[str]:
    """Names of the tasks already written in a folder made by :func:`prepare_folder`; a
    result file that cannot be read (truncated by a crash outside this tool, a full disk)
    does not count, so its task runs again and its file is replaced."""
    return {p.stem for p in (out / RESULTS).glob("*.parquet") if readable(p)}


def unreadable(out: Path) -> list[Path]:
    """The result files :func:`finished` does not count."""
    return [p for p in sorted((out / RESULTS).glob("*.parquet")) if not readable(p)]


def readable(path: Path) -> bool:
    """Whether a parquet file's footer (its schema) can be read: cheap, and enough to tell
    a complete file from a truncated one."""
    try:
        pl.read_parquet_schema(path)
    except Exception:   # polars raises several error types for a broken file
        return False
    return True


def write_task(out: Path, task: Task, frame: pl.DataFrame) -> None:
    write_parquet(frame, out / RESULTS / f"{task.name}.parquet")


def collect(out: Path) -> pl.DataFrame:
    """Every result row, in point, replication, year, series order."""
    files = [p for p in sorted((out / RESULTS).glob("*.parquet")) if readable(p)]
    if not files:
        raise ValueError("no results yet")
    order = {s.id: i for i, s in enumerate(SERIES)}
    return (pl.concat([pl.read_parquet(f) for f in files])
            .with_columns(pl.col("series").replace_strict(order).alias("_order"))
            .sort("point", "replication", "year", "_order").drop("_order"))


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
        failures = drive(the_plan.sweep, the_plan.points, todo, backend, on_done)
    except BaseException:   # an interrupt: stop the workers now, the finished tasks are kept
        abort(backend)
        raise
    backend.close()
    return failures
