"""Run an ASGI app under uvicorn on loopback, in a background thread, for SDK tests.

The socket is bound and listening before the thread starts, and the function
returns only once the app's lifespan has completed startup, so tests can use
the server at once without polling or sleeping.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI


@dataclass(frozen=True)
class LiveServer:
    app: FastAPI
    base_url: str  # e.g. http://127.0.0.1:54321


@contextmanager
def live_server(
    app: FastAPI, *, startup_timeout_s: float = 30.0, access_log: bool = False
) -> Iterator[LiveServer]:
    """Serve ``app`` on a free loopback port until the block exits.

    ``access_log`` turns on uvicorn's access log (to the ``uvicorn.access`` logger).
    """
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on such sockets; without it
    # a response sent in two writes waits out the client's delayed ACK (~40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_config=None, log_level="info" if access_log else "warning", access_log=access_log
    )
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            loop.run_until_complete(server.serve(sockets=[sock]))
        except BaseException as exc:  # surfaced to the test below
            failure.append(exc)

    thread = threading.Thread(target=serve, name="autoroute-live", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    # Poll uvicorn's own readiness flag: set once the lifespan startup finished.
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    if not server.started:
        server.should_exit = True
        thread.join(timeout=10)
        raise RuntimeError(f"live server did not start: {failure!r}")
    try:
        yield LiveServer(app, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        loop.close()
        sock.close()
