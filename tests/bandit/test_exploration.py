"""Exploration distributions: valid, ordered by utility, floors respected."""

from __future__ import annotations

import random

import pytest

from bandit.exploration import probability_matching, squarecb


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
