"""Keyed one-way hashes: the only trace of prompts and API keys that we keep.

Messages are never stored or logged. The decision log keeps an HMAC-SHA256
of them instead, keyed by a secret that lives outside the store, so equal
prompts can be grouped (deduplication, abuse analysis) without the store
alone revealing or confirming any text. API keys are kept the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from providers.base import Message

SECRET_FILE = "hash_secret"  # noqa: S105 (a file name, not a secret)


def message_hash(secret: bytes, messages: Sequence[Message]) -> str:
    """HMAC-SHA256 (hex) of the messages in a canonical JSON encoding."""
    canonical = json.dumps(
        [[m.role, m.content] for m in messages], ensure_ascii=False, separators=(",", ":")
    )
    return hmac.new(secret, canonical.encode("utf-8"), hashlib.sha256).hexdigest()


def key_hash(secret: bytes, api_key: str) -> str:
    """HMAC-SHA256 (hex) of an API key: what the store keeps instead of the key."""
    return hmac.new(secret, api_key.encode("utf-8"), hashlib.sha256).hexdigest()


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
