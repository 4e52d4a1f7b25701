"""The replications warning: MC standard error of the headline shares above 0.5 points."""

from __future__ import annotations

import math
import re

import numpy as np
import polars as pl
import pytest

from sim.commands.cli import main
from sim.analysis.precision import (MAX_SE, Precision, headline_precision, needed_replications,
                           warn_imprecise, warning_text)
from sim.scenario.targets import UnTarget


def test_needed_replications_formula():
    assert needed_replications(100, 0.01) == 400          # error halves with 4x replications
    assert needed_replications(2, 0.02) == 32
    assert needed_replications(50, 0.005) == 50           # exactly at the limit: enough
    assert needed_replications(10, 0.0051) == math.ceil(10 * (0.0051 / 0.005) ** 2) == 11
    assert needed_replications(200, 0.001) == 200         # never fewer than already run


def _runs(shares: dict[tuple[str, int], list[float]]) -> pl.DataFrame:
    rows = [{"replication": r, "year": year, "series": series, "share": v}
            for (series, year), values in shares.items() for r, v in enumerate(values)]
    return pl.DataFrame(rows)


TARGETS = (UnTarget("a", "x.deployed", 2028, 0.15, "un_dpo", "stated", "H", "test"),
           UnTarget("b", "x.deployed", 2028, 0.2, "national", "stated", "H", "test"),
           UnTarget("c", "y.deployed", 2030, 0.2, "un_dpo", "stated", "H", "test"),
           UnTarget("d", None, 2028, 0.2, "un_dpo", "stated", "H", "test"))


def test_headline_precision_from_runs():
    rng = np.random.default_rng(1)
    noisy = list(0.12 + 0.05 * rng.standard_normal(20))
    runs = _runs({("x.deployed", 2028): noisy, ("y.deployed", 2030): [0.2] * 20,
                  ("x.deployed", 2027): [0.0, 1.0] * 10})
    rows = headline_precision(runs, horizon=2035, targets=TARGETS)
    assert [(r.series, r.year) for r in rows] == [("x.deployed", 2028), ("y.deployed", 2030)]
    x = rows[0]
    assert x.replications == 20 and x.se == pytest.approx(np.std(noisy, ddof=1) / math.sqrt(20))
    assert x.too_coarse and x.needed == math.ceil(20 * (x.se / MAX_SE) ** 2)
    assert rows[1].se == pytest.approx(0, abs=1e-12) and not rows[1].too_coarse
    # A target beyond the horizon is not a headline of this run.
    assert [r.year for r in headline_precision(runs, horizon=2029, targets=TARGETS)] == [2028]


def test_warning_names_the_worst_share_and_the_replications_needed():
    rows = [Precision("x.deployed", 2028, 10, 0.1, 0.02),
            Precision("y.deployed", 2028, 10, 0.1, 0.004)]
    text = warning_text(rows)
    assert "x.deployed 2028" in text and "2.00 points" in text and "--replications 160" in text
    assert "1 of 2" in text
    assert warning_text([rows[1]]) is None
    single = warning_text([Precision("x.deployed", 2028, 1, 0.1, math.nan)])
    assert "cannot be estimated" in single


def test_quiet_silences_the_warning(capsys):
    runs = _runs({("x.deployed", 2028): [0.0, 0.5, 1.0]})
    warn_imprecise(runs, 2035, quiet=True)
    assert capsys.readouterr().err == ""


def test_run_with_two_replications_warns_with_the_number_needed(tmp_path, capsys):
    scenario = tmp_path / "s.toml"
    scenario.write_text('name = "precision"\nstart_year = 2024\nhorizon = 2028\n')
    out = tmp_path / "out"
    assert main(["run", str(scenario), "--replications", "2", "--workers", "1",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    found = re.search(r"about (\d+) replications are needed \(--replications (\d+)\)", err)
    assert found, err
    rows = headline_precision(pl.read_parquet(out / "runs.parquet"), 2028)
    expected = max(r.needed for r in rows if r.too_coarse)
    assert int(found.group(1)) == int(found.group(2)) == expected > 2


def test_running_se_is_the_standard_error_of_the_first_n_replications():
    import numpy as np

    from sim.analysis.precision import running_se

    shares = [0.10, 0.14, None, 0.12, 0.20, 0.08]
    runs = pl.DataFrame({"replication": list(range(6)), "year": [2028] * 6,
                         "series": ["s"] * 6, "share": shares})
    ns, ses = running_se(runs, "s", 2028)
    kept = np.array([s for s in shares if s is not None])
    assert ns == [2, 3, 4, 5]                    # the empty replication is left out
    for n, se in zip(ns, ses):
        assert se == pytest.approx(kept[:n].std(ddof=1) / np.sqrt(n), rel=1e-12)
