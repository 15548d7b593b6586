"""HTTP plumbing shared by the upstream adapters: JSON POST, SSE reading and the
translation of ``httpx`` transport failures into :mod:`providers.errors`.

Each adapter supplies an ``ErrorTranslator`` that turns a non-2xx response and
its parsed JSON body into the most specific :class:`ProviderError`; everything
about sockets and timeouts is translated here, once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from providers.errors import ConnectionFailed, ProviderError, ProviderTimeout, ServerError


@dataclass(frozen=True, slots=True)
class ErrorContext:
    """Who was being called, so every error names the model and provider."""

    model: str
    provider: str


# (status, parsed JSON body or None, response headers) -> error to raise
ErrorTranslator = Callable[[int, Any, httpx.Headers], ProviderError]


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One Server-Sent Event: its ``event:`` name (if any) and joined ``data:`` lines."""

    event: str | None
    data: str


def transport_error(exc: httpx.HTTPError, ctx: ErrorContext) -> ProviderError:
    """Map an ``httpx`` exception to a retryable provider error."""
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeout(
            f"upstream timed out ({detail})", model=ctx.model, provider=ctx.provider
        )
    if isinstance(exc, httpx.TransportError):
        return ConnectionFailed(
            f"connection failed ({detail})", model=ctx.model, provider=ctx.provider
        )
    return ServerError(f"HTTP failure ({detail})", model=ctx.model, provider=ctx.provider)


def parse_json_object(data: str | bytes, ctx: ErrorContext) -> dict[str, Any]:
    """Decode a JSON object from upstream, or raise ``ServerError`` if it is malformed."""
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise ServerError(
            "upstream sent malformed JSON", model=ctx.model, provider=ctx.provider
        ) from exc
    if not isinstance(value, dict):
        raise ServerError(
            "upstream sent a non-object JSON value", model=ctx.model, provider=ctx.provider
        )
    return value


def _json_or_none(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: Mapping[str, str],
    body: Mapping[str, Any],
    timeout: float,
    ctx: ErrorContext,
    translate: ErrorTranslator,
) -> dict[str, Any]:
    """POST ``body`` and return the decoded JSON object of a 2xx answer.

    ``timeout`` bounds the whole exchange, not just each socket operation.
    """
    try:
        async with asyncio.timeout(timeout):
            response = await client.post(url, headers=dict(headers), json=body, timeout=timeout)
    except TimeoutError as exc:
        raise ProviderTimeout(
            f"no answer within {timeout:.1f}s", model=ctx.model, provider=ctx.provider
        ) from exc
    except httpx.HTTPError as exc:
        raise transport_error(exc, ctx) from exc
    if response.status_code >= 400:
        raise translate(response.status_code, _json_or_none(response.content), response.headers)
    return parse_json_object(response.content, ctx)


async def stream_sse(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: Mapping[str, str],
    body: Mapping[str, Any],
    timeout: float,
    ctx: ErrorContext,
    translate: ErrorTranslator,
) -> AsyncIterator[SSEEvent]:
    """POST ``body`` and yield the SSE events of the streamed answer.

    ``timeout`` applies to connecting and to each read, so a stalled stream
    fails instead of hanging; the caller bounds the time to the first chunk.
    """
    request = client.build_request("POST", url, headers=dict(headers), json=body, timeout=timeout)
    try:
        response = await client.send(request, stream=True)
    except httpx.HTTPError as exc:
        raise transport_error(exc, ctx) from exc
    try:
        if response.status_code >= 400:
            content = await response.aread()
            raise translate(response.status_code, _json_or_none(content), response.headers)
        async for event in parse_sse(response.aiter_lines()):
            yield event
    except httpx.HTTPError as exc:
        raise transport_error(exc, ctx) from exc
    finally:
        await response.aclose()


async def parse_sse(lines: AsyncIterator[str]) -> AsyncIterator[SSEEvent]:
    """Group SSE lines into events (WHATWG rules; an unterminated last event is dropped)."""
    event: str | None = None
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield SSEEvent(event, "\n".join(data))
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
