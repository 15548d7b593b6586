"""Anthropic specifics: headers, system split, turn merging, 529, in-stream error events."""

from __future__ import annotations

import pytest

from providers import errors
from providers.anthropic import API_VERSION, AnthropicProvider
from providers.base import ChatRequest, Message
from tests.providers.conftest import MockUpstream
from tests.providers.wire import ANTHROPIC_ERRORS, WIRES, anthropic_error, sse

ANTHROPIC = WIRES["anthropic"]


async def test_request_shape(upstream: MockUpstream) -> None:
    upstream.reply_json(ANTHROPIC.success("hi", "end_turn", 1, 1))
    chat = ChatRequest(
        (
            Message("system", "Be brief."),
            Message("user", "First."),
            Message("user", "Second."),
            Message("assistant", "Ok."),
            Message("system", "Use English."),
            Message("tool", "result: 4"),
        ),
        temperature=1.5,
    )

    await AnthropicProvider(upstream.client, "sk-ant-key").complete(ANTHROPIC.spec, chat, timeout=5)

    request = upstream.requests[0]
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant-key"
    assert request.headers["anthropic-version"] == API_VERSION
    assert upstream.json_body() == {
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 8192,  # model allows 64k; the default is capped for non-streamed calls
        "system": "Be brief.\n\nUse English.",
        "messages": [
            {"role": "user", "content": "First.\n\nSecond."},
            {"role": "assistant", "content": "Ok."},
            {"role": "user", "content": "result: 4"},
        ],
        "temperature": 1.0,
    }


async def test_caller_max_tokens_wins(upstream: MockUpstream, chat: ChatRequest) -> None:
    upstream.reply_json(ANTHROPIC.success("hi", "end_turn", 1, 1))

    await AnthropicProvider(upstream.client, "k").complete(ANTHROPIC.spec, chat, timeout=5)

    assert upstream.json_body()["max_tokens"] == 64


async def test_overloaded_529_is_a_retryable_server_error(
    upstream: MockUpstream, chat: ChatRequest
) -> None:
    status, body, headers = ANTHROPIC_ERRORS["overloaded"]
    upstream.reply_json(body, status, headers)

    with pytest.raises(errors.ServerError) as info:
        await AnthropicProvider(upstream.client, "k").complete(ANTHROPIC.spec, chat, timeout=5)

    assert info.value.status == 529
    assert isinstance(info.value, errors.Retryable)


async def test_error_event_mid_stream_is_raised_after_delivered_text(
    upstream: MockUpstream, chat: ChatRequest
) -> None:
    events = ANTHROPIC.stream(["Hello", " world"], "end_turn", 3, 2)[
        :4
    ]  # start, block start, ping, delta
    events.append(("error", anthropic_error("overloaded_error", "Overloaded")))
    upstream.reply_sse(sse(events))
    received: list[str] = []

    with pytest.raises(errors.ServerError):
        async for chunk in AnthropicProvider(upstream.client, "k").stream(
            ANTHROPIC.spec, chat, timeout=5
        ):
            received.append(chunk.delta)

    assert received == ["Hello"]


async def test_stream_usage_combines_start_and_delta_events(
    upstream: MockUpstream, chat: ChatRequest
) -> None:
    upstream.reply_sse(ANTHROPIC.stream_body(["a", "b"], "stop", (25, 15)))

    chunks = [
        c
        async for c in AnthropicProvider(upstream.client, "k").stream(
            ANTHROPIC.spec, chat, timeout=5
        )
    ]

    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.input_tokens, chunks[-1].usage.output_tokens) == (25, 15)


async def test_tool_use_stop_reason_maps_to_tool_calls(
    upstream: MockUpstream, chat: ChatRequest
) -> None:
    upstream.reply_json(ANTHROPIC.success("", "tool_use", 1, 1))

    result = await AnthropicProvider(upstream.client, "k").complete(ANTHROPIC.spec, chat, timeout=5)

    assert result.finish_reason == "tool_calls"
