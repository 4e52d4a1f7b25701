"""The one rule for meeting a target (sim.analysis.attainment), and that every command uses it."""

import numpy as np
import polars as pl
import pytest

from sim.analysis.attainment import evaluate, meets, prob_meet, probability
from sim.analysis.compare import _meet_effect
from sim.scenario.targets import UnTarget

NAN = float("nan")


def test_empty_groups_are_left_out_not_counted_as_misses():
    shares = np.array([0.2, 0.1, NAN, 0.16, NAN])
    m = meets(shares, 0.15)
    assert np.isnan(m[2]) and np.isnan(m[4]) and list(m[[0, 1, 3]]) == [1.0, 0.0, 1.0]
    hits, n = prob_meet(shares, 0.15)
    assert (hits, n) == (2, 3) and probability(hits, n) == pytest.approx(2 / 3)


def test_all_empty_is_undefined_not_zero():
    hits, n = prob_meet(np.array([NAN, NAN]), 0.15)
    assert n == 0 and probability(hits, n) is None


def test_prob_meet_along_an_axis():
    y = np.array([[0.2, NAN, 0.1], [NAN, NAN, NAN]])
    hits, n = prob_meet(y, 0.15, axis=1)
    assert list(hits) == [1, 0] and list(n) == [2, 0]
    p = probability(hits, n)
    assert p[0] == pytest.approx(0.5) and np.isnan(p[1])


def test_run_and_compare_agree_on_one_target():
    """targets.csv (run) and target_effects.csv (compare) give one probability for one target,
    even with empty groups (the disagreement this module ended)."""
    shares = [0.2, NAN, 0.1, 0.3]
    runs = pl.DataFrame({"replication": [0, 1, 2, 3], "year": [2028] * 4,
                         "series": ["s"] * 4, "share": shares, "women": [2.0, 0.0, 1.0, 3.0],
                         "total": [10.0, 0.0, 10.0, 10.0]}).with_columns(
        pl.col("share").fill_nan(None))
    t = UnTarget("x", "s", 2028, 0.15, "un_dpo", "stated", "H", "test")
    from_run = evaluate(runs, [t], 2028)["prob_meet"][0]
    from_compare = _meet_effect(np.array(shares), np.array(shares), 0.15)
    assert from_run == pytest.approx(2 / 3)
    assert from_compare["prob_meet_reference"] == pytest.approx(from_run)
    assert from_compare["prob_meet_diff"] == 0.0


def test_verdicts_follow_the_stated_thresholds():
    from sim.analysis.attainment import OFF_TRACK, ON_TRACK, verdict, women_needed

    assert verdict(ON_TRACK) == "on track" and verdict(OFF_TRACK) == "off track"
    assert verdict((ON_TRACK + OFF_TRACK) / 2) == "at risk" and verdict(None) == "not measurable"
    assert women_needed(0.15, 30) == 5          # 4.5 rounds up to whole women
    assert women_needed(0.25, 40) == 10         # exact products are not pushed up by float noise
