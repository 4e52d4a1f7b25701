"""Calibration: the config's checks, like-with-like figures, the weights, recovery of known
parameters from the model's own output, and the back-test end to end in --quick mode."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from sim.analysis.calibration.fit import fit_agency
from sim.analysis.calibration.objective import AgencyObjective
from sim.analysis.calibration.simulator import Simulator
from sim.analysis.calibration.figures import comparable, load_figures
from sim.analysis.calibration.config import load_config, placement
from sim.scenario.loading import resolve
from sim.commands.cli import main
from sim.runs.provenance import library_versions
from sim.scenario.dated import month_number
from sim.scenario.loading import InputError, merge
from sim.model.replication import simulate
from sim.scenario.schema import Scenario
from sim.model.series import BY_ID, SERIES

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "calibration" / "config.toml"
OBSERVED = ROOT / "calibration" / "observed.csv"
BASELINE = ROOT / "scenarios" / "baseline.toml"


def relocated_config(tmp_path: Path, extra: str = "", replace: tuple[str, str] = ("", "")) -> Path:
    """The real config, copied to ``tmp_path`` with absolute data paths and a private fitted
    file (so no test can touch calibration/fitted.toml)."""
    text = CONFIG.read_text(encoding="utf-8")
    text = text.replace('observed = "observed.csv"', f'observed = "{OBSERVED}"')
    text = text.replace('scenario = "../scenarios/baseline.toml"', f'scenario = "{BASELINE}"')
    text = text.replace('fitted = "fitted.toml"', 'fitted = "fitted_by_config.toml"')
    if replace[0]:
        assert replace[0] in text
        text = text.replace(*replace)
    path = tmp_path / "config.toml"
    path.write_text(text + extra, encoding="utf-8")
    return path


# -- the config -----------------------------------------------------------------------------


def test_the_real_config_loads_and_places_every_parameter():
    cfg = load_config(CONFIG)
    base = resolve(cfg.scenario, calibrated=False)
    values = {p.name: p.start for p in cfg.parameters}
    values["police_academy_2017"] = 0.111
    values["dema_drive_recruits"] = 123.0
    s = Scenario.model_validate(merge(base, placement(cfg, values, base)))
    # A parameter placed at a point of a dated lever is that lever's value at the point.
    assert s.police.academy.women_share.at(month_number(date(2017, 1, 1))) \
        == pytest.approx(0.111)
    # The DEMA drive: 123 recruits in 2024, then "base" = the schema's own level again.
    recruits = s.dema.pool.external_recruits
    default = Scenario(name="d").dema.pool.external_recruits
    assert recruits.at(2024 * 12 + 5) == pytest.approx(123.0)
    assert recruits.at(2026 * 12) == default.at(2026 * 12)
    assert recruits.at(2020 * 12) == default.at(2020 * 12)
    assert {p.agency for p in cfg.parameters} == {"armed_forces", "dema", "police"}


@pytest.mark.parametrize("replace, key", [
    (('bounds = [0.03, 0.25]\nstart = 0.10', 'bounds = [0.25, 0.03]\nstart = 0.10'),
     "parameters.af_women_rank_and_file.bounds"),
    (('key = "armed_forces.initial.women_share_rank_and_file"',
      'key = "armed_forces.initial.women_share_privates"'),
     "parameters.af_women_rank_and_file.key"),
    (('"$police_academy_2017"', '"$police_academy_2016"'),
     "levers.police.academy.women_share"),
    (('bounds = [0.2, 3.0]\nstart = 1.0\nnote = "Sets armed_forces.deployed',
      'bounds = [0.2, 30.0]\nstart = 1.0\nnote = "Sets armed_forces.deployed'),
     "parameters.af_selection_weight.bounds"),
    (('pilot_replications = 24', 'pilot_replications = "many"'),
     "modes.full.pilot_replications"),
])
def test_bad_config_exits_2_naming_the_key(tmp_path, capsys, replace, key):
    config = relocated_config(tmp_path, replace=replace)
    out = tmp_path / "out"
    assert main(["calibrate", "--config", str(config), "--out", str(out), "--quick"]) == 2
    err = capsys.readouterr().err
    assert key in err and str(config) in err
    assert "Traceback" not in err
    assert not out.exists()


def test_prior_must_say_what_it_assumes(tmp_path):
    config = relocated_config(tmp_path, replace=(
        'prior = { mean = 0.02, sd = 0.01, why = "Women\'s share of NCOs',
        'prior = { mean = 0.02, sd = 0.01, what = "Women\'s share of NCOs'))
    with pytest.raises(InputError, match="parameters.af_women_leaders.prior"):
        load_config(config)


# -- the figures ----------------------------------------------------------------------------


def test_like_is_compared_with_like():
    managers, staff = BY_ID["dema.managers"], BY_ID["dema.staff"]
    # 1 January 2024 is the end of 2023 in the model's year-end stock series.
    assert comparable("stock_start", 2024, managers) == (2023, False)
    assert comparable("stock_end", 2023, managers) == (2023, False)
    # A stock at a date read from a yearly-average stock series: its year-end stock.
    assert comparable("stock_end", 2023, staff) == (2023, True)
    assert comparable("stock_start", 2024, staff) == (2023, True)
    # A flow or a during-year count is never a stock.
    assert comparable("flow", 2023, staff) is None
    assert comparable("deployed_during", 2023, BY_ID["dema.posted"]) is None


def test_real_figures_map_onto_model_cells():
    figures = load_figures(OBSERVED, 2010)
    frame = pl.read_csv(OBSERVED).filter(pl.col("use") == "calibrate")
    assert len(figures) == frame.height
    managers = [f for f in figures if f.series == "dema.managers"]
    assert [(f.year, f.model_year) for f in managers] == [(2024, 2023)]


def test_an_incomparable_measure_is_refused(tmp_path):
    bad = tmp_path / "observed.csv"
    text = OBSERVED.read_text(encoding="utf-8")
    bad.write_text(text.replace("dema.posted,2023,stock_end", "dema.posted,2023,flow"),
                   encoding="utf-8")
    with pytest.raises(InputError, match="measure.*flow cannot be compared"):
        load_figures(bad, 2010)


# -- weights and evaluations ------------------------------------------------------------------


def test_weights_add_rounding_process_noise_and_monte_carlo_error():
    cfg = load_config(CONFIG)
    figures = [f for f in load_figures(OBSERVED, 2010) if f.agency == "dema"]
    with Simulator(resolve(cfg.scenario, calibrated=False), 1) as sim:
        obj = AgencyObjective(cfg, "dema", figures, sim, reps=5, seed=1, horizon=2025,
                              start_year=2010)
        rng = np.random.default_rng(3)
        draws = rng.normal(0.2, 0.05, size=(40, len(figures)))
        obj.set_weights(draws)
    precision = np.array([f.precision for f in figures])
    expected = precision ** 2 / 3 + draws.var(axis=0, ddof=1) * (1 + 1 / 5)
    np.testing.assert_allclose(obj.sigma ** 2, expected)
    # A "~25%"-style precision is looser than a "9.6%" one at the same process noise.
    assert (precision[obj.sigma.argmax()] >= 0) and np.all(obj.sigma > np.sqrt(precision**2 / 3))


def test_evaluations_do_not_depend_on_the_number_of_workers():
    cfg = load_config(CONFIG)
    base = resolve(cfg.scenario, calibrated=False)
    cells = [(13, SERIES.index(BY_ID["dema.staff"]), False),
             (13, SERIES.index(BY_ID["dema.uniformed"]), True)]
    jobs = [{"horizon": 2025}, {"horizon": 2025, "dema": {"initial": {"women_share_uniformed":
                                                                       0.2}}}]
    with Simulator(base, 1) as one, Simulator(base, 2) as two:
        a = one.cells(jobs, "dema", range(3), cells)
        b = two.cells(jobs, "dema", range(3), cells)
    for (wa, ta), (wb, tb) in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(ta, tb)
    assert not np.array_equal(a[0][0], a[1][0])      # the override did change the women


# -- recovery of known parameters from the model's own output ---------------------------------

TRUE = {"af_women_rank_and_file": 0.11, "af_women_leaders": 0.03}
SYNTHETIC_SEED = 4242
# Both modes fit the same way: the test does not depend on which one runs.
SYNTHETIC_MODE = """replications = 4
pilot_replications = 8
iterations = 5
profile_points = 0
draws = 2
report_replications = 2
"""


def synthetic_config(tmp_path: Path) -> Path:
    """Two Armed Forces parameters and three figures made by the model itself at TRUE (early
    stock shares, which the start shares determine, so the fit can be held to a tight
    tolerance)."""
    base = resolve(BASELINE, calibrated=False)
    truth = Scenario.model_validate(merge(base, {
        "horizon": 2025, "seed": SYNTHETIC_SEED, "armed_forces": {"initial": {
            "women_share_rank_and_file": TRUE["af_women_rank_and_file"],
            "women_share_leaders": TRUE["af_women_leaders"]}}}))
    # One realisation, like the world: replication 0 of another seed than the fit's.
    t = simulate(truth, 0, agencies=("armed_forces",)).tally
    rows = ["series,year,measure,value,count,source,precision,use,note"]
    for series, year in (("armed_forces.rank_and_file", 2012), ("armed_forces.leaders", 2012),
                         ("armed_forces.military", 2017)):
        j = SERIES.index(BY_ID[series])
        share = t.women[year - 2010, j] / t.total[year - 2010, j]
        rows.append(f"{series},{year},stock_avg,{share:.6f},,synthetic,0.0005,calibrate,")
    (tmp_path / "observed.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = tmp_path / "synthetic.toml"
    config.write_text(f'''
observed = "observed.csv"
scenario = "{BASELINE}"
fitted = "fitted.toml"
[fit]
step = 0.15
[modes.full]
{SYNTHETIC_MODE}[modes.quick]
{SYNTHETIC_MODE}[inertia]
low = 0.001
high = 0.004
[parameters.af_women_rank_and_file]
key = "armed_forces.initial.women_share_rank_and_file"
bounds = [0.03, 0.25]
start = 0.16
[parameters.af_women_leaders]
key = "armed_forces.initial.women_share_leaders"
bounds = [0.0, 0.1]
start = 0.06
''', encoding="utf-8")
    return config


def test_recovers_known_parameters_from_the_models_own_output(tmp_path):
    cfg = load_config(synthetic_config(tmp_path))
    figures = load_figures(cfg.observed, 2010)
    with Simulator(resolve(cfg.scenario, calibrated=False), 1) as sim:
        fit = fit_agency(cfg, "armed_forces", figures, sim, cfg.modes["quick"], seed=20250701,
                         horizon=2025, start_year=2010)
    for p, value, sd in zip(fit.parameters, fit.values, fit.sd):
        # The standard error combines the one-realisation noise of the synthetic figures and
        # the Monte Carlo error of the fit's 4 replications (both in each figure's sigma); it
        # must be small for the test to mean anything, and the truth within 3 of them.
        assert sd < 0.01, (p.name, sd)
        assert abs(value - TRUE[p.name]) <= 3 * sd, (p.name, value, TRUE[p.name], sd)
    assert fit.chi2_data < 3 * len(figures)   # residuals of the order of their sigma


# -- the back-test, end to end ----------------------------------------------------------------


def test_backtest_runs_end_to_end_in_quick_mode(tmp_path, capsys):
    config = relocated_config(tmp_path, extra="", replace=(
        '"police.officers 2024" = "', '"police.officers 2024" = "<script>alert(1)</script> '))
    out = tmp_path / "out"
    fitted_before = (ROOT / "calibration" / "fitted.toml").read_bytes()
    code = main(["calibrate", "--config", str(config), "--until", "2021", "--quick",
                 "--workers", "1", "--quiet", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    held_out = [f for f in load_figures(OBSERVED, 2010) if f.year > 2021]
    table = pl.read_csv(out / "backtest.csv")
    assert sorted(zip(table["series"], table["year"])) == sorted((f.series, f.year)
                                                                  for f in held_out)
    assert table["year"].min() >= 2022
    np.testing.assert_allclose(table["error"], table["forecast_p50"] - table["observed"])
    inside = (table["p05"] <= table["observed"]) & (table["observed"] <= table["p95"])
    assert (inside == table["inside"]).all()
    assert (table["p05"] <= table["forecast_p50"]).all()
    assert (table["forecast_p50"] <= table["p95"]).all()
    fitted = tomllib.loads((out / "fitted.toml").read_text(encoding="utf-8"))
    assert fitted["meta"]["until"] == 2021 and fitted["meta"]["mode"] == "quick"
    assert fitted["meta"]["versions"] == library_versions()
    assert {(o["series"], o["year"]) for o in fitted["meta"]["observed"]} == {
        (f.series, f.year) for f in load_figures(OBSERVED, 2010) if f.year <= 2021}
    # No DEMA figure is older than 2022: its parameters stay at their starts (prior means).
    params = pl.read_csv(out / "parameters.csv").filter(pl.col("agency") == "dema")
    cfg = load_config(config)
    starts = {p.name: p.start for p in cfg.parameters}
    for row in params.iter_rows(named=True):
        assert row["value"] == pytest.approx(starts[row["parameter"]])
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Back-test" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    assert "backtest.md" in {p.name for p in out.iterdir()}
    # A quick or back-test run never writes the config's fitted file.
    assert not (tmp_path / "fitted_by_config.toml").exists()
    assert (ROOT / "calibration" / "fitted.toml").read_bytes() == fitted_before


# -- what the report calls "not pinned down" --------------------------------------------------


def test_either_a_flat_profile_or_a_weak_data_weight_marks_a_parameter_as_held_by_its_prior():
    from sim.reports.calibration import flat_criteria
    assert flat_criteria(False, 0.9) == ""
    assert flat_criteria(True, 0.9) == "profile"
    # A noisy profile can look steep while the data barely narrowed the prior (police leaders'
    # start share in the full fit: data weight 0.10): still listed.
    assert flat_criteria(False, 0.10) == "data weight < 0.5"
    assert flat_criteria(True, 0.2) == "profile and data weight < 0.5"


def test_a_profile_does_not_throw_parameters_the_figures_cannot_see_to_their_bounds():
    from sim.analysis.calibration.posterior import _conditional
    r0 = np.array([0.1])
    # One figure: parameter 0 moves it strongly, parameter 1 barely (its Jacobian column is
    # Monte Carlo noise). Undamped least squares would move parameter 1 by ~1e4 and clip it
    # to a bound; held by its bounds' uniform prior it stays put.
    noise = np.array([[5.0, 1e-4]])
    x = _conditional(noise, r0, np.array([0.5, 0.5]), 0, 0.7, uniform=[True, True])
    assert x[0] == 0.7 and abs(x[1] - 0.5) < 1e-3
    assert _conditional(noise, r0, np.array([0.5, 0.5]), 0, 0.7)[1] == 0.0   # the old throw
    # A parameter that does see the figure compensates: the data row 0.1 + 5*0.2 + 5*d is
    # balanced against the bounds' prior 12*d**2, so d = -5*1.1/(25+12).
    seen = np.array([[5.0, 5.0]])
    x = _conditional(seen, r0, np.array([0.5, 0.5]), 0, 0.7, uniform=[True, True])
    assert x[1] == pytest.approx(0.5 - 5 * 1.1 / 37)
