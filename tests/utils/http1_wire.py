"""Raw HTTP/1.1 for scripted loopback servers: read one request, build one answer."""

from __future__ import annotations

import asyncio


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """The head and the ``Content-Length`` body of the next request on ``reader``."""
    head = await reader.readuntil(b"\r\n\r\n")
    size = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head, await reader.readexactly(size)


def reply(status: int, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    """An answer with ``Content-Length``; ``headers`` default to a JSON content type."""
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {"Content-Type": "application/json"}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
