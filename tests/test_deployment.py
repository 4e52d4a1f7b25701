"""Unit tests of the selection rules at a rotation (sim.model.deployment: select, probe_rows)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.model.deployment import probe_rows, select, women_for_share


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


# -- probing rows (deployment.probe_rows): weighted sampling without listing the candidates --

def _probe_many(n: int, k: int, weight: float, candidate_rows: np.ndarray, woman: np.ndarray,
                repeats: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    is_candidate = np.zeros(n, bool)
    is_candidate[candidate_rows] = True
    out = []
    for _ in range(repeats):
        free = is_candidate.copy()
        out.append(probe_rows(n, k, weight, woman, free.__getitem__,
                              lambda i, free=free: free.__setitem__(i, False), rng))
    return out


def _urn_women(n_w: int, n_m: int, k: int, weight: float) -> np.ndarray:
    """Exact distribution of the women among ``k`` drawn one at a time without replacement,
    a woman ``weight`` times as likely as a man (Wallenius' urn), by dynamic programming."""
    p = np.zeros(k + 1)
    p[0] = 1.0
    for step in range(k):
        nxt = np.zeros(k + 1)
        for a in range(step + 1):
            w_mass, m_left = weight * (n_w - a), n_m - (step - a)
            nxt[a + 1] += p[a] * w_mass / (w_mass + m_left)
            nxt[a] += p[a] * m_left / (w_mass + m_left)
        p = nxt
    return p


@pytest.mark.parametrize("weight", [0.5, 1.0, 2.5])
def test_probing_draws_women_as_the_urn_does(weight):
    n, k, repeats = 3_000, 40, 3_000
    rows = np.arange(n)
    woman = rows % 5 == 0
    candidates = rows[rows % 3 != 0]          # 2,000 candidates, 400 of them women
    drawn = _probe_many(n, k, weight, candidates, woman, repeats, seed=11)
    assert all(len(d) == k for d in drawn)    # 40 of 2,000: probing never runs out here
    exact = _urn_women(int(woman[candidates].sum()), int((~woman[candidates]).sum()), k, weight)
    values = np.arange(k + 1)
    mean = (exact * values).sum()
    sd = np.sqrt((exact * (values - mean) ** 2).sum())
    women = np.array([woman[d].sum() for d in drawn])
    # The mean of 3,000 rotations has a Monte Carlo SE of sd / sqrt(3,000) (~0.04); 4 SE.
    assert abs(women.mean() - mean) < 4 * sd / np.sqrt(repeats)


def test_probing_takes_every_candidate_alike_and_nobody_else():
    n, k, repeats = 600, 30, 4_000
    rows = np.arange(n)
    woman = rows % 4 == 0
    candidates = rows[(rows % 7 != 0) & (rows < 500)]
    drawn = _probe_many(n, k, 1.0, candidates, woman, repeats, seed=12)
    chosen = np.concatenate(drawn)
    assert all(len(np.unique(d)) == len(d) == k for d in drawn)
    assert np.isin(chosen, candidates).all()
    # With equal weights each of the c candidates is drawn k/c of the time: counts of
    # repeats * k / c ~ 282 each. A chi-square test of that, df = c - 1, at p > 1e-4 (the
    # seed is fixed, so the outcome is too; a sampler favouring some rows fails it).
    from scipy.stats import chisquare
    counts = np.bincount(chosen, minlength=n)[candidates]
    assert chisquare(counts).pvalue > 1e-4


def test_probing_stops_and_the_full_list_finishes_a_scarce_rotation():
    """Fewer candidates than posts: probing runs out of its budget and ``send`` takes the
    rest from the full list (here: everyone left)."""
    from sim.model.deployment import Rotation, send
    from sim.model.roster import NOWHERE, Roster

    r = Roster(1, 1, 2020, 2)
    r.add(3, 5, 0, 2020 * 12, np.random.default_rng(1), np.random.default_rng(2))
    rotation = Rotation(0, 20, 0.0, None, np.ones(3, bool))
    deployed, deployed_any = np.zeros((3, 1, 2), np.int64), np.zeros((3, 2), np.int64)
    sent = send(r, rotation, 2020 * 12, np.zeros(3), False,
                np.random.default_rng(3), deployed, deployed_any)
    assert sent == 8 and (r.dest[:8] == 0).all() and (r.dest[8:] == NOWHERE).all()
    assert deployed_any[0].tolist() == [5, 3]     # a weight of 0: women go only when men run out
