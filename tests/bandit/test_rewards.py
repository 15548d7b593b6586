"""Automatic quality signal, rating blend and strategy utility."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from bandit.features import extract_features
from bandit.rewards import (
    CONTENT_FILTER_SIGNAL,
    REFUSAL_SIGNAL,
    STRATEGY_WEIGHTS,
    TOOL_CALL_SIGNAL,
    StrategyWeights,
    auto_quality_signal,
    blend_rating,
    expected_cost_usd,
    strategy_weights,
    utility,
)
from bandit.types import STRATEGIES, PromptFeatures, Strategy
from providers.base import FinishReason, Message
from providers.catalog import ModelSpec

CODE_ANSWER = "Here you go:\n```python\ndef fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n" + (
    "        a, b = b, a + b\n    return a\n```\nIt runs in linear time."
)
PROSE_ANSWER = (
    "You would loop n times, keeping the last two numbers and adding them together at "
    "each step, then give back the first of them when the loop ends. That is all."
)


def feats(prompt: str) -> PromptFeatures:
    return extract_features([Message("user", prompt)])


def signal(
    f: PromptFeatures,
    text: str,
    finish: FinishReason = "stop",
    input_tokens: int = 30,
    output_tokens: int | None = None,
) -> float:
    out = max(1, len(text) // 4) if output_tokens is None else output_tokens
    return auto_quality_signal(f, text, finish, input_tokens, out)


CODE = feats("Write a Python function that returns the n-th Fibonacci number.")
MATH = feats("Tom has 3 apples and buys 12 more. How many apples does he have now?")
CHOICE = feats("Which planet is largest?\nA) Mars\nB) Jupiter\nAnswer with only the letter.")


def test_signal_stays_in_unit_interval() -> None:
    texts = ["", " ", "B", CODE_ANSWER, PROSE_ANSWER, "word " * 5_000, "As an AI, " * 50]
    finishes: list[FinishReason] = ["stop", "length", "content_filter", "tool_calls", "error"]
    for f in (CODE, MATH, CHOICE, feats("hi"), feats("Summarize: " + PROSE_ANSWER * 20)):
        for text in texts:
            for finish in finishes:
                for out in (0, 1, 50, 100_000):
                    value = auto_quality_signal(f, text, finish, 40, out)
                    assert 0.0 <= value <= 1.0


def test_failures_empty_and_filtered_answers_score_low() -> None:
    assert signal(CODE, "") == 0.0
    assert signal(CODE, "  \n ") == 0.0
    assert signal(CODE, CODE_ANSWER, finish="error") == 0.0
    assert signal(CODE, CODE_ANSWER, finish="content_filter") == CONTENT_FILTER_SIGNAL
    assert signal(CODE, "", finish="tool_calls") == TOOL_CALL_SIGNAL


@pytest.mark.parametrize(
    "refusal",
    [
        "I can't help with that request.",
        "I’m sorry, but I can’t assist with that.",
        "Sorry, I cannot provide instructions for this.",
        "I'm unable to help with this one.",
        "I must decline to answer.",
    ],
)
def test_refusals_score_low(refusal: str) -> None:
    assert signal(CODE, refusal) == REFUSAL_SIGNAL
    assert signal(CODE, refusal) < signal(CODE, PROSE_ANSWER) < signal(CODE, CODE_ANSWER)


def test_refusal_words_later_in_a_real_answer_are_not_a_refusal() -> None:
    answer = CODE_ANSWER + "\nIt also handles n = 0." * 5 + "\nI can't help with deploying it."
    assert signal(CODE, answer) >= signal(CODE, CODE_ANSWER)  # no refusal penalty


def test_long_answer_opening_with_a_refusal_is_a_partial_refusal() -> None:
    partial = "I can't help with the exact API, but here is the idea.\n" + CODE_ANSWER
    assert REFUSAL_SIGNAL < signal(CODE, partial, output_tokens=150) < signal(CODE, CODE_ANSWER)


def test_truncation_and_disclaimers_are_penalised() -> None:
    full = signal(CODE, CODE_ANSWER, finish="stop")
    assert signal(CODE, CODE_ANSWER, finish="length") < full
    assert signal(CODE, "As an AI language model, " + CODE_ANSWER) < full


def test_structure_must_match_the_query_type() -> None:
    assert signal(CODE, CODE_ANSWER) > signal(CODE, PROSE_ANSWER)
    assert signal(MATH, "He has 15 apples now.") > signal(MATH, "He has quite a lot of apples.")
    listing = "- Alice\n- Bob\n- Carol"
    extraction = feats("Extract every person name from this memo: 'Alice met Bob and Carol.'")
    assert signal(extraction, listing) > signal(extraction, PROSE_ANSWER * 3)


def test_length_is_judged_against_the_expected_answer() -> None:
    assert CHOICE.expected_output_tokens <= 10
    assert signal(CHOICE, "B") > signal(CHOICE, PROSE_ANSWER * 4)
    essay = feats("Write a 1000-word essay on the history of coffee.")
    long_essay = "Coffee spread from Ethiopia to Yemen and beyond. " * 120
    assert signal(essay, long_essay) > signal(essay, "Coffee is old.")


def test_output_input_ratio_for_summaries_and_translations() -> None:
    article = "The council debated the tram plan at length and postponed a vote. " * 40
    summary = feats(f"{article}\nSummarize the text above.")
    short = "The council postponed the tram vote after a long debate. It meets again."
    assert signal(summary, short, input_tokens=700) > signal(
        summary, article + " Also, more.", input_tokens=700
    )
    translation = feats("Translate into French: 'Where is the train station, please?'")
    good = "Où est la gare, s'il vous plaît ?"
    assert signal(translation, good, input_tokens=15) > signal(
        translation, good * 20, input_tokens=15
    )


def test_answer_in_another_script_than_the_prompt_is_penalised() -> None:
    chinese = feats("请用三句话介绍一下长城的历史。")
    assert chinese.language == "zh"
    assert signal(chinese, "长城始建于春秋战国时期。秦朝把各段连接起来。明朝大规模重修。") > signal(
        chinese, "The wall was begun in the Warring States period and rebuilt by the Ming."
    )


def test_missing_usage_falls_back_to_a_character_estimate() -> None:
    assert auto_quality_signal(CODE, CODE_ANSWER, "stop", 30, 0) == signal(CODE, CODE_ANSWER)


# --- rating blend -----------------------------------------------------------------


def test_rating_is_monotonic_in_score_and_bounded() -> None:
    for auto in (None, 0.0, 0.5, 1.0):
        for helpful in (None, True, False):
            values = [blend_rating(auto, score, helpful) for score in range(1, 6)]
            assert values == sorted(values) and len(set(values)) == 5
            assert all(0.0 <= v <= 1.0 for v in values)


def test_rating_dominates_the_automatic_signal() -> None:
    assert blend_rating(0.0, 5, None) > blend_rating(1.0, 1, None)
    assert blend_rating(None, 1, None) == 0.0 and blend_rating(None, 5, None) == 1.0
    assert blend_rating(0.2, 4, None) == pytest.approx(0.8 * 0.75 + 0.2 * 0.2)


def test_is_helpful_nudges() -> None:
    up, none, down = (blend_rating(0.5, 3, h) for h in (True, None, False))
    assert down < none < up
    assert up - none <= 0.1 + 1e-9
    assert blend_rating(None, None, True) > blend_rating(None, None, False)


@pytest.mark.parametrize(
    ("auto", "score", "helpful"),
    [(0.5, 0, None), (0.5, 6, None), (0.5, True, None), (1.5, 3, None), (None, None, None)],
)
def test_invalid_ratings_raise(auto: float | None, score: int | None, helpful: None) -> None:
    with pytest.raises(ValueError):
        blend_rating(auto, score, helpful)


# --- utility ------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_utility_decreases_with_cost_and_latency(strategy: Strategy) -> None:
    weights = STRATEGY_WEIGHTS[strategy]
    costs = [utility(0.8, c, 500.0, strategy) for c in (0.0, 0.001, 0.01, 0.1)]
    delays = [utility(0.8, 0.001, ms, strategy) for ms in (0.0, 500.0, 5_000.0)]
    assert costs == sorted(costs, reverse=True)
    assert delays == sorted(delays, reverse=True)
    assert (len(set(costs)) > 1) == (weights.cost_per_usd > 0)
    assert (len(set(delays)) > 1) == (weights.latency_per_s > 0)
    assert utility(0.9, 0.0, 0.0, strategy) == pytest.approx(0.9)


def test_strategies_trade_cost_and_latency_differently() -> None:
    def cheap_minus_dear(strategy: Strategy) -> float:
        cheap = utility(0.70, 0.0002, 400.0, strategy)
        dear = utility(0.85, 0.0060, 2_500.0, strategy)
        return cheap - dear

    assert cheap_minus_dear("quality") < 0 < cheap_minus_dear("cost")
    assert cheap_minus_dear("speed") > cheap_minus_dear("auto")
    fast = utility(0.8, 0.001, 300.0, "speed") - utility(0.8, 0.001, 3_000.0, "speed")
    assert fast > utility(0.8, 0.001, 300.0, "cost") - utility(0.8, 0.001, 3_000.0, "cost")


def test_explicit_wtp_overrides_cost_weight_and_drops_latency() -> None:
    assert utility(0.8, 0.002, 9_000.0, "auto", wtp=0.01) == pytest.approx(0.8 - 0.2)
    assert utility(0.8, 0.002, 9_000.0, "balanced", wtp=math.inf) == pytest.approx(0.8)
    speed = STRATEGY_WEIGHTS["speed"].latency_per_s
    assert utility(0.8, 0.002, 2_000.0, "speed", wtp=0.01) == pytest.approx(0.6 - 2 * speed)
    assert strategy_weights("cost", wtp=0.1) == StrategyWeights(wtp=0.1, latency_per_s=0.0)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan])
def test_invalid_wtp_raises(bad: float) -> None:
    with pytest.raises(ValueError):
        utility(0.5, 0.001, 10.0, "auto", wtp=bad)


def test_invalid_utility_inputs_raise() -> None:
    with pytest.raises(ValueError):
        utility(0.5, 0.001, 10.0, "cheapest")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        utility(0.5, -0.001, 10.0, "auto")
    with pytest.raises(ValueError):
        utility(math.nan, 0.001, 10.0, "auto")


def test_every_strategy_has_weights_and_penalty_matches_utility() -> None:
    assert set(STRATEGY_WEIGHTS) == set(STRATEGIES)
    for strategy in STRATEGIES:
        weights = strategy_weights(strategy)
        penalty = weights.penalty(0.003, 1_200.0)
        assert utility(0.7, 0.003, 1_200.0, strategy) == pytest.approx(0.7 - penalty)


def test_expected_cost_uses_catalog_prices_and_caps_output() -> None:
    model = ModelSpec(
        "m", "openai", "m", input_usd_per_mtok=2.0, output_usd_per_mtok=8.0, max_output_tokens=100
    )
    assert expected_cost_usd(model, 1_000, 50) == pytest.approx((2_000 + 400) / 1e6)
    assert expected_cost_usd(model, 1_000, 10_000) == expected_cost_usd(model, 1_000, 100)
    cheaper = replace(model, output_usd_per_mtok=1.0)
    assert expected_cost_usd(cheaper, 1_000, 50) < expected_cost_usd(model, 1_000, 50)
