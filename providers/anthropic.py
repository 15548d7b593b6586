"""Anthropic Messages adapter (``POST /v1/messages``).

Requests send ``x-api-key`` and ``anthropic-version``; system messages go in
the top-level ``system`` field, the rest alternate user/assistant, and
``max_tokens`` is mandatory. A streamed answer is a sequence of SSE events:
``message_start`` (input tokens), ``content_block_start``,
``content_block_delta`` (``text_delta``), ``content_block_stop``,
``message_delta`` (``stop_reason`` and output tokens), ``message_stop``, with
``ping`` keep-alives and possibly an ``error`` event mid-stream. Errors are
``{"type": "error", "error": {"type": "overloaded_error", "message": ...}}``;
529 "overloaded" is a retryable server error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import httpx

from providers._http import ErrorContext, parse_json_object
from providers.base import ChatRequest, ChatResult, FinishReason, Message, StreamChunk, Usage
from providers.catalog import ModelSpec
from providers.errors import (
    AuthenticationError,
    ConnectionFailed,
    ContentPolicy,
    InvalidRequest,
    PermissionDenied,
    ProviderError,
    RateLimited,
    ServerError,
    UnknownModel,
    error_for_status,
    parse_retry_after,
)
from providers.http_adapter import HttpAdapter

API_VERSION = "2023-06-01"
# Without a caller-given limit, ask for at most this much: very large
# non-streamed requests are refused by the API.
_DEFAULT_MAX_TOKENS = 8192

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_ERROR_TYPES: dict[str, type[ProviderError]] = {
    "invalid_request_error": InvalidRequest,
    "request_too_large": InvalidRequest,
    "authentication_error": AuthenticationError,
    "permission_error": PermissionDenied,
    "not_found_error": UnknownModel,
    "rate_limit_error": RateLimited,
    "api_error": ServerError,
    "overloaded_error": ServerError,
}


class AnthropicProvider(HttpAdapter):
    """Calls Anthropic's Messages API.

    Args:
        client: Shared ``httpx.AsyncClient``.
        api_key: Sent as ``x-api-key``.
        base_url: API root, overridable for proxies and tests.
    """

    provider: ClassVar[str] = "anthropic"
    default_base_url: ClassVar[str] = "https://api.anthropic.com"

    async def complete(
        self, model: ModelSpec, request: ChatRequest, *, timeout: float
    ) -> ChatResult:
        """Answer ``request`` with one non-streamed call."""
        ctx = self._context(model)
        body = self._body(model, request, stream=False)
        data, latency_ms = await self._post(ctx, self._url(model), body, timeout=timeout)
        try:
            text = "".join(b["text"] for b in data["content"] if b.get("type") == "text")
            usage = Usage(data["usage"]["input_tokens"], data["usage"]["output_tokens"])
        except (KeyError, TypeError, AttributeError) as exc:
            raise ServerError("malformed message", model=model.id, provider=self.provider) from exc
        finish = _FINISH.get(data.get("stop_reason") or "end_turn", "stop")
        return ChatResult(model.id, text, finish, usage, latency_ms)

    async def stream(
        self, model: ModelSpec, request: ChatRequest, *, timeout: float
    ) -> AsyncIterator[StreamChunk]:
        """Stream the answer; the last chunk carries the finish reason and usage."""
        ctx = self._context(model)
        input_tokens = output_tokens = 0
        finish: FinishReason = "stop"
        stopped = False
        body = self._body(model, request, stream=True)
        async for event in self._events(ctx, self._url(model), body, timeout=timeout):
            payload = parse_json_object(event.data, ctx)
            kind = payload.get("type", event.event)
            if kind == "message_start":
                usage = (payload.get("message") or {}).get("usage") or {}
                input_tokens = usage.get("input_tokens", 0)
                output_tokens = usage.get("output_tokens", 0)
            elif kind == "content_block_delta":
                delta = payload.get("delta") or {}
                if delta.get("type") == "text_delta" and delta.get("text"):
                    yield StreamChunk(delta=delta["text"])
            elif kind == "message_delta":
                stop = (payload.get("delta") or {}).get("stop_reason")
                finish = _FINISH.get(stop or "end_turn", "stop")
                output_tokens = (payload.get("usage") or {}).get("output_tokens", output_tokens)
            elif kind == "message_stop":
                stopped = True
                break
            elif kind == "error":
                raise translate_error(None, payload, httpx.Headers(), ctx)
        if not stopped:
            raise ConnectionFailed(
                "stream ended before message_stop", model=model.id, provider=self.provider
            )
        yield StreamChunk(finish_reason=finish, usage=Usage(input_tokens, output_tokens))

    def _url(self, model: ModelSpec) -> str:
        return f"{self._root(model)}/v1/messages"

    def _headers(self) -> dict[str, str]:
        return {
            "x-api-key": self._api_key or "",
            "anthropic-version": API_VERSION,
            "content-type": "application/json",
        }

    def _translate(
        self, status: int, body: Any, headers: httpx.Headers, ctx: ErrorContext
    ) -> ProviderError:
        return translate_error(status, body, headers, ctx)

    def _body(self, model: ModelSpec, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        limit = request.max_output_tokens or min(model.max_output_tokens, _DEFAULT_MAX_TOKENS)
        body: dict[str, Any] = {
            "model": model.upstream_model,
            "max_tokens": limit,
            "messages": _turns(request.messages),
        }
        if system:
            body["system"] = system
        if request.temperature is not None:
            # Anthropic's range is [0, 1]; OpenAI clients may send up to 2.
            body["temperature"] = min(request.temperature, 1.0)
        if stream:
            body["stream"] = True
        return body


def _turns(messages: tuple[Message, ...]) -> list[dict[str, str]]:
    """User/assistant turns, consecutive same-role messages merged (tool → user)."""
    turns: list[dict[str, str]] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += "\n\n" + message.content
        else:
            turns.append({"role": role, "content": message.content})
    return turns


def translate_error(
    status: int | None, body: Any, headers: httpx.Headers, ctx: ErrorContext
) -> ProviderError:
    """Map an Anthropic error body (HTTP or in-stream ``error`` event) to a provider error."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    kind, message = error.get("type"), str(error.get("message") or "")
    message = message or f"upstream returned HTTP {status}"
    retry_after = parse_retry_after(headers.get("retry-after"))
    where: dict[str, Any] = {"model": ctx.model, "provider": ctx.provider, "status": status}
    if kind == "invalid_request_error" and "content filtering" in message.lower():
        return ContentPolicy(message, **where)
    cls = _ERROR_TYPES.get(kind or "")
    if cls is RateLimited:
        return RateLimited(message, retry_after=retry_after, **where)
    if cls is not None:
        return cls(message, **where)
    if status is None:
        return ServerError(message, **where)
    return error_for_status(
        status, message, model=ctx.model, provider=ctx.provider, retry_after=retry_after
    )
