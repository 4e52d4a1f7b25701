"""Running replications: worker-count independence, the runs and summary tables, `run`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from sim.commands.cli import main
from sim.scenario.loading import load_scenario
from sim.analysis.summary import summary_frame
from sim.runs.outputs import as_text, write_parquet
from sim.runs.replications import (MEASURE_CODES, SERIES_CODES, run_frame, run_replications,
                                   runs_frame)
from sim.model.series import SERIES

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
SHORT = {"start_year": 2018, "horizon": 2026}


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(SCENARIOS / "baseline.toml", SHORT)


def test_results_do_not_depend_on_the_number_of_workers(scenario):
    one = runs_frame(run_replications(scenario, range(4), workers=1))
    two = runs_frame(run_replications(scenario, range(4), workers=2))
    assert one.equals(two)
    assert one["replication"].unique().sort().to_list() == [0, 1, 2, 3]


def test_run_frame_holds_codes_that_read_and_write_as_the_text(scenario, tmp_path):
    """The run's table holds series and measure as codes (memory); as text it is runs_frame's
    table, it filters, groups and sorts the same, and its file is byte for byte the same."""
    coded = run_frame(scenario, range(3), workers=1)
    text = runs_frame(run_replications(scenario, range(3), workers=1))
    assert (coded.schema["series"], coded.schema["measure"]) == (SERIES_CODES, MEASURE_CODES)
    assert text.schema["series"] == pl.String and as_text(coded).equals(text)
    keys = ["measure", "series", "year", "replication"]
    assert as_text(coded.sort(keys)).equals(text.sort(keys))
    assert as_text(summary_frame(coded)).equals(summary_frame(text))
    picked = pl.col("series").is_in(["police.officers", "dema.staff", "no.such.series"])
    assert as_text(coded.filter(picked)).equals(text.filter(picked))
    write_parquet(coded, tmp_path / "coded.parquet")
    write_parquet(text, tmp_path / "text.parquet")
    assert (tmp_path / "coded.parquet").read_bytes() == (tmp_path / "text.parquet").read_bytes()


def test_write_run_hands_over_the_stock_columns_without_changing_a_file(scenario, tmp_path):
    """write_run takes the stock-only columns out of the runs once they are written and
    tabulated into the flow cube (memory): runs.parquet still holds them, and the report is
    byte for byte the one built from the whole runs."""
    from sim.analysis.summary import summary_frame
    from sim.commands.run import write_run
    from sim.reports.forecast import write_reports
    from sim.runs.replications import STOCK_COLUMNS

    runs = run_frame(scenario, range(3), workers=1)
    whole = runs.clone()
    write_run(scenario, runs, tmp_path)
    assert not set(STOCK_COLUMNS) & set(runs.columns)
    assert runs.equals(whole.drop(STOCK_COLUMNS))
    assert pl.read_parquet(tmp_path / "runs.parquet").equals(as_text(whole))
    (tmp_path / "whole").mkdir()
    write_reports(scenario, whole, summary_frame(whole), tmp_path / "whole")
    assert ((tmp_path / "report.html").read_bytes()
            == (tmp_path / "whole" / "report.html").read_bytes())


def test_runs_frame_has_one_row_per_replication_year_series(scenario):
    runs = runs_frame(run_replications(scenario, [0, 1], workers=1))
    assert runs.height == 2 * len(scenario.years) * len(SERIES)
    assert runs.select(pl.struct("replication", "year", "series").is_unique().all()).item()
    shares = runs["share"].drop_nulls()
    assert ((shares >= 0) & (shares <= 1)).all()
    expected = runs["women"] / runs["total"]
    ok = runs["total"] > 0
    np.testing.assert_allclose(runs.filter(ok)["share"], expected.filter(ok))


def test_summary_quantiles_are_ordered_and_se_is_sd_over_root_n(scenario):
    runs = runs_frame(run_replications(scenario, range(5), workers=1))
    summary = summary_frame(runs)
    cols = ["share_p05", "share_p25", "share_p50", "share_p75", "share_p95"]
    s = summary.drop_nulls(cols)
    for lo, hi in zip(cols, cols[1:]):
        assert (s[lo] <= s[hi] + 1e-12).all()
    row = runs.filter((pl.col("series") == "armed_forces.military") & (pl.col("year") == 2024))
    one = summary.filter((pl.col("series") == "armed_forces.military") & (pl.col("year") == 2024))
    sd = row["share"].std()
    assert one["share_se"].item() == pytest.approx(sd / np.sqrt(5))
    assert one["share_mean"].item() == pytest.approx(row["share"].mean())


def test_run_command_writes_complete_reproducible_outputs(tmp_path, scenario):
    short = tmp_path / "short.toml"
    short.write_text(f'name = "short"\nextends = "{SCENARIOS / "baseline.toml"}"\n'
                     'start_year = 2018\nhorizon = 2026\n')
    out = tmp_path / "out"
    assert main(["run", str(short), "--replications", "3", "--workers", "1", "--quiet",
                 "--out", str(out)]) == 0
    runs = pl.read_parquet(out / "runs.parquet")
    summary = pl.read_parquet(out / "summary.parquet")
    assert runs.height == 3 * 9 * len(SERIES)
    assert summary.height == 9 * len(SERIES)
    # The resolved scenario reruns to bit-identical results.
    again = tmp_path / "again"
    assert main(["run", str(out / "scenario.toml"), "--workers", "1", "--quiet",
                 "--out", str(again)]) == 0
    assert pl.read_parquet(again / "runs.parquet").equals(runs)
    assert not list(out.glob(".*.tmp")), "no temporary files are left behind"
