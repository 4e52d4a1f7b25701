"""Speed of building a run's report alone (never asserted by tests).

The report is built from frames already simulated: an output folder of ``run`` is read once
(runs.parquet, scenario.toml, parameters.parquet), its runs optionally stacked to more
replications (``--replications``: the folder's replications repeated under new numbers, so a
report of 400 replications is timed without simulating 400), and ``write_reports`` is timed
into a scratch folder. Prints the median of ``--repeats`` builds beside a bare SimPy timeout
loop's event rate measured in the same run, so figures from a busy machine can be told apart.

    python run_scenario.py run scenarios/baseline.toml --replications 20 \\
        --out /tmp/report-speed --fixed-parameters
    python benchmarks/report_speed.py /tmp/report-speed --replications 1 400

Other benchmarks import ``report_seconds``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import simpy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.analysis.summary import summary_frame
from sim.commands.run import scenario_fitted
from sim.reports.forecast import write_reports
from sim.scenario.loading import Fitted, load_scenario
from sim.scenario.schema import Scenario


def bare_simpy(n_events: int = 300_000) -> float:
    env = simpy.Environment()

    def ticker(env: simpy.Environment):
        while True:
            yield env.timeout(1)

    env.process(ticker(env))
    start = time.perf_counter()
    env.run(until=n_events)
    return n_events / (time.perf_counter() - start)


@dataclass(frozen=True)
class RunFrames:
    """What ``write_reports`` is given after a run: the scenario, its runs and summary, and
    the parameter draws (None when the run held them fixed)."""

    scenario: Scenario
    runs: pl.DataFrame
    summary: pl.DataFrame
    parameters: pl.DataFrame | None
    fitted: Fitted


def load_frames(out_dir: Path, replications: int | None = None) -> RunFrames:
    """A run's frames from its output folder; with ``replications``, its runs cut or repeated
    to that many (the report's cost grows with the rows, not with what they hold)."""
    runs = pl.read_parquet(out_dir / "runs.parquet")
    if replications is not None:
        runs = resized(runs, replications)
    parameters = pl.read_parquet(out_dir / "parameters.parquet")
    if replications is not None or parameters.is_empty():
        parameters = None       # draws do not follow a resized run; timed as fixed
    scenario = load_scenario(out_dir / "scenario.toml")
    return RunFrames(scenario, runs, summary_frame(runs), parameters,
                     scenario_fitted(out_dir / "scenario.toml", scenario))


def resized(runs: pl.DataFrame, replications: int) -> pl.DataFrame:
    """``runs`` with replications 0..replications-1: the folder's replications in turn, in
    one chunk, as ``run`` hands them to the report (a frame of one chunk per replication
    would time, and sum in, a layout no run produces)."""
    have = sorted(runs["replication"].unique().to_list())
    parts = []
    for r in range(replications):
        own = runs.filter(pl.col("replication") == have[r % len(have)])
        parts.append(own.with_columns(pl.lit(r, dtype=runs.schema["replication"])
                                      .alias("replication")))
    return pl.concat(parts, rechunk=True)


def report_seconds(out_dir_or_frames: Path | str | RunFrames, repeats: int = 5) -> float:
    """Median wall time of building the report (``targets.csv`` and ``report.html``) from
    a run's frames or its output folder, written into a scratch folder."""
    frames = (out_dir_or_frames if isinstance(out_dir_or_frames, RunFrames)
              else load_frames(Path(out_dir_or_frames)))
    times = []
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(repeats):
            start = time.perf_counter()
            write_reports(frames.scenario, frames.runs, frames.summary, Path(scratch),
                          fitted=frames.fitted, parameters=frames.parameters)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out_dir", type=Path, help="output folder of a run")
    p.add_argument("--replications", type=int, nargs="*", default=[],
                   help="also time the report at these replication counts (runs stacked)")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    ref = bare_simpy()
    print(f"bare SimPy timeout loop:     {ref:12,.0f} events/s")
    report_seconds(load_frames(args.out_dir, 1), 1)   # warm up: imports, plotly.js read
    for n in [None, *args.replications]:
        frames = load_frames(args.out_dir, n)
        t = report_seconds(frames, args.repeats)
        reps = frames.runs["replication"].n_unique()
        print(f"report of {reps:4d} replications: {t:8.3f} s  (median of {args.repeats})")


if __name__ == "__main__":
    main()
