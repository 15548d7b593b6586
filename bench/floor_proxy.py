"""The floor: the least a FastAPI + httpx proxy can cost, on autoroute's own stack.

One POST route that forwards the body to the upstream through a shared
``httpx.AsyncClient`` and returns the answer as it came, under uvicorn with
uvloop and httptools and no access log. No auth, no parsing, no routing, no
logging. Measured beside autoroute in the same run, it splits autoroute's
overhead into what the framework costs (this) and what autoroute's own path
adds on top.

Run with ``python -m bench.floor_proxy --port 9102 --upstream http://127.0.0.1:9101/v1``.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from fastapi import FastAPI, Request, Response


def create_app(upstream: str) -> FastAPI:
    """The one-route passthrough app."""
    clients: dict[str, httpx.AsyncClient] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(base_url=upstream, timeout=30) as client:
            clients["upstream"] = client
            yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await request.body()
        answer = await clients["upstream"].post(
            "/chat/completions", content=body, headers={"content-type": "application/json"}
        )
        return Response(answer.content, answer.status_code, media_type="application/json")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9102)
    parser.add_argument("--upstream", default="http://127.0.0.1:9101/v1")
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.upstream),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
