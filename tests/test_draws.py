"""Parameter draws (issue #14): draws stay inside the bounds without piling on them, a
scenario's own values are never drawn, draws are the same across workers and across compared
scenarios, --fixed-parameters gives the old process-only runs, a malformed posterior is a
clear input error, and the variance split is right on a case whose answer is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from draws_fixture import fitted_with_posterior, scenario_with
from sim.analysis.calibration.posterior import EDGE, Posterior, to_unbounded
from sim.analysis.compare import sign_holds
from sim.analysis.draws import ParameterDraws, draw_of, pinned_keys, rescaled
from sim.analysis.uncertainty import variance_split
from sim.commands.cli import main
from sim.runs.replications import run_replications, runs_frame
from sim.scenario.dated import Dated
from sim.scenario.loading import fitted_parameters, load_scenario

AT_BOUND = "af_women_leaders"       # bounds [0, 0.06]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("draws")


@pytest.fixture(scope="module")
def fitted(folder) -> Path:
    return fitted_with_posterior(folder)


@pytest.fixture(scope="module")
def draws(fitted) -> ParameterDraws:
    return ParameterDraws.load(fitted)


# -- inside the bounds, not piled on them ------------------------------------------------------


def _share_near_low(x: np.ndarray, lo: float, hi: float) -> float:
    return float(np.mean(x < lo + 0.01 * (hi - lo)))


def test_draws_of_a_parameter_fitted_on_its_bound_stay_inside_without_piling(folder):
    d = ParameterDraws.load(fitted_with_posterior(folder / "..", at_bound=AT_BOUND))
    post = d.posteriors["armed_forces"]
    i = post.names.index(AT_BOUND)
    lo, hi = post.lo[i], post.hi[i]
    x = np.array([d.values(7, k)[AT_BOUND] for k in range(2000)])
    assert np.all((x > lo) & (x < hi)), "no draw on or beyond a bound"
    # A normal at the bound, clipped, puts half its mass on the bound itself. Here the share
    # within 1% of the range from the bound is about 3% (MC se ~0.004 with 2000 draws).
    assert _share_near_low(x, lo, hi) < 0.10
    # The spread is about the fitted sd (0.0096): neither collapsed nor thrown to the ends.
    assert 0.004 < x.std() < 0.02
    assert np.mean(x > hi - 0.01 * (hi - lo)) < 0.01


def test_an_old_posterior_expanded_at_the_bound_is_repaired_on_loading():
    """A posterior written by the delta method at the bound (logit sd ~1/EDGE) would throw
    draws onto both bounds; loading re-expands it inside."""
    lo, hi, sd = np.array([0.0]), np.array([0.06]), 0.0096
    x = lo + EDGE * (hi - lo)
    jac = (hi - lo) / ((x - lo) * (hi - x))
    old = {"names": ["p"], "lo": lo.tolist(), "hi": hi.tolist(),
           "center": to_unbounded(x, lo, hi).tolist(), "cov": [[float((sd * jac[0]) ** 2)]]}
    raw = Posterior(("p",), lo, hi, np.array(old["center"]), np.array(old["cov"]))
    bad = raw.draw(np.random.default_rng(1), 2000)[:, 0]
    assert _share_near_low(bad, 0.0, 0.06) > 0.3            # the failure being repaired
    good = Posterior.load(old).draw(np.random.default_rng(1), 2000)[:, 0]
    assert np.all(good > 0) and _share_near_low(good, 0.0, 0.06) < 0.10


def test_interior_parameters_keep_the_fitted_spread(draws):
    post = draws.posteriors["armed_forces"]
    x, cov = post.original()
    z = post.draw(np.random.default_rng(3), 4000)
    sd = np.sqrt(np.diag(cov))
    inside = (x - post.lo > 2 * sd) & (post.hi - x > 2 * sd)
    # Within 20% of the fitted sd (the logit map bends a little; MC error of an sd ~1%).
    assert np.allclose(z.std(axis=0)[inside], sd[inside], rtol=0.2)


# -- what is drawn -----------------------------------------------------------------------------


def test_dated_assumptions_keep_their_shape():
    ramp = Dated.parse([["2010-01-01", 1.0], ["2025-07-01", 1.0, "linear"],
                        ["2031-07-01", 1.65]])
    out = rescaled(ramp, 2.3)
    assert out.values() == pytest.approx([1.0, 1.0, 2.3])
    assert rescaled(Dated.constant(0.1), 0.11).values() == [0.11]
    steps = Dated.parse([["2010-01-01", 0.0], ["2017-03-01", 110.0]])
    assert rescaled(steps, 55.0).values() == pytest.approx([0.0, 55.0])


def test_a_scenarios_own_values_are_never_drawn(folder, fitted, draws):
    path = scenario_with(folder, fitted, "own", extra=(
        "[armed_forces.conscription]\nvolunteer_rate_men = 0.105\n"
        "[armed_forces.careers]\nwomen_promotion_ratio = 0.5\n"
        "[armed_forces.deployment]\nwomen_selection_weight = [[2026-01-01, 1.0]]\n"))
    own = load_scenario(path)
    plain = load_scenario(scenario_with(folder, fitted, "plain"))
    keys = draws.drawn_keys(own)
    assert "armed_forces.conscription.volunteer_rate_men" not in keys
    assert "armed_forces.careers.women_promotion_ratio" not in keys
    for r in range(6):
        a, b = draws.apply(own, r), draws.apply(plain, r)
        assert a.armed_forces.conscription.volunteer_rate_men.values() == [0.105]
        assert a.armed_forces.careers.women_promotion_ratio.values() == [0.5]
        w_own, w_plain = (s.armed_forces.deployment.women_selection_weight for s in (a, b))
        month_2025, month_2027 = 2025 * 12, 2027 * 12
        # drawn before the scenario's own change, the scenario's value from it on
        assert w_own.at(month_2025) == w_plain.at(month_2025)
        assert w_own.at(month_2027) == 1.0
    # the draws do move what the scenario leaves alone
    shares = {draws.apply(plain, r).armed_forces.recruitment.women_share for r in range(6)}
    assert len(shares) == 3                              # 3 draws, two replications each
    table = draws.table(own.seed, range(4), own)
    assert "armed_forces.conscription.volunteer_rate_men" not in table["parameter"].to_list()
    assert table.filter(pl.col("replication") == 1)["value"].to_list() == \
        table.filter(pl.col("replication") == 0)["value"].to_list()      # a pair shares a draw


def test_a_value_stated_equal_to_the_default_is_pinned_and_reruns_pinned(folder, fitted,
                                                                        tmp_path):
    path = scenario_with(folder, fitted, "pinned", start_year=2022, horizon=2025,
                         extra="[armed_forces.conscription]\nvolunteer_rate_men = 0.10\n")
    scenario = load_scenario(path)
    d = ParameterDraws.load(fitted).with_pinned(pinned_keys(path, scenario))
    assert "armed_forces.conscription.volunteer_rate_men" not in d.drawn_keys(scenario)
    assert d.apply(scenario, 3).armed_forces.conscription.volunteer_rate_men.values() == [0.10]
    assert main(["run", str(path), "--replications", "2", "--workers", "1", "--quiet",
                 "--out", str(tmp_path / "a")]) == 0
    resolved = load_scenario(tmp_path / "a" / "scenario.toml")
    assert pinned_keys(tmp_path / "a" / "scenario.toml", resolved) == {
        "armed_forces.conscription.volunteer_rate_men"}
    params = pl.read_parquet(tmp_path / "a" / "parameters.parquet")
    assert "armed_forces.conscription.volunteer_rate_men" not in params["parameter"].to_list()


def test_an_old_fitted_file_draws_only_the_stated_assumptions(folder):
    old = fitted_with_posterior(folder / "..", mutate=lambda raw: raw["meta"].pop("posterior"))
    d = ParameterDraws.load(old)
    assert not d.posteriors and "no [meta.posterior]" in d.notes[0]
    s = load_scenario(scenario_with(folder, old, "old"))
    assert set(d.drawn_keys(s)) == {a.key for a in d.assumed}
    assert "no calibrated parameter" in d.describe()


@pytest.mark.parametrize("mutate, key", [
    (lambda raw: raw["meta"]["posterior"]["armed_forces"].update(cov=[[1.0, 2.0], [0.0, 1.0]]),
     "meta.posterior.armed_forces.cov"),
    (lambda raw: raw["meta"]["posterior"]["armed_forces"]["names"].__setitem__(0, "nope"),
     "meta.posterior.armed_forces.names"),
    (lambda raw: raw["meta"]["posterior"]["dema"].pop("center"),
     "meta.posterior.dema.center"),
    (lambda raw: raw["meta"].update(config="missing.toml"), "meta.config"),
])
def test_a_malformed_posterior_is_an_input_error_naming_file_and_key(tmp_path, capsys, mutate,
                                                                       key):
    bad = fitted_with_posterior(tmp_path, mutate=mutate)
    path = scenario_with(tmp_path, bad, "bad")
    assert main(["run", str(path), "--replications", "2", "--quiet",
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and key in err
    assert not (tmp_path / "out").exists()


# -- runs: reproducible, paired, and --fixed-parameters as before ------------------------------


@pytest.fixture(scope="module")
def short(folder, fitted) -> Path:
    return scenario_with(folder, fitted, "short", start_year=2022, horizon=2025)


def _run(path: Path, out: Path, *flags: str) -> pl.DataFrame:
    assert main(["run", str(path), "--replications", "4", "--quiet", "--out", str(out),
                 *flags]) == 0
    return pl.read_parquet(out / "runs.parquet")


def test_draws_do_not_depend_on_the_number_of_workers(short, tmp_path):
    one = _run(short, tmp_path / "w1", "--workers", "1")
    two = _run(short, tmp_path / "w2", "--workers", "2")
    assert one.equals(two)
    assert pl.read_parquet(tmp_path / "w1" / "parameters.parquet").equals(
        pl.read_parquet(tmp_path / "w2" / "parameters.parquet"))
    # The resolved scenario reruns the same draws.
    again = _run(tmp_path / "w1" / "scenario.toml", tmp_path / "again", "--workers", "1")
    assert again.equals(one)


def test_fixed_parameters_reproduce_the_process_only_runs(short, tmp_path):
    fixed = _run(short, tmp_path / "fixed", "--workers", "1", "--fixed-parameters")
    scenario = load_scenario(short).model_copy(update={"replications": 4})
    before = runs_frame(run_replications(scenario, range(4)))
    assert fixed.equals(before)
    assert pl.read_parquet(tmp_path / "fixed" / "parameters.parquet").height == 0
    targets = pl.read_csv(tmp_path / "fixed" / "targets.csv")
    assert set(targets["uncertainty"].drop_nulls()) == {"chance only"}
    drawn = _run(short, tmp_path / "drawn", "--workers", "1")
    assert not drawn.equals(fixed)
    targets = pl.read_csv(tmp_path / "drawn" / "targets.csv")
    assert set(targets["uncertainty"].drop_nulls()) == {"parameters and chance"}
    assert {"sd", "sd_chance", "var_share_parameters", "top_parameters"} <= set(targets.columns)
    report = (tmp_path / "drawn" / "report.html").read_text()
    assert "Where the uncertainty comes from" in report
    assert "chance alone" in (tmp_path / "fixed" / "report.html").read_text()


def test_compared_scenarios_share_each_replications_draw(folder, fitted, tmp_path):
    a = scenario_with(folder, fitted, "ref", start_year=2022, horizon=2025)
    b = scenario_with(folder, fitted, "push", parent="recruitment_push.toml", start_year=2022,
                      horizon=2025)
    d = ParameterDraws.load(fitted_parameters(a))
    sa, sb = load_scenario(a), load_scenario(b)
    for r in range(4):
        va = d.apply(sa, r)
        vb = d.apply(sb, r)
        assert va.armed_forces.careers.women_promotion_ratio == \
            vb.armed_forces.careers.women_promotion_ratio
        assert va.armed_forces.conscription.volunteer_rate_men == \
            vb.armed_forces.conscription.volunteer_rate_men
        # the lever itself is the scenario's from its date on
        month = 2027 * 12
        assert vb.armed_forces.recruitment.women_share.at(month) == pytest.approx(0.3)
    assert main(["compare", str(a), str(b), "--replications", "4", "--workers", "1", "--quiet",
                 "--out", str(tmp_path / "cmp")]) == 0
    params = pl.read_parquet(tmp_path / "cmp" / "parameters.parquet")
    cal = params.filter(pl.col("source") == "calibrated").sort("replication", "parameter")
    per = {k: f.drop("scenario") for (k,), f in cal.partition_by("scenario", as_dict=True).items()}
    assert per["ref"].equals(per["push"])
    effects = pl.read_csv(tmp_path / "cmp" / "target_effects.csv")
    assert "sign_holds" in effects.columns


# -- the variance split and the sign ----------------------------------------------------------


def test_draw_moments_are_the_per_draw_mean_and_var_exactly():
    """``draw_moments`` groups all draws at once; each draw's mean and variance must be, bit
    for bit, what ``v.mean()`` and ``np.var(v, ddof=1)`` give on its values, for draws of
    every size (pairs, singles, and groups long enough for numpy's pairwise sums)."""
    from sim.analysis.uncertainty import draw_moments

    rng = np.random.default_rng(5)
    sizes = [2] * 300 + [1] * 7 + list(range(3, 40))
    draws = rng.permutation(np.repeat(np.arange(len(sizes)) * 3, sizes))
    values = rng.normal(0.2, 0.05, size=len(draws)) * rng.choice([1.0, 1e-3, 1e4],
                                                                   size=len(draws))
    ids, means, var = draw_moments(values, draws)
    for i, d in enumerate(np.unique(draws)):
        v = values[draws == d]
        assert ids[i] == d and means[i] == v.mean()
        assert (np.isnan(var[i]) if len(v) < 2 else var[i] == np.var(v, ddof=1))


def test_the_variance_split_recovers_a_known_answer():
    """Draw means 2a (a ~ N(0, 1), so parameter variance 4), chance N(0, 1) per replication:
    total 5, chance 1, the parameters' share 0.8; b is an unrelated parameter."""
    rng = np.random.default_rng(5)
    n = 4000
    a, b = rng.normal(size=n), rng.normal(size=n)
    reps = np.arange(2 * n)
    draws = np.array([draw_of(r) for r in reps])
    values = 2 * a[draws] + rng.normal(size=2 * n)
    split = variance_split(values, draws, {"a": a, "b": b})
    # chance: mean of chi2(1) halves, sd sqrt(2/n) = 0.022; 5 se = 0.11
    assert split.chance == pytest.approx(1.0, abs=0.11)
    # total: sd of the sample variance ~ 5 * sqrt(2 / 8000) * (1 + pair correlation) ~ 0.14
    assert split.total == pytest.approx(5.0, abs=0.5)
    assert split.share_parameters == pytest.approx(0.8, abs=0.04)
    # the per-draw mean is 2a plus noise of sd 0.71: rank r² ~ 0.88 for a, ~0 for b
    assert split.top[0][0] == "a" and split.top[0][1] > 0.8
    assert split.top[1][1] < 0.01
    # no parameter effect: the share is about 0 (floored, never negative)
    flat = variance_split(rng.normal(size=2 * n), draws)
    assert 0 <= flat.share_parameters < 0.05


def test_sign_holds_is_the_share_of_pairs_with_the_means_sign():
    assert sign_holds(np.array([1.0, 2.0, -1.0, 0.0])) == pytest.approx(0.5)
    assert sign_holds(np.array([-0.1, -0.2, -0.3])) == 1.0
    assert sign_holds(np.array([0.0, 0.0])) is None


def test_expit_is_scipys_bit_for_bit() -> None:
    """The draws' logistic function (no scipy.special import) keeps scipy's every bit."""
    from scipy.special import expit as scipy_expit

    from sim.analysis.calibration.posterior import expit

    rng = np.random.default_rng(3)
    u = np.concatenate([rng.normal(0, 4, 20_000), [0.0, -0.0, 40.0, -40.0, 745.0, -745.0,
                                                   -1e4, np.inf, -np.inf]])
    assert expit(u).tobytes() == scipy_expit(u).tobytes()
    assert expit(u[:20_001].reshape(-1, 3)).shape == (6_667, 3)
