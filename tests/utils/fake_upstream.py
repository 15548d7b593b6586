"""A real OpenAI-compatible HTTP server on loopback, with controllable behaviour.

Used by the provider end-to-end tests, the HTTP service tests and benchmarks::

    with fake_upstream() as upstream:
        upstream.set(mode="stream", text="hello world")
        upstream.set("broken-model", mode="error", status=503)
        ... point an openai_compatible model at upstream.base_url ...
        assert upstream.calls("broken-model") == 1

Behaviours (per upstream model name, or the default for every model):

- ``answer``: a ``chat.completion`` JSON object (streamed as SSE chunks with
  usage and ``[DONE]`` when the request asks for ``stream``).
- ``stream``: same as ``answer``; kept as a readable alias.
- ``error``: ``status`` with a real OpenAI error body (``error_code`` and
  ``error_type``) and an optional ``Retry-After``.
- ``cut``: a stream that sends ``cut_after`` content chunks, then drops the
  connection without finishing the chunked body.
- ``hang``: accepts the request and never answers (until the server stops).

``delay_s`` delays every answer (upstream latency). ``script(model, [...])``
queues one-shot behaviours consumed in order before falling back to the
configured one (e.g. fail twice, then answer).

The server is uvicorn serving a tiny raw ASGI app in a background thread. Its
socket is bound and listening before the thread starts, so clients can
connect at once without any wait.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal

import uvicorn

Mode = Literal["answer", "stream", "error", "cut", "hang"]

_ERROR_DEFAULTS: dict[int, tuple[str, str | None, str]] = {
    # status: (type, code, message) as OpenAI sends them
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided: sk-te*****st."),
    403: (
        "invalid_request_error",
        "unsupported_country_region_territory",
        "Country not supported.",
    ),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


@dataclass(frozen=True)
class Behaviour:
    """How the fake answers one request."""

    mode: Mode = "answer"
    text: str = "Hello from the fake upstream."
    chunks: int = 4
    status: int = 500
    error_code: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    retry_after: float | None = None
    delay_s: float = 0.0
    cut_after: int = 1
    finish_reason: str = "stop"
    include_usage: bool = True


class FakeUpstream:
    """Handle on a running fake server: its ``base_url`` and the knobs."""

    def __init__(self, base_url: str, default: Behaviour) -> None:
        self.base_url = base_url
        self._default = default
        self._per_model: dict[str, Behaviour] = {}
        self._scripts: dict[str, deque[Behaviour]] = {}
        self._calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.stopping = asyncio.Event()

    def set(self, model: str | None = None, **knobs: Any) -> None:
        """Set the behaviour for ``model`` (or the default), from ``Behaviour`` fields."""
        with self._lock:
            if model is None:
                self._default = replace(self._default, **knobs)
            else:
                self._per_model[model] = replace(self._default, **knobs)

    def script(self, model: str, behaviours: list[Behaviour]) -> None:
        """Queue one-shot behaviours for ``model``, used before its configured one."""
        with self._lock:
            self._scripts.setdefault(model, deque()).extend(behaviours)

    def reset(self) -> None:
        """Back to instant answers, and forget calls."""
        with self._lock:
            self._default = Behaviour()
            self._per_model.clear()
            self._scripts.clear()
            self._calls.clear()
            self.requests.clear()

    def calls(self, model: str | None = None) -> int:
        """Requests received, for ``model`` or in total."""
        with self._lock:
            return self._calls[model] if model else sum(self._calls.values())

    def _take(self, body: dict[str, Any]) -> Behaviour:
        model = str(body.get("model", ""))
        with self._lock:
            self._calls[model] += 1
            self.requests.append(body)
            script = self._scripts.get(model)
            if script:
                return script.popleft()
            return self._per_model.get(model, self._default)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"].endswith("/models") and scope["method"] == "GET":
            await _send_json(send, 200, {"object": "list", "data": []})
            return
        if not scope["path"].endswith("/chat/completions") or scope["method"] != "POST":
            await _send_json(send, 404, _error_body(404, None, None, "Not found."))
            return
        try:
            body = json.loads(await _read_body(receive))
        except ValueError:
            await _send_json(
                send, 400, _error_body(400, None, None, "We could not parse the JSON body.")
            )
            return
        behaviour = self._take(body)
        if behaviour.delay_s:
            await asyncio.sleep(behaviour.delay_s)
        await self._respond(behaviour, body, send)

    async def _respond(self, b: Behaviour, body: dict[str, Any], send: Any) -> None:
        if b.mode == "hang":
            await self.stopping.wait()
            return
        if b.mode == "error":
            headers = (
                [(b"retry-after", str(b.retry_after).encode())] if b.retry_after is not None else []
            )
            await _send_json(
                send,
                b.status,
                _error_body(b.status, b.error_type, b.error_code, b.error_message),
                headers,
            )
            return
        model = str(body.get("model", ""))
        if body.get("stream") or b.mode == "cut":
            await _send_stream(send, b, model, body)
        else:
            await _send_json(send, 200, _completion(b, model, body))


def _error_body(
    status: int, kind: str | None, code: str | None, message: str | None
) -> dict[str, Any]:
    d_kind, d_code, d_message = _ERROR_DEFAULTS.get(
        status, ("server_error", None, "Upstream error.")
    )
    return {
        "error": {
            "message": message or d_message,
            "type": kind or d_kind,
            "param": None,
            "code": code or d_code,
        }
    }


def _usage(b: Behaviour, body: dict[str, Any]) -> dict[str, int]:
    prompt = sum(len(str(m.get("content", ""))) // 4 + 4 for m in body.get("messages", []))
    completion = max(1, len(b.text) // 4)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion(b: Behaviour, model: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": b.text},
                "logprobs": None,
                "finish_reason": b.finish_reason,
            }
        ],
        "usage": _usage(b, body),
    }


def _chunk(model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def _pieces(text: str, parts: int) -> list[str]:
    size = max(1, -(-len(text) // max(1, parts)))
    return [text[i : i + size] for i in range(0, len(text), size)]


async def _send_stream(send: Any, b: Behaviour, model: str, body: dict[str, Any]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
        }
    )

    async def event(payload: Any) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        await send(
            {"type": "http.response.body", "body": f"data: {data}\n\n".encode(), "more_body": True}
        )

    await event(_chunk(model, {"role": "assistant", "content": ""}, None))
    for index, piece in enumerate(_pieces(b.text, b.chunks)):
        if b.mode == "cut" and index >= b.cut_after:
            # Return without the final empty body: the server aborts the
            # connection, which the client sees as an incomplete chunked body.
            return
        await event(_chunk(model, {"content": piece}, None))
    await event(_chunk(model, {}, b.finish_reason))
    if b.include_usage and (body.get("stream_options") or {}).get("include_usage"):
        usage_chunk = _chunk(model, {}, None) | {"choices": [], "usage": _usage(b, body)}
        await event(usage_chunk)
    await event("[DONE]")
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _send_json(
    send: Any,
    status: int,
    payload: dict[str, Any],
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    data = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": data, "more_body": False})


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


@contextmanager
def fake_upstream(**defaults: Any) -> Iterator[FakeUpstream]:
    """Run a fake OpenAI-compatible server on a free loopback port.

    Args:
        **defaults: ``Behaviour`` fields for the default behaviour.

    Yields:
        The running server's handle; ``base_url`` ends in ``/v1``.
    """
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on such sockets; without it
    # a response sent in two writes waits out the client's delayed ACK (~40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    upstream = FakeUpstream(f"http://127.0.0.1:{port}/v1", Behaviour(**defaults))
    config = uvicorn.Config(
        upstream,
        log_config=None,
        log_level="critical",
        access_log=False,
        lifespan="off",
        ws="none",  # no websockets needed, and no import of a deprecated implementation
    )
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()

    def serve() -> None:
        loop.run_until_complete(server.serve(sockets=[sock]))

    thread = threading.Thread(target=serve, name="fake-upstream", daemon=True)
    thread.start()
    try:
        yield upstream
    finally:
        server.should_exit = True
        loop.call_soon_threadsafe(upstream.stopping.set)
        thread.join(timeout=10)
        loop.close()
        sock.close()
