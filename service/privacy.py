"""Keyed one-way hashes: the only trace of prompts and API keys that we keep.

Messages are never stored or logged. The decision log keeps an HMAC-SHA256
of them instead, keyed by a secret that lives outside the store, so equal
prompts can be grouped (deduplication, abuse analysis) without the store
alone revealing or confirming any text. API keys are kept the same way.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

import orjson

from providers.base import Message

SECRET_FILE = "hash_secret"  # noqa: S105 (a file name, not a secret)


def message_hash(secret: bytes, messages: Sequence[Message]) -> str:
    """HMAC-SHA256 (hex) of the messages in a canonical JSON encoding.

    The encoding is ``json.dumps(..., ensure_ascii=False, separators=(",", ":"))``
    in UTF-8, the one hashes were always taken of. orjson writes the same bytes
    for every string without a lone surrogate (each code point checked, test in
    ``tests/service/test_privacy.py``) in a fifth of the time; a lone surrogate
    takes the ``json`` path, which fails on it as before.
    """
    pairs = [[m.role, m.content] for m in messages]
    try:
        canonical = orjson.dumps(pairs)
    except orjson.JSONEncodeError:
        canonical = json.dumps(pairs, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hmac.digest(secret, canonical, "sha256").hex()


def key_hash(secret: bytes, api_key: str) -> str:
    """HMAC-SHA256 (hex) of an API key: what the store keeps instead of the key."""
    return hmac.digest(secret, api_key.encode("utf-8"), "sha256").hex()


def write_private_file(path: Path, content: str) -> bool:
    """Create ``path`` with mode 0600 holding ``content``; False if it already exists.

    The content is written to a temporary file first and then hard-linked into
    place, so concurrent workers never see a half-written file and all agree
    on the first value.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    return True


def load_or_create_secret(data_dir: Path, configured: str | None) -> bytes:
    """Return the hash secret: the configured one, else the one kept in the data dir.

    A generated secret is written once (0600) and reused on every restart, so
    API-key hashes stay valid. Losing it invalidates stored keys.
    """
    if configured:
        return configured.encode("utf-8")
    path = data_dir / SECRET_FILE
    write_private_file(path, secrets.token_hex(32))
    return path.read_text(encoding="utf-8").strip().encode("utf-8")
