"""The shared upstream client: ``httpx``'s API on aiohttp's transport.

The provider adapters speak ``httpx`` (and their tests inject an
``httpx.MockTransport``); only the transport under the service's one shared
client is aiohttp's. Measured on one core, the same FastAPI passthrough spent
~1,200-2,100 µs of CPU per proxied request on httpx's own pool and ~380-410
µs on this transport (``BENCHMARKS.md``).

``httpx_aiohttp`` maps the common aiohttp failures to ``httpx`` exceptions;
:class:`UpstreamTransport` maps them again (a refused connection must be a
``ConnectError``, not the ``ConnectTimeout`` the library picks) and maps every
other ``aiohttp.ClientError`` too, so a
transport failure always reaches ``providers._http`` as an ``httpx.HTTPError``
and becomes a retryable provider error: fallback must never see a raw aiohttp
exception.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport


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


def upstream_client(total_timeout_s: float) -> httpx.AsyncClient:
    """The client every provider adapter shares; close it with ``aclose()``."""
    return httpx.AsyncClient(
        transport=UpstreamTransport(),
        timeout=httpx.Timeout(total_timeout_s),
    )
