"""Router behaviour: decisions are valid, learning follows planted preferences."""

from __future__ import annotations

import random

import pytest

from bandit.config import BanditConfig
from bandit.featurizer import to_vw
from bandit.router import Router
from bandit.types import PromptFeatures, Strategy
from providers.catalog import ModelSpec
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


EXPLORATIONS = ["thompson", "thompson_mc", "squarecb"]


@pytest.mark.parametrize("exploration", EXPLORATIONS)
def test_decision_is_valid_distribution(exploration: str) -> None:
    router = Router(make_models(5), BanditConfig(exploration=exploration), random.Random(0))
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


@pytest.mark.parametrize("exploration", EXPLORATIONS)
def test_learns_planted_per_query_type_preference(exploration: str) -> None:
    router = Router(make_models(4), BanditConfig(exploration=exploration), random.Random(3))
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


def _taste(router: Router, rounds: int, tastes: dict[str, str]) -> None:
    """Interleave accounts; each rewards only its favourite model (on code prompts)."""
    actions = [m.id for m in router.models]
    feats = make_features("code")
    for _ in range(rounds):
        for account, favourite in tastes.items():
            d = router.decide(account, feats, "quality")
            reward = 1.0 if d.chosen == favourite else 0.2
            router.learn(account, feats, "quality", actions, d.chosen, d.probability, reward)


@pytest.mark.parametrize("exploration", EXPLORATIONS)
def test_two_accounts_with_opposite_tastes_each_get_their_own(exploration: str) -> None:
    router = Router(make_models(3), BanditConfig(exploration=exploration), random.Random(5))
    _taste(router, 250, {"alice": "m0", "bob": "m2"})
    for account, favourite in (("alice", "m0"), ("bob", "m2")):
        d = router.decide(account, make_features("code"), "quality")
        assert d.stage == "established"
        assert 0.0 < d.account_weight < 1.0
        assert max(d.probabilities, key=d.probabilities.__getitem__) == favourite
        assert d.probabilities[favourite] > 0.6
    # A newcomer follows the global policy only.
    newcomer = router.decide("carol", make_features("code"), "quality")
    assert newcomer.account_weight == 0.0 and newcomer.stage == "cold_start"


def test_account_samples_stage_and_reset() -> None:
    router = Router(make_models(2), BanditConfig(warmup_samples=2), random.Random(0))
    feats = make_features()
    for chosen in ("m0", "m0", "m1"):
        router.learn("a", feats, "auto", ["m0", "m1"], chosen, 0.5, 1.0)
    assert router.account_samples("a") == {"*": 3, "m0": 2, "m1": 1}
    assert router.stage("a") == "warm_up"
    router.reset_account("a")
    assert router.account_samples("a") == {"*": 0}
    assert router.stage("a") == "cold_start"


def test_scope_separates_global_and_account_learning() -> None:
    router = Router(make_models(2), BanditConfig(), random.Random(0))
    feats = make_features()
    router.learn("a", feats, "auto", ["m0", "m1"], "m0", 0.5, 1.0, scope="global")
    assert router.account_samples("a") == {"*": 0}
    router.learn("a", feats, "auto", ["m0", "m1"], "m0", 0.5, 1.0, scope="account")
    assert router.account_samples("a")["*"] == 1


def test_export_and_load_round_trip() -> None:
    source = Router(make_models(3), BanditConfig(), random.Random(1))
    _train(source, "acct", 120, {"code": "m1", "math": "m2"})
    target = Router(make_models(3), BanditConfig(), random.Random(1))
    target.load_global(source.export_global(), "v7")
    blob = source.export_account("acct")
    assert blob is not None
    target.load_account("acct", blob, "v7")
    assert target.account_samples("acct") == source.account_samples("acct")
    assert target.model_version == "v7"
    for qtype in ("code", "math"):
        feats = make_features(qtype)
        lines = to_vw(feats, "quality", list(source.models))
        assert target._global.predict(lines) == source._global.predict(lines)
    d = target.decide("acct", make_features("math"), "quality")
    assert d.model_version == "v7"
    assert source.export_account("nobody") is None
    with pytest.raises(ValueError):
        target.load_global(blob, "v8")  # an account blob is not a global one


def test_set_models_changes_candidates_but_keeps_learning() -> None:
    router = Router(make_models(3), BanditConfig(), random.Random(0))
    router.set_models(make_models(2))
    assert [m.id for m in router.models] == ["m0", "m1"]
    d = router.decide("a", make_features(), "auto")
    assert set(d.probabilities) == {"m0", "m1"}
    # A reward for a model dropped from the catalog is still learnable.
    router.learn("a", make_features(), "auto", ["m0", "m2"], "m2", 0.5, 1.0)


def test_evicted_accounts_are_handed_to_the_hook() -> None:
    evicted: list[str] = []
    router = Router(
        make_models(2),
        BanditConfig(max_accounts=2),
        random.Random(0),
        on_evict=lambda account, blob: evicted.append(account) if blob else None,
    )
    for account in ("a", "b", "c"):
        router.learn(account, make_features(), "auto", ["m0", "m1"], "m0", 0.5, 1.0)
    assert evicted == ["a"] and router.cached_accounts() == ["b", "c"]


def test_day_one_routing_follows_the_catalog_prior() -> None:
    frontier = ModelSpec("frontier", "p", "f", 10.0, 30.0, tier=1)
    small = ModelSpec("small", "p", "s", 0.1, 0.3, tier=3)
    coder = ModelSpec("coder", "p", "c", 1.0, 3.0, tier=2, quality={"code": 0.95})
    router = Router([frontier, small, coder], BanditConfig(), random.Random(0))
    feats = make_features("math", input_tokens=2000, expected_output_tokens=1000)

    def top(strategy: Strategy, f: PromptFeatures = feats) -> str:
        probs = router.decide("new", f, strategy).probabilities
        return max(probs, key=probs.__getitem__)

    assert top("quality") == "frontier"
    assert top("cost") == "small"
    assert top("quality", make_features("code")) == "coder"


class _CountingPolicy:
    """Wraps a QualityPolicy and counts predict calls."""

    def __init__(self, inner: object) -> None:
        self.inner, self.calls = inner, 0

    def predict(self, lines: list[str]) -> list[float]:
        self.calls += 1
        return self.inner.predict(lines)  # type: ignore[attr-defined, no-any-return]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


@pytest.mark.parametrize(("min_weight", "asked"), [(0.02, False), (0.0, True)])
def test_vw_is_skipped_while_its_weight_is_negligible(min_weight: float, asked: bool) -> None:
    config = BanditConfig(vw_min_weight=min_weight)
    router = Router(make_models(3), config, random.Random(0))
    spy = _CountingPolicy(router._global)
    router._global = spy  # type: ignore[assignment]
    feats = make_features("code")
    ids = [m.id for m in router.models]
    for i in range(30):  # 10 per model: weight 10 / 2010, far below 0.02
        router.learn("a", feats, "quality", ids, ids[i % 3], 0.5, 1.0, scope="global")
    router.decide("a", feats, "quality")
    assert (spy.calls > 0) is asked


def test_closed_form_and_monte_carlo_thompson_agree() -> None:
    models = make_models(4)
    exact = Router(models, BanditConfig(), random.Random(0))
    sampled = Router(
        models, BanditConfig(exploration="thompson_mc", draws=100_000), random.Random(0)
    )
    ids = [m.id for m in models]
    feats = make_features("math")
    for i in range(40):
        for router in (exact, sampled):
            router.learn("a", feats, "quality", ids, ids[i % 4], 0.5, (i % 4) / 4, scope="global")
    p = exact.decide("b", feats, "quality").probabilities
    q = sampled.decide("b", feats, "quality").probabilities
    assert [p[m] for m in ids] == pytest.approx([q[m] for m in ids], abs=0.01)


def test_eliminated_model_comes_back_when_its_estimate_rises() -> None:
    """Elimination is re-checked at every decision on the posterior spreads."""
    router = Router(make_models(2), BanditConfig(eliminate_z=3.0), random.Random(0))
    code, math_ = make_features("code"), make_features("math")

    def feed(model: str, features: PromptFeatures, quality: float, times: int) -> None:
        for _ in range(times):
            router.learn(
                "a", features, "quality", ["m0", "m1"], model, 1.0, quality, scope="global"
            )

    feed("m0", code, 1.0, 200)
    feed("m1", code, 0.0, 3)
    assert router.decide("new", code, "quality").probabilities["m1"] == 0.0
    # m1 turns out excellent elsewhere: its model-level mean, the parent of its
    # code mean, rises, and so does its upper bound on code.
    feed("m1", math_, 1.0, 300)
    assert router.decide("new", code, "quality").probabilities["m1"] > 0.0
