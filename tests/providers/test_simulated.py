"""The simulated provider: deterministic, marked, shaped by tier and query type."""

from __future__ import annotations

import doctest
import random
from statistics import mean

import pytest

from providers import errors
from providers import simulated as simulated_module
from providers.base import ChatRequest, Message
from providers.catalog import ModelSpec, load_catalog
from providers.simulated import SimulatedFailures, SimulatedProvider, guess_query_type

FRONTIER = ModelSpec(
    "big", "simulated", "big", 5, 20, tier=1, latency_ms=2000, max_output_tokens=8000
)
SMALL = ModelSpec(
    "small", "simulated", "small", 0.1, 0.4, tier=3, latency_ms=500, max_output_tokens=8000
)


def ask(text: str, max_output_tokens: int | None = None) -> ChatRequest:
    return ChatRequest((Message("user", text),), max_output_tokens=max_output_tokens)


PROMPTS = [f"Write a python function that sorts list number {i}" for i in range(40)]


async def test_same_request_gives_the_same_answer() -> None:
    first = await SimulatedProvider().complete(SMALL, ask("Hello there"), timeout=1)
    second = await SimulatedProvider(rng=random.Random(99)).complete(
        SMALL, ask("Hello there"), timeout=1
    )

    assert first == second


async def test_answers_are_marked_simulated() -> None:
    result = await SimulatedProvider().complete(SMALL, ask("Hello"), timeout=1)

    assert result.simulated
    assert result.text.startswith("[simulated small] ")
    assert result.recorded_score is not None and 0 <= result.recorded_score <= 1


async def test_different_prompts_and_models_differ() -> None:
    provider = SimulatedProvider()

    a = await provider.complete(SMALL, ask("Hello"), timeout=1)
    b = await provider.complete(SMALL, ask("Goodbye"), timeout=1)
    c = await provider.complete(FRONTIER, ask("Hello"), timeout=1)

    assert len({a.text, b.text, c.text}) == 3


async def test_frontier_beats_small_on_code_and_costs_more() -> None:
    provider = SimulatedProvider()
    big = [await provider.complete(FRONTIER, ask(p), timeout=1) for p in PROMPTS]
    small = [await provider.complete(SMALL, ask(p), timeout=1) for p in PROMPTS]

    assert (
        mean(r.recorded_score or 0 for r in big) > mean(r.recorded_score or 0 for r in small) + 0.1
    )
    big_cost = mean(FRONTIER.cost_usd(r.usage.input_tokens, r.usage.output_tokens) for r in big)
    small_cost = mean(SMALL.cost_usd(r.usage.input_tokens, r.usage.output_tokens) for r in small)
    assert big_cost > 10 * small_cost
    assert mean(r.latency_ms for r in big) > mean(r.latency_ms for r in small)


async def test_small_model_gap_is_wider_on_code_than_on_conversation() -> None:
    provider = SimulatedProvider()

    async def gap(prompts: list[str]) -> float:
        big = [
            (await provider.complete(FRONTIER, ask(p), timeout=1)).recorded_score or 0
            for p in prompts
        ]
        small = [
            (await provider.complete(SMALL, ask(p), timeout=1)).recorded_score or 0 for p in prompts
        ]
        return mean(big) - mean(small)

    chat_prompts = [f"hi, how was your weekend {i}" for i in range(40)]
    assert await gap(PROMPTS) > await gap(chat_prompts) + 0.05


async def test_catalog_quality_priors_are_used() -> None:
    catalog = load_catalog()
    provider = SimulatedProvider()
    strong = catalog["o4-mini"]  # math prior 0.94
    weak = catalog["claude-3-haiku"]  # math prior 0.42
    prompts = [f"Solve the equation x + {i} = 10" for i in range(30)]

    strong_scores = [
        (await provider.complete(strong, ask(p), timeout=1)).recorded_score or 0 for p in prompts
    ]
    weak_scores = [
        (await provider.complete(weak, ask(p), timeout=1)).recorded_score or 0 for p in prompts
    ]

    assert mean(strong_scores) == pytest.approx(0.94, abs=0.06)
    assert mean(weak_scores) == pytest.approx(0.42, abs=0.06)


async def test_output_is_capped_by_max_output_tokens() -> None:
    result = await SimulatedProvider().complete(
        FRONTIER, ask("Write a long story about a dragon", 20), timeout=1
    )

    assert result.usage.output_tokens == 20
    assert result.finish_reason == "length"


async def test_stream_yields_the_same_answer_in_chunks() -> None:
    provider = SimulatedProvider()
    request = ask("Summarize this article please")

    result = await provider.complete(SMALL, request, timeout=1)
    chunks = [c async for c in provider.stream(SMALL, request, timeout=1)]

    assert len(chunks) > 3
    assert "".join(c.delta for c in chunks) == result.text
    assert chunks[-1].finish_reason == result.finish_reason
    assert chunks[-1].usage == result.usage


async def test_injected_errors_and_timeouts() -> None:
    provider = SimulatedProvider(
        failures=SimulatedFailures(error_rate=1.0, status=429),
        model_failures={"big": SimulatedFailures(timeout_rate=1.0)},
    )

    with pytest.raises(errors.RateLimited):
        await provider.complete(SMALL, ask("hi"), timeout=1)
    with pytest.raises(errors.ProviderTimeout):
        await provider.complete(FRONTIER, ask("hi"), timeout=1)
    with pytest.raises(errors.RateLimited):
        _ = [c async for c in provider.stream(SMALL, ask("hi"), timeout=1)]


async def test_partial_error_rate_is_reproducible_with_a_seeded_rng() -> None:
    async def outcomes(seed: int) -> list[bool]:
        provider = SimulatedProvider(
            failures=SimulatedFailures(error_rate=0.5), rng=random.Random(seed)
        )
        results = []
        for _ in range(40):
            try:
                await provider.complete(SMALL, ask("hi"), timeout=1)
                results.append(True)
            except errors.ServerError:
                results.append(False)
        return results

    first = await outcomes(7)
    assert first == await outcomes(7)
    assert 8 < first.count(False) < 32


async def test_latency_slower_than_the_deadline_times_out() -> None:
    provider = SimulatedProvider(latency_scale=1.0)

    with pytest.raises(errors.ProviderTimeout):
        await provider.complete(FRONTIER, ask("hi"), timeout=0.01)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Fix this bug in my Python code", "code"),
        ("Solve the equation 2x + 3 = 7", "math"),
        ("Translate 'good morning' to French", "translation"),
        ("Summarize the following report", "summarization"),
        ("Write a poem about autumn", "creative"),
        ("Compare these two approaches", "analysis"),
        ("Which of the following is a mammal?", "reasoning"),
        ("hey, how are you?", "conversation"),
    ],
)
def test_guess_query_type(text: str, expected: str) -> None:
    assert guess_query_type(text) == expected


def test_docstring_example_runs() -> None:
    results = doctest.testmod(simulated_module)

    assert results.attempted > 0 and results.failed == 0


async def test_code_answers_carry_a_fenced_block_and_others_do_not() -> None:
    provider = SimulatedProvider()
    code = await provider.complete(
        SMALL, ask("Write a python function that reverses a list"), timeout=5
    )
    prose = await provider.complete(SMALL, ask("Tell me about your weekend"), timeout=5)
    assert code.text.count("```") == 2 and code.text.rstrip().endswith("```")
    assert "```" not in prose.text
