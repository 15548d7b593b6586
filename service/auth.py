"""API keys and accounts: a Bearer key maps to one account; keys are kept hashed.

Keys come from two places: static ``AUTOROUTE_API_KEYS`` (hashed in memory at
startup) and keys the admin API creates (hashed in the store). Neither place
ever holds a key in the clear; a presented key is hashed with the same secret
and the hashes compared with :func:`hmac.compare_digest`.

When no key is configured at all, ``serve`` creates the account ``default``
with a fresh key, prints it once and keeps it in ``<data_dir>/default_api_key``
(mode 0600), where a ``make run`` user finds it again.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from collections.abc import Mapping
from pathlib import Path

from service.errors import AdminDisabled, AdminUnauthorized, InvalidApiKey, ValidationFailed
from service.privacy import key_hash, write_private_file
from service.store.base import Store

logger = logging.getLogger(__name__)

DEFAULT_ACCOUNT = "default"
DEFAULT_KEY_FILE = "default_api_key"
KEY_PREFIX = "ar-"
_ACCOUNT_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def generate_api_key() -> str:
    """A new random API key (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if any."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def check_account_id(account: str) -> str:
    """Validate an account id (1-64 of letters, digits, ``.``, ``_``, ``-``)."""
    if not _ACCOUNT_RE.fullmatch(account):
        raise ValidationFailed("account ids are 1-64 characters of [A-Za-z0-9._-]")
    return account


class KeyRing:
    """Resolves API keys to accounts and manages admin-created keys."""

    def __init__(self, secret: bytes, store: Store, static_keys: Mapping[str, str]) -> None:
        self._secret = secret
        self._store = store
        self._static = {key_hash(secret, key): account for key, account in static_keys.items()}

    async def account_for(self, authorization: str | None) -> str:
        """The account a ``Bearer`` header belongs to.

        Raises:
            InvalidApiKey: if the header is missing, malformed or names no live key.
        """
        token = bearer_token(authorization)
        if token is None:
            raise InvalidApiKey("missing API key: send 'Authorization: Bearer <key>'")
        digest = key_hash(self._secret, token)
        for known, account in self._static.items():
            if hmac.compare_digest(known, digest):
                return account
        stored = await self._store.get_account_for_key(digest)
        if stored is None:
            raise InvalidApiKey("invalid API key")
        return stored

    def key_id(self, token: str) -> str:
        """The id (keyed hash) of a presented key: what rate-limit buckets are named by."""
        return key_hash(self._secret, token)

    async def create_key(self, account: str) -> tuple[str, str]:
        """Create a key for ``account``; returns ``(key, key_id)``, the key shown once."""
        check_account_id(account)
        key = generate_api_key()
        digest = key_hash(self._secret, key)
        await self._store.put_api_key(digest, account)
        return key, digest

    async def revoke(self, key_id: str) -> bool:
        """Revoke a key by its id (its hash); False if it was not a stored key."""
        return await self._store.revoke_api_key(key_id)

    async def ensure_default_key(self, data_dir: Path) -> str | None:
        """Give the ``default`` account a key kept in ``data_dir``; return it if new.

        The key file is created atomically (one winner among workers) and its
        hash (re-)registered in the store at every start, so a flushed Redis
        does not lock the user out.
        """
        path = data_dir / DEFAULT_KEY_FILE
        created = write_private_file(path, generate_api_key() + "\n")
        key = path.read_text(encoding="utf-8").strip()
        await self._store.put_api_key(key_hash(self._secret, key), DEFAULT_ACCOUNT)
        return key if created else None


def check_admin(admin_token: str | None, authorization: str | None) -> None:
    """Require the admin token.

    Raises:
        AdminDisabled: if no ``AUTOROUTE_ADMIN_TOKEN`` is configured.
        AdminUnauthorized: if the presented token does not match.
    """
    if not admin_token:
        raise AdminDisabled("the admin API is off: set AUTOROUTE_ADMIN_TOKEN to enable it")
    token = bearer_token(authorization) or ""
    if not hmac.compare_digest(token.encode(), admin_token.encode()):
        raise AdminUnauthorized("admin token required")
