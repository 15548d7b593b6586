"""What-if: ``autoroute`` with aiohttp's transport under its ``httpx.AsyncClient``.

A measurement of a proposed change, not a way to run the service: it starts the
real ``autoroute`` command line after making every ``httpx.AsyncClient`` built
without an explicit transport use ``httpx_aiohttp.AiohttpTransport``. The
providers still receive an ``httpx.AsyncClient``, so nothing else changes.
``bench/http_overhead.py`` runs it as the ``autoroute_aiohttp_transport``
target (on request), beside plain ``autoroute`` in the same run.

Usage: ``python -m bench.whatif_aiohttp_transport serve --port 8000`` (the
arguments of ``autoroute``). Needs the ``bench`` extra.
"""

from __future__ import annotations

import sys
from typing import Any

import httpx
from httpx_aiohttp import AiohttpTransport


def install() -> None:
    """Default every new ``httpx.AsyncClient`` to aiohttp's transport."""
    original = httpx.AsyncClient.__init__

    def init(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("transport") is None:
            kwargs["transport"] = AiohttpTransport()
        original(self, *args, **kwargs)

    httpx.AsyncClient.__init__ = init  # type: ignore[method-assign]


if __name__ == "__main__":
    install()
    from service.cli import main

    sys.exit(main(sys.argv[1:]))
