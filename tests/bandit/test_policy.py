"""The VW quality policy: learning direction, bytes round-trip, bad blobs."""

from __future__ import annotations

import pytest

from bandit.config import BanditConfig
from bandit.featurizer import to_vw
from bandit.policy import QualityPolicy, vw_args
from tests.bandit.conftest import make_features, make_models

MODELS = make_models(3)


def _trained() -> QualityPolicy:
    policy = QualityPolicy(BanditConfig())
    for i in range(30):
        qtype = "code" if i % 2 else "math"
        good = 0 if qtype == "code" else 2
        for index in range(3):
            quality = 1.0 if index == good else 0.0
            policy.learn(to_vw(make_features(qtype), "auto", MODELS, chosen=index, cost=-quality))
    return policy


def test_learns_which_action_is_better_per_context() -> None:
    policy = _trained()
    code = policy.predict(to_vw(make_features("code"), "auto", MODELS))
    math_ = policy.predict(to_vw(make_features("math"), "auto", MODELS))
    assert code.index(max(code)) == 0
    assert math_.index(max(math_)) == 2
    assert all(0.0 <= q <= 1.0 for q in code + math_)


def test_bytes_round_trip_gives_identical_predictions() -> None:
    policy = _trained()
    blob = policy.to_bytes()
    loaded = QualityPolicy.from_bytes(blob, BanditConfig())
    for qtype in ("code", "math", "creative"):
        lines = to_vw(make_features(qtype), "auto", MODELS)
        assert loaded.predict(lines) == policy.predict(lines)
    # The loaded policy keeps learning.
    loaded.learn(to_vw(make_features("code"), "auto", MODELS, chosen=1, cost=-1.0))
    assert loaded.predict(to_vw(make_features("code"), "auto", MODELS)) != policy.predict(
        to_vw(make_features("code"), "auto", MODELS)
    )


def test_empty_blob_is_rejected() -> None:
    with pytest.raises(ValueError):
        QualityPolicy.from_bytes(b"", BanditConfig())


def test_vw_args_carry_small_queue_and_interactions() -> None:
    args = vw_args(BanditConfig(queue_limit=4, interactions=("qa",)))
    assert "--example_queue_limit 4" in args and "-q qa" in args and "--cb_adf" in args


def test_native_calls_match_vowpalwabbits_python_api() -> None:
    """The policy's direct native calls learn and predict exactly as ``Workspace``."""
    import random

    from vowpalwabbit import Workspace

    config = BanditConfig()
    ours, reference = QualityPolicy(config), Workspace(vw_args(config))
    rng = random.Random(7)
    models = make_models(5)
    for i in range(400):
        features = make_features(query_type=rng.choice(["code", "math", "creative"]))
        chosen = rng.randrange(len(models))
        lines = to_vw(features, "balanced", models, chosen=chosen, cost=-rng.random())
        ours.learn(lines)
        reference.learn(list(lines))
        if i % 40 == 0:
            probe = to_vw(features, "quality", models)
            expected = [min(1.0, max(0.0, -float(c))) for c in reference.predict(list(probe))]
            assert ours.predict(probe) == expected
    assert ours.updates == 400
