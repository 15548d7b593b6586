"""The decision record's features: the shallow copy the recorder logs equals ``asdict``."""

from __future__ import annotations

import dataclasses

import pytest

from bandit.features import extract_features
from bandit.types import PromptFeatures
from providers.base import Message
from service.recorder import features_dict

PROMPTS = [
    [Message("user", "hi")],
    [Message("system", "You are terse."), Message("user", "Write a python function.\n- a\n- b")],
    [Message("user", "```py\nprint(1)\n```\nWhy does this fail? And how?")],
    [Message("user", "Traduis en français : la réunion est jeudi.")],
]


@pytest.mark.parametrize("messages", PROMPTS)
def test_features_dict_equals_asdict(messages: list[Message]) -> None:
    features = extract_features(messages)
    shallow, deep = features_dict(features), dataclasses.asdict(features)
    assert shallow == deep
    assert [type(v) for v in shallow.values()] == [type(v) for v in deep.values()]


def test_features_dict_keeps_the_sketch() -> None:
    features = dataclasses.replace(extract_features(PROMPTS[0]), sketch=(3, 17, 4095))
    assert features_dict(features) == dataclasses.asdict(features)
    assert features_dict(features)["sketch"] == (3, 17, 4095)


def test_every_feature_field_is_immutable() -> None:
    # What makes the shallow copy safe; a list or nested dataclass field would need asdict.
    for field in dataclasses.fields(PromptFeatures):
        assert field.type in {"str", "float", "int", "bool", "tuple[int, ...]"}, field
