"""ASGI middleware: a request id on every request, and a cap on body size.

Pure ASGI (not ``BaseHTTPMiddleware``) so streamed responses pass through
untouched and the body limit also holds for chunked uploads without a
``Content-Length``.
"""

from __future__ import annotations

import json
import os

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import PayloadTooLarge, error_body

REQUEST_ID_HEADER = "x-autoroute-request-id"


def new_request_id() -> str:
    """A fresh random request id: ``req_`` and 32 hex digits (128 bits)."""
    return "req_" + os.urandom(16).hex()


class RequestContextMiddleware:
    """Give each HTTP request an id (scope state + response header) and cap its body.

    A ``Content-Length`` over the limit is refused with 413 before the app
    runs; a chunked body that grows past it raises :class:`PayloadTooLarge`
    from ``receive``, which the error handler renders as 413.
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

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == REQUEST_ID_HEADER.encode() for k, _ in headers):
                    headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._refuse(scope, request_id, send_with_id)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise PayloadTooLarge(f"request body exceeds {self.max_body_bytes} bytes")
            return message

        await self.app(scope, limited_receive, send_with_id)

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
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class RequestMetricsMiddleware:
    """Count every HTTP request in ``autoroute_requests_total``.

    Labels come from what the app already says: the matched route template
    (never the raw path), the status, and the ``X-Autoroute-Strategy`` and
    ``X-Autoroute-Model`` response headers of chat answers. The metrics object
    is looked up on ``app.state`` per request, as the lifespan creates it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen: dict[str, str] = {"status": "500", "strategy": "none", "model": "none"}

        async def observe_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = str(message["status"])
                for key, value in message.get("headers", []):
                    name = key.decode("latin-1").lower()
                    if name == "x-autoroute-strategy":
                        seen["strategy"] = value.decode("latin-1")
                    elif name == "x-autoroute-model":
                        seen["model"] = value.decode("latin-1")
            await send(message)

        try:
            await self.app(scope, receive, observe_send)
        finally:
            metrics = getattr(scope["app"].state, "metrics", None)
            route = scope.get("route")
            template = str(getattr(route, "path", "unmatched"))
            if metrics is not None:
                metrics.observe_request(template, seen["status"], seen["strategy"], seen["model"])
