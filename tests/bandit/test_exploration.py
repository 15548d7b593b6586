"""Exploration distributions: valid, ordered by utility, floors respected."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from bandit.exploration import _three, probability_matching, probability_of_best, squarecb


def test_squarecb_prefers_best_and_sharpens_with_gamma() -> None:
    utilities = [0.2, 0.9, 0.5]
    soft, sharp = squarecb(utilities, 1.0), squarecb(utilities, 1000.0)
    for probs in (soft, sharp):
        assert sum(probs) == pytest.approx(1.0)
        assert probs[1] == max(probs) and probs[2] > probs[0]
    assert sharp[1] > soft[1]
    assert squarecb(utilities, 0.0) == pytest.approx([1 / 3] * 3)


def test_squarecb_floor_and_validation() -> None:
    probs = squarecb([0.0, 10.0], 1e9, floor=0.01)
    assert min(probs) >= 0.01
    with pytest.raises(ValueError):
        squarecb([], 1.0)
    with pytest.raises(ValueError):
        squarecb([1.0, 2.0], 1.0, floor=0.5)


def test_probability_matching_tracks_uncertainty() -> None:
    rng = random.Random(0)
    certain = probability_matching([0.6, 0.5], [0.001, 0.001], rng)
    unsure = probability_matching([0.6, 0.5], [0.5, 0.5], rng, draws=4000)
    assert certain[0] == pytest.approx(1.0)
    assert 0.5 < unsure[0] < 0.7 and sum(unsure) == pytest.approx(1.0)


def test_probability_matching_is_reproducible_and_floored() -> None:
    a = probability_matching([0.1, 0.2, 0.3], [0.1] * 3, random.Random(7), floor=0.01)
    b = probability_matching([0.1, 0.2, 0.3], [0.1] * 3, random.Random(7), floor=0.01)
    assert a == b and min(a) >= 0.01


@pytest.mark.parametrize("seed", range(5))
def test_probability_of_best_matches_monte_carlo(seed: int) -> None:
    rng = random.Random(seed)
    means = [rng.uniform(0.3, 0.9) for _ in range(8)]
    stds = [rng.uniform(0.005, 0.2) for _ in range(8)]
    exact = probability_of_best(means, stds)
    sampled = probability_matching(means, stds, random.Random(seed), draws=200_000)
    assert sum(exact) == pytest.approx(1.0)
    assert exact == pytest.approx(sampled, abs=0.006)


def test_probability_of_best_eliminates_dominated_and_floors() -> None:
    probs = probability_of_best([0.9, 0.85, 0.2], [0.05, 0.05, 0.01])
    assert probs[2] == 0.0 and probs[0] > probs[1] > 0.0
    assert probability_of_best([0.9, 0.85], [0.05, 0.05], eliminate_z=0.4) == [1.0, 0.0]
    floored = probability_of_best([0.9, 0.2], [1e-6, 1e-6], floor=0.01)
    assert floored == pytest.approx([0.99, 0.01])
    assert probability_of_best([0.5, 0.5], [0.0, 0.0]) == pytest.approx([0.5, 0.5])
    with pytest.raises(ValueError):
        probability_of_best([], [])


def _reference_probability_of_best(
    means: list[float], stds: list[float], floor: float, eliminate_z: float
) -> list[float]:
    """The array implementation before the plain-float rewrite (c3ca281), verbatim in effect."""
    unit = np.linspace(0.0, 1.0, 65)
    mu, sd = np.asarray(means, dtype=float), np.maximum(np.asarray(stds, dtype=float), 1e-9)
    upper = mu + eliminate_z * sd
    best_lower = (mu - eliminate_z * sd).max()
    alive = np.flatnonzero(upper >= best_lower)
    wins = np.zeros(len(means))
    if alive.size == 1:
        wins[alive] = 1.0
    elif alive.size == 2:  # the closed form (the binned integral was within 0.002 of it)
        a, b = alive
        gap = (mu[a] - mu[b]) / math.hypot(sd[a], sd[b])
        wins[a] = 0.5 * math.erfc(-gap / math.sqrt(2.0))
        wins[b] = 1.0 - wins[a]
    elif alive.size == 3:  # exact since the bivariate-normal rewrite, checked on its own below
        wins[alive] = _three(mu[alive].tolist(), sd[alive].tolist())
    else:
        m, s = mu[alive, None], sd[alive, None]
        edges = best_lower + (upper[alive].max() - best_lower) * unit
        x = (edges - m) / s
        cdf = 0.5 + 0.5 * np.tanh(x * (0.7978845608 + 0.0356774 * x * x))
        mass = cdf[:, 1:] - cdf[:, :-1]
        below = 0.5 * (cdf[:, 1:] + cdf[:, :-1])
        share = (mass * (below.prod(axis=0) / np.maximum(below, 1e-300))).sum(axis=1)
        total = share.sum()
        wins[alive] = share / total if total > 0.0 else 1.0 / alive.size
    return [floor + (1.0 - floor * len(means)) * float(w) for w in wins]


@pytest.mark.parametrize("seed", range(3))
def test_probability_of_best_matches_the_array_implementation(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        k = rng.randint(1, 32)
        means = [rng.uniform(-1.0, 1.0) for _ in range(k)]
        stds = [rng.choice([0.0, rng.uniform(0.001, 0.3)]) for _ in range(k)]
        z, floor = rng.choice([1.5, 2.0, 3.0, 4.0]), rng.choice([0.0, 0.001])
        expected = _reference_probability_of_best(means, stds, floor, z)
        assert probability_of_best(means, stds, floor=floor, eliminate_z=z) == pytest.approx(
            expected, abs=1e-12
        )


@pytest.mark.parametrize("seed", range(3))
def test_two_actions_left_get_the_exact_probability(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(20):
        means = [rng.uniform(0.3, 0.9) for _ in range(2)]
        stds = [rng.uniform(0.01, 0.2) for _ in range(2)]
        exact = probability_of_best(means, stds, eliminate_z=10.0)
        sampled = probability_matching(means, stds, random.Random(seed), draws=100_000)
        assert exact == pytest.approx(sampled, abs=0.006)
    # The closed form against a hand value: Phi(1) for a one-spread gap.
    p = probability_of_best([0.6, 0.5], [0.06, 0.08], eliminate_z=10.0)
    assert p[0] == pytest.approx(0.8413447460685429, abs=1e-12)
    assert p[0] + p[1] == 1.0


@pytest.mark.parametrize("seed", range(3))
def test_three_actions_left_get_the_exact_probability(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(12):
        means = [rng.uniform(0.5, 0.7) for _ in range(3)]
        # Spreads up to ~100-fold apart: the 64-bin integral was off by 0.016 there.
        stds = [rng.choice([rng.uniform(0.05, 0.2), rng.uniform(0.002, 0.01)]) for _ in range(3)]
        exact = probability_of_best(means, stds, eliminate_z=10.0)
        sampled = probability_matching(means, stds, random.Random(seed), draws=200_000)
        assert exact == pytest.approx(sampled, abs=0.005)
        assert sum(exact) == pytest.approx(1.0, abs=1e-12)


def test_three_actions_against_hand_values() -> None:
    # Equal means, equal spreads: 1/3 each. Equal means, independent differences
    # would give 1/4; the correlation 1/2 of X_i - X_j and X_i - X_k adds
    # asin(1/2) / (2 pi) = 1/12, back to 1/3.
    assert _three([0.5, 0.5, 0.5], [0.1, 0.1, 0.1]) == pytest.approx([1 / 3] * 3, abs=1e-14)
    # One spread far wider (its correlation above 0.925): its share is the rest,
    # P(X_0 > max(X_1, X_2)) = 1/2 - phi(0) E[max - 0.5] = 1/2 - 0.01 / (pi sqrt(2)).
    wide = _three([0.5, 0.5, 0.5], [1.0, 0.01, 0.01])
    assert wide[0] == pytest.approx(0.5 - 0.01 / (math.pi * math.sqrt(2.0)), abs=1e-5)
    assert wide[1] == pytest.approx(wide[2])
    # A clear leader takes (almost) everything.
    assert _three([0.9, 0.5, 0.5], [0.01, 0.01, 0.01])[0] == pytest.approx(1.0, abs=1e-12)


def test_elimination_uses_bound_stds_and_sampling_uses_stds() -> None:
    means, tight = [0.9, 0.83], [0.015, 0.015]
    # With the sampling spreads alone the second action is eliminated ...
    assert probability_of_best(means, tight, eliminate_z=2.0) == [1.0, 0.0]
    # ... with wider (posterior) bounds it stays, at its tiny sampling probability.
    kept = probability_of_best(means, tight, eliminate_z=2.0, bound_stds=[0.05, 0.05])
    assert 0.0 < kept[1] < 1e-3 and sum(kept) == pytest.approx(1.0)
