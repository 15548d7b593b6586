"""A small keep-alive HTTP/1.1 client for the upstream JSON POST: asyncio protocols + httptools.

:class:`Http1Pool` does one thing: POST a body to an ``http://`` or
``https://`` URL and return ``(status, body, raw headers)``, reusing
connections. It is the transport of ``UpstreamClient.post_json_fast`` (the
non-streaming provider call, the hot path); streams and everything else stay
on ``httpx`` (on aiohttp's transport).

Why not aiohttp's client, which it replaces on that path: measured in one
process against ``bench/fake_upstream_fast.py`` at 32 concurrent calls, an
``aiohttp.ClientSession.post`` + ``read()`` cost 76-93 µs of CPU per call and
this pool 19-21 µs (``BENCHMARKS.md``, 2026-12-04): aiohttp builds a request,
a response, a stream reader, header multidicts, a timer context per request
and per read. Here a request is one ``write`` of head + body, the response is
parsed by httptools (llhttp, the parser uvicorn uses) straight into a list of
header pairs and body chunks, and a single ``call_at`` timer bounds it.

Semantics, the same as ``post_json_fast`` had on aiohttp:

* ``timeout`` bounds the whole exchange: waiting for a connection of the pool,
  connecting (TCP and TLS), sending and receiving. Expiry raises
  ``httpx.ConnectTimeout`` (before the request is sent) or ``httpx.ReadTimeout``.
* Every failure is an ``httpx.HTTPError``: a refused or unresolvable
  connection and a TLS failure are ``httpx.ConnectError``, a disconnect before
  the answer is complete, a malformed answer or an oversized one
  ``httpx.RemoteProtocolError``. A POST is never retried here (the fallback
  chooses what to do), as Go's ``net/http`` and aiohttp do for non-idempotent
  requests.
* Connections are kept alive when the answer allows it (``should_keep_alive``),
  at most ``limit_per_host`` per host (the rest wait, within their timeout), and
  dropped when idle longer than ``keepalive_s``, when the server closes them, or
  when a request on them is cancelled or fails.
* Answers delimited by ``Content-Length``, chunked, or by the close of the
  connection are read; ``gzip`` and ``deflate`` bodies are decoded (we send
  ``Accept-Encoding: gzip, deflate``); 1xx interim answers are skipped.
  Redirects are returned, not followed.
* TLS trusts what httpx trusts (``httpx.create_ssl_context()``: certifi's roots,
  or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``); the service passes its transport's
  own context, so streams and this path share one.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import cast
from urllib.parse import urlsplit

import httptools
import httpx

RawHeaders = list[tuple[bytes, bytes]]

MAX_BODY_BYTES = 64 * 1024 * 1024
_DECODERS: dict[bytes, int | None] = {
    b"gzip": 16 + zlib.MAX_WBITS,
    b"x-gzip": 16 + zlib.MAX_WBITS,
    b"deflate": None,
}


@dataclass(frozen=True, slots=True)
class _Target:
    """What a URL says about where and how to send (parsed once per URL)."""

    key: tuple[str, str, int]  # scheme, host, port: one pool each
    host: str
    port: int
    tls: bool
    head: bytes  # "POST <path> HTTP/1.1\r\nHost: <host>\r\n"


@lru_cache(maxsize=256)
def _target(url: str) -> _Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise httpx.InvalidURL(str(exc)) from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise httpx.UnsupportedProtocol(f"unsupported URL scheme {parts.scheme!r}")
    host = parts.hostname
    if not host:
        raise httpx.InvalidURL(f"no host in URL {url!r}")
    tls = scheme == "https"
    port = port or (443 if tls else 80)
    netloc = parts.netloc.rpartition("@")[2]
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if any(c.isspace() or ord(c) < 32 for c in path + netloc):
        raise httpx.InvalidURL(f"whitespace or a control character in URL {url!r}")
    head = _ascii(f"POST {path} HTTP/1.1\r\nHost: {netloc}\r\n")
    return _Target((scheme, host, port), host, port, tls, head)


def _ascii(text: str) -> bytes:
    try:
        return text.encode("ascii")
    except UnicodeEncodeError as exc:
        raise httpx.InvalidURL("the URL is not ASCII (percent-encode it)") from exc


def _header_block(headers: Mapping[str, str], length: int) -> bytes:
    lines = []
    for name, value in headers.items():
        if "\r" in name or "\n" in name or ":" in name or "\r" in value or "\n" in value:
            raise httpx.LocalProtocolError(f"invalid header {name!r}")
        lines.append(f"{name}: {value}\r\n")
    lines.append(f"Content-Length: {length}\r\n\r\n")
    try:
        return "".join(lines).encode("latin-1")
    except UnicodeEncodeError as exc:
        raise httpx.LocalProtocolError("request header is not latin-1") from exc


class _Connection(asyncio.Protocol):
    """One upstream connection and the answer it is reading (one at a time)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[tuple[int, bytes, RawHeaders]] | None = None
        self._headers: RawHeaders = []
        self._body: list[bytes] = []
        self._size = 0
        self._status = 0
        self._delimited = False  # Content-Length or chunked: the parser sees the end
        self._coding = b""  # Content-Encoding, lower-cased
        self.keep_alive = False

    # --- the request side -----------------------------------------------------
    def send(self, data: bytes, waiter: asyncio.Future[tuple[int, bytes, RawHeaders]]) -> None:
        assert self.transport is not None  # noqa: S101 - set by connection_made
        self._waiter = waiter
        self._reset()
        self.transport.write(data)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _reset(self) -> None:
        self._headers, self._body, self._size, self._status = [], [], 0, 0
        self._delimited, self._coding = False, b""

    def _finish(self, error: BaseException | None) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is None or waiter.done():
            return
        if error is not None:
            waiter.set_exception(error)
            return
        body = b"".join(self._body)
        try:
            body = _decode(self._coding, body)
        except zlib.error as exc:
            waiter.set_exception(httpx.DecodingError(f"bad compressed body: {exc}"))
            return
        waiter.set_result((self._status, body, self._headers))

    # --- asyncio.Protocol -----------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not subclass asyncio.Transport).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            self.close()  # bytes nobody asked for: the connection is out of step
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("upstream switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed HTTP answer ({exc})"))

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost settles the answer

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is None:
            return
        if self._status and not self._delimited and exc is None:
            self._finish(None)  # an answer delimited by the end of the connection
            return
        detail = f" ({type(exc).__name__}: {exc})" if exc else ""
        self._finish(httpx.RemoteProtocolError(f"server disconnected{detail}"))

    def _fail(self, error: httpx.HTTPError) -> None:
        self._finish(error)
        self.close()

    # --- httptools callbacks --------------------------------------------------
    def on_message_begin(self) -> None:
        if self._waiter is None:  # a second answer to one request: out of step
            self._reset()  # (never into the lists already handed out)
            self.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        for name, value in self._headers:
            lower = name.lower()
            if lower == b"content-length" or (
                lower == b"transfer-encoding" and b"chunked" in value.lower()
            ):
                self._delimited = True
            elif lower == b"content-encoding":
                self._coding = value.strip().lower()

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > MAX_BODY_BYTES:
            self._fail(httpx.RemoteProtocolError("upstream answer over the size limit"))
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:
            self._reset()  # an interim answer (100 Continue, 103 Early Hints): read on
            return
        self.keep_alive = self._parser.should_keep_alive()
        self._finish(None)


def _decode(coding: bytes, body: bytes) -> bytes:
    if coding not in _DECODERS:
        return body  # identity, or a coding we did not ask for: the caller sees it as is
    wbits = _DECODERS[coding]
    if wbits is None:  # "deflate": zlib-wrapped per the RFC, raw in practice
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, -zlib.MAX_WBITS)
    return zlib.decompress(body, wbits)


class _Host:
    """The connections to one (scheme, host, port) and the requests waiting for one."""

    def __init__(self) -> None:
        self.idle: list[_Connection] = []
        self.open = 0
        self.waiters: deque[asyncio.Future[None]] = deque()


class Http1Pool:
    """POST over kept-alive HTTP/1.1 connections; close it with :meth:`aclose`.

    Example:
        >>> # pool = Http1Pool()
        >>> # status, body, headers = await pool.post(url, {"Authorization": "..."}, b"{}", 30.0)
        >>> # await pool.aclose()
    """

    def __init__(
        self,
        *,
        limit_per_host: int = 100,
        keepalive_s: float = 15.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.limit_per_host = limit_per_host
        self.keepalive_s = keepalive_s
        self._ssl = ssl_context
        self._hosts: dict[tuple[str, str, int], _Host] = {}
        self.closed = False

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            # httpx's: certifi's roots, or SSL_CERT_FILE / SSL_CERT_DIR when set.
            self._ssl = httpx.create_ssl_context()
        return self._ssl

    async def post(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> tuple[int, bytes, RawHeaders]:
        """POST ``body`` with ``headers`` (Host and Content-Length are added); see the module."""
        if self.closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        target = _target(url)
        data = b"".join((target.head, _header_block(headers, len(body)), body))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        host = self._hosts.get(target.key)
        if host is None:
            host = self._hosts[target.key] = _Host()
        conn = self._idle(host)
        if conn is None:
            conn = await self._connect(host, target, deadline)
        waiter: asyncio.Future[tuple[int, bytes, RawHeaders]] = loop.create_future()
        timer = loop.call_at(deadline, _expire, waiter, timeout)
        reuse = False
        try:
            conn.send(data, waiter)
            answer = await waiter
            reuse = conn.keep_alive and not conn.closed
            return answer
        finally:
            timer.cancel()
            self._release(host, conn, reuse)

    def _idle(self, host: _Host) -> _Connection | None:
        now = time.monotonic()
        while host.idle:
            conn = host.idle.pop()
            if not conn.closed and now - conn.idle_since < self.keepalive_s:
                return conn
            self._drop(host, conn)
        return None

    async def _connect(self, host: _Host, target: _Target, deadline: float) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(deadline):
                while host.open >= self.limit_per_host:
                    waiter = loop.create_future()
                    host.waiters.append(waiter)
                    try:
                        await waiter
                    except BaseException:
                        if waiter in host.waiters:
                            host.waiters.remove(waiter)
                        elif waiter.done() and not waiter.cancelled():
                            self._wake(host)  # woken, then cancelled: pass the turn on
                        raise
                    conn = self._idle(host)
                    if conn is not None:
                        return conn
                host.open += 1
                try:
                    _, conn = await loop.create_connection(
                        _Connection,
                        target.host,
                        target.port,
                        ssl=self._tls() if target.tls else None,
                        server_hostname=target.host if target.tls else None,
                    )
                except BaseException:
                    host.open -= 1
                    self._wake(host)
                    raise
        except TimeoutError as exc:
            raise httpx.ConnectTimeout("timed out waiting for a connection") from exc
        except OSError as exc:  # refused, unreachable, DNS, TLS (ssl.SSLError is one)
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise httpx.ConnectError(
                f"cannot connect to {target.host}:{target.port} ({reason})"
            ) from exc
        if self.closed:
            self._drop(host, conn)
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        return conn

    def _release(self, host: _Host, conn: _Connection, reuse: bool) -> None:
        if reuse and not self.closed:
            conn.idle_since = time.monotonic()
            host.idle.append(conn)
        else:
            self._drop(host, conn)
        self._wake(host)

    def _drop(self, host: _Host, conn: _Connection) -> None:
        conn.close()
        host.open -= 1

    @staticmethod
    def _wake(host: _Host) -> None:
        while host.waiters:
            waiter = host.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def aclose(self) -> None:
        """Close every idle connection; requests in flight close theirs when they end."""
        self.closed = True
        for host in self._hosts.values():
            while host.idle:
                self._drop(host, host.idle.pop())
        await asyncio.sleep(0)  # let the transports run their close callbacks


def _expire(waiter: asyncio.Future[tuple[int, bytes, RawHeaders]], timeout: float) -> None:
    if not waiter.done():
        waiter.set_exception(httpx.ReadTimeout(f"no answer within {timeout:.1f}s"))
