"""Where the insights aggregates live: counters per account, shared or local.

The aggregates are a flat ``{"<query_type>|<model>|<n|r|c>": value}`` map per
account (answers, reward sum, cost sum). With Redis they are one hash per
account, ``<prefix>:insights:{<account>}`` (its own hash tag, so the layout
works on Redis Cluster), updated with ``HINCRBYFLOAT`` by every worker.
Embedded, one process serves everything: the counters live in a dict, and
:class:`LocalStats` given a path keeps them in a SQLite file in the data
folder, so insights survive a restart. Changed counters are written in the
background every ``flush_interval_s`` (off the request path) and on close; a
crash loses at most that interval of insight counts, never a reward (rewards
go through the store). A reset deletes the account's rows at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, RedisError, TimeoutError  # noqa: A004

from service.store.errors import StoreUnavailable

logger = logging.getLogger(__name__)


class StatsStore(Protocol):
    """Float counters per account."""

    async def incr_stats(self, account: str, deltas: Mapping[str, float]) -> None: ...
    async def get_stats(self, account: str) -> dict[str, float]: ...
    async def delete_stats(self, account: str) -> None: ...
    async def close(self) -> None: ...


class LocalStats:
    """In-process :class:`StatsStore` for the embedded single-process default.

    Example:
        >>> import asyncio
        >>> stats = LocalStats()
        >>> asyncio.run(stats.incr_stats("acme", {"code|m|n": 1.0}))
        >>> asyncio.run(stats.get_stats("acme"))
        {'code|m|n': 1.0}
    """

    def __init__(self, path: Path | None = None, flush_interval_s: float = 1.0) -> None:
        self._data: dict[str, dict[str, float]] = defaultdict(dict)
        self._dirty: set[tuple[str, str]] = set()
        self._path = path
        self._interval = flush_interval_s
        self._db: sqlite3.Connection | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        if path is not None:
            self._db = _open(path)
            for account, key, value in self._db.execute("SELECT account, key, value FROM stats"):
                self._data[account][key] = value

    async def incr_stats(self, account: str, deltas: Mapping[str, float]) -> None:
        bucket = self._data[account]
        for key, value in deltas.items():
            bucket[key] = bucket.get(key, 0.0) + value
        if self._db is not None:
            self._dirty.update((account, key) for key in deltas)
            if self._flusher is None:
                self._flusher = asyncio.get_running_loop().create_task(self._flush_later())

    async def get_stats(self, account: str) -> dict[str, float]:
        return dict(self._data.get(account, {}))

    async def delete_stats(self, account: str) -> None:
        self._data.pop(account, None)
        if self._db is not None:
            async with self._lock:
                self._dirty = {item for item in self._dirty if item[0] != account}
                db = self._db
                await asyncio.to_thread(_delete, db, account)

    async def flush(self) -> None:
        """Write the changed counters now (tests, shutdown)."""
        if self._db is None:
            return
        async with self._lock:
            dirty, self._dirty = self._dirty, set()
            rows = [(a, k, self._data[a][k]) for a, k in dirty if k in self._data.get(a, {})]
            if rows:
                db = self._db
                await asyncio.to_thread(_upsert, db, rows)

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.flush()
        if self._db is not None:
            self._db.close()
            self._db = None
        self._data.clear()

    async def _flush_later(self) -> None:
        try:
            while True:
                await asyncio.sleep(self._interval)
                try:
                    await self.flush()
                except Exception:  # insights are a convenience: keep serving, retry later
                    logger.exception("could not save insights to %s", self._path)
                if not self._dirty:  # no await from here to the reset below
                    break
        finally:
            self._flusher = None


def _open(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS stats (account TEXT NOT NULL, key TEXT NOT NULL,"
        " value REAL NOT NULL, PRIMARY KEY (account, key)) WITHOUT ROWID"
    )
    return db


def _upsert(db: sqlite3.Connection, rows: list[tuple[str, str, float]]) -> None:
    with db:
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO stats (account, key, value) VALUES (?, ?, ?)"
            " ON CONFLICT (account, key) DO UPDATE SET value = excluded.value",
            rows,
        )


def _delete(db: sqlite3.Connection, account: str) -> None:
    with db:
        db.execute("BEGIN")
        db.execute("DELETE FROM stats WHERE account = ?", (account,))


class RedisStats:
    """:class:`StatsStore` on Redis hashes, shared by every API worker.

    Redis errors become :class:`~service.store.errors.StoreUnavailable`, which
    the API answers with 503.
    """

    def __init__(self, client: aioredis.Redis, prefix: str = "ar") -> None:
        self._client = client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str, prefix: str = "ar") -> RedisStats:
        # Same retries as the store's client: a Redis restart leaves every pooled
        # connection stale, and the first command on each must not be lost.
        client = aioredis.Redis.from_url(
            url,
            decode_responses=False,
            socket_timeout=5.0,
            socket_connect_timeout=2.0,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=4),
            retry_on_error=[ConnectionError, TimeoutError],
        )
        return cls(client, prefix)

    def _key(self, account: str) -> str:
        return f"{self._prefix}:insights:{{{account}}}"

    async def incr_stats(self, account: str, deltas: Mapping[str, float]) -> None:
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for field, value in deltas.items():
                    pipe.hincrbyfloat(self._key(account), field, value)
                await pipe.execute()
        except RedisError as exc:
            raise StoreUnavailable(f"insights: {type(exc).__name__}") from exc

    async def get_stats(self, account: str) -> dict[str, float]:
        try:
            raw = await self._client.hgetall(self._key(account))
        except RedisError as exc:
            raise StoreUnavailable(f"insights: {type(exc).__name__}") from exc
        return {_text(key): float(value) for key, value in raw.items()}

    async def delete_stats(self, account: str) -> None:
        try:
            await self._client.delete(self._key(account))
        except RedisError as exc:
            raise StoreUnavailable(f"insights: {type(exc).__name__}") from exc

    async def close(self) -> None:
        await self._client.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
