"""HTTP plumbing shared by the upstream adapters: JSON POST, SSE reading and the
translation of ``httpx`` transport failures into :mod:`providers.errors`.

Each adapter supplies an ``ErrorTranslator`` that turns a non-2xx response and
its parsed JSON body into the most specific :class:`ProviderError`; everything
about sockets and timeouts is translated here, once.

The fast path: the adapters receive an ``httpx.AsyncClient``, and tests inject
one on an ``httpx.MockTransport``. When the client also has a
``post_json_fast`` method (:class:`FastJSONClient`; the service's shared client,
``service.upstream.UpstreamClient``, does), :func:`post_json` sends the
orjson-encoded body through it and gets back ``(status, bytes, raw headers)``,
without building httpx's request and response objects; ``httpx.Headers`` are
built only for an error. Everything around the call (the overall deadline,
the exceptions, what the translator sees) is the same on both paths. The
non-streaming POST is the hot path: httpx's ``Client.post`` machinery was ~10 %
of the server's time under load (``BENCHMARKS.md``, profile at ``318ead4``);
the fast path took 10-17 % off autoroute's CPU per request in the same
benchmark run (figures in ``service/upstream.py``). Streams stay on the httpx
API: they are not the hot path.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import orjson

from providers.errors import ConnectionFailed, ProviderError, ProviderTimeout, ServerError


@dataclass(frozen=True, slots=True)
class ErrorContext:
    """Who was being called, so every error names the model and provider."""

    model: str
    provider: str


# (status, parsed JSON body or None, response headers) -> error to raise
ErrorTranslator = Callable[[int, Any, httpx.Headers], ProviderError]

RawHeaders = Sequence[tuple[bytes, bytes]]


class FastJSONClient(Protocol):
    """A client with a direct JSON POST, which :func:`post_json` prefers (duck-typed)."""

    async def post_json_fast(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> tuple[int, bytes, RawHeaders]:
        """POST ``body``; return status, body and raw headers, failing with ``httpx.HTTPError``.

        ``timeout`` bounds the whole exchange (an ``httpx.TimeoutException`` when it expires).
        """
        ...


_PostJSONFast = Callable[
    [str, Mapping[str, str], bytes, float], Awaitable[tuple[int, bytes, RawHeaders]]
]


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


def _loads(data: str | bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        # What orjson refuses and json takes (NaN, lone surrogates, UTF-16), or malformed.
        return json.loads(data)


def parse_json_object(data: str | bytes, ctx: ErrorContext) -> dict[str, Any]:
    """Decode a JSON object from upstream, or raise ``ServerError`` if it is malformed."""
    try:
        value = _loads(data)
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
        return _loads(content)
    except ValueError:
        return None


def _encode(body: Mapping[str, Any]) -> bytes:
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:
        # What json takes and orjson refuses (non-str keys, ints over 64 bits).
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


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
    Goes through ``client.post_json_fast`` when the client has one
    (:class:`FastJSONClient`), else through ``client.post``.
    """
    fast: _PostJSONFast | None = getattr(client, "post_json_fast", None)
    headers_out: httpx.Headers | RawHeaders
    try:
        if fast is not None:  # it bounds the whole exchange itself: no second timer
            status, content, headers_out = await fast(url, headers, _encode(body), timeout)
        else:
            async with asyncio.timeout(timeout):
                response = await client.post(url, headers=dict(headers), json=body, timeout=timeout)
            status, content, headers_out = (
                response.status_code,
                response.content,
                response.headers,
            )
    except TimeoutError as exc:
        raise ProviderTimeout(
            f"no answer within {timeout:.1f}s", model=ctx.model, provider=ctx.provider
        ) from exc
    except httpx.HTTPError as exc:
        raise transport_error(exc, ctx) from exc
    if status >= 400:
        if not isinstance(headers_out, httpx.Headers):
            headers_out = httpx.Headers(headers_out)
        raise translate(status, _json_or_none(content), headers_out)
    return parse_json_object(content, ctx)


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
