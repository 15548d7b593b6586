"""Router behaviour: decisions are valid, learning follows planted preferences."""

from __future__ import annotations

import random

import pytest

from bandit.config import BanditConfig
from bandit.router import Router
from tests.bandit.conftest import make_features, make_models


def _train(router: Router, account: str, rounds: int, best: dict[str, str]) -> None:
    """Feed rewards: 1 when the chosen model is ``best[query_type]``, else 0."""
    actions = [m.id for m in router.models]
    for i in range(rounds):
        qtype = list(best)[i % len(best)]
        feats = make_features(qtype)
        d = router.decide(account, feats, "quality")
        reward = 1.0 if d.chosen == best[qtype] else 0.0
        router.learn(account, feats, "quality", actions, d.chosen, d.probability, reward)


def test_decision_is_valid_distribution() -> None:
    router = Router(make_models(5), BanditConfig(), random.Random(0))
    d = router.decide("a", make_features(), "auto")
    assert 0.0 < d.probability <= 1.0
    assert d.probabilities[d.chosen] == pytest.approx(d.probability)
    assert sum(d.probabilities.values()) == pytest.approx(1.0)
    assert d.ranking[0] == d.chosen and sorted(d.ranking) == sorted(d.probabilities)
    assert d.stage == "cold_start" and d.account_weight == 0.0


def test_candidates_subset_is_respected() -> None:
    router = Router(make_models(5), BanditConfig(), random.Random(0))
    d = router.decide("a", make_features(), "auto", candidates=["m3", "m1"])
    assert set(d.probabilities) == {"m1", "m3"}
    with pytest.raises(ValueError):
        router.decide("a", make_features(), "auto", candidates=["nope"])


def test_learns_planted_per_query_type_preference() -> None:
    router = Router(make_models(4), BanditConfig(), random.Random(3))
    best = {"code": "m1", "math": "m3"}
    _train(router, "acct", 400, best)
    for qtype, model in best.items():
        d = router.decide("someone-else", make_features(qtype), "quality")
        assert max(d.probabilities, key=d.probabilities.__getitem__) == model
        assert d.probabilities[model] > 0.8


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, float("nan")])
def test_learn_rejects_invalid_probability(bad: float) -> None:
    router = Router(make_models(2), BanditConfig(), random.Random(0))
    with pytest.raises(ValueError):
        router.learn("a", make_features(), "auto", ["m0", "m1"], "m0", bad, 1.0)


def test_learn_rejects_quality_out_of_range() -> None:
    router = Router(make_models(2), BanditConfig(), random.Random(0))
    with pytest.raises(ValueError):
        router.learn("a", make_features(), "auto", ["m0", "m1"], "m0", 0.5, 1.5)
