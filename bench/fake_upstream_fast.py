"""An OpenAI-compatible upstream that answers at once, for load tests.

The HTTP overhead benchmark measures what a router adds on top of its upstream,
so the upstream must cost next to nothing: a raw asyncio protocol (on uvloop
when it is installed) that parses just enough HTTP/1.1 to find each request's
end, keeps connections alive, and writes one canned Chat Completions response
with ``usage``. ``GET`` requests (health checks, ``/v1/models``) get a canned
model list.

Run it alone with ``python -m bench.fake_upstream_fast --port 9101``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import cast

_MODEL_LIST = json.dumps(
    {"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "bench"}]}
).encode()


def _completion_body() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "fake-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello from the fast upstream."},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
        },
        separators=(",", ":"),
    ).encode()


def _response(body: bytes) -> bytes:
    head = (
        "HTTP/1.1 200 OK\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


_POST_RESPONSE = _response(_completion_body())
_GET_RESPONSE = _response(_MODEL_LIST)


class _Incomplete(Exception):
    """The buffer does not yet hold a whole request."""


def _request_end(buf: bytearray | bytes, head_end: int, head: bytes) -> int:
    """Offset just past the request whose headers end at ``head_end``."""
    start = head_end + 4
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        if len(buf) < start + length:
            raise _Incomplete
        return start + length
    pos = start
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            raise _Incomplete
        size = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
        pos = line_end + 2 + size + 2
        if len(buf) < pos:
            raise _Incomplete
        if size == 0:
            return pos


class FastUpstream(asyncio.Protocol):
    """Answers every complete request in the buffer, in order (pipelining works)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        out = []
        while True:
            head_end = self._buf.find(b"\r\n\r\n")
            if head_end < 0:
                break
            head = bytes(self._buf[:head_end])
            try:
                end = _request_end(self._buf, head_end, head)
            except _Incomplete:
                break
            del self._buf[:end]
            out.append(_GET_RESPONSE if head.startswith(b"GET ") else _POST_RESPONSE)
        if out and self._transport is not None:
            self._transport.write(b"".join(out))


async def serve(host: str, port: int) -> None:
    """Serve until cancelled."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FastUpstream, host, port, backlog=1024, reuse_address=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9101)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
