"""``post_json`` through the shared client's direct POST (``service.http1``), against httpx's.

The service's client (:class:`service.upstream.UpstreamClient`) answers
``providers._http.post_json`` without httpx's request and response objects.
These tests run both paths against the same loopback servers (a scripted raw
HTTP/1.1 server here, and ``tests.utils.fake_upstream``) and require the same
outcome: the same JSON, the same status, body and headers given to each
provider's error translator, the same exceptions, and kept-alive connections.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
import httpx
import pytest

from providers._http import ErrorContext, post_json
from providers.base import ChatRequest, Message
from providers.catalog import ModelSpec
from providers.errors import (
    ConnectionFailed,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    Retryable,
    ServerError,
)
from providers.openai_compatible import OpenAICompatibleProvider
from service.upstream import UpstreamClient, upstream_client
from tests.providers.wire import WIRES, ErrorFixture
from tests.utils.fake_upstream import FakeUpstream, fake_upstream
from tests.utils.http1_wire import read_request, reply

CTX = ErrorContext(model="m", provider="p")
BODY = {"model": "x", "messages": [{"role": "user", "content": "héllo ✓"}], "n": 1}
ANSWER = {"id": "a", "choices": [{"message": {"content": "hi ✓"}}], "usage": {"n": 3}}
CHAT = ChatRequest((Message("user", "Say hello."),), max_output_tokens=50)
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
# Headers a server adds on its own; the rest must reach the translator unchanged.
_VOLATILE = {"date", "server"}


@dataclass
class Scripted:
    """A keep-alive HTTP/1.1 server: each request gets the next queued reply."""

    url: str = ""
    replies: deque[bytes] = field(default_factory=deque)
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)  # (head, body)
    connections: int = 0

    def queue(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.replies.append(reply(status, body, headers))

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                self.requests.append(await read_request(reader))
                writer.write(self.replies.popleft())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def header(self, name: str, index: int = -1) -> list[str]:
        prefix = name.lower().encode() + b":"
        lines = self.requests[index][0].split(b"\r\n")
        return [
            ln.split(b":", 1)[1].strip().decode() for ln in lines if ln.lower().startswith(prefix)
        ]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
async def fast(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[UpstreamClient]:
    client = upstream_client(5.0, fast=True)
    assert isinstance(client, UpstreamClient)

    async def no_httpx_post(*args: object, **kwargs: object) -> httpx.Response:
        raise AssertionError("the fast path went through httpx's post")

    monkeypatch.setattr(client, "post", no_httpx_post)
    yield client
    await client.aclose()


@pytest.fixture
async def plain() -> AsyncIterator[httpx.AsyncClient]:
    client = upstream_client(5.0, fast=False)
    assert not hasattr(client, "post_json_fast")
    yield client
    await client.aclose()


@pytest.fixture
async def scripted() -> AsyncIterator[Scripted]:
    state = Scripted()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/chat/completions"
    async with server:
        yield state


async def _serve(handler: Handler) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/v1/chat/completions"


class Seen(Exception):
    """What the translator was given, raised out of ``post_json`` to be compared."""

    def __init__(self, status: int, body: Any, headers: httpx.Headers) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers

    def comparable(self) -> tuple[int, Any, list[tuple[str, str]]]:
        kept = [(k, v) for k, v in self.headers.multi_items() if k not in _VOLATILE]
        return self.status, self.body, kept


def _record(status: int, body: Any, headers: httpx.Headers) -> ProviderError:
    raise Seen(status, body, headers)


async def _post(
    client: httpx.AsyncClient,
    url: str,
    *,
    timeout: float = 2.0,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    return await post_json(
        client,
        url,
        headers={"Authorization": "Bearer k"} if headers is None else headers,
        body=BODY,
        timeout=timeout,
        ctx=CTX,
        translate=_record,
    )


async def _outcome(client: httpx.AsyncClient, url: str, timeout: float = 2.0) -> Any:
    """The result, or the type, message and cause type of the exception."""
    try:
        return await _post(client, url, timeout=timeout)
    except Seen as seen:
        return seen.comparable()
    except ProviderError as exc:
        return type(exc), exc.kind, exc.message, type(exc.__cause__)


# ---------------------------------------------------------------- answers


async def test_2xx_json_is_returned_and_the_request_is_the_same(
    fast: UpstreamClient, plain: httpx.AsyncClient, scripted: Scripted
) -> None:
    scripted.queue(200, json.dumps(ANSWER).encode())
    scripted.queue(200, json.dumps(ANSWER).encode())

    assert await _post(fast, scripted.url) == ANSWER
    assert await _post(plain, scripted.url) == ANSWER

    (fast_head, fast_body), (plain_head, plain_body) = scripted.requests
    assert json.loads(fast_body) == json.loads(plain_body) == BODY
    for name in ("content-type", "user-agent", "authorization", "host"):
        assert scripted.header(name, 0) == scripted.header(name, 1), name
    assert scripted.header("content-type", 0) == ["application/json"]
    assert fast_head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")


async def test_compressed_answers_are_asked_for_and_decoded_on_both_paths(
    fast: UpstreamClient, plain: httpx.AsyncClient, scripted: Scripted
) -> None:
    body = gzip.compress(json.dumps(ANSWER).encode())
    for _ in range(2):
        scripted.queue(200, body, {"Content-Type": "application/json", "Content-Encoding": "gzip"})

    assert await _post(fast, scripted.url) == ANSWER
    assert await _post(plain, scripted.url) == ANSWER
    assert "gzip" in scripted.header("accept-encoding", 0)[0]
    assert scripted.header("accept", 0) == ["*/*"]


async def test_adapter_headers_win_case_insensitively(
    fast: UpstreamClient, scripted: Scripted
) -> None:
    scripted.queue(200, b"{}")

    await _post(fast, scripted.url, headers={"content-type": "application/json; charset=utf-8"})

    assert scripted.header("content-type") == ["application/json; charset=utf-8"]


@pytest.mark.parametrize(
    ("status", "body", "headers"),
    [
        (502, b"<html><body>Bad gateway</body></html>", {"Content-Type": "text/html"}),
        (503, b"", {"Retry-After": "3"}),
        (500, b'{"error": "truncated', {"Content-Type": "application/json"}),
    ],
    ids=["html", "empty", "broken-json"],
)
async def test_non_json_error_body_reaches_the_translator_as_none(
    fast: UpstreamClient,
    plain: httpx.AsyncClient,
    scripted: Scripted,
    status: int,
    body: bytes,
    headers: dict[str, str],
) -> None:
    scripted.queue(status, body, headers)
    scripted.queue(status, body, headers)

    seen_fast = await _outcome(fast, scripted.url)
    seen_plain = await _outcome(plain, scripted.url)

    assert seen_fast == seen_plain
    assert seen_fast[:2] == (status, None)


@pytest.mark.parametrize(
    "body", [b'{"id": "a", "choices": [', b"[1, 2]", b"not json"], ids=["cut", "array", "text"]
)
async def test_malformed_2xx_is_a_server_error(
    fast: UpstreamClient, plain: httpx.AsyncClient, scripted: Scripted, body: bytes
) -> None:
    scripted.queue(200, body)
    scripted.queue(200, body)

    with pytest.raises(ServerError) as on_fast:
        await _post(fast, scripted.url)
    with pytest.raises(ServerError) as on_plain:
        await _post(plain, scripted.url)

    assert on_fast.value.message == on_plain.value.message
    assert isinstance(on_fast.value, Retryable)


async def test_json_that_only_the_stdlib_reads_is_still_read(
    fast: UpstreamClient, scripted: Scripted
) -> None:
    scripted.queue(200, b'{"logprob": NaN, "text": "ok"}')

    data = await _post(fast, scripted.url)

    assert data["text"] == "ok"
    assert data["logprob"] != data["logprob"]  # NaN, as json.loads reads it


# ------------------------------------------------------- provider error shapes


def _error_cases() -> Iterator[tuple[str, str, ErrorFixture]]:
    for provider in ("openai", "anthropic", "google"):
        for case, fixture in WIRES[provider].errors.items():
            if fixture[0] >= 400:
                yield provider, case, fixture


@pytest.mark.parametrize(
    ("provider", "case", "fixture"), list(_error_cases()), ids=lambda v: str(v)[:20]
)
async def test_error_shapes_reach_the_translator_unchanged(
    fast: UpstreamClient,
    plain: httpx.AsyncClient,
    scripted: Scripted,
    provider: str,
    case: str,
    fixture: ErrorFixture,
) -> None:
    status, body, extra = fixture
    headers = {"Content-Type": "application/json", **extra, "X-Request-Id": "req-1"}
    scripted.queue(status, json.dumps(body).encode(), headers)
    scripted.queue(status, json.dumps(body).encode(), headers)

    with pytest.raises(Seen) as on_fast:
        await _post(fast, scripted.url)
    with pytest.raises(Seen) as on_plain:
        await _post(plain, scripted.url)

    seen = on_fast.value
    assert (seen.status, seen.body) == (status, body)
    assert isinstance(seen.headers, httpx.Headers)
    assert seen.headers.get("retry-after") == extra.get("retry-after")
    assert seen.headers["x-request-id"] == "req-1"
    assert seen.comparable() == on_plain.value.comparable()


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
async def test_each_adapter_fails_and_answers_the_same_on_both_paths(
    fast: UpstreamClient, plain: httpx.AsyncClient, scripted: Scripted, provider: str
) -> None:
    wire = WIRES[provider]
    base = scripted.url.removesuffix("/chat/completions")
    model = replace(wire.spec, base_url=base)
    fixtures = list(wire.errors.values())
    success = (200, wire.success("Hi there.", wire.finish_values["stop"], 9, 5), {})
    for status, body, extra in [*fixtures, success]:
        for _ in range(2):
            scripted.queue(
                status, json.dumps(body).encode(), {"Content-Type": "application/json", **extra}
            )

    for _ in fixtures:
        errors = []
        for client in (fast, plain):
            with pytest.raises(ProviderError) as info:
                await wire.make(client).complete(model, CHAT, timeout=2.0)
            exc = info.value
            retry_after = getattr(exc, "retry_after", None)
            errors.append((type(exc), exc.kind, exc.status, exc.message, retry_after))
        assert errors[0] == errors[1]
    results = [await wire.make(c).complete(model, CHAT, timeout=2.0) for c in (fast, plain)]
    assert [replace(r, latency_ms=0.0) for r in results] == [
        replace(results[0], latency_ms=0.0)
    ] * 2
    assert results[0].text == "Hi there."


# -------------------------------------------------------------- failures


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_refused_connection_is_connection_failed(
    fast: UpstreamClient, plain: httpx.AsyncClient
) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1/chat/completions"

    with pytest.raises(ConnectionFailed) as info:
        await _post(fast, url)

    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert url.split("/")[2] in info.value.message  # host:port
    on_fast, on_plain = await _outcome(fast, url), await _outcome(plain, url)
    assert (on_fast[:2], on_fast[3]) == (on_plain[:2], on_plain[3])  # aiohttp words the message


async def test_silent_server_times_out_at_the_request_timeout(
    fast: UpstreamClient, plain: httpx.AsyncClient
) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.sleep(5)
        finally:
            writer.close()

    server, url = await _serve(silent)
    async with server:
        for client in (fast, plain):
            started = time.monotonic()
            with pytest.raises(ProviderTimeout):
                await _post(client, url, timeout=0.3)
            # The request's timeout, not the client's default of 5 s.
            assert 0.25 < time.monotonic() - started < 1.5


async def test_slow_answer_within_the_timeout_succeeds(fast: UpstreamClient) -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(0.4)
        writer.write(reply(200, b'{"ok": true}'))
        await writer.drain()
        writer.close()

    server, url = await _serve(slow)
    async with server:
        assert await _post(fast, url, timeout=2.0) == {"ok": True}


async def _cut_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"a":')
    await writer.drain()
    writer.close()


async def _no_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.close()


async def _not_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
    await writer.drain()
    writer.close()


@pytest.mark.parametrize(
    "handler", [_cut_body, _no_answer, _not_http], ids=["cut-body", "no-answer", "not-http"]
)
async def test_broken_server_is_retryable_and_the_same_on_both_paths(
    fast: UpstreamClient, plain: httpx.AsyncClient, handler: Handler
) -> None:
    server, url = await _serve(handler)
    async with server:
        with pytest.raises(Retryable) as info:
            await _post(fast, url)
        assert isinstance(info.value.__cause__, httpx.HTTPError)
        assert isinstance(info.value, ConnectionFailed)
        on_fast, on_plain = await _outcome(fast, url), await _outcome(plain, url)
    assert on_fast[:2] == on_plain[:2]  # class and kind; aiohttp words the message


# ------------------------------------------------------- pool and lifetime


async def test_connections_are_kept_alive(fast: UpstreamClient, scripted: Scripted) -> None:
    for _ in range(6):
        scripted.queue(200, b'{"ok": true}')

    for _ in range(5):
        assert await _post(fast, scripted.url) == {"ok": True}
    # The httpx API of the same client (streams go this way) has a pool of its own.
    answer = await httpx.AsyncClient.post(fast, scripted.url, json=BODY)

    assert answer.json() == {"ok": True}
    assert len(scripted.requests) == 6
    assert scripted.connections == 2


async def test_aclose_closes_both_pools(scripted: Scripted) -> None:
    client = upstream_client(5.0, fast=True)
    assert isinstance(client, UpstreamClient)
    scripted.queue(200, b"{}")
    scripted.queue(200, b"{}")
    await _post(client, scripted.url)
    await httpx.AsyncClient.post(client, scripted.url, json=BODY)
    session = client._upstream.client  # the transport's session, made by that request
    assert isinstance(session, aiohttp.ClientSession)

    await client.aclose()

    assert session.closed
    assert session.connector is None or session.connector.closed
    assert client._http1.closed
    with pytest.raises(RuntimeError, match="closed"):
        await _post(client, scripted.url)


def test_both_paths_share_the_transport_s_tls_context() -> None:
    client = upstream_client(5.0, fast=True)
    assert isinstance(client, UpstreamClient)

    assert client._http1._tls() is client._upstream.ssl_context


async def test_a_proxy_in_the_environment_keeps_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")

    client = upstream_client(5.0, fast=True)

    assert not hasattr(client, "post_json_fast")
    await client.aclose()


# ----------------------------------------------- the fake OpenAI-compatible server


@pytest.fixture(scope="module")
def server() -> Iterator[FakeUpstream]:
    with fake_upstream() as upstream:
        yield upstream


@pytest.fixture
def upstream(server: FakeUpstream) -> FakeUpstream:
    server.reset()
    return server


def _spec(upstream: FakeUpstream) -> ModelSpec:
    return ModelSpec(
        "local", "openai_compatible", "fake-model", 0.1, 0.2, base_url=upstream.base_url
    )


async def test_fake_upstream_answers_and_fails_the_same_on_both_paths(
    fast: UpstreamClient, plain: httpx.AsyncClient, upstream: FakeUpstream
) -> None:
    model = _spec(upstream)
    upstream.set(text="Hello from loopback.")
    answers = [
        await OpenAICompatibleProvider(c).complete(model, CHAT, timeout=5) for c in (fast, plain)
    ]
    assert [a.text for a in answers] == ["Hello from loopback."] * 2
    assert answers[0].usage == answers[1].usage

    upstream.set(mode="error", status=429, retry_after=7)
    limited = []
    for client in (fast, plain):
        with pytest.raises(RateLimited) as info:
            await OpenAICompatibleProvider(client).complete(model, CHAT, timeout=5)
        limited.append((info.value.message, info.value.retry_after))
    assert limited[0] == limited[1]
    assert limited[0][1] == 7

    upstream.set(mode="hang")
    with pytest.raises(ProviderTimeout):
        await OpenAICompatibleProvider(fast).complete(model, CHAT, timeout=0.3)
    assert upstream.calls() == 5
