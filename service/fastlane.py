"""The fast lane: the two chat endpoints served without FastAPI's per-request machinery.

FastAPI still declares ``POST /v1/chat/completions`` and ``POST /api/v1/chat``
(the OpenAPI schema, and every request the lane does not take). The lane is
a pure ASGI middleware, innermost of ours, so the request id, body cap,
metrics and CORS wrap it exactly as they wrap FastAPI. For a request to one
of its paths it reads the body, parses it with orjson and validates it with
the route's own pydantic model, then runs the route's own ``answer`` with the
same :class:`~service.deps.ChatContext` its dependency builds. That skips
routing, dependency solving (a third to a half of the HTTP layer's time in
the in-process profile) and FastAPI's request/response wrappers.

Anything unusual goes to FastAPI with the body replayed, so its answer is
FastAPI's own, byte for byte: a body that is not UTF-8 JSON of the model's
shape (FastAPI then reports its 400), a content type FastAPI might read
differently, a body read that fails (the 413 of a chunked body over the cap)
or a disconnect. Errors raised once the body is valid (401, 429, 400
``empty_messages``, 502...) are rendered by the app's one error handler, as
FastAPI would; unexpected exceptions propagate to the outer error middleware,
as they do from a FastAPI route. ``AUTOROUTE_FAST_LANE=0`` turns the lane off.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.deps import ChatContext, build_chat_context
from service.errors import ServiceError, handle_error
from service.store.errors import StoreError

# What install_error_handler renders in ExceptionMiddleware (``Exception`` is
# left to the outer ServerErrorMiddleware, as for a FastAPI route).
HANDLED = (ServiceError, StoreError, RequestValidationError, HTTPException)

_AUTHORIZATION = b"authorization"
_AUTOROUTE_STRATEGY = b"x-autoroute-strategy"
_ROUTEPLEX_STRATEGY = b"x-routeplex-strategy"
_CONTENT_TYPE = b"content-type"
_WANTED = frozenset({_AUTHORIZATION, _AUTOROUTE_STRATEGY, _ROUTEPLEX_STRATEGY, _CONTENT_TYPE})


@dataclass(frozen=True, slots=True)
class FastRoute:
    """One endpoint of the lane: the FastAPI route it stands in for, its body
    model and the route's own ``answer``."""

    path: str
    route: BaseRoute
    body: type[BaseModel]
    answer: Callable[[Any, ChatContext], Awaitable[Response]]

    @classmethod
    def of(
        cls,
        router: APIRouter,
        path: str,
        body: type[BaseModel],
        answer: Callable[[Any, ChatContext], Awaitable[Response]],
    ) -> FastRoute:
        """The lane entry for ``POST path`` of ``router`` (which must declare it)."""
        for route in router.routes:
            if (
                isinstance(route, APIRoute)
                and route.path == path
                and "POST" in (route.methods or ())
            ):
                return cls(path, route, body, answer)
        raise LookupError(f"{path} is not a POST route of this router")


class FastLane:
    """Serve ``POST`` to the paths of ``routes`` itself; pass everything else on."""

    def __init__(self, app: ASGIApp, routes: Iterable[FastRoute]) -> None:
        self.app = app
        self.routes = {lane.path: lane for lane in routes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        if lane is None or scope["method"] != "POST" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        try:
            body = await _read_body(receive, received)
        except Exception as exc:  # FastAPI reads the body again and reports this itself
            await self.app(scope, _Replay(received, receive, exc), send)
            return
        headers = _headers(scope)
        parsed = _parse(lane.body, body, headers.get(_CONTENT_TYPE)) if body is not None else None
        if parsed is None:
            await self.app(scope, _Replay(received, receive), send)
            return
        scope["route"] = lane.route  # as FastAPI sets it: metrics label requests by its path
        await self._answer(lane, parsed, headers, scope, receive, send)

    async def _answer(
        self,
        lane: FastRoute,
        body: BaseModel,
        headers: dict[bytes, str],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        started = False

        async def send_started(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            context = await build_chat_context(
                scope["app"].state,
                scope["state"],
                headers.get(_AUTHORIZATION),
                headers.get(_AUTOROUTE_STRATEGY),
                headers.get(_ROUTEPLEX_STRATEGY),
            )
            response = await lane.answer(body, context)
            await response(scope, receive, send_started)
        except HANDLED as exc:
            if started:  # what Starlette's route wrapper does too
                raise RuntimeError(
                    "Caught handled exception, but response already started."
                ) from exc
            error = await handle_error(Request(scope, receive, send), exc)
            await error(scope, receive, send)


async def _read_body(receive: Receive, received: list[Message]) -> bytes | None:
    """The whole body, keeping every message for a replay; None on a disconnect."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _headers(scope: Scope) -> dict[bytes, str]:
    """The headers the lane reads; the first of repeated ones, as Starlette's ``get``."""
    found: dict[bytes, str] = {}
    for key, value in scope["headers"]:
        if key in _WANTED and key not in found:
            found[key] = value.decode("latin-1")
    return found


def _parse(model: type[BaseModel], body: bytes, content_type: str | None) -> BaseModel | None:
    """The validated body, or None where FastAPI might answer differently.

    FastAPI decodes JSON only under an ``application/json`` (or ``+json``)
    content type, with ``json.loads``; orjson accepts a strict subset of what
    that accepts (UTF-8, no NaN, no lone surrogates) and parses it to the same
    values, and the model validates them as FastAPI's body field does.
    """
    if content_type is None or content_type.partition(";")[0].strip().lower() != "application/json":
        return None
    try:
        return model.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError):
        return None


class _Replay:
    """A ``receive`` that first returns the messages the lane already read."""

    __slots__ = ("_error", "_messages", "_receive")

    def __init__(
        self, messages: list[Message], receive: Receive, error: Exception | None = None
    ) -> None:
        self._messages = list(reversed(messages))
        self._receive = receive
        self._error = error

    async def __call__(self) -> Message:
        if self._messages:
            return self._messages.pop()
        if self._error is not None:
            raise self._error
        return await self._receive()
