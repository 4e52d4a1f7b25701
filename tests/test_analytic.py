"""The engine against the closed-form manpower model (``sim.analysis.manpower``).

With stationary parameters the expected head counts by stage and gender, and the distinct
persons deployed per year with the women among them, follow in closed form. Each test runs a
few replications of one agency with fixed seeds and checks every simulated mean against the
closed form within 3 Monte Carlo standard errors (``3 * sd / sqrt(n)``, sd over replications).
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.scenario.dated import Dated
from sim.analysis.manpower import (DEPLOY_CASES, STATIONARY_LEVERS, deployment_scenario,
                          expected_deployed, expected_stocks, simulate_agency,
                          stationary_scenario, wallenius_mean)
from sim.scenario.schema import Scenario, Section
from sim.model.series import DESTINATIONS, STAGES

START, HORIZON = STATIONARY_LEVERS["start_year"], STATIONARY_LEVERS["horizon"]
# Few, informative comparisons: each has about a 0.5% chance of passing 3 standard errors by
# chance (t with n - 1 degrees of freedom), so the fixed seeds matter; see docs/verification.md.
MEAN_YEAR = 2022                    # yearly mean stocks (stock_avg) compared in this year
DEPLOY_YEARS = (2020, 2021, 2025)   # deployments compared in these years
REPLICATIONS = {"armed_forces": 48, "dema": 40, "police": 80}
DEPLOY_REPLICATIONS = 24


def _scenario(extra: dict | None = None) -> Scenario:
    return stationary_scenario(extra)


def _within_3_se(sims: np.ndarray, expected: np.ndarray, what: str) -> float:
    """Assert every mean over replications (axis 0) is within 3 MC standard errors; returns
    the largest |z|."""
    n = sims.shape[0]
    mean = sims.mean(axis=0)
    se = sims.std(axis=0, ddof=1) / np.sqrt(n)          # MC standard error: sd / sqrt(n)
    gap = np.abs(mean - expected)
    # 3 MC standard errors; where every replication agrees (se = 0) the value must be exact.
    assert (gap <= 3 * se + 1e-9).all(), (what, mean, expected, se)
    return float(np.max(np.where(se > 0, gap / np.where(se > 0, se, 1), 0)))


def test_stationary_freezes_every_lever():
    s = _scenario()
    assert s.armed_forces.conscription.equal_from is None
    assert s.armed_forces.recruitment.establishment.at(2030 * 12) == 0

    def dated(block: Section):
        for name in type(block).model_fields:
            v = getattr(block, name)
            if isinstance(v, Dated):
                yield v
            elif isinstance(v, Section):
                yield from dated(v)

    levers = list(dated(s))
    assert len(levers) > 50 and all(d.is_constant for d in levers)
    # Frozen at the start: the police academy's women's share ramp is taken at 2020.
    raw = Scenario.model_validate(STATIONARY_LEVERS).police.academy.women_share
    assert s.police.academy.women_share.at(0) == raw.at(START * 12)


@pytest.mark.parametrize("agency", ["armed_forces", "dema", "police"])
def test_stocks_by_stage_and_gender_match_the_markov_model(agency):
    s = _scenario()
    n = REPLICATIONS[agency]
    sims = np.array([simulate_agency(s, r, agency).stock for r in range(n)], np.float64)
    expected = expected_stocks(s, agency)
    assert sims.shape[1:] == expected.shape == ((HORIZON + 1 - START) * 12 + 1,
                                                len(STAGES[agency]), 2)
    i = (MEAN_YEAR - START) * 12
    # Yearly mean stock (the series' stock_avg), every stage and gender.
    _within_3_se(sims[:, i:i + 12].mean(axis=1), expected[i:i + 12].mean(axis=0),
                 f"{agency} {MEAN_YEAR}")
    # Year-end stock (stock_end) at the horizon.
    _within_3_se(sims[:, -1], expected[-1], f"{agency} end")
    # The comparison has teeth: the stocks move over the run, women included.
    assert np.abs(expected[-1] - expected[0]).max() > 50


def test_a_wrong_hazard_would_be_caught():
    """Women's attrition 10% off is far outside 3 MC standard errors of the same runs."""
    s = _scenario()
    n = REPLICATIONS["armed_forces"]
    sims = np.array([simulate_agency(s, r, "armed_forces").stock[-1] for r in range(n)])
    wrong = _scenario({"armed_forces": {"careers": {"women_attrition_ratio": 1.35 * 1.1}}})
    gap = np.abs(sims.mean(axis=0) - expected_stocks(wrong, "armed_forces")[-1])
    se = sims.std(axis=0, ddof=1) / np.sqrt(n)
    assert (gap > 3 * se).any()


@pytest.mark.parametrize(("agency", "destination", "weight"), DEPLOY_CASES)
def test_distinct_deployed_and_womens_share_match_the_closed_form(agency, destination, weight):
    """150 posts, 5-month rotations in February, July and December (so one rotation is abroad
    on 1 January), 20 months' rest: 3 x 150 sent a year plus the survivors carried over."""
    s = deployment_scenario(agency, destination, weight)
    expected = expected_deployed(s, agency, destination)
    j = DESTINATIONS[agency].index(destination)
    years = [list(expected.years).index(y) for y in DEPLOY_YEARS]
    sims = np.array([simulate_agency(s, r, agency).deployed[years, j]
                     for r in range(DEPLOY_REPLICATIONS)], np.float64)
    # Distinct persons (exactly 450 in the first year: nobody is abroad on 1 January yet).
    _within_3_se(sims.sum(axis=2), expected.total[years], "distinct persons")
    _within_3_se(sims[:, :, 1] / sims.sum(axis=2), expected.share[years], "women's share")
    assert expected.total[0] == 450 and (450 < expected.total[1:]).all()
    assert (expected.total[1:] < 600).all()          # some carried over have left meanwhile


def test_wallenius_mean():
    # Equal odds: the hypergeometric mean; no women: none drawn; odds raise the women drawn.
    assert wallenius_mean(300, 700, 100, 1.0) == pytest.approx(30, abs=1e-9)
    assert wallenius_mean(0, 700, 100, 2.0) == 0
    assert 30 < wallenius_mean(300, 700, 100, 2.0) < 100 * 600 / 1300 + 1e-9
