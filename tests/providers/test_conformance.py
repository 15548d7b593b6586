"""One conformance suite, parametrised over every HTTP adapter (``wire`` fixture)."""

from __future__ import annotations

import httpx
import pytest

from providers import errors
from providers.base import ChatRequest, StreamChunk
from tests.providers.conftest import MockUpstream
from tests.providers.wire import ERROR_KINDS, CutStream, Wire, sse

TIMEOUT = 5.0


async def collect(wire: Wire, upstream: MockUpstream, chat: ChatRequest) -> list[StreamChunk]:
    provider = wire.make(upstream.client)
    return [chunk async for chunk in provider.stream(wire.spec, chat, timeout=TIMEOUT)]


def events_until_first(wire: Wire) -> list[tuple[str | None, object]]:
    """The wire events of a three-piece answer, up to the one carrying ``first ``."""
    full = wire.stream(["first ", "second ", "third"], wire.finish_values["stop"], 9, 5)
    last = next(i for i, (_, data) in enumerate(full) if "first " in str(data))
    return full[: last + 1]


async def test_complete_maps_text_finish_and_usage(
    wire: Wire, upstream: MockUpstream, chat: ChatRequest
) -> None:
    upstream.reply_json(wire.success("Hello there.", wire.finish_values["stop"], 11, 3))

    result = await wire.make(upstream.client).complete(wire.spec, chat, timeout=TIMEOUT)

    assert (result.model_id, result.text, result.finish_reason) == (
        wire.spec.id,
        "Hello there.",
        "stop",
    )
    assert (result.usage.input_tokens, result.usage.output_tokens) == (11, 3)
    assert result.latency_ms >= 0
    assert not result.simulated
    assert len(upstream.requests) == 1


@pytest.mark.parametrize("finish", ["length", "content_filter"])
async def test_complete_maps_finish_reasons(
    wire: Wire, upstream: MockUpstream, chat: ChatRequest, finish: str
) -> None:
    upstream.reply_json(wire.success("partial", wire.finish_values[finish], 5, 64))

    result = await wire.make(upstream.client).complete(wire.spec, chat, timeout=TIMEOUT)

    assert result.finish_reason == finish


async def test_stream_yields_deltas_then_finish_and_usage(
    wire: Wire, upstream: MockUpstream, chat: ChatRequest
) -> None:
    upstream.reply_sse(wire.stream_body(["Hel", "lo ", "world"], "stop", (9, 5)))

    chunks = await collect(wire, upstream, chat)

    assert "".join(c.delta for c in chunks) == "Hello world"
    assert [c.delta for c in chunks if c.delta] == ["Hel", "lo ", "world"]
    assert all(c.finish_reason is None for c in chunks[:-1])
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.input_tokens, chunks[-1].usage.output_tokens) == (9, 5)


async def test_stream_maps_length_finish(
    wire: Wire, upstream: MockUpstream, chat: ChatRequest
) -> None:
    upstream.reply_sse(wire.stream_body(["cut short"], "length"))

    chunks = await collect(wire, upstream, chat)

    assert chunks[-1].finish_reason == "length"


@pytest.mark.parametrize("scenario", sorted(ERROR_KINDS))
async def test_errors_map_to_the_most_specific_class(
    wire: Wire, upstream: MockUpstream, chat: ChatRequest, scenario: str
) -> None:
    status, body, headers = wire.errors[scenario]
    upstream.reply_json(body, status, headers)
    provider = wire.make(upstream.client)

    with pytest.raises(errors.ProviderError) as info:
        await provider.complete(wire.spec, chat, timeout=TIMEOUT)

    error = info.value
    assert error.kind == ERROR_KINDS[scenario]
    assert (error.model, error.provider) == (wire.spec.id, wire.name)
    retryable = scenario in {"server_error", "rate_limited"}
    assert isinstance(error, errors.Retryable) is retryable
    assert isinstance(error, errors.NonRetryable) is not retryable
    assert "Say hello" not in str(error)


@pytest.mark.parametrize("scenario", sorted(ERROR_KINDS))
async def test_stream_errors_before_first_chunk_map_the_same_way(
    wire: Wire, upstream: MockUpstream, chat: ChatRequest, scenario: str
) -> None:
    status, body, headers = wire.errors[scenario]
    if status == 200:  # an answer that refuses (Gemini's promptFeedback) arrives as an event
        upstream.reply_sse(sse([(None, body)]))
    else:
        upstream.reply_json(body, status, headers)

    with pytest.raises(errors.ProviderError) as info:
        await collect(wire, upstream, chat)

    assert info.value.kind == ERROR_KINDS[scenario]


async def test_rate_limit_carries_retry_after(
    wire: Wire, upstream: MockUpstream, chat: ChatRequest
) -> None:
    status, body, headers = wire.errors["rate_limited"]
    upstream.reply_json(body, status, headers)

    with pytest.raises(errors.RateLimited) as info:
        await wire.make(upstream.client).complete(wire.spec, chat, timeout=TIMEOUT)

    expected = {"openai": 2.0, "openai_compatible": 2.0, "anthropic": 17.0, "google": 37.0}[
        wire.name
    ]
    assert info.value.retry_after == expected


@pytest.mark.parametrize(
    ("failure", "expected"),
    [(httpx.ReadTimeout, errors.ProviderTimeout), (httpx.ConnectError, errors.ConnectionFailed)],
)
async def test_transport_failures_are_retryable(
    wire: Wire,
    upstream: MockUpstream,
    chat: ChatRequest,
    failure: type[httpx.TransportError],
    expected: type[errors.ProviderError],
) -> None:
    upstream.raise_error(failure)
    provider = wire.make(upstream.client)

    with pytest.raises(expected):
        await provider.complete(wire.spec, chat, timeout=TIMEOUT)
    with pytest.raises(expected):
        await collect(wire, upstream, chat)


async def test_stream_cut_mid_body_raises_after_delivered_chunks(
    wire: Wire, upstream: MockUpstream, chat: ChatRequest
) -> None:
    upstream.reply_stream(CutStream(sse(events_until_first(wire))))
    provider = wire.make(upstream.client)
    received: list[str] = []

    with pytest.raises(errors.ConnectionFailed):
        async for chunk in provider.stream(wire.spec, chat, timeout=TIMEOUT):
            received.append(chunk.delta)

    assert received == ["first "]


async def test_stream_that_ends_without_its_terminal_event_is_an_error(
    wire: Wire, upstream: MockUpstream, chat: ChatRequest
) -> None:
    upstream.reply_sse(sse(events_until_first(wire)))

    with pytest.raises(errors.ConnectionFailed):
        await collect(wire, upstream, chat)


async def test_malformed_success_body_is_a_server_error(
    wire: Wire, upstream: MockUpstream, chat: ChatRequest
) -> None:
    upstream.respond = lambda request: httpx.Response(200, content=b"<html>bad gateway</html>")

    with pytest.raises(errors.ServerError):
        await wire.make(upstream.client).complete(wire.spec, chat, timeout=TIMEOUT)


async def test_gateway_5xx_without_json_body_is_a_server_error(
    wire: Wire, upstream: MockUpstream, chat: ChatRequest
) -> None:
    upstream.respond = lambda request: httpx.Response(502, content=b"<html>502 Bad Gateway</html>")

    with pytest.raises(errors.ServerError) as info:
        await wire.make(upstream.client).complete(wire.spec, chat, timeout=TIMEOUT)

    assert info.value.status == 502
