"""Sensitivity: Sobol estimators against known indices and SciPy, noise, tornado, Wilson."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats
from scipy.stats import qmc

from sim.analysis.sensitivity import noise_share, saltelli_jansen, sobol, tornado
from sim.runs.sweep_file import Output, load_sweep
from sim.runs.design import make_plan

ROOT = Path(__file__).resolve().parent.parent


def ishigami(x: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    return np.sin(x[0]) + a * np.sin(x[1]) ** 2 + b * x[2] ** 4 * np.sin(x[0])


# Analytic indices of the Ishigami function (a = 7, b = 0.1).
ISHIGAMI_FIRST = np.array([0.3139, 0.4424, 0.0])
ISHIGAMI_TOTAL = np.array([0.5576, 0.4424, 0.2437])


def blocks(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u = qmc.Sobol(2 * d, scramble=True, rng=np.random.default_rng(seed)).random(n)
    a, b = u[:, :d], u[:, d:]
    ab = np.stack([np.where(np.arange(d) == i, b, a) for i in range(d)])
    return a, b, ab


def test_saltelli_jansen_recovers_the_ishigami_indices():
    a, b, ab = blocks(4096, 3, seed=1)
    scale = lambda u: -np.pi + 2 * np.pi * u   # noqa: E731
    f_a, f_b = ishigami(scale(a).T), ishigami(scale(b).T)
    f_ab = np.stack([ishigami(scale(ab[i]).T) for i in range(3)])
    first, total = saltelli_jansen(f_a, f_b, f_ab)
    # Monte Carlo error of the estimates from a bootstrap over the 4096 rows.
    rng = np.random.default_rng(2)
    draws = [saltelli_jansen(f_a[r], f_b[r], f_ab[:, r])
             for r in (rng.integers(0, 4096, 4096) for _ in range(200))]
    se_first = np.std([d[0] for d in draws], axis=0)
    se_total = np.std([d[1] for d in draws], axis=0)
    # 4 Monte Carlo standard errors (bootstrap sd over rows), plus 1e-3 for the rounded truth.
    assert np.all(np.abs(first - ISHIGAMI_FIRST) <= 4 * se_first + 1e-3)
    assert np.all(np.abs(total - ISHIGAMI_TOTAL) <= 4 * se_total + 1e-3)


def test_saltelli_jansen_agrees_with_scipy():
    a, b, ab = blocks(256, 3, seed=3)
    f = lambda x: ishigami(-np.pi + 2 * np.pi * x)   # noqa: E731
    f_a, f_b = f(a.T), f(b.T)
    f_ab = np.stack([f(ab[i].T) for i in range(3)])
    ours = saltelli_jansen(f_a, f_b, f_ab)
    theirs = stats.sobol_indices(func={"f_A": f_a[None], "f_B": f_b[None],
                                       "f_AB": f_ab[:, None, :]}, n=256)
    np.testing.assert_allclose(ours[0], theirs.first_order, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours[1], theirs.total_order, rtol=1e-12, atol=1e-12)


def test_noise_share_separates_common_from_point_specific_noise():
    rng = np.random.default_rng(4)
    points, reps, sd_e = 400, 8, 0.5
    m = rng.normal(0, 1, points)                       # the levers' effect, variance 1
    common = rng.normal(0, 3, reps)                    # shifts every point alike (CRN)
    y = m[:, None] + common[None, :] + rng.normal(0, sd_e, (points, reps))
    expected = sd_e ** 2 / reps / np.var(y.mean(axis=1), ddof=1)
    # The estimate of sd_e^2 has (P-1)(R-1) = 2793 degrees of freedom: relative sd
    # sqrt(2 / 2793) = 2.7%; 4 of those.
    assert noise_share(y, common=True) == pytest.approx(expected, rel=4 * 0.027)
    # Without CRN the within-point variance counts the common shifts as noise too.
    assert noise_share(y, common=False) > 10 * expected


@pytest.fixture(scope="module")
def sobol_plan(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sobol")
    (folder / "sweep.toml").write_text(f"""name = "s"
base = "{ROOT / 'scenarios' / 'baseline.toml'}"
design = "sobol"
samples = 512
replications = 4
seed = 11
agencies = ["armed_forces"]
[overrides]
horizon = 2026
[[parameters]]
key = "armed_forces.careers.women_attrition_ratio"
low = 1.0
high = 2.0
[[parameters]]
key = "armed_forces.recruitment.women_share"
low = 0.0
high = 1.0
[[parameters]]
key = "armed_forces.deployment.women_selection_weight"
low = 0.5
high = 1.5
""")
    return make_plan(load_sweep(folder / "sweep.toml"))


def test_sobol_on_a_sweep_with_replication_noise(sobol_plan):
    """A made-up response on the design's points: linear in the levers plus noise."""
    plan, keys = sobol_plan, sobol_plan.sweep.keys
    x = plan.points.select(keys).to_numpy()
    u = (x - [1.0, 0.0, 0.5]) / 1.0                     # each lever uniform on [0, 1]
    coef = np.array([2.0, 1.0, 0.0])                    # the third lever does nothing
    rng = np.random.default_rng(5)
    reps, sd = 4, 0.2
    y = (u @ coef)[:, None] + rng.normal(0, 1.0, reps)[None, :] \
        + rng.normal(0, sd, (len(x), reps))
    out = Output("armed_forces.deployed", 2026)
    s = sobol(plan, y, out, np.random.default_rng(6), n_boot=300)
    var = coef ** 2 / 12
    noise = sd ** 2 / reps                              # the common shift cancels (CRN)
    truth = var / (var.sum() + noise)
    for k in range(3):
        first, total = s.first[k], s.total[k]
        se_f, se_t = (first.high - first.low) / 3.29, (total.high - total.low) / 3.29
        # 4 standard errors (from the 90% bootstrap interval: width / 3.29), + 0.005 for the
        # bias of the ratio estimators at 512 rows.
        assert abs(first.estimate - truth[k]) <= 4 * se_f + 0.005
        assert abs(total.estimate - truth[k]) <= 4 * se_t + 0.005
        assert first.low <= first.estimate <= first.high
        assert total.low <= total.estimate <= total.high
    # The inert lever: without the noise correction its total index would be the noise share
    # (2.3% here); with it, nothing.
    assert abs(s.total[2].estimate) < 0.005 and s.first[2].low < 0 < s.first[2].high
    expected_noise = noise / (var.sum() + noise)
    # Relative sd of the noise variance estimate: sqrt(2 / ((2N-1)(R-1))) = 3.6% at N=512.
    assert s.noise == pytest.approx(expected_noise, rel=4 * 0.036)


def test_tornado_on_a_grid_is_exact_without_noise(tmp_path):
    (tmp_path / "sweep.toml").write_text(f"""name = "g"
base = "{ROOT / 'scenarios' / 'baseline.toml'}"
design = "grid"
replications = 3
seed = 1
[[parameters]]
key = "armed_forces.careers.women_attrition_ratio"
values = [1.0, 1.5, 2.0]
[[parameters]]
key = "armed_forces.recruitment.women_share"
values = [0.1, 0.3]
""")
    plan = make_plan(load_sweep(tmp_path / "sweep.toml"))
    x = plan.points.select(plan.sweep.keys).to_numpy()
    y = np.repeat((-0.1 * x[:, 0] + 1.0 * x[:, 1])[:, None], 3, axis=1)
    bars = tornado(plan, y, np.random.default_rng(0), n_boot=50)
    by_key = {b.key: b for b in bars}
    attr = by_key["armed_forces.careers.women_attrition_ratio"]
    share = by_key["armed_forces.recruitment.women_share"]
    assert attr.effect.estimate == pytest.approx(-0.1 * (2.0 - 1.0))
    assert share.effect.estimate == pytest.approx(1.0 * (0.3 - 0.1))
    assert attr.effect.low == pytest.approx(attr.effect.high)    # no noise, full grid
    assert bars[0].key == "armed_forces.recruitment.women_share"  # largest first
    assert attr.low_range == (1.0, 1.0) and attr.high_range == (2.0, 2.0)


def test_analysis_table_has_indices_and_tornado_rows(sobol_plan):
    from sim.analysis.sensitivity import analyse

    plan = sobol_plan
    n = plan.points.height
    x = plan.points.select(plan.sweep.keys).to_numpy()
    rows = []
    for output in plan.sweep.outputs:
        for r in range(4):
            rows.append(pl.DataFrame({"point": np.arange(n, dtype=np.int32),
                                      "replication": np.full(n, r, dtype=np.int32),
                                      "year": np.full(n, output.year, dtype=np.int16),
                                      "series": [output.series] * n,
                                      "share": 0.1 + 0.05 * x[:, 1]}))
    table = analyse(plan, pl.concat(rows)).table()
    measures = set(table["measure"])
    # Our Sobol estimator, and SALib's on the same rows as its cross-check.
    assert measures == {"tornado_effect", "sobol_first", "sobol_total", "salib_sobol_first",
                        "salib_sobol_total"}
    first = table.filter((pl.col("measure") == "sobol_first")
                         & (pl.col("parameter") == "armed_forces.recruitment.women_share"))
    assert first["estimate"].to_numpy() == pytest.approx(1.0)   # the only lever that acts


# -- SALib, reliability flags -------------------------------------------------------------


def _lhs_plan(folder: Path, samples: int, extra: str = ""):
    (folder / "sweep.toml").write_text(f"""name = "l"
base = "{ROOT / 'scenarios' / 'baseline.toml'}"
design = "latin_hypercube"
samples = {samples}
replications = 2
seed = 13
agencies = ["armed_forces"]
[overrides]
horizon = 2026
[[levers]]
key = "armed_forces.recruitment.women_share"
low = 0.0
high = 1.0
[[uncertainties]]
key = "armed_forces.careers.women_attrition_ratio"
low = 1.0
high = 2.0
{extra}""")
    return make_plan(load_sweep(folder / "sweep.toml"))


def test_salib_delta_ranks_a_known_response(tmp_path):
    """y = x1 + 0.1 x2 (x uniform on [0, 1]): x1 has first-order index 1/1.01 = 0.990 and
    x2 0.0099; delta of x1 is far above x2's."""
    from sim.analysis.sensitivity import salib_delta

    plan = _lhs_plan(tmp_path, 200)
    x = plan.points.select(plan.sweep.keys).to_numpy()
    u = np.column_stack([x[:, 0], x[:, 1] - 1.0])
    f = u[:, 0] + 0.1 * u[:, 1]
    y = np.repeat(f[:, None], 2, axis=1)                 # no replication noise
    idx = {(s.method, s.key): s for s in salib_delta(plan, y, seed=1)}
    k1, k2 = plan.sweep.keys
    s1, s2 = idx[("salib_delta_first", k1)].value, idx[("salib_delta_first", k2)].value
    # SALib's delta module estimates S1 from a few classes of the conditioning factor (about
    # 4 at 200 points), so for a linear response it misses about 1/M^2 ~ 7% of x1's variance
    # (0.92 here); allow 0.1 below the truth, plus 3 of its 90% bootstrap half-widths.
    for est, truth in ((s1, 0.990), (s2, 0.0099)):
        half = (est.high - est.low) / 2
        assert truth - 0.1 - 3 * half <= est.estimate <= truth + 3 * half + 0.02, (est, truth)
    d1, d2 = idx[("salib_delta", k1)].value, idx[("salib_delta", k2)].value
    assert d1.low > d2.high                              # x1's delta is clearly larger
    assert idx[("salib_delta_first", k1)].reliability.flag == "ok"


def test_a_noisy_tiny_sample_is_flagged_and_told_its_sample_size():
    from sim.analysis.sensitivity import Interval, reliability

    # The report's case: total indices of -0.97 and -0.66 with intervals about -2.5 to 1.5.
    r = reliability(Interval(-0.97, -2.5, 1.5), n=8)
    assert r.flag == "negative" and "below zero" in r.note
    assert r.n_needed == int(np.ceil(8 * (2.0 / 0.05) ** 2))     # 12,800
    wide = reliability(Interval(0.1, -0.3, 0.5), n=16)
    assert wide.flag == "unreliable" and wide.n_needed == int(np.ceil(16 * (0.4 / 0.05) ** 2))
    ok = reliability(Interval(0.5, 0.47, 0.53), n=64)
    assert ok.flag == "ok" and ok.n_needed == 64


def test_salib_sobol_cross_checks_our_estimator(sobol_plan):
    """Without replication noise SALib's Sobol analysis of the design's own rows gives our
    first-order indices (the same Saltelli 2010 estimator) and a close total index."""
    from sim.analysis.sensitivity import salib_sobol

    plan = sobol_plan
    x = plan.points.select(plan.sweep.keys).to_numpy()
    f = 2.0 * (x[:, 0] - 1.0) + 1.0 * x[:, 1]
    y = np.repeat(f[:, None], 4, axis=1)
    ours = sobol(plan, y, Output("armed_forces.deployed", 2026), np.random.default_rng(1),
                 n_boot=50)
    theirs = {(c.method, c.key): c.value for c in salib_sobol(plan, y, seed=3)}
    for k, key in enumerate(plan.sweep.keys):
        # SALib does not centre the outputs first; at 512 rows the two estimates differ by
        # far less than their own 90% half-width (~0.05 here), so 0.03 is a loose bound.
        assert theirs[("salib_sobol_first", key)].estimate == pytest.approx(
            ours.first[k].estimate, abs=0.03)
        assert theirs[("salib_sobol_total", key)].estimate == pytest.approx(
            ours.total[k].estimate, abs=0.03)
