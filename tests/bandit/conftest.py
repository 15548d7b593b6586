"""Factories shared by the learning-core tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bandit.types import PromptFeatures
from providers.catalog import ModelSpec


def make_features(query_type: str = "code", **overrides: object) -> PromptFeatures:
    """A PromptFeatures with plausible defaults; override any field by name."""
    values: dict[str, object] = {
        "query_type": query_type,
        "complexity": 0.5,
        "input_tokens": 120,
        "expected_output_tokens": 300,
        "has_code_fence": False,
        "has_list": False,
        "question_count": 1,
        "turns": 1,
        "has_system_prompt": False,
        "language": "en",
    }
    values.update(overrides)
    return PromptFeatures(**values)  # type: ignore[arg-type]


def make_models(count: int, *, price: float = 1.0) -> list[ModelSpec]:
    """``count`` interchangeable models m0..m{count-1} at the same price."""
    return [ModelSpec(f"m{i}", "prov", f"m{i}", price, price) for i in range(count)]


@pytest.fixture
def features() -> Callable[..., PromptFeatures]:
    return make_features
