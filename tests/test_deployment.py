"""Unit tests of the selection rule at a rotation (sim.model.deployment.select)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.model.deployment import select, women_for_share


@pytest.mark.parametrize("share,k,women", [
    (0.15, 30, 5),      # 4.5 rounds up: 4 women (13.3%) would miss the 15% aimed at
    (0.25, 20, 5),      # exact products are not pushed over by floating point
    (0.2, 100, 20),
    (0.3, 10, 3),
    (0.0, 40, 0),
    (1.0, 7, 7),
    (0.01, 30, 1),      # any positive share takes at least one woman
])
def test_the_target_share_is_met_with_the_fewest_women(share, k, women):
    assert women_for_share(share, k) == women
    assert women / k >= share and (women == 0 or (women - 1) / k < share)


def _pool(n_women: int, n_men: int) -> np.ndarray:
    return np.array([True] * n_women + [False] * n_men)


def test_a_target_share_takes_women_first():
    pool = _pool(50, 200)
    picked = select(pool, 30, women_weight=1.0, target_share=0.15,
                    rng=np.random.default_rng(1))
    assert len(picked) == 30 and len(set(picked)) == 30
    assert pool[picked].sum() == 5


def test_a_target_share_takes_what_women_there_are_and_fills_with_men():
    pool = _pool(3, 200)
    picked = select(pool, 30, 1.0, 0.5, np.random.default_rng(2))
    assert pool[picked].sum() == 3 and len(set(picked)) == 30


def test_too_few_men_are_made_up_with_women_beyond_the_share():
    pool = _pool(40, 10)
    picked = select(pool, 30, 1.0, 0.1, np.random.default_rng(3))
    assert pool[picked].sum() == 20 and len(set(picked)) == 30


def test_weight_zero_selects_no_woman_while_men_suffice():
    pool = _pool(100, 100)
    picked = select(pool, 60, 0.0, None, np.random.default_rng(4))
    assert pool[picked].sum() == 0


def test_everyone_goes_when_posts_outnumber_the_available():
    pool = _pool(4, 5)
    assert sorted(select(pool, 20, 1.0, None, np.random.default_rng(5))) == list(range(9))


def test_equal_weight_draws_women_in_proportion():
    # 2,000 rotations of 30 posts from 25% women: the mean number of women is 7.5 with a
    # hypergeometric sd of about 2.2 per rotation, so the mean's SE is 0.05; 4 SE = 0.2.
    rng = np.random.default_rng(6)
    pool = _pool(100, 300)
    counts = [pool[select(pool, 30, 1.0, None, rng)].sum() for _ in range(2000)]
    assert np.mean(counts) == pytest.approx(7.5, abs=0.2)
