"""The floor: the least a FastAPI + httpx proxy can cost, on autoroute's own stack.

One POST route that forwards the body to the upstream through a shared
``httpx.AsyncClient`` (or, with ``--client aiohttp``, an ``aiohttp.ClientSession``)
and returns the answer as it came, under uvicorn with
uvloop and httptools and no access log. No auth, no parsing, no routing, no
logging. Measured beside autoroute in the same run, it splits autoroute's
overhead into what the framework costs (this) and what autoroute's own path
adds on top.

Run with ``python -m bench.floor_proxy --port 9102 --upstream http://127.0.0.1:9101/v1``.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import uvicorn
from fastapi import FastAPI, Request, Response

Forward = Callable[[bytes], Awaitable[tuple[int, bytes]]]
_JSON = {"content-type": "application/json"}


@asynccontextmanager
async def httpx_forwarder(upstream: str) -> AsyncIterator[Forward]:
    """Forward through one shared ``httpx.AsyncClient``, as autoroute's providers do."""
    async with httpx.AsyncClient(base_url=upstream, timeout=30) as client:

        async def forward(body: bytes) -> tuple[int, bytes]:
            answer = await client.post("/chat/completions", content=body, headers=_JSON)
            return answer.status_code, answer.content

        yield forward


@asynccontextmanager
async def aiohttp_forwarder(upstream: str) -> AsyncIterator[Forward]:
    """Forward through one shared ``aiohttp.ClientSession`` (the ``bench`` extra)."""
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def forward(body: bytes) -> tuple[int, bytes]:
            async with session.post(f"{upstream}/chat/completions", data=body, headers=_JSON) as r:
                return r.status, await r.read()

        yield forward


@asynccontextmanager
async def httpx_aiohttp_forwarder(upstream: str) -> AsyncIterator[Forward]:
    """httpx's API over aiohttp's I/O (``httpx_aiohttp.AiohttpTransport``, the bench extra).

    Providers keep receiving an ``httpx.AsyncClient``; only its transport changes.
    """
    from httpx_aiohttp import AiohttpTransport

    transport = AiohttpTransport()
    async with httpx.AsyncClient(base_url=upstream, timeout=30, transport=transport) as client:

        async def forward(body: bytes) -> tuple[int, bytes]:
            answer = await client.post("/chat/completions", content=body, headers=_JSON)
            return answer.status_code, answer.content

        yield forward


FORWARDERS = {
    "httpx": httpx_forwarder,
    "aiohttp": aiohttp_forwarder,
    "httpx_aiohttp": httpx_aiohttp_forwarder,
}


def create_app(upstream: str, client: str = "httpx") -> FastAPI:
    """The one-route passthrough app, forwarding with ``client``."""
    forwarders: dict[str, Forward] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with FORWARDERS[client](upstream) as forward:
            forwarders["upstream"] = forward
            yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        status, content = await forwarders["upstream"](await request.body())
        return Response(content, status, media_type="application/json")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9102)
    parser.add_argument("--upstream", default="http://127.0.0.1:9101/v1")
    parser.add_argument("--client", choices=sorted(FORWARDERS), default="httpx")
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.upstream, args.client),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
