"""The openai_compatible adapter against a real HTTP server on loopback (real sockets)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from providers import errors
from providers.base import ChatRequest, Message
from providers.catalog import Catalog, ModelSpec
from providers.fallback import (
    FallbackPolicy,
    StreamInterrupted,
    complete_with_fallback,
    stream_with_fallback,
)
from providers.openai_compatible import OpenAICompatibleProvider
from providers.registry import ProviderKeys, ProviderRegistry
from tests.utils.fake_upstream import Behaviour, FakeUpstream, fake_upstream

CHAT = ChatRequest(
    (Message("system", "Be brief."), Message("user", "Say hello.")), max_output_tokens=50
)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeUpstream]:
    with fake_upstream() as upstream:
        yield upstream


@pytest.fixture
def upstream(server: FakeUpstream) -> FakeUpstream:
    server.reset()
    return server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def spec(upstream: FakeUpstream, name: str = "fake-model") -> ModelSpec:
    return ModelSpec(
        f"local-{name}", "openai_compatible", name, 0.1, 0.2, base_url=upstream.base_url
    )


async def test_complete_over_real_sockets(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    upstream.set(text="Hello from loopback.")

    result = await OpenAICompatibleProvider(client).complete(spec(upstream), CHAT, timeout=5)

    assert result.text == "Hello from loopback."
    assert result.finish_reason == "stop"
    assert result.usage.output_tokens == len("Hello from loopback.") // 4
    assert upstream.requests[-1]["max_tokens"] == 50


async def test_stream_over_real_sockets(upstream: FakeUpstream, client: httpx.AsyncClient) -> None:
    upstream.set(mode="stream", text="one two three four", chunks=4)

    chunks = [
        c async for c in OpenAICompatibleProvider(client).stream(spec(upstream), CHAT, timeout=5)
    ]

    assert "".join(c.delta for c in chunks) == "one two three four"
    assert len([c for c in chunks if c.delta]) == 4
    assert chunks[-1].finish_reason == "stop" and chunks[-1].usage is not None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (429, errors.RateLimited),
        (503, errors.ServerError),
        (401, errors.AuthenticationError),
        (404, errors.UnknownModel),
        (400, errors.InvalidRequest),
    ],
)
async def test_status_errors_with_openai_bodies(
    upstream: FakeUpstream,
    client: httpx.AsyncClient,
    status: int,
    expected: type[errors.ProviderError],
) -> None:
    upstream.set(mode="error", status=status, retry_after=4)

    with pytest.raises(expected) as info:
        await OpenAICompatibleProvider(client).complete(spec(upstream), CHAT, timeout=5)

    assert info.value.status == status
    if isinstance(info.value, errors.RateLimited):
        assert info.value.retry_after == 4


async def test_slow_upstream_times_out(upstream: FakeUpstream, client: httpx.AsyncClient) -> None:
    upstream.set(mode="hang")

    with pytest.raises(errors.ProviderTimeout):
        await OpenAICompatibleProvider(client).complete(spec(upstream), CHAT, timeout=0.1)


async def test_fallback_and_cut_stream_end_to_end(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    broken, good = spec(upstream, "broken"), spec(upstream, "good")
    registry = ProviderRegistry(Catalog((broken, good)), ProviderKeys(), client)
    policy = FallbackPolicy(max_attempts=2, attempt_timeout_s=5, total_timeout_s=10)
    upstream.set("broken", mode="error", status=503)
    upstream.set("good", text="fallback answer")

    outcome = await complete_with_fallback([broken, good], CHAT, providers=registry, policy=policy)

    assert outcome.result.text == "fallback answer"
    assert [a.error_kind for a in outcome.attempts] == ["server_error", None]

    upstream.set("broken", mode="cut", text="first second third", chunks=3, cut_after=1)
    stream = await stream_with_fallback([broken, good], CHAT, providers=registry, policy=policy)
    received: list[str] = []
    with pytest.raises(StreamInterrupted):
        async for chunk in stream:
            received.append(chunk.delta)

    assert "".join(received) == "first "
    assert upstream.calls("good") == 1  # only the plain call: no failover after content


async def test_scripted_behaviours_are_consumed_in_order(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    upstream.script("fake-model", [Behaviour(mode="error", status=500), Behaviour(text="second")])
    provider = OpenAICompatibleProvider(client)

    with pytest.raises(errors.ServerError):
        await provider.complete(spec(upstream), CHAT, timeout=5)
    assert (await provider.complete(spec(upstream), CHAT, timeout=5)).text == "second"
    assert (await provider.complete(spec(upstream), CHAT, timeout=5)).text == Behaviour().text
    assert upstream.calls("fake-model") == 3


async def test_stream_opened_in_one_task_is_relayed_from_another(
    upstream: FakeUpstream, client: httpx.AsyncClient
) -> None:
    model = spec(upstream)
    registry = ProviderRegistry(Catalog((model,)), ProviderKeys(), client)
    upstream.set(text="relayed across tasks", chunks=5)

    stream = await stream_with_fallback([model], CHAT, providers=registry)

    async def relay() -> str:
        return "".join([chunk.delta async for chunk in stream])

    assert await asyncio.create_task(relay()) == "relayed across tasks"
