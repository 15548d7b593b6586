"""Confidence gating: stages, weights, bounds and the blend."""

from __future__ import annotations

import pytest

from bandit.config import BanditConfig
from bandit.gating import Gate

CFG = BanditConfig(
    warmup_samples=10, established_samples=100, per_model_samples=5, max_account_weight=0.8
)


@pytest.mark.parametrize(
    ("total", "stage"),
    [(0, "cold_start"), (9, "cold_start"), (10, "warm_up"), (99, "warm_up"), (100, "established")],
)
def test_stage_thresholds(total: int, stage: str) -> None:
    assert Gate(CFG).stage({"*": total}) == stage


def test_weight_is_zero_cold_rises_in_warm_up_and_caps() -> None:
    gate = Gate(CFG)
    weights = [gate.weight({"*": n, "m": n}) for n in (0, 9, 10, 40, 70, 100, 10_000)]
    assert weights[0] == weights[1] == 0.0
    assert 0.0 < weights[2] < weights[3] < weights[4] < weights[5]
    assert weights[5] == weights[6] == pytest.approx(CFG.max_account_weight)


def test_weight_needs_samples_on_some_model() -> None:
    gate = Gate(CFG)
    spread = {"*": 200, **{f"m{i}": 2 for i in range(100)}}
    focused = {"*": 200, "m0": 200}
    assert gate.weight(spread) < gate.weight(focused) == pytest.approx(0.8)
    # Only the candidates' counts matter.
    assert gate.weight(focused, ["m1", "m2"]) == 0.0


def test_account_influence_is_bounded() -> None:
    gate = Gate(CFG)
    w = gate.weight({"*": 10**6, "m": 10**6})
    final = gate.blend([1.0, 0.0], [0.0, 1.0], w)
    assert final[0] == pytest.approx(1.0 - CFG.max_account_weight) and final[0] > 0.0
    assert sum(final) == pytest.approx(1.0)


def test_blend_without_account_is_global() -> None:
    assert Gate(CFG).blend([0.3, 0.7], None, 0.5) == [0.3, 0.7]
    with pytest.raises(ValueError):
        Gate(CFG).blend([0.3, 0.7], [1.0], 0.5)


@pytest.mark.parametrize(
    "bad",
    [
        BanditConfig(max_account_weight=1.0),
        BanditConfig(warmup_samples=50, established_samples=50),
    ],
)
def test_invalid_thresholds_fail_fast(bad: BanditConfig) -> None:
    with pytest.raises(ValueError):
        Gate(bad)
