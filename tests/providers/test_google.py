"""Gemini specifics: URL and key header, contents/systemInstruction, thoughts, blocks."""

from __future__ import annotations

import pytest

from providers import errors
from providers.base import ChatRequest, Message
from providers.google import GoogleProvider
from tests.providers.conftest import MockUpstream
from tests.providers.wire import GEMINI_BLOCKED, GOOGLE_ERRORS, WIRES

GOOGLE = WIRES["google"]


async def test_request_shape(upstream: MockUpstream) -> None:
    upstream.reply_json(GOOGLE.success("hi", "STOP", 1, 1))
    chat = ChatRequest(
        (
            Message("system", "Be brief."),
            Message("user", "Hi."),
            Message("assistant", "Hello."),
            Message("user", "Bye."),
        ),
        max_output_tokens=32,
        temperature=0.2,
    )

    await GoogleProvider(upstream.client, "AIza-key").complete(GOOGLE.spec, chat, timeout=5)

    request = upstream.requests[0]
    assert str(request.url) == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    )
    assert request.headers["x-goog-api-key"] == "AIza-key"
    assert "key=" not in str(request.url)
    assert upstream.json_body() == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hi."}]},
            {"role": "model", "parts": [{"text": "Hello."}]},
            {"role": "user", "parts": [{"text": "Bye."}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"maxOutputTokens": 32, "temperature": 0.2},
    }


async def test_stream_uses_sse_endpoint(upstream: MockUpstream, chat: ChatRequest) -> None:
    upstream.reply_sse(GOOGLE.stream_body(["a", "b"]))

    _ = [c async for c in GoogleProvider(upstream.client, "k").stream(GOOGLE.spec, chat, timeout=5)]

    assert str(upstream.requests[0].url).endswith(
        "/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    )


async def test_thinking_tokens_count_as_output_and_thoughts_are_not_text(
    upstream: MockUpstream, chat: ChatRequest
) -> None:
    body = GOOGLE.success("Answer.", "STOP", 10, 4)
    body["candidates"][0]["content"]["parts"].insert(
        0, {"text": "Let me think...", "thought": True}
    )
    body["usageMetadata"]["thoughtsTokenCount"] = 100
    upstream.reply_json(body)

    result = await GoogleProvider(upstream.client, "k").complete(GOOGLE.spec, chat, timeout=5)

    assert result.text == "Answer."
    assert (result.usage.input_tokens, result.usage.output_tokens) == (10, 104)


async def test_blocked_prompt_is_content_policy(upstream: MockUpstream, chat: ChatRequest) -> None:
    upstream.reply_json(GEMINI_BLOCKED)

    with pytest.raises(errors.ContentPolicy, match="SAFETY"):
        await GoogleProvider(upstream.client, "k").complete(GOOGLE.spec, chat, timeout=5)


@pytest.mark.parametrize(
    ("reason", "expected"), [("RECITATION", "content_filter"), ("OTHER", "error")]
)
async def test_finish_reason_mapping(
    upstream: MockUpstream, chat: ChatRequest, reason: str, expected: str
) -> None:
    upstream.reply_json(GOOGLE.success("x", reason, 1, 1))

    result = await GoogleProvider(upstream.client, "k").complete(GOOGLE.spec, chat, timeout=5)

    assert result.finish_reason == expected


async def test_deadline_exceeded_is_a_timeout(upstream: MockUpstream, chat: ChatRequest) -> None:
    upstream.reply_json(
        {"error": {"code": 504, "message": "Deadline expired", "status": "DEADLINE_EXCEEDED"}}, 504
    )

    with pytest.raises(errors.ProviderTimeout):
        await GoogleProvider(upstream.client, "k").complete(GOOGLE.spec, chat, timeout=5)


async def test_error_in_json_array_framing_is_understood(
    upstream: MockUpstream, chat: ChatRequest
) -> None:
    status, body, headers = GOOGLE_ERRORS["rate_limited"]
    upstream.reply_json([body], status, headers)

    with pytest.raises(errors.RateLimited) as info:
        _ = [
            c
            async for c in GoogleProvider(upstream.client, "k").stream(GOOGLE.spec, chat, timeout=5)
        ]

    assert info.value.retry_after == 37
