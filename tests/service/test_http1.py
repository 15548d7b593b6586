"""``service.http1.Http1Pool`` against real loopback servers (plain and TLS).

What ``test_upstream_fast`` does not reach through ``post_json``: answer
framings (chunked, close-delimited, compressed, interim 1xx), connection reuse
and its limits, the pool's limit and its waiters, cancellation, timeouts,
TLS with certificate checking, and requests that must never be sent.
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import trustme

from service import http1
from service.http1 import Http1Pool
from tests.utils.http1_wire import read_request, reply

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b'{"ok":true}'
ANSWER = reply(200, OK)


@dataclass
class Server:
    """Answers each request on a connection with ``replies[i]`` (bytes), then keeps it open."""

    replies: list[bytes] = field(default_factory=list)
    connections: int = 0
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)
    close_after: int | None = None  # close every connection after this many answers
    delay_s: float = 0.0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        answered = 0
        try:
            while self.close_after is None or answered < self.close_after:
                self.requests.append(await read_request(reader))
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                writer.write(self.replies[min(len(self.requests), len(self.replies)) - 1])
                await writer.drain()
                answered += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _start(handler: Handler, ssl_ctx: ssl.SSLContext | None = None) -> asyncio.Server:
    return await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ssl_ctx)


def _url(server: asyncio.Server, scheme: str = "http", host: str = "127.0.0.1") -> str:
    return f"{scheme}://{host}:{server.sockets[0].getsockname()[1]}/v1/chat/completions?x=1"


@pytest.fixture
async def pool() -> AsyncIterator[Http1Pool]:
    p = Http1Pool()
    yield p
    await p.aclose()
    await asyncio.sleep(0.02)  # the servers' handlers see the close and end


async def _post(pool: Http1Pool, url: str, timeout: float = 2.0) -> tuple[int, bytes, list]:
    status, body, headers = await pool.post(url, {"Authorization": "Bearer k"}, b"{}", timeout)
    return status, body, list(headers)


# ------------------------------------------------------------------ framing


async def test_the_request_is_one_well_formed_http11_post(pool: Http1Pool) -> None:
    state = Server(replies=[ANSWER])
    async with await _start(state.handle) as server:
        status, body, headers = await _post(pool, _url(server))

    head, sent = state.requests[0]
    assert (status, body) == (200, OK)
    assert head.startswith(b"POST /v1/chat/completions?x=1 HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:" in head and b"\r\nContent-Length: 2\r\n" in head
    assert b"\r\nAuthorization: Bearer k\r\n" in head
    assert sent == b"{}"
    assert (b"Content-Length", b"11") in headers


async def test_chunked_answer_is_joined(pool: Http1Pool) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5\r\n{"ok"\r\n6\r\n:true}\r\n0\r\n\r\n'
    )
    state = Server(replies=[chunked, chunked])
    async with await _start(state.handle) as server:
        assert (await _post(pool, _url(server)))[1] == OK
        assert (await _post(pool, _url(server)))[1] == OK
    assert state.connections == 1  # chunked framing keeps the connection usable


async def test_answer_delimited_by_close_is_read_and_not_reused(pool: Http1Pool) -> None:
    async def close_delimited(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + OK)
        await writer.drain()
        writer.close()

    async with await _start(close_delimited) as server:
        assert (await _post(pool, _url(server)))[1] == OK
        assert (await _post(pool, _url(server)))[1] == OK


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b, wbits=-zlib.MAX_WBITS)),  # raw, as some send it
    ],
    ids=["gzip", "deflate-zlib", "deflate-raw"],
)
async def test_compressed_answer_is_decoded(
    pool: Http1Pool, coding: str, encode: Callable[[bytes], bytes]
) -> None:
    state = Server(replies=[reply(200, encode(OK), {"Content-Encoding": coding})])
    async with await _start(state.handle) as server:
        status, body, _ = await _post(pool, _url(server))
    assert (status, body) == (200, OK)


async def test_corrupt_compressed_answer_is_an_http_error(pool: Http1Pool) -> None:
    state = Server(replies=[reply(200, b"not gzip", {"Content-Encoding": "gzip"})])
    async with await _start(state.handle) as server:
        with pytest.raises(httpx.DecodingError):
            await _post(pool, _url(server))


async def test_interim_answers_are_skipped(pool: Http1Pool) -> None:
    state = Server(replies=[b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + ANSWER])
    async with await _start(state.handle) as server:
        status, body, headers = await _post(pool, _url(server))
    assert (status, body) == (200, OK)
    assert all(name != b"Link" for name, _ in headers)


async def test_error_status_is_returned_with_its_headers(pool: Http1Pool) -> None:
    state = Server(replies=[reply(429, b'{"e":1}', {"Retry-After": "3"})])
    async with await _start(state.handle) as server:
        status, body, headers = await _post(pool, _url(server))
    assert (status, body) == (429, b'{"e":1}')
    assert (b"Retry-After", b"3") in headers


async def test_oversized_answer_is_refused(
    pool: Http1Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http1, "MAX_BODY_BYTES", 8)
    state = Server(replies=[reply(200, b"0123456789")])
    async with await _start(state.handle) as server:
        with pytest.raises(httpx.RemoteProtocolError, match="size limit"):
            await _post(pool, _url(server))


# ----------------------------------------------------------- connection reuse


async def test_keep_alive_reuses_one_connection(pool: Http1Pool) -> None:
    state = Server(replies=[ANSWER])
    async with await _start(state.handle) as server:
        for _ in range(5):
            assert (await _post(pool, _url(server)))[0] == 200
    assert (state.connections, len(state.requests)) == (1, 5)


async def test_connection_close_answer_is_not_reused(pool: Http1Pool) -> None:
    state = Server(replies=[reply(200, OK, {"Connection": "close"})])
    async with await _start(state.handle) as server:
        for _ in range(3):
            assert (await _post(pool, _url(server)))[0] == 200
    assert state.connections == 3


async def test_connection_the_server_closed_while_idle_is_not_used(pool: Http1Pool) -> None:
    state = Server(replies=[ANSWER], close_after=1)  # server closes after each answer
    async with await _start(state.handle) as server:
        for _ in range(3):
            assert (await _post(pool, _url(server)))[0] == 200
            await asyncio.sleep(0.05)  # the FIN arrives while the connection is idle
    assert state.connections == 3


async def test_idle_connections_expire(pool: Http1Pool) -> None:
    pool.keepalive_s = 0.05
    state = Server(replies=[ANSWER])
    async with await _start(state.handle) as server:
        await _post(pool, _url(server))
        await asyncio.sleep(0.1)
        await _post(pool, _url(server))
    assert state.connections == 2


async def test_limit_per_host_queues_requests(pool: Http1Pool) -> None:
    pool.limit_per_host = 2
    state = Server(replies=[ANSWER], delay_s=0.05)
    async with await _start(state.handle) as server:
        results = await asyncio.gather(*[_post(pool, _url(server)) for _ in range(6)])
    assert [r[0] for r in results] == [200] * 6
    assert state.connections == 2


async def test_waiting_for_a_connection_counts_against_the_timeout(pool: Http1Pool) -> None:
    pool.limit_per_host = 1
    state = Server(replies=[ANSWER], delay_s=0.5)
    async with await _start(state.handle) as server:
        first = asyncio.create_task(_post(pool, _url(server)))
        await asyncio.sleep(0.05)
        with pytest.raises(httpx.ConnectTimeout):
            await _post(pool, _url(server), timeout=0.1)
        assert (await first)[0] == 200
        assert (await _post(pool, _url(server)))[0] == 200  # the slot was not leaked


async def test_cancelled_request_drops_its_connection(pool: Http1Pool) -> None:
    state = Server(replies=[ANSWER], delay_s=0.3)
    async with await _start(state.handle) as server:
        task = asyncio.create_task(_post(pool, _url(server)))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        state.delay_s = 0.0
        assert (await _post(pool, _url(server)))[1] == OK
    # The late answer to the cancelled request must not be read as the next one's.
    assert state.connections == 2
    host = next(iter(pool._hosts.values()))
    assert host.open == 1


# ------------------------------------------------------------------ failures


async def test_silent_server_times_out_at_the_deadline(pool: Http1Pool) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read()  # until the client gives up and closes
        finally:
            writer.close()

    async with await _start(silent) as server:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(httpx.ReadTimeout):
            await _post(pool, _url(server), timeout=0.2)
        assert 0.15 < loop.time() - started < 1.0


async def test_bytes_out_of_step_close_the_connection(pool: Http1Pool) -> None:
    state = Server(replies=[ANSWER + ANSWER])  # two answers to one request
    async with await _start(state.handle) as server:
        assert (await _post(pool, _url(server)))[1] == OK
        await asyncio.sleep(0.05)
        assert (await _post(pool, _url(server)))[1] == OK
    assert state.connections == 2


async def test_malformed_answer_is_a_protocol_error(pool: Http1Pool) -> None:
    state = Server(replies=[b"HTTP/1.1 abc\r\n\r\n"])
    async with await _start(state.handle) as server:
        with pytest.raises(httpx.RemoteProtocolError, match="malformed"):
            await _post(pool, _url(server))


async def test_unresolvable_host_is_a_connect_error(pool: Http1Pool) -> None:
    with pytest.raises(httpx.ConnectError, match="cannot connect"):
        await _post(pool, "http://no-such-host.invalid/v1/x")


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://127.0.0.1/x", httpx.UnsupportedProtocol),
        ("http:///x", httpx.InvalidURL),
        ("http://127.0.0.1:99999/x", httpx.InvalidURL),
        ("http://127.0.0.1/a b", httpx.InvalidURL),
        ("http://127.0.0.1/é", httpx.InvalidURL),
    ],
)
async def test_bad_urls_are_refused_before_connecting(
    pool: Http1Pool, url: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await _post(pool, url)


@pytest.mark.parametrize(
    "headers",
    [{"X-Key": "a\r\nX-Injected: 1"}, {"X\nY": "1"}, {"X-Key": "ключ"}],
    ids=["crlf-in-value", "lf-in-name", "not-latin-1"],
)
async def test_header_injection_is_refused(pool: Http1Pool, headers: dict[str, str]) -> None:
    state = Server(replies=[ANSWER])
    async with await _start(state.handle) as server:
        with pytest.raises(httpx.LocalProtocolError):
            await pool.post(_url(server), headers, b"{}", 2.0)
    assert state.requests == []


async def test_closed_pool_refuses_requests() -> None:
    pool = Http1Pool()
    await pool.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await _post(pool, "http://127.0.0.1:1/x")


# ------------------------------------------------------------------------ TLS


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _server_tls(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(ctx)
    return ctx


async def test_https_with_a_trusted_certificate(ca: trustme.CA) -> None:
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    pool = Http1Pool(ssl_context=client_ctx)
    state = Server(replies=[ANSWER])
    async with await _start(state.handle, _server_tls(ca)) as server:
        for _ in range(3):
            assert (await _post(pool, _url(server, "https", "localhost")))[1] == OK
    await pool.aclose()
    await asyncio.sleep(0.02)
    assert state.connections == 1


async def test_default_trust_is_httpx_s_and_honours_ssl_cert_file(
    ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    pool = Http1Pool()  # no context given: httpx.create_ssl_context(), which reads the variable
    state = Server(replies=[ANSWER])
    async with await _start(state.handle, _server_tls(ca)) as server:
        assert (await _post(pool, _url(server, "https", "localhost")))[1] == OK
    await pool.aclose()
    await asyncio.sleep(0.02)


async def test_https_with_an_untrusted_certificate_is_a_connect_error(ca: trustme.CA) -> None:
    pool = Http1Pool()  # the system's trust store does not know the test CA
    state = Server(replies=[ANSWER])
    async with await _start(state.handle, _server_tls(ca)) as server:
        with pytest.raises(httpx.ConnectError, match="cannot connect"):
            await _post(pool, _url(server, "https", "localhost"))
    await pool.aclose()
    assert state.requests == []


# ------------------------------------------------------------------- uvloop


def test_on_uvloop_as_the_service_runs(ca: trustme.CA) -> None:
    """The service serves on uvloop, whose transports are not ``asyncio.Transport``s."""
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> tuple[int, int]:
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
        pool = Http1Pool(ssl_context=client_ctx)
        plain, tls = Server(replies=[ANSWER]), Server(replies=[ANSWER])
        async with (
            await _start(plain.handle) as s1,
            await _start(tls.handle, _server_tls(ca)) as s2,
        ):
            for _ in range(3):
                assert (await _post(pool, _url(s1)))[1] == OK
                assert (await _post(pool, _url(s2, "https", "localhost")))[1] == OK
        await pool.aclose()
        await asyncio.sleep(0.02)
        return plain.connections, tls.connections

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(scenario()) == (1, 1)
