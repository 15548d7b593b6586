"""ASGI middleware: a request id on every request, a cap on body size, a count of each.

One pure ASGI middleware (not ``BaseHTTPMiddleware``, and not three) so
streamed responses pass through untouched, the body limit also holds for
chunked uploads without a ``Content-Length``, and each request pays for one
wrapper of ``send`` and one scan of the response headers.
"""

from __future__ import annotations

import json
import os

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import PayloadTooLarge, error_body

REQUEST_ID_HEADER = "x-autoroute-request-id"
_REQUEST_ID = REQUEST_ID_HEADER.encode()
_STRATEGY = b"x-autoroute-strategy"
_MODEL = b"x-autoroute-model"


def new_request_id() -> str:
    """A fresh random request id: ``req_`` and 32 hex digits (128 bits)."""
    return "req_" + os.urandom(16).hex()


class RequestContextMiddleware:
    """Give each HTTP request an id, cap its body and count it in ``autoroute_requests_total``.

    The id goes to the scope state (chat requests reuse it as decision id) and
    to the ``x-autoroute-request-id`` response header. A ``Content-Length``
    over the limit is refused with 413 before the app runs (and is not
    counted); a chunked body that grows past it raises
    :class:`PayloadTooLarge` from ``receive``, which the error handler renders
    as 413.

    Metric labels come from what the app already says: the matched route
    template (never the raw path), the status, and the ``X-Autoroute-Strategy``
    and ``X-Autoroute-Model`` response headers of chat answers. The metrics
    object is looked up on ``app.state`` per request, as the lifespan creates it.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._refuse(scope, request_id, send)
            return
        answer = _Answer(send, request_id.encode())
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise PayloadTooLarge(f"request body exceeds {self.max_body_bytes} bytes")
            return message

        try:
            await self.app(scope, limited_receive, answer.send)
        finally:
            metrics = getattr(scope["app"].state, "metrics", None)
            if metrics is not None:
                template = str(getattr(scope.get("route"), "path", "unmatched"))
                metrics.observe_request(template, answer.status, answer.strategy, answer.model)

    async def _refuse(self, scope: Scope, request_id: str, send: Send) -> None:
        body = error_body(
            scope["path"],
            request_id,
            413,
            PayloadTooLarge.code,
            f"request body exceeds {self.max_body_bytes} bytes",
            None,
        )
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                    (_REQUEST_ID, request_id.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


class _Answer:
    """Passes the response on with the request id header added, noting the labels."""

    __slots__ = ("_request_id", "_send", "model", "status", "strategy")

    def __init__(self, send: Send, request_id: bytes) -> None:
        self._send = send
        self._request_id = request_id
        self.status, self.strategy, self.model = "500", "none", "none"

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = str(message["status"])
            headers = message.get("headers", [])
            has_id = False
            for key, value in headers:
                name = key.lower()
                if name == _STRATEGY:
                    self.strategy = value.decode("latin-1")
                elif name == _MODEL:
                    self.model = value.decode("latin-1")
                elif name == _REQUEST_ID:
                    has_id = True
            if not has_id:
                headers = [*headers, (_REQUEST_ID, self._request_id)]
            message = {**message, "headers": headers}
        await self._send(message)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
