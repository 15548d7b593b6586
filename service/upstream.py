"""The shared upstream client: ``httpx``'s API, aiohttp underneath.

The provider adapters speak ``httpx`` (and their tests inject an
``httpx.MockTransport``); only the client the service shares between them is
different. :func:`upstream_client` builds an :class:`UpstreamClient`: an
``httpx.AsyncClient`` on aiohttp's transport that also offers
:meth:`UpstreamClient.post_json_fast`, which ``providers._http.post_json`` uses
for every non-streaming call. That method POSTs the encoded body through
:class:`service.http1.Http1Pool`, a small keep-alive HTTP/1.1 client of its
own (asyncio protocols + httptools), and returns ``(status, body bytes, raw
headers)``, skipping httpx's request, response and header objects and
aiohttp's. Streams stay on the httpx API, on aiohttp's transport.

Why two layers of the same thing: measured on one core, the same FastAPI
passthrough spent ~1,200-2,100 µs of CPU per proxied request on httpx's own
pool, ~380-410 µs with httpx on aiohttp's transport and ~190-250 µs on a bare
``aiohttp.ClientSession`` (``BENCHMARKS.md``). In autoroute, the fast path
took 10-17 % off the server's CPU per request at c=32 against httpx's ``post``
on the same transport (per-round ratio 0.83-0.90, once 0.70; ``bench
http_overhead`` runs ``bench-20261122T043235Z`` and ``T043410Z``, targets
``autoroute`` and ``autoroute_httpx_post`` in both orders). ``post_json`` alone,
in one process against the fast upstream, went from ~520 to ~130 µs of CPU per
call at 32 concurrent calls; :mod:`service.http1` then took the POST itself
from 76-93 to 19-21 µs per call (its docstring).

``AUTOROUTE_UPSTREAM_FAST=0`` (read once, at import) turns the fast path off
for that comparison. It is also off when an HTTP proxy is configured in the
environment, since httpx routes proxied URLs through its own transports.

Failures: ``httpx_aiohttp`` maps the common aiohttp failures to ``httpx``
exceptions; :class:`UpstreamTransport` maps them again (a refused connection
must be a ``ConnectError``, not the ``ConnectTimeout`` the library picks) and
maps every other ``aiohttp.ClientError`` too; the fast path raises
``httpx`` exceptions itself. So a transport failure always reaches
``providers._http`` as an ``httpx.HTTPError`` and becomes a retryable provider
error: fallback never sees a raw aiohttp exception.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from urllib.request import getproxies

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from service.http1 import Http1Pool

# A benchmark switch (bench/http_targets.py, ``autoroute_httpx_post``), not a setting.
FAST_PATH = os.environ.get("AUTOROUTE_UPSTREAM_FAST", "1") != "0"


def _translate(exc: BaseException) -> httpx.HTTPError:
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, unreachable, DNS
        return httpx.ConnectError(message)
    if isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        return httpx.ReadTimeout(message)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return httpx.ReadError(message)
    return httpx.RemoteProtocolError(message)  # disconnects, malformed responses


@contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except httpx.HTTPError as exc:
        # httpx_aiohttp maps a refused connection to ConnectTimeout; map its
        # aiohttp cause again, most specific class first.
        cause = exc.__cause__
        if isinstance(cause, aiohttp.ClientError | TimeoutError):
            raise _translate(cause) from cause
        raise
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _translate(exc) from exc


class _Stream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for chunk in self._inner:
                yield chunk

    async def aclose(self) -> None:
        with _as_httpx_errors():
            await self._inner.aclose()


class UpstreamTransport(AiohttpTransport):
    """``AiohttpTransport`` whose every failure is an ``httpx.HTTPError``."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        with _as_httpx_errors():
            response = await super().handle_async_request(request)
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)  # noqa: S101 - set by the base class
        response.stream = _Stream(stream)
        return response


class UpstreamClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` on :class:`UpstreamTransport` with a direct JSON POST.

    Close it with ``aclose()``: that closes the transport, its session and its
    connector, which both paths share.
    """

    def __init__(self, total_timeout_s: float) -> None:
        self._upstream = UpstreamTransport()
        # One TLS trust for both paths: the transport's (httpx's default context).
        self._http1 = Http1Pool(ssl_context=self._upstream.ssl_context)
        super().__init__(transport=self._upstream, timeout=httpx.Timeout(total_timeout_s))
        # What httpx adds to every request (the pool adds Host and Content-Length);
        # the adapters' own headers win.
        self._defaults = (
            ("user-agent", "User-Agent", self.headers["user-agent"]),
            ("content-type", "Content-Type", "application/json"),
            ("accept", "Accept", "*/*"),
            ("accept-encoding", "Accept-Encoding", "gzip, deflate"),
        )

    async def aclose(self) -> None:
        """Close the pool of the fast path, then the transport (session, connector)."""
        await self._http1.aclose()
        await super().aclose()

    async def post_json_fast(
        self, url: str, headers: Mapping[str, str], body: bytes, timeout: float
    ) -> tuple[int, bytes, Sequence[tuple[bytes, bytes]]]:
        """POST an encoded JSON ``body``; return the status, the body and the raw headers.

        ``timeout`` bounds the whole exchange (pool, connect, send, answer), so
        ``providers._http.post_json`` needs no timer of its own on this path.
        Every failure is raised as an ``httpx.HTTPError``. Goes through
        :class:`service.http1.Http1Pool` (its own kept-alive connections).
        """
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        return await self._http1.post(url, self._with_defaults(headers), body, timeout)

    def _with_defaults(self, headers: Mapping[str, str]) -> dict[str, str]:
        merged = dict(headers)
        present = {name.lower() for name in merged}
        for lower, name, value in self._defaults:
            if lower not in present:
                merged[name] = value
        return merged


def _proxied() -> bool:
    """Whether httpx would send some URLs through a proxy from the environment."""
    proxies = getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


def upstream_client(total_timeout_s: float, *, fast: bool = FAST_PATH) -> httpx.AsyncClient:
    """The client every provider adapter shares; close it with ``aclose()``.

    Args:
        total_timeout_s: Default timeout of a request (adapters pass their own).
        fast: Offer :meth:`UpstreamClient.post_json_fast` (unless a proxy is set).
    """
    if fast and not _proxied():
        return UpstreamClient(total_timeout_s)
    return httpx.AsyncClient(
        transport=UpstreamTransport(),
        timeout=httpx.Timeout(total_timeout_s),
    )
