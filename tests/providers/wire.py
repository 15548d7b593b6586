"""Each provider's real wire format, for ``httpx.MockTransport`` fixtures.

Bodies follow the shapes documented by OpenAI (Chat Completions), Anthropic
(Messages, streaming events) and Google (Gemini ``GenerateContentResponse``,
``google.rpc`` error envelopes). One :class:`Wire` per provider gives the
conformance suite the same vocabulary for every adapter.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from providers.anthropic import AnthropicProvider
from providers.base import Provider
from providers.catalog import ModelSpec
from providers.google import GoogleProvider
from providers.openai import OpenAIProvider
from providers.openai_compatible import OpenAICompatibleProvider

# Error scenarios every provider must map; values are the expected ``kind``.
ERROR_KINDS = {
    "server_error": "server_error",
    "rate_limited": "rate_limited",
    "invalid_request": "invalid_request",
    "authentication": "authentication",
    "permission": "permission",
    "unknown_model": "unknown_model",
    "content_policy": "content_policy",
}

ErrorFixture = tuple[int, dict[str, Any], dict[str, str]]


def sse(events: list[tuple[str | None, Any]]) -> bytes:
    """Encode ``(event name, data)`` pairs as an SSE body."""
    out = []
    for name, data in events:
        text = data if isinstance(data, str) else json.dumps(data)
        out.append((f"event: {name}\n" if name else "") + f"data: {text}\n\n")
    return "".join(out).encode()


class CutStream(httpx.AsyncByteStream):
    """A response body that sends ``head`` and then loses the connection."""

    def __init__(self, head: bytes) -> None:
        self._head = head

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._head
        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body"
        )


@dataclass(frozen=True)
class Wire:
    """How one provider speaks, for tests."""

    name: str
    spec: ModelSpec
    make: Callable[[httpx.AsyncClient], Provider]
    success: Callable[[str, str, int, int], dict[str, Any]]  # text, finish, in, out
    stream: Callable[[list[str], str, int, int], list[tuple[str | None, Any]]]
    errors: dict[str, ErrorFixture]
    finish_values: dict[str, str]  # common finish reason -> provider's value

    def stream_body(
        self, pieces: list[str], finish: str = "stop", tokens: tuple[int, int] = (9, 5)
    ) -> bytes:
        return sse(self.stream(pieces, self.finish_values[finish], *tokens))


# ------------------------------------------------------------------ OpenAI


def _openai_success(text: str, finish: str, n_in: int, n_out: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "object": "chat.completion",
        "created": 1741570283,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": text,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": {
            "prompt_tokens": n_in,
            "completion_tokens": n_out,
            "total_tokens": n_in + n_out,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_fc9f1d7035",
    }


def _openai_chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1694268190,
        "model": "gpt-4o-mini",
        "system_fingerprint": "fp_44709d6fcb",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def _openai_stream(
    pieces: list[str], finish: str, n_in: int, n_out: int
) -> list[tuple[str | None, Any]]:
    events: list[tuple[str | None, Any]] = [
        (None, _openai_chunk({"role": "assistant", "content": ""}, None))
    ]
    events += [(None, _openai_chunk({"content": p}, None)) for p in pieces]
    events.append((None, _openai_chunk({}, finish)))
    usage = {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out}
    events.append((None, _openai_chunk({}, None) | {"choices": [], "usage": usage}))
    events.append((None, "[DONE]"))
    return events


def _openai_error(
    message: str, kind: str, code: str | None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


OPENAI_ERRORS: dict[str, ErrorFixture] = {
    "server_error": (
        500,
        _openai_error(
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        ),
        {},
    ),
    "rate_limited": (
        429,
        _openai_error(
            "Rate limit reached for gpt-4o in organization org-abc on requests per min (RPM): "
            "Limit 500, Used 500, Requested 1. Please try again in 120ms.",
            "requests",
            "rate_limit_exceeded",
        ),
        {"retry-after": "2"},
    ),
    "invalid_request": (
        400,
        _openai_error(
            "Invalid value for 'temperature': must be between 0 and 2.",
            "invalid_request_error",
            None,
            "temperature",
        ),
        {},
    ),
    "authentication": (
        401,
        _openai_error(
            "Incorrect API key provided: sk-proj-****************abcd. "
            "You can find your API key at https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        ),
        {},
    ),
    "permission": (
        403,
        _openai_error(
            "Country, region, or territory not supported",
            "request_forbidden",
            "unsupported_country_region_territory",
        ),
        {},
    ),
    "unknown_model": (
        404,
        _openai_error(
            "The model `gpt-5-turbo` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        ),
        {},
    ),
    "content_policy": (
        400,
        _openai_error(
            "Your request was rejected as a result of our safety system.",
            "invalid_request_error",
            "content_policy_violation",
        ),
        {},
    ),
}

OPENAI_FINISH = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
}

# --------------------------------------------------------------- Anthropic


def _anthropic_success(text: str, finish: str, n_in: int, n_out: int) -> dict[str, Any]:
    return {
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-20250514",
        "content": [{"type": "text", "text": text}],
        "stop_reason": finish,
        "stop_sequence": None,
        "usage": {
            "input_tokens": n_in,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": n_out,
        },
    }


def _anthropic_stream(
    pieces: list[str], finish: str, n_in: int, n_out: int
) -> list[tuple[str | None, Any]]:
    start = _anthropic_success("", finish, n_in, 1) | {"content": [], "stop_reason": None}
    events: list[tuple[str | None, Any]] = [
        ("message_start", {"type": "message_start", "message": start}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        ("ping", {"type": "ping"}),
    ]
    events += [
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
        )
        for p in pieces
    ]
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": finish, "stop_sequence": None},
                "usage": {"output_tokens": n_out},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return events


def anthropic_error(kind: str, message: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
    }


ANTHROPIC_ERRORS: dict[str, ErrorFixture] = {
    "server_error": (500, anthropic_error("api_error", "Internal server error"), {}),
    "overloaded": (529, anthropic_error("overloaded_error", "Overloaded"), {}),
    "rate_limited": (
        429,
        anthropic_error(
            "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"
        ),
        {"retry-after": "17"},
    ),
    "invalid_request": (
        400,
        anthropic_error("invalid_request_error", "max_tokens: Field required"),
        {},
    ),
    "authentication": (401, anthropic_error("authentication_error", "invalid x-api-key"), {}),
    "permission": (
        403,
        anthropic_error(
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
        ),
        {},
    ),
    "unknown_model": (404, anthropic_error("not_found_error", "model: claude-unknown-9"), {}),
    "content_policy": (
        400,
        anthropic_error("invalid_request_error", "Output blocked by content filtering policy"),
        {},
    ),
}

ANTHROPIC_FINISH = {
    "stop": "end_turn",
    "length": "max_tokens",
    "content_filter": "refusal",
    "tool_calls": "tool_use",
}

# ------------------------------------------------------------------ Google


def _gemini_response(
    text: str | None, finish: str | None, usage: tuple[int, int] | None
) -> dict[str, Any]:
    candidate: dict[str, Any] = {
        "content": {"parts": [{"text": text}] if text else [], "role": "model"},
        "index": 0,
    }
    if finish:
        candidate["finishReason"] = finish
    out: dict[str, Any] = {
        "candidates": [candidate],
        "modelVersion": "gemini-2.5-flash",
        "responseId": "Hh9ZaL2TA",
    }
    if usage:
        out["usageMetadata"] = {
            "promptTokenCount": usage[0],
            "candidatesTokenCount": usage[1],
            "totalTokenCount": usage[0] + usage[1],
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": usage[0]}],
        }
    return out


def _gemini_success(text: str, finish: str, n_in: int, n_out: int) -> dict[str, Any]:
    return _gemini_response(text, finish, (n_in, n_out))


def _gemini_stream(
    pieces: list[str], finish: str, n_in: int, n_out: int
) -> list[tuple[str | None, Any]]:
    events: list[tuple[str | None, Any]] = [
        (None, _gemini_response(p, None, (n_in, 0))) for p in pieces[:-1]
    ]
    events.append((None, _gemini_response(pieces[-1] if pieces else None, finish, (n_in, n_out))))
    return events


def google_error(
    code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return {"error": error}


GEMINI_BLOCKED = {
    "promptFeedback": {
        "blockReason": "SAFETY",
        "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}],
    },
    "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
    "modelVersion": "gemini-2.5-flash",
}

GOOGLE_ERRORS: dict[str, ErrorFixture] = {
    "server_error": (
        503,
        google_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
        {},
    ),
    "rate_limited": (
        429,
        google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
            [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}],
        ),
        {},
    ),
    "invalid_request": (
        400,
        google_error(
            400,
            "INVALID_ARGUMENT",
            'Invalid JSON payload received. Unknown name "foo": Cannot find field.',
        ),
        {},
    ),
    "authentication": (
        400,
        google_error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ],
        ),
        {},
    ),
    "permission": (
        403,
        google_error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers."),
        {},
    ),
    "unknown_model": (
        404,
        google_error(
            404,
            "NOT_FOUND",
            "models/gemini-9-pro is not found for API version v1beta, "
            "or is not supported for generateContent.",
        ),
        {},
    ),
    "content_policy": (200, GEMINI_BLOCKED, {}),
}

GOOGLE_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY"}

# ------------------------------------------------------------------ registry

WIRES: dict[str, Wire] = {
    "openai": Wire(
        "openai",
        ModelSpec("gpt-4o-mini", "openai", "gpt-4o-mini", 0.15, 0.6),
        lambda c: OpenAIProvider(c, "sk-test-openai"),
        _openai_success,
        _openai_stream,
        OPENAI_ERRORS,
        OPENAI_FINISH,
    ),
    "openai_compatible": Wire(
        "openai_compatible",
        ModelSpec(
            "local-small",
            "openai_compatible",
            "fake-model",
            0.1,
            0.2,
            base_url="http://vllm.test/v1",
        ),
        lambda c: OpenAICompatibleProvider(c),
        _openai_success,
        _openai_stream,
        OPENAI_ERRORS,
        OPENAI_FINISH,
    ),
    "anthropic": Wire(
        "anthropic",
        ModelSpec(
            "claude-sonnet-4",
            "anthropic",
            "claude-sonnet-4-20250514",
            3,
            15,
            max_output_tokens=64000,
        ),
        lambda c: AnthropicProvider(c, "sk-ant-test"),
        _anthropic_success,
        _anthropic_stream,
        ANTHROPIC_ERRORS,
        ANTHROPIC_FINISH,
    ),
    "google": Wire(
        "google",
        ModelSpec("gemini-2.5-flash", "google", "gemini-2.5-flash", 0.3, 2.5),
        lambda c: GoogleProvider(c, "AIza-test-google-key"),
        _gemini_success,
        _gemini_stream,
        GOOGLE_ERRORS,
        GOOGLE_FINISH,
    ),
}
