"""Fixtures for provider tests: a MockTransport-backed client that records requests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from providers.base import ChatRequest, Message
from tests.providers.wire import WIRES, Wire

Responder = Callable[[httpx.Request], httpx.Response]


class MockUpstream:
    """Answers every request with ``respond`` and keeps the requests for assertions."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.respond: Responder = lambda request: httpx.Response(500)
        self.client: httpx.AsyncClient

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)

    def json_body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)

    def reply_json(
        self, body: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        self.respond = lambda request: httpx.Response(status, json=body, headers=headers)

    def reply_sse(self, content: bytes) -> None:
        self.respond = lambda request: httpx.Response(
            200, content=content, headers={"content-type": "text/event-stream"}
        )

    def reply_stream(self, stream: httpx.AsyncByteStream) -> None:
        self.respond = lambda request: httpx.Response(
            200, stream=stream, headers={"content-type": "text/event-stream"}
        )

    def raise_error(self, exc_type: type[httpx.TransportError]) -> None:
        def respond(request: httpx.Request) -> httpx.Response:
            raise exc_type("simulated transport failure", request=request)

        self.respond = respond


@pytest.fixture
async def upstream() -> AsyncIterator[MockUpstream]:
    mock = MockUpstream()
    async with httpx.AsyncClient(transport=httpx.MockTransport(mock.handler)) as client:
        mock.client = client
        yield mock


@pytest.fixture(params=list(WIRES))
def wire(request: pytest.FixtureRequest) -> Wire:
    return WIRES[request.param]


@pytest.fixture
def chat() -> ChatRequest:
    return ChatRequest(
        (
            Message("system", "Be brief."),
            Message("user", "Say hello."),
        ),
        max_output_tokens=64,
        temperature=0.3,
    )
