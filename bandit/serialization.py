"""Byte format of an exported policy: a small JSON header plus the VW model.

Layout: ``b"ARB1"``, a 4-byte big-endian header length, the UTF-8 JSON header
(sample counts, cost calibration; never prompt data), then the raw VW model
file. One blob per policy, so the store can keep it under one key.
"""

from __future__ import annotations

import json
import struct
from typing import Any

MAGIC = b"ARB1"
_LEN = struct.Struct(">I")


def pack(header: dict[str, Any], model: bytes) -> bytes:
    """Join a JSON-safe header and a VW model into one blob.

    Example:
        >>> unpack(pack({"n": 1}, b"vw"))
        ({'n': 1}, b'vw')
    """
    meta = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return MAGIC + _LEN.pack(len(meta)) + meta + model


def unpack(blob: bytes) -> tuple[dict[str, Any], bytes]:
    """Split a blob made by :func:`pack`; raise ``ValueError`` if it is not one."""
    head = len(MAGIC) + _LEN.size
    if len(blob) < head or not blob.startswith(MAGIC):
        raise ValueError("not an autoroute policy blob")
    (size,) = _LEN.unpack_from(blob, len(MAGIC))
    if len(blob) < head + size:
        raise ValueError("truncated autoroute policy blob")
    header = json.loads(blob[head : head + size].decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("policy blob header is not an object")
    return header, blob[head + size :]
