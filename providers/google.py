"""Google Gemini adapter (``models/{model}:generateContent`` and
``:streamGenerateContent?alt=sse``).

Requests send ``x-goog-api-key``; the chat becomes ``contents`` of
``{"role": "user"|"model", "parts": [{"text": ...}]}`` with system messages in
``systemInstruction``. Each answer (and each SSE ``data:`` record of a stream,
which has no ``[DONE]`` sentinel) is a ``GenerateContentResponse``: text in
``candidates[0].content.parts``, ``finishReason`` on the last record and token
counts in ``usageMetadata``. A blocked prompt returns 200 with
``promptFeedback.blockReason`` and no candidates, which maps to
:class:`ContentPolicy`. Errors are ``{"error": {"code", "message", "status"}}``
with gRPC status names.
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
    ProviderTimeout,
    RateLimited,
    ServerError,
    UnknownModel,
    error_for_status,
    parse_retry_after,
)
from providers.http_adapter import HttpAdapter

_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "OTHER": "error",
}
_STATUS_ERRORS: dict[str, type[ProviderError]] = {
    "INVALID_ARGUMENT": InvalidRequest,
    "FAILED_PRECONDITION": InvalidRequest,
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": PermissionDenied,
    "NOT_FOUND": UnknownModel,
    "INTERNAL": ServerError,
    "UNAVAILABLE": ServerError,
    "DEADLINE_EXCEEDED": ProviderTimeout,
}


class GoogleProvider(HttpAdapter):
    """Calls the Gemini API (Google AI Studio keys).

    Args:
        client: Shared ``httpx.AsyncClient``.
        api_key: Sent as ``x-goog-api-key`` (never in the URL, so it cannot leak into logs).
        base_url: API root, overridable for proxies and tests.
    """

    provider: ClassVar[str] = "google"
    default_base_url: ClassVar[str] = "https://generativelanguage.googleapis.com/v1beta"

    async def complete(
        self, model: ModelSpec, request: ChatRequest, *, timeout: float
    ) -> ChatResult:
        """Answer ``request`` with one ``generateContent`` call."""
        ctx = self._context(model)
        url = self._url(model, "generateContent")
        data, latency_ms = await self._post(ctx, url, _body(request), timeout=timeout)
        _raise_if_blocked(data, ctx)
        text, finish = _candidate(data)
        if finish is None:
            raise ServerError("response has no candidate", model=model.id, provider=self.provider)
        usage = _usage(data) or Usage(0, 0)
        return ChatResult(model.id, text, finish, usage, latency_ms)

    async def stream(
        self, model: ModelSpec, request: ChatRequest, *, timeout: float
    ) -> AsyncIterator[StreamChunk]:
        """Stream the answer; the last chunk carries the finish reason and usage."""
        ctx = self._context(model)
        finish: FinishReason | None = None
        usage: Usage | None = None
        url = self._url(model, "streamGenerateContent") + "?alt=sse"
        async for event in self._events(ctx, url, _body(request), timeout=timeout):
            payload = parse_json_object(event.data, ctx)
            if "error" in payload:
                raise translate_error(None, payload, httpx.Headers(), ctx)
            _raise_if_blocked(payload, ctx)
            text, chunk_finish = _candidate(payload)
            if text:
                yield StreamChunk(delta=text)
            finish = chunk_finish or finish
            usage = _usage(payload) or usage
        if finish is None:
            raise ConnectionFailed(
                "stream ended without finishReason", model=model.id, provider=self.provider
            )
        yield StreamChunk(finish_reason=finish, usage=usage)

    def _url(self, model: ModelSpec, method: str) -> str:
        return f"{self._root(model)}/models/{model.upstream_model}:{method}"

    def _headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._api_key or "", "Content-Type": "application/json"}

    def _translate(
        self, status: int, body: Any, headers: httpx.Headers, ctx: ErrorContext
    ) -> ProviderError:
        return translate_error(status, body, headers, ctx)


def _body(request: ChatRequest) -> dict[str, Any]:
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    body: dict[str, Any] = {"contents": _contents(request.messages)}
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    config: dict[str, Any] = {}
    if request.max_output_tokens is not None:
        config["maxOutputTokens"] = request.max_output_tokens
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if config:
        body["generationConfig"] = config
    return body


def _contents(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Gemini turns: assistant → ``model``, user and tool → ``user``, same roles merged."""
    contents: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "model" if message.role == "assistant" else "user"
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].append({"text": message.content})
        else:
            contents.append({"role": role, "parts": [{"text": message.content}]})
    return contents


def _candidate(data: dict[str, Any]) -> tuple[str, FinishReason | None]:
    """Visible text and mapped finish reason of the first candidate (thoughts skipped)."""
    candidates = data.get("candidates") or []
    if not candidates or not isinstance(candidates[0], dict):
        return "", None
    first = candidates[0]
    parts = (first.get("content") or {}).get("parts") or []
    text = "".join(p.get("text", "") for p in parts if isinstance(p, dict) and not p.get("thought"))
    reason = first.get("finishReason")
    return text, (_FINISH.get(reason, "stop") if reason else None)


def _usage(data: dict[str, Any]) -> Usage | None:
    meta = data.get("usageMetadata")
    if not isinstance(meta, dict) or "promptTokenCount" not in meta:
        return None
    # Thinking tokens are billed as output tokens.
    output = meta.get("candidatesTokenCount", 0) + meta.get("thoughtsTokenCount", 0)
    return Usage(meta["promptTokenCount"], output)


def _raise_if_blocked(data: dict[str, Any], ctx: ErrorContext) -> None:
    reason = (data.get("promptFeedback") or {}).get("blockReason")
    if reason:
        raise ContentPolicy(f"prompt blocked ({reason})", model=ctx.model, provider=ctx.provider)


def translate_error(
    status: int | None, body: Any, headers: httpx.Headers, ctx: ErrorContext
) -> ProviderError:
    """Map a Google API error body to the most specific provider error."""
    if isinstance(body, list) and body:  # the JSON-array framing of streamGenerateContent
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    grpc_status, message = error.get("status"), str(error.get("message") or "")
    message = message or f"upstream returned HTTP {status}"
    where: dict[str, Any] = {"model": ctx.model, "provider": ctx.provider, "status": status}
    if grpc_status == "RESOURCE_EXHAUSTED" or status == 429:
        retry_after = parse_retry_after(headers.get("retry-after")) or _retry_delay(error)
        return RateLimited(message, retry_after=retry_after, **where)
    if _has_reason(error, "API_KEY_INVALID"):
        return AuthenticationError(message, **where)
    cls = _STATUS_ERRORS.get(grpc_status or "")
    if cls is not None:
        return cls(message, **where)
    if status is None:
        return ServerError(message, **where)
    return error_for_status(status, message, model=ctx.model, provider=ctx.provider)


def _details(error: dict[str, Any]) -> list[dict[str, Any]]:
    details = error.get("details")
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def _has_reason(error: dict[str, Any], reason: str) -> bool:
    return any(d.get("reason") == reason for d in _details(error))


def _retry_delay(error: dict[str, Any]) -> float | None:
    """``RetryInfo.retryDelay`` (e.g. ``"37s"``) from the error details."""
    for detail in _details(error):
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and delay.endswith("s"):
            return parse_retry_after(delay[:-1])
    return None
