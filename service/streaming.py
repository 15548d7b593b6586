"""Server-sent events for both APIs, from one :class:`StreamSession`.

Failover happens before the first byte (in the pipeline), so a stream that
starts here has a model. A failure after that is sent in-band, as OpenAI's
``{"error": ...}`` chunk or RoutePlex's ``error`` event, and the stream ends
without its completion marker: a client never mistakes a cut answer for a
finished one.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from providers.base import Usage
from service.errors import ServiceError
from service.pipeline import StreamSession
from service.wire import native_usage, openai_chunk, openai_finish, openai_usage

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse(data: dict[str, Any] | str) -> bytes:
    """One ``data:`` event."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {payload}\n\n".encode()


def _error(exc: ServiceError) -> dict[str, Any]:
    return {"code": exc.code, "message": exc.message}


async def openai_events(session: StreamSession, include_usage: bool) -> AsyncIterator[bytes]:
    """``chat.completion.chunk`` events ending with ``data: [DONE]``."""
    outcome, created = session.outcome, int(time.time())
    yield sse(openai_chunk(outcome, created, {"role": "assistant", "content": ""}, None))
    try:
        async for chunk in session.chunks:
            if chunk.delta:
                yield sse(openai_chunk(outcome, created, {"content": chunk.delta}, None))
    except ServiceError as exc:
        kind = "api_error" if exc.status >= 500 else "invalid_request_error"
        yield sse({"error": {**_error(exc), "type": kind, "param": None}})
        return
    finally:
        await session.aclose()  # no-op when finished; else stops the upstream now
    finish = openai_finish(session.finish_reason)
    yield sse(openai_chunk(outcome, created, {}, finish))
    if include_usage:
        final = openai_chunk(outcome, created, {}, None)
        final["choices"] = []
        final["usage"] = openai_usage(session.usage or Usage(0, 0))
        yield sse(final)
    yield sse("[DONE]")


async def native_events(session: StreamSession, routing_mode: str) -> AsyncIterator[bytes]:
    """RoutePlex ``start``/``delta``/``done`` (or ``error``) events, then ``[DONE]``."""
    outcome, started = session.outcome, time.perf_counter()
    yield sse(
        {
            "type": "start",
            "id": outcome.request_id,
            "model_used": outcome.model.id,
            "provider": outcome.model.provider,
            "routing_mode": routing_mode,
            "simulated": outcome.simulated,
        }
    )
    try:
        async for chunk in session.chunks:
            if chunk.delta:
                yield sse({"type": "delta", "content": chunk.delta})
    except ServiceError as exc:
        yield sse({"type": "error", **_error(exc)})
        return
    finally:
        await session.aclose()
    yield sse(
        {
            "type": "done",
            "id": outcome.request_id,
            "model_used": outcome.model.id,
            "provider": outcome.model.provider,
            "usage": native_usage(session.usage or Usage(0, 0), session.cost_usd),
            "finish_reason": session.finish_reason or "stop",
            "latency_ms": round((time.perf_counter() - started) * 1000),
            "fallback_used": outcome.fallback_used,
        }
    )
    yield sse("[DONE]")
