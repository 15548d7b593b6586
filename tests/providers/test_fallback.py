"""The fallback matrix, run through the registry and the real OpenAI adapter over MockTransport."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest

from providers import errors
from providers.base import ChatRequest, Message
from providers.catalog import Catalog, ModelSpec
from providers.circuit import CircuitBreaker, CircuitConfig, CircuitState, MemoryCircuitStore
from providers.fallback import (
    AllProvidersFailed,
    FallbackPolicy,
    FallbackStream,
    StreamInterrupted,
    complete_with_fallback,
    stream_with_fallback,
)
from providers.registry import ProviderKeys, ProviderRegistry
from providers.simulated import SimulatedFailures, SimulatedProvider
from tests.providers.wire import OPENAI_ERRORS, WIRES, CutStream, sse

OPENAI = WIRES["openai"]
MODELS = {name: ModelSpec(name, "openai", f"up-{name}", 1, 2) for name in ("a", "b", "c", "d")}
CLAUDE = ModelSpec("claude", "anthropic", "claude-x", 3, 15)
CHAT = ChatRequest((Message("user", "Say hello."),))
POLICY = FallbackPolicy(max_attempts=3, attempt_timeout_s=5, total_timeout_s=10)


class ScriptedUpstream:
    """Answers per upstream model name: ``ok`` or a named failure."""

    def __init__(self) -> None:
        self.behaviour: dict[str, str] = {}
        self.calls: Counter[str] = Counter()
        self.never = asyncio.Event()

    async def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        model = body["model"].removeprefix("up-")
        self.calls[model] += 1
        behaviour = self.behaviour.get(model, "ok")
        if behaviour == "hang":
            await self.never.wait()
        if behaviour == "timeout":
            raise httpx.ReadTimeout("read timed out", request=request)
        if behaviour == "connection":
            raise httpx.ConnectError("connection refused", request=request)
        if behaviour == "cut":
            head = OPENAI.stream(["first ", "second"], "stop", 1, 1)[:2]
            return httpx.Response(200, stream=CutStream(sse(head)))
        if behaviour in OPENAI_ERRORS:
            status, error, headers = OPENAI_ERRORS[behaviour]
            return httpx.Response(status, json=error, headers=headers)
        if body.get("stream"):
            return httpx.Response(200, content=OPENAI.stream_body([f"from {model}"]))
        return httpx.Response(200, json=OPENAI.success(f"from {model}", "stop", 3, 2))


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[ScriptedUpstream, ProviderRegistry]]:
    upstream = ScriptedUpstream()
    async with httpx.AsyncClient(transport=httpx.MockTransport(upstream.handler)) as client:
        catalog = Catalog((*MODELS.values(), CLAUDE))
        yield upstream, ProviderRegistry(catalog, ProviderKeys(openai="sk-test"), client)


def pick(*names: str) -> list[ModelSpec]:
    return [MODELS[n] if n in MODELS else CLAUDE for n in names]


@pytest.mark.parametrize(
    ("behaviour", "kind"),
    [
        ("server_error", "server_error"),
        ("rate_limited", "rate_limited"),
        ("timeout", "timeout"),
        ("connection", "connection"),
    ],
)
async def test_retryable_failure_moves_to_next_model(
    scripted: tuple[ScriptedUpstream, ProviderRegistry], behaviour: str, kind: str
) -> None:
    upstream, registry = scripted
    upstream.behaviour["a"] = behaviour

    outcome = await complete_with_fallback(pick("a", "b"), CHAT, providers=registry, policy=POLICY)

    assert outcome.result.text == "from b"
    assert [(a.model_id, a.error_kind) for a in outcome.attempts] == [("a", kind), ("b", None)]
    assert [a.model_id for a in outcome.failed] == ["a"]


async def test_attempt_deadline_moves_to_next_model(
    scripted: tuple[ScriptedUpstream, ProviderRegistry],
) -> None:
    upstream, registry = scripted
    upstream.behaviour["a"] = "hang"
    policy = FallbackPolicy(max_attempts=3, attempt_timeout_s=0.05, total_timeout_s=5)

    outcome = await complete_with_fallback(pick("a", "b"), CHAT, providers=registry, policy=policy)

    assert [(a.model_id, a.error_kind) for a in outcome.attempts] == [("a", "timeout"), ("b", None)]


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        ("authentication", errors.AuthenticationError),
        ("unknown_model", errors.UnknownModel),
        ("content_policy", errors.ContentPolicy),
        ("invalid_request", errors.InvalidRequest),
    ],
)
async def test_non_retryable_failure_fails_fast(
    scripted: tuple[ScriptedUpstream, ProviderRegistry],
    behaviour: str,
    expected: type[errors.ProviderError],
) -> None:
    upstream, registry = scripted
    upstream.behaviour["b"] = "server_error"
    upstream.behaviour["c"] = behaviour

    with pytest.raises(expected) as info:
        await complete_with_fallback(pick("b", "c", "d"), CHAT, providers=registry, policy=POLICY)

    assert upstream.calls["d"] == 0
    assert [(a.model_id, a.error_kind) for a in info.value.attempts] == [
        ("b", "server_error"),
        ("c", expected.kind),
    ]


async def test_all_failing_raises_with_every_attempt(
    scripted: tuple[ScriptedUpstream, ProviderRegistry],
) -> None:
    upstream, registry = scripted
    upstream.behaviour.update(a="server_error", b="rate_limited")

    with pytest.raises(AllProvidersFailed) as info:
        await complete_with_fallback(pick("a", "b"), CHAT, providers=registry, policy=POLICY)

    assert [(a.model_id, a.error_kind) for a in info.value.attempts] == [
        ("a", "server_error"),
        ("b", "rate_limited"),
    ]
    assert info.value.status == 502
    assert not isinstance(info.value, errors.Retryable)


async def test_attempts_are_bounded(scripted: tuple[ScriptedUpstream, ProviderRegistry]) -> None:
    upstream, registry = scripted
    upstream.behaviour.update(a="server_error", b="server_error", c="server_error")
    policy = FallbackPolicy(max_attempts=2, attempt_timeout_s=5, total_timeout_s=10)

    with pytest.raises(AllProvidersFailed) as info:
        await complete_with_fallback(
            pick("a", "b", "c", "d"), CHAT, providers=registry, policy=policy
        )

    assert len(info.value.attempts) == 2
    assert upstream.calls["c"] == upstream.calls["d"] == 0


async def test_total_deadline_bounds_the_run(
    scripted: tuple[ScriptedUpstream, ProviderRegistry],
) -> None:
    upstream, registry = scripted
    upstream.behaviour.update(a="hang", b="hang", c="hang", d="hang")
    policy = FallbackPolicy(max_attempts=4, attempt_timeout_s=0.3, total_timeout_s=0.35)

    with pytest.raises(AllProvidersFailed) as info:
        await complete_with_fallback(
            pick("a", "b", "c", "d"), CHAT, providers=registry, policy=policy
        )

    # The second attempt only gets the ~50 ms left of the total, then the run stops.
    assert [a.model_id for a in info.value.attempts] == ["a", "b"]
    assert info.value.attempts[1].latency_ms < 250


async def test_unavailable_models_are_skipped_not_attempted(
    scripted: tuple[ScriptedUpstream, ProviderRegistry],
) -> None:
    _, registry = scripted

    outcome = await complete_with_fallback(
        pick("claude", "a"), CHAT, providers=registry, policy=POLICY
    )

    assert outcome.skipped == ("claude",)
    assert [a.model_id for a in outcome.attempts] == ["a"]


async def test_open_circuit_is_skipped_and_failures_feed_the_breaker(
    scripted: tuple[ScriptedUpstream, ProviderRegistry],
) -> None:
    upstream, registry = scripted
    breaker = CircuitBreaker(MemoryCircuitStore(), CircuitConfig(consecutive_failures=1))
    upstream.behaviour["a"] = "rate_limited"

    first = await complete_with_fallback(
        pick("a", "b"), CHAT, providers=registry, policy=POLICY, breaker=breaker
    )
    second = await complete_with_fallback(
        pick("a", "b"), CHAT, providers=registry, policy=POLICY, breaker=breaker
    )

    assert [a.model_id for a in first.attempts] == ["a", "b"]
    assert await breaker.state("a") is CircuitState.OPEN
    assert await breaker.state("b") is CircuitState.CLOSED
    assert second.skipped == ("a",)
    assert upstream.calls["a"] == 1


async def test_all_circuits_open_still_tries_the_one_reopening_soonest(
    scripted: tuple[ScriptedUpstream, ProviderRegistry],
) -> None:
    upstream, registry = scripted
    breaker = CircuitBreaker(
        MemoryCircuitStore(), CircuitConfig(consecutive_failures=1, cooldown_s=30)
    )
    await breaker.record_failure("a", retry_after=90)
    await breaker.record_failure("b")

    outcome = await complete_with_fallback(
        pick("a", "b"), CHAT, providers=registry, policy=POLICY, breaker=breaker
    )

    assert outcome.result.text == "from b"
    assert outcome.skipped == ("a",)
    assert upstream.calls == {"b": 1}
    assert await breaker.state("b") is CircuitState.CLOSED
    assert await breaker.state("a") is CircuitState.OPEN


async def test_all_circuits_open_and_panic_probe_fails_tells_when_to_retry(
    scripted: tuple[ScriptedUpstream, ProviderRegistry],
) -> None:
    upstream, registry = scripted
    upstream.behaviour["b"] = "server_error"
    breaker = CircuitBreaker(
        MemoryCircuitStore(), CircuitConfig(consecutive_failures=1, cooldown_s=30)
    )
    await breaker.record_failure("a", retry_after=90)
    await breaker.record_failure("b")

    with pytest.raises(AllProvidersFailed) as info:
        await complete_with_fallback(
            pick("a", "b"), CHAT, providers=registry, policy=POLICY, breaker=breaker
        )

    assert [a.model_id for a in info.value.attempts] == ["b"]
    assert info.value.skipped == ("a",)
    assert info.value.retry_after == pytest.approx(30, abs=1)
    assert upstream.calls == {"b": 1}


async def test_non_retryable_failure_does_not_trip_the_breaker(
    scripted: tuple[ScriptedUpstream, ProviderRegistry],
) -> None:
    upstream, registry = scripted
    breaker = CircuitBreaker(MemoryCircuitStore(), CircuitConfig(consecutive_failures=1))
    upstream.behaviour["a"] = "invalid_request"

    with pytest.raises(errors.InvalidRequest):
        await complete_with_fallback(
            pick("a"), CHAT, providers=registry, policy=POLICY, breaker=breaker
        )

    assert await breaker.state("a") is CircuitState.CLOSED


# ------------------------------------------------------------------ streams


async def read(stream: FallbackStream) -> list[str]:
    return [chunk.delta async for chunk in stream]


@pytest.mark.parametrize(
    ("behaviour", "kind"),
    [
        ("server_error", "server_error"),
        ("rate_limited", "rate_limited"),
        ("connection", "connection"),
    ],
)
async def test_stream_fails_over_before_first_chunk(
    scripted: tuple[ScriptedUpstream, ProviderRegistry], behaviour: str, kind: str
) -> None:
    upstream, registry = scripted
    upstream.behaviour["a"] = behaviour

    stream = await stream_with_fallback(pick("a", "b"), CHAT, providers=registry, policy=POLICY)
    text = "".join(await read(stream))

    assert stream.model.id == "b"
    assert text == "from b"
    assert [(a.model_id, a.error_kind) for a in stream.attempts] == [("a", kind), ("b", None)]


async def test_stream_waits_for_first_chunk_within_the_attempt_deadline(
    scripted: tuple[ScriptedUpstream, ProviderRegistry],
) -> None:
    upstream, registry = scripted
    upstream.behaviour["a"] = "hang"
    policy = FallbackPolicy(max_attempts=2, attempt_timeout_s=0.05, total_timeout_s=5)

    stream = await stream_with_fallback(pick("a", "b"), CHAT, providers=registry, policy=policy)

    assert stream.model.id == "b"
    assert stream.attempts[0].error_kind == "timeout"
    await stream.aclose()


async def test_stream_cut_after_first_chunk_is_an_in_band_error(
    scripted: tuple[ScriptedUpstream, ProviderRegistry],
) -> None:
    upstream, registry = scripted
    breaker = CircuitBreaker(MemoryCircuitStore(), CircuitConfig(consecutive_failures=1))
    upstream.behaviour["a"] = "cut"
    stream = await stream_with_fallback(
        pick("a", "b"), CHAT, providers=registry, policy=POLICY, breaker=breaker
    )
    received: list[str] = []

    with pytest.raises(StreamInterrupted) as info:
        async for chunk in stream:
            received.append(chunk.delta)

    assert received == ["first "]
    assert info.value.cause_kind == "connection"
    assert info.value.model == "a"
    assert isinstance(info.value.__cause__, errors.ConnectionFailed)
    assert upstream.calls["b"] == 0
    assert [(a.model_id, a.error_kind) for a in stream.attempts] == [("a", "connection")]
    assert await breaker.state("a") is CircuitState.OPEN


async def test_stream_can_be_read_from_another_task(
    scripted: tuple[ScriptedUpstream, ProviderRegistry],
) -> None:
    # The HTTP layer opens the stream in the handler and may relay it from
    # the response task.
    _, registry = scripted

    stream = await stream_with_fallback(pick("a"), CHAT, providers=registry, policy=POLICY)
    text = await asyncio.create_task(read(stream))

    assert "".join(text) == "from a"
    assert [(a.model_id, a.error_kind) for a in stream.attempts] == [("a", None)]


async def test_stream_non_retryable_before_first_chunk_fails_fast(
    scripted: tuple[ScriptedUpstream, ProviderRegistry],
) -> None:
    upstream, registry = scripted
    upstream.behaviour["a"] = "authentication"

    with pytest.raises(errors.AuthenticationError):
        await stream_with_fallback(pick("a", "b"), CHAT, providers=registry, policy=POLICY)

    assert upstream.calls["b"] == 0


async def test_stream_all_failing_raises(
    scripted: tuple[ScriptedUpstream, ProviderRegistry],
) -> None:
    upstream, registry = scripted
    upstream.behaviour.update(a="server_error", b="timeout")

    with pytest.raises(AllProvidersFailed) as info:
        await stream_with_fallback(pick("a", "b"), CHAT, providers=registry, policy=POLICY)

    assert [a.error_kind for a in info.value.attempts] == ["server_error", "timeout"]


async def test_simulated_failure_injection_drives_fallback() -> None:
    simulated = SimulatedProvider(
        model_failures={"a": SimulatedFailures(error_rate=1.0, status=529)}
    )
    async with httpx.AsyncClient() as client:
        registry = ProviderRegistry(
            Catalog(tuple(MODELS.values())), ProviderKeys(), client, simulated=simulated
        )

        outcome = await complete_with_fallback(
            pick("a", "b"), CHAT, providers=registry, policy=POLICY
        )

    assert registry.simulated
    assert [(a.model_id, a.error_kind, a.status) for a in outcome.attempts] == [
        ("a", "server_error", 529),
        ("b", None, None),
    ]
    assert outcome.result.simulated


def test_policy_rejects_nonsense_bounds() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        FallbackPolicy(max_attempts=0)
