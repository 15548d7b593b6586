"""OpenAI and OpenAI-compatible specifics: request shape, in-band errors, key handling."""

from __future__ import annotations

import pytest

from providers import errors
from providers.base import ChatRequest, Message
from providers.catalog import ModelSpec
from providers.openai import OpenAIProvider
from providers.openai_compatible import OpenAICompatibleProvider
from tests.providers.conftest import MockUpstream
from tests.providers.wire import WIRES, sse

OPENAI = WIRES["openai"]


async def test_request_uses_bearer_key_and_max_completion_tokens(
    upstream: MockUpstream, chat: ChatRequest
) -> None:
    upstream.reply_json(OPENAI.success("hi", "stop", 1, 1))

    await OpenAIProvider(upstream.client, "sk-live-123").complete(OPENAI.spec, chat, timeout=5)

    request = upstream.requests[0]
    assert str(request.url) == "https://api.openai.com/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-live-123"
    assert upstream.json_body() == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello."},
        ],
        "max_completion_tokens": 64,
        "temperature": 0.3,
    }


async def test_stream_request_asks_for_usage(upstream: MockUpstream, chat: ChatRequest) -> None:
    upstream.reply_sse(OPENAI.stream_body(["hi"]))

    _ = [c async for c in OpenAIProvider(upstream.client, "k").stream(OPENAI.spec, chat, timeout=5)]

    body = upstream.json_body()
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


async def test_compatible_server_uses_model_base_url_max_tokens_and_no_key(
    upstream: MockUpstream, chat: ChatRequest
) -> None:
    spec = ModelSpec(
        "local", "openai_compatible", "llama3.1:8b", 0, 0, base_url="http://ollama.test:11434/v1/"
    )
    upstream.reply_json(OPENAI.success("hi", "stop", 1, 1))

    await OpenAICompatibleProvider(upstream.client).complete(spec, chat, timeout=5)

    request = upstream.requests[0]
    assert str(request.url) == "http://ollama.test:11434/v1/chat/completions"
    assert "authorization" not in request.headers
    body = upstream.json_body()
    assert body["model"] == "llama3.1:8b"
    assert body["max_tokens"] == 64
    assert "max_completion_tokens" not in body


@pytest.mark.parametrize(
    ("upstream_model", "sent"), [("o4-mini", False), ("o3", False), ("gpt-4.1", True)]
)
async def test_reasoning_models_get_no_temperature(
    upstream: MockUpstream, chat: ChatRequest, upstream_model: str, sent: bool
) -> None:
    upstream.reply_json(OPENAI.success("hi", "stop", 1, 1))
    spec = ModelSpec(upstream_model, "openai", upstream_model, 1, 4)

    await OpenAIProvider(upstream.client, "k").complete(spec, chat, timeout=5)

    assert ("temperature" in upstream.json_body()) is sent


async def test_compatible_server_always_gets_temperature(
    upstream: MockUpstream, chat: ChatRequest
) -> None:
    upstream.reply_json(OPENAI.success("hi", "stop", 1, 1))
    spec = ModelSpec("local-o3", "openai_compatible", "o3-local", 0, 0, base_url="http://h/v1")

    await OpenAICompatibleProvider(upstream.client).complete(spec, chat, timeout=5)

    assert upstream.json_body()["temperature"] == 0.3


async def test_tool_messages_travel_as_user_turns(upstream: MockUpstream) -> None:
    upstream.reply_json(OPENAI.success("ok", "stop", 1, 1))
    chat = ChatRequest((Message("user", "q"), Message("assistant", "a"), Message("tool", "42")))

    await OpenAIProvider(upstream.client, "k").complete(OPENAI.spec, chat, timeout=5)

    assert [m["role"] for m in upstream.json_body()["messages"]] == ["user", "assistant", "user"]


async def test_error_inside_a_200_stream_is_raised(
    upstream: MockUpstream, chat: ChatRequest
) -> None:
    events = OPENAI.stream(["partial"], "stop", 1, 1)[:2]
    events.append(
        (
            None,
            {
                "error": {
                    "message": "The server had an error",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            },
        )
    )
    upstream.reply_sse(sse(events))
    received: list[str] = []

    with pytest.raises(errors.ServerError):
        async for chunk in OpenAIProvider(upstream.client, "k").stream(
            OPENAI.spec, chat, timeout=5
        ):
            received.append(chunk.delta)

    assert received == ["partial"]


async def test_compatible_server_without_usage_gets_an_estimate(
    upstream: MockUpstream, chat: ChatRequest
) -> None:
    body = OPENAI.success("four char words here", "stop", 1, 1)
    del body["usage"]
    upstream.reply_json(body)

    result = await OpenAICompatibleProvider(upstream.client).complete(
        WIRES["openai_compatible"].spec, chat, timeout=5
    )

    assert result.usage.output_tokens == 5
    assert result.usage.input_tokens > 0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": "model 'llama9' not found"}, errors.UnknownModel),
        ({"detail": "Not Found"}, errors.UnknownModel),
        (
            {
                "error": {
                    "message": "content blocked",
                    "type": "invalid_request_error",
                    "code": "content_filter",
                }
            },
            errors.ContentPolicy,
        ),
    ],
)
async def test_compatible_server_error_shapes(
    upstream: MockUpstream,
    chat: ChatRequest,
    body: dict[str, object],
    expected: type[errors.ProviderError],
) -> None:
    upstream.reply_json(body, 404 if expected is errors.UnknownModel else 400)

    with pytest.raises(expected):
        await OpenAICompatibleProvider(upstream.client).complete(
            WIRES["openai_compatible"].spec, chat, timeout=5
        )


async def test_echoed_key_is_redacted_from_the_error(
    upstream: MockUpstream, chat: ChatRequest
) -> None:
    status, body, headers = OPENAI.errors["authentication"]
    upstream.reply_json(body, status, headers)

    with pytest.raises(errors.AuthenticationError) as info:
        await OpenAIProvider(upstream.client, "sk-proj-abcd").complete(OPENAI.spec, chat, timeout=5)

    assert "sk-proj" not in str(info.value)
    assert "[redacted]" in info.value.message
