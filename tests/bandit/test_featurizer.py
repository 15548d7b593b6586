"""Golden strings for the VW text format (no VW needed)."""

from __future__ import annotations

import math
from dataclasses import replace

from bandit.featurizer import action_line, latency_tier, price_bucket, shared_line, to_vw
from providers.catalog import ModelSpec
from tests.bandit.conftest import make_features

GPT = ModelSpec(
    "gpt-4o", "openai", "gpt-4o", 2.5, 10.0, context_window=128_000, tier=1, latency_ms=900
)
LOCAL = ModelSpec("llama:8b", "ollama", "llama3", 0.0, 0.0, context_window=8_192, latency_ms=300)


def test_shared_line_golden() -> None:
    features = make_features(
        "math",
        complexity=0.61,
        input_tokens=64,
        expected_output_tokens=300,
        has_code_fence=True,
        has_system_prompt=True,
        question_count=5,
        turns=2,
        sketch=(3, 17),
    )
    assert shared_line(features, "cost") == (
        "shared |s strategy=cost |q type=math cx=3 in=6 out=8 qs=3 turns=2 lang=en fence sys"
        " |w h3 h17"
    )


def test_action_lines_golden() -> None:
    assert action_line(GPT) == "|a id=gpt-4o |b prov=openai price=6 ctx=7 lat=mid tier=1"
    # Colons would be read by VW as feature values: they are escaped.
    assert action_line(LOCAL) == "|a id=llama_8b |b prov=ollama price=-13 ctx=3 lat=fast tier=2"


def test_labelled_example_golden() -> None:
    lines = to_vw(make_features(), "auto", [GPT, LOCAL], chosen=1, cost=-0.75, probability=0.25)
    assert lines == [
        "shared |s strategy=auto |q type=code cx=2 in=6 out=8 qs=1 turns=1 lang=en",
        "|a id=gpt-4o |b prov=openai price=6 ctx=7 lat=mid tier=1",
        "0:-0.75:0.25 |a id=llama_8b |b prov=ollama price=-13 ctx=3 lat=fast tier=2",
    ]


def test_unknown_price_and_latency_tiers() -> None:
    unknown = ModelSpec("x", "p", "x", math.nan, math.nan)
    assert price_bucket(unknown) == "unk"
    assert [latency_tier(v) for v in (100, 800, 4000)] == ["fast", "mid", "slow"]


def test_feature_names_never_contain_separators() -> None:
    odd = make_features("a b|c:d", language="x y")
    line = shared_line(odd, "auto")
    assert "type=a_b_c_d" in line and "lang=x_y" in line


def test_action_lines_follow_every_catalog_field_they_show() -> None:
    """The per-spec cache must not serve a stale line when a field changes."""
    base = ModelSpec("m1", "openai", "m1", 1.0, 2.0)
    variants = [
        base,
        replace(base, id="m2"),
        replace(base, provider="anthropic"),
        replace(base, input_usd_per_mtok=10.0),
        replace(base, output_usd_per_mtok=30.0),
        replace(base, context_window=8_000),
        replace(base, latency_ms=200.0),
        replace(base, tier=1),
    ]
    lines = [action_line(spec) for spec in variants]
    assert len(set(lines)) == len(variants)
    assert action_line(replace(base)) == lines[0]
