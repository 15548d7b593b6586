"""Where the insights aggregates live: counters per account, shared or local.

The aggregates are a flat ``{"<query_type>|<model>|<n|r|c>": value}`` map per
account (answers, reward sum, cost sum). With Redis they are one hash per
account, ``<prefix>:insights:{<account>}`` (its own hash tag, so the layout
works on Redis Cluster), updated with ``HINCRBYFLOAT`` by every worker.
Embedded, one process serves everything and a dict is enough.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Protocol

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, RedisError, TimeoutError  # noqa: A004

from service.store.errors import StoreUnavailable


class StatsStore(Protocol):
    """Float counters per account."""

    async def incr_stats(self, account: str, deltas: Mapping[str, float]) -> None: ...
    async def get_stats(self, account: str) -> dict[str, float]: ...
    async def delete_stats(self, account: str) -> None: ...
    async def close(self) -> None: ...


class LocalStats:
    """In-process :class:`StatsStore` for the embedded single-process default."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, float]] = defaultdict(dict)

    async def incr_stats(self, account: str, deltas: Mapping[str, float]) -> None:
        bucket = self._data[account]
        for key, value in deltas.items():
            bucket[key] = bucket.get(key, 0.0) + value

    async def get_stats(self, account: str) -> dict[str, float]:
        return dict(self._data.get(account, {}))

    async def delete_stats(self, account: str) -> None:
        self._data.pop(account, None)

    async def close(self) -> None:
        self._data.clear()


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
