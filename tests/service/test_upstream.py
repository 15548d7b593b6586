"""The shared upstream client (aiohttp's transport under httpx) fails retryably.

Real sockets on loopback: a refused connection, a server that never answers,
and one that hangs up mid-response must each reach the fallback as a
:class:`providers.errors.Retryable`, through ``providers._http``. Every test
runs twice: with the client's direct aiohttp POST (``post_json_fast``, what the
service uses) and with it turned off (httpx's ``post``). The fast path's other
cases are in ``test_upstream_fast.py``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from providers._http import ErrorContext, post_json, stream_sse
from providers.errors import ConnectionFailed, ProviderError, ProviderTimeout, Retryable
from service.upstream import UpstreamClient, upstream_client

CTX = ErrorContext(model="m", provider="p")
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _never(status: int, body: object, headers: httpx.Headers) -> ProviderError:
    raise AssertionError("no HTTP status expected")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _serve(handler: Handler) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/v1/chat/completions"


@pytest.fixture(params=["fast", "httpx"])
async def client(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    c = upstream_client(5.0, fast=request.param == "fast")
    assert isinstance(c, UpstreamClient) == (request.param == "fast")
    if request.param == "fast":
        # Prove the JSON POST skips httpx: its ``post`` must not be reached.
        monkeypatch.setattr(c, "post", _no_httpx_post)
    yield c
    await c.aclose()


async def _no_httpx_post(*args: object, **kwargs: object) -> httpx.Response:
    raise AssertionError("the fast path went through httpx's post")


async def _post(client: httpx.AsyncClient, url: str, timeout: float = 2.0) -> None:
    await post_json(
        client, url, headers={}, body={"x": 1}, timeout=timeout, ctx=CTX, translate=_never
    )


async def test_connection_refused_is_connection_failed(client: httpx.AsyncClient) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1/chat/completions"
    with pytest.raises(ConnectionFailed) as info:
        await _post(client, url)
    assert isinstance(info.value, Retryable)
    assert isinstance(info.value.__cause__, httpx.ConnectError)


async def test_silent_server_is_a_timeout(client: httpx.AsyncClient) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.sleep(5)
        finally:
            writer.close()

    server, url = await _serve(silent)
    async with server:
        with pytest.raises(ProviderTimeout):
            await _post(client, url, timeout=0.3)


async def test_hang_up_mid_response_is_retryable(client: httpx.AsyncClient) -> None:
    async def rude(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"a":')
        await writer.drain()
        writer.close()

    server, url = await _serve(rude)
    async with server:
        with pytest.raises(Retryable) as info:
            await _post(client, url)
    assert isinstance(info.value.__cause__, httpx.HTTPError)


async def test_stream_refused_is_connection_failed(client: httpx.AsyncClient) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1/chat/completions"
    events = stream_sse(
        client, url, headers={}, body={"x": 1}, timeout=2.0, ctx=CTX, translate=_never
    )
    with pytest.raises(ConnectionFailed):
        async for _ in events:
            pass


async def test_stream_read_timeout_is_retryable(client: httpx.AsyncClient) -> None:
    async def stalls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        await writer.drain()
        try:
            await asyncio.sleep(5)
        finally:
            writer.close()

    server, url = await _serve(stalls)
    async with server:
        events = stream_sse(
            client, url, headers={}, body={"x": 1}, timeout=0.3, ctx=CTX, translate=_never
        )
        with pytest.raises(ProviderTimeout):
            async for _ in events:
                pass
