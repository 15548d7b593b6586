"""The part every HTTP adapter shares: one call shape over :mod:`providers._http`.

An adapter (OpenAI, Anthropic, Google) owns its wire format: the URL, the
headers, the request body, how to read an answer and how to map an error body.
What is the same for all of them lives here: the injected client, the key and
the base URL (a model's own ``base_url`` takes precedence), the error context,
the JSON POST that also measures latency, and the SSE stream.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import httpx

from providers._http import ErrorContext, SSEEvent, post_json, stream_sse
from providers.catalog import ModelSpec
from providers.errors import ProviderError


class HttpAdapter(ABC):
    """Base of the HTTP adapters; subclasses set the class variables and implement
    :meth:`_headers` and :meth:`_translate`.

    Args:
        client: Shared ``httpx.AsyncClient`` (connection pool owned by the app).
        api_key: The provider's key; ``None`` when none is configured.
        base_url: API root, overridable for proxies and tests; defaults to
            ``default_base_url``.
    """

    provider: ClassVar[str]
    default_base_url: ClassVar[str]

    def __init__(
        self, client: httpx.AsyncClient, api_key: str | None, *, base_url: str | None = None
    ) -> None:
        self._client = client
        self._api_key = api_key
        self._base_url = (base_url or self.default_base_url).rstrip("/")

    def _root(self, model: ModelSpec) -> str:
        """The API root for ``model``: its catalog ``base_url``, else the adapter's."""
        return (model.base_url or self._base_url).rstrip("/")

    def _context(self, model: ModelSpec) -> ErrorContext:
        return ErrorContext(model.id, self.provider)

    @abstractmethod
    def _headers(self) -> dict[str, str]:
        """The request headers, the key included."""

    @abstractmethod
    def _translate(
        self, status: int, body: Any, headers: httpx.Headers, ctx: ErrorContext
    ) -> ProviderError:
        """Map an HTTP error answer (status and parsed JSON body) to a provider error."""

    async def _post(
        self, ctx: ErrorContext, url: str, body: Mapping[str, Any], *, timeout: float
    ) -> tuple[dict[str, Any], float]:
        """POST ``body``; return the decoded 2xx answer and the latency in ms."""
        started = time.perf_counter()
        data = await post_json(
            self._client,
            url,
            headers=self._headers(),
            body=body,
            timeout=timeout,
            ctx=ctx,
            translate=lambda s, b, h: self._translate(s, b, h, ctx),
        )
        return data, (time.perf_counter() - started) * 1000

    def _events(
        self, ctx: ErrorContext, url: str, body: Mapping[str, Any], *, timeout: float
    ) -> AsyncIterator[SSEEvent]:
        """POST ``body`` and iterate the SSE events of the streamed answer."""
        return stream_sse(
            self._client,
            url,
            headers=self._headers(),
            body=body,
            timeout=timeout,
            ctx=ctx,
            translate=lambda s, b, h: self._translate(s, b, h, ctx),
        )
