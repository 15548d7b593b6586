"""OpenAI Chat Completions adapter (``POST {base}/chat/completions``).

Plain answers come as one JSON object; streamed ones as SSE ``data:`` lines of
``chat.completion.chunk`` objects ended by ``data: [DONE]``. With
``stream_options.include_usage`` the last chunk before ``[DONE]`` has empty
``choices`` and the token ``usage``. Errors are
``{"error": {"message", "type", "param", "code"}}``; a mid-stream failure
arrives as a ``data:`` line holding such an ``error`` object.

:class:`providers.openai_compatible.OpenAICompatibleProvider` reuses this class
for vLLM, Ollama, llama.cpp and LM Studio servers.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import httpx

from providers._http import ErrorContext, parse_json_object
from providers.base import ChatRequest, ChatResult, FinishReason, StreamChunk, Usage
from providers.catalog import ModelSpec
from providers.errors import (
    AuthenticationError,
    ConnectionFailed,
    ContentPolicy,
    ProviderError,
    ServerError,
    UnknownModel,
    error_for_status,
    parse_retry_after,
)
from providers.http_adapter import HttpAdapter
from providers.tokens import estimate_input_tokens, estimate_tokens

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}
_CONTENT_POLICY_CODES = frozenset({"content_filter", "content_policy_violation"})
_REASONING_MODEL = re.compile(r"o\d")
_AUTH_CODES = frozenset({"invalid_api_key", "invalid_authentication"})


class OpenAIProvider(HttpAdapter):
    """Calls OpenAI's Chat Completions API with a Bearer key.

    Args:
        client: Shared ``httpx.AsyncClient`` (connection pool owned by the app).
        api_key: Key sent as ``Authorization: Bearer``; ``None`` sends none.
        base_url: API root; a model's own ``base_url`` takes precedence.
    """

    provider: ClassVar[str] = "openai"
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    # OpenAI's reasoning models reject ``max_tokens``; most compatible servers
    # only know ``max_tokens``.
    max_tokens_field: ClassVar[str] = "max_completion_tokens"
    reasoning_models_fix_temperature: ClassVar[bool] = True

    async def complete(
        self, model: ModelSpec, request: ChatRequest, *, timeout: float
    ) -> ChatResult:
        """Answer ``request`` with one non-streamed call."""
        ctx = self._context(model)
        body = self._body(model, request, stream=False)
        data, latency_ms = await self._post(ctx, self._url(model), body, timeout=timeout)
        try:
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            finish = _FINISH.get(choice.get("finish_reason") or "stop", "stop")
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ServerError(
                "response has no choices", model=model.id, provider=self.provider
            ) from exc
        usage = _usage(data.get("usage")) or Usage(
            estimate_input_tokens(request.messages), estimate_tokens(text)
        )
        return ChatResult(model.id, text, finish, usage, latency_ms)

    async def stream(
        self, model: ModelSpec, request: ChatRequest, *, timeout: float
    ) -> AsyncIterator[StreamChunk]:
        """Stream the answer; the last chunk carries the finish reason and usage."""
        ctx = self._context(model)
        finish: FinishReason | None = None
        usage: Usage | None = None
        done = False
        body = self._body(model, request, stream=True)
        async for event in self._events(ctx, self._url(model), body, timeout=timeout):
            if event.data.strip() == "[DONE]":
                done = True
                break
            payload = parse_json_object(event.data, ctx)
            if "error" in payload:
                raise in_band_error(payload, ctx)
            usage = _usage(payload.get("usage")) or usage
            for choice in payload.get("choices") or ():
                delta = (choice.get("delta") or {}).get("content")
                if delta:
                    yield StreamChunk(delta=delta)
                if choice.get("finish_reason"):
                    finish = _FINISH.get(choice["finish_reason"], "stop")
        if not done and finish is None:
            raise ConnectionFailed(
                "stream ended before completion", model=model.id, provider=self.provider
            )
        yield StreamChunk(finish_reason=finish or "stop", usage=usage)

    def _url(self, model: ModelSpec) -> str:
        return f"{self._root(model)}/chat/completions"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _translate(
        self, status: int, body: Any, headers: httpx.Headers, ctx: ErrorContext
    ) -> ProviderError:
        return translate_error(status, body, headers, ctx)

    def _fixed_temperature(self, model: ModelSpec) -> bool:
        """OpenAI's reasoning models (o1, o3, o4-mini...) reject any temperature
        but the default with a 400, which would fail the request rather than fall
        back; their answers are not steered by it anyway."""
        fixed = _REASONING_MODEL.match(model.upstream_model) is not None
        return self.reasoning_models_fix_temperature and fixed

    def _body(self, model: ModelSpec, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model.upstream_model,
            # Message.content is already flattened text and carries no
            # tool_call_id, so tool results travel as user turns.
            "messages": [
                {"role": "user" if m.role == "tool" else m.role, "content": m.content}
                for m in request.messages
            ],
        }
        if request.max_output_tokens is not None:
            body[self.max_tokens_field] = request.max_output_tokens
        if request.temperature is not None and not self._fixed_temperature(model):
            body["temperature"] = request.temperature
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body


def _usage(raw: object) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return Usage(prompt, completion)


def translate_error(
    status: int, body: Any, headers: httpx.Headers, ctx: ErrorContext
) -> ProviderError:
    """Map an OpenAI-style error response to the most specific provider error."""
    code, message = _error_fields(body)
    message = message or f"upstream returned HTTP {status}"
    cls: type[ProviderError] | None = None
    if code in _CONTENT_POLICY_CODES:
        cls = ContentPolicy
    elif code == "model_not_found":
        cls = UnknownModel
    elif code in _AUTH_CODES:
        cls = AuthenticationError
    if cls is not None:
        return cls(message, model=ctx.model, provider=ctx.provider, status=status)
    return error_for_status(
        status,
        message,
        model=ctx.model,
        provider=ctx.provider,
        retry_after=parse_retry_after(headers.get("retry-after")),
    )


def _error_fields(body: Any) -> tuple[str | None, str]:
    """``(code, message)`` of an error body; compatible servers vary in shape."""
    if not isinstance(body, dict):
        return None, ""
    error = body.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        return (str(code) if code is not None else None), str(error.get("message") or "")
    # e.g. {"error": "text"} (Ollama) or {"detail": "text"} (FastAPI servers)
    return None, str(error or body.get("detail") or "")


def in_band_error(payload: dict[str, Any], ctx: ErrorContext) -> ProviderError:
    """An ``{"error": ...}`` object sent inside a 200 stream."""
    code, message = _error_fields(payload)
    if code in _CONTENT_POLICY_CODES:
        return ContentPolicy(message, model=ctx.model, provider=ctx.provider)
    # A failure after the upstream accepted the request is on its side.
    return ServerError(message or "error inside stream", model=ctx.model, provider=ctx.provider)
