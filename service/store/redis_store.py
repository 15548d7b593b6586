"""The production store: Redis (``redis.asyncio``), laid out for Redis Cluster.

Keys are described in :mod:`service.store.redis_keys`. Reward streams are
sharded by account; the learner's side (consumer groups, reclaiming, dead
letters, atomic commits, forwards and leases) lives in
:class:`~service.store.redis_streams.RedisStreams` and
:class:`~service.store.redis_learning.RedisLearning`, which this class extends.
Hot-path calls (``put_decision``, ``publish_reward``) are one round trip each.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError  # noqa: A004

from service.store import codec
from service.store.base import (
    ACCOUNT_PREFIX,
    GLOBAL_KEY,
    DecisionRecord,
    LoggedRequest,
    RewardEvent,
    shard_of,
)
from service.store.redis_keys import Keys
from service.store.redis_learning import RedisLearning
from service.store.redis_streams import text, unavailable


class RedisStore(RedisLearning):
    """:class:`~service.store.base.Store` on Redis.

    Args:
        client: a ``redis.asyncio.Redis`` with ``decode_responses=False``.
        shards: number of reward shards; fixed for a deployment (accounts map
            to shards by ``crc32 % shards``).
        prefix: key prefix, ``ar`` by default.
        decision_grace_s: how long a decision outlives its reward window, so
            that late feedback is recognised as late rather than unknown.
        ledger_retention_s: how long applied event ids are remembered.
        cluster: set on Redis Cluster. Every command then touches one hash
            slot; without it, the learner's decision lookups use one ``MGET``
            per batch (decision keys live in different slots), ~8x cheaper
            than a pipeline of single ``GET`` commands.

    Example:
        >>> # store = RedisStore.from_url("redis://127.0.0.1:6379/0", shards=4)
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        shards: int = 4,
        prefix: str = "ar",
        decision_grace_s: float = 600.0,
        ledger_retention_s: float = 3_600.0,
        cluster: bool = False,
    ) -> None:
        super().__init__(client, Keys(prefix), shards, ledger_retention_s, cluster)
        self._grace_s = decision_grace_s

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisStore:
        """Connect lazily to ``url`` (``redis://``, ``rediss://`` or ``unix://``)."""
        # Retry connection errors a few times so a Redis restart costs a short
        # stall, not an error; a retried XADD may duplicate an event, which the
        # learner's ledger absorbs (events are deduplicated by event_id).
        client = aioredis.Redis.from_url(
            url,
            decode_responses=False,
            socket_timeout=5.0,
            socket_connect_timeout=2.0,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=4),
            retry_on_error=[ConnectionError, TimeoutError],
        )
        return cls(client, **kwargs)

    # --- decision log -------------------------------------------------------
    async def put_decision(self, record: DecisionRecord, ttl_s: float) -> None:
        """Log a decision and schedule its default reward at ``created_at + ttl_s``."""
        await self.record_request(record, ttl_s, [])

    async def record_request(
        self, record: DecisionRecord, ttl_s: float, events: Sequence[RewardEvent]
    ) -> list[str]:
        """:meth:`put_decision` plus :meth:`publish_reward` of ``events``, one round trip.

        Returns the events' stream entry ids.
        """
        with unavailable():
            pipe = self._redis.pipeline(transaction=False)
            self._queue_request(pipe, record, ttl_s, events)
            results = await pipe.execute()
        return [text(r) for r in results[len(results) - len(events) :]] if events else []

    async def record_requests(self, requests: Sequence[LoggedRequest], ttl_s: float) -> None:
        """:meth:`record_request` of each request, in one pipelined round trip."""
        with unavailable():
            pipe = self._redis.pipeline(transaction=False)
            for record, events in requests:
                self._queue_request(pipe, record, ttl_s, events)
            await pipe.execute()

    def _queue_request(
        self, pipe: Any, record: DecisionRecord, ttl_s: float, events: Sequence[RewardEvent]
    ) -> None:
        now = time.time()
        expires = record.created_at + ttl_s + self._grace_s
        index = self._keys.account_decisions(record.account)
        shard_keys = self._keys.shard(self.shard(record.account))
        pipe.set(
            self._keys.decision(record.request_id),
            codec.encode_decision(record),
            px=max(1, int((expires - now) * 1000)),
        )
        pipe.zadd(index, {record.request_id: expires})
        pipe.zremrangebyscore(index, "-inf", now)
        pipe.pexpire(index, max(1, int((expires - now) * 1000)))
        member = codec.due_member(record.account, record.request_id)
        pipe.zadd(shard_keys.due, {member: record.created_at + ttl_s})
        for event in events:
            stream = self._keys.shard(self.shard(event.account)).rewards
            pipe.xadd(stream, {b"e": codec.encode_event(event)})

    async def get_decision(self, request_id: str) -> DecisionRecord | None:
        """The logged decision, or ``None`` if unknown or expired."""
        with unavailable():
            raw = await self._redis.get(self._keys.decision(request_id))
        return codec.decode_decision(raw) if raw is not None else None

    async def get_decisions(self, request_ids: list[str]) -> dict[str, DecisionRecord]:
        """Several decisions in one round trip (missing ones are left out)."""
        if not request_ids:
            return {}
        keys = [self._keys.decision(rid) for rid in request_ids]
        with unavailable():
            if self._cluster:
                pipe = self._redis.pipeline(transaction=False)
                for key in keys:
                    pipe.get(key)
                raws = await pipe.execute()
            else:
                raws = await self._redis.mget(keys)
        return {
            rid: codec.decode_decision(raw)
            for rid, raw in zip(request_ids, raws, strict=True)
            if raw is not None
        }

    async def mark_rated(self, request_id: str, ttl_s: float) -> bool:
        """Atomically mark a request as rated; False if it already was."""
        with unavailable():
            ok = await self._redis.set(
                self._keys.rated(request_id), b"1", nx=True, px=max(1, int(ttl_s * 1000))
            )
        return bool(ok)

    # --- snapshots ------------------------------------------------------------
    def _snapshot_key(self, key: str) -> tuple[str, str | None]:
        if key == GLOBAL_KEY:
            return self._keys.global_snapshot, None
        if key.startswith(ACCOUNT_PREFIX):
            account = key[len(ACCOUNT_PREFIX) :]
            return self._keys.shard(self.shard(account)).snapshot(account), account
        raise ValueError(f"snapshot key must be 'global' or 'account:<id>', got {key!r}")

    async def put_snapshot(self, key: str, version: int, blob: bytes) -> None:
        """Store a snapshot outside a learner commit (tools, migrations)."""
        redis_key, account = self._snapshot_key(key)
        with unavailable():
            pipe = self._redis.pipeline(transaction=True)
            pipe.hset(redis_key, mapping={b"v": version, b"blob": blob})
            if account is not None:
                shard_keys = self._keys.shard(self.shard(account))
                pipe.hset(shard_keys.versions, account, version)
                pipe.incr(shard_keys.epoch)
            await pipe.execute()

    async def get_snapshot(self, key: str) -> tuple[int, bytes] | None:
        """``(version, blob)`` of a snapshot, or ``None``."""
        return (await self.get_snapshots([key])).get(key)

    async def get_snapshots(self, keys: list[str]) -> dict[str, tuple[int, bytes]]:
        """Several snapshots in one round trip (missing ones are left out)."""
        if not keys:
            return {}
        with unavailable():
            pipe = self._redis.pipeline(transaction=False)
            for key in keys:
                pipe.hmget(self._snapshot_key(key)[0], [b"v", b"blob"])
            rows = await pipe.execute()
        return {
            key: (int(v), bytes(blob))
            for key, (v, blob) in zip(keys, rows, strict=True)
            if v is not None and blob is not None
        }

    async def snapshot_versions(self) -> dict[str, int]:
        """Version of every snapshot, keyed like :meth:`get_snapshot`."""
        with unavailable():
            pipe = self._redis.pipeline(transaction=False)
            pipe.hget(self._keys.global_snapshot, b"v")
            for shard in range(self.shards):
                pipe.hgetall(self._keys.shard(shard).versions)
            results = await pipe.execute()
        versions: dict[str, int] = {}
        if results[0] is not None:
            versions[GLOBAL_KEY] = int(results[0])
        for table in results[1:]:
            for account, version in table.items():
                versions[ACCOUNT_PREFIX + account.decode()] = int(version)
        return versions

    async def snapshot_epoch(self) -> str:
        """Changes whenever a snapshot is written; ``shards + 1`` GETs, one round trip."""
        with unavailable():
            pipe = self._redis.pipeline(transaction=False)
            pipe.hget(self._keys.global_snapshot, b"v")
            for shard in range(self.shards):
                pipe.get(self._keys.shard(shard).epoch)
            results = await pipe.execute()
        return ",".join((r or b"0").decode() for r in results)

    # --- counts ---------------------------------------------------------------
    async def incr_counts(self, account: str, model: str, by: int = 1) -> None:
        """Add ``by`` samples of ``model`` (and of ``"*"``) to the account."""
        key = self._keys.shard(self.shard(account)).counts(account)
        with unavailable():
            pipe = self._redis.pipeline(transaction=True)
            pipe.hincrby(key, model, by)
            pipe.hincrby(key, "*", by)
            await pipe.execute()

    async def get_counts(self, account: str) -> dict[str, int]:
        """Sample counts: ``"*"`` and per model; ``{}`` for an unknown account."""
        with unavailable():
            raw = await self._redis.hgetall(self._keys.shard(self.shard(account)).counts(account))
        return {text(k): int(v) for k, v in raw.items()}

    # --- keys and circuits ----------------------------------------------------
    async def put_api_key(self, key_hash: str, account: str) -> None:
        """Map an API-key hash to an account."""
        with unavailable():
            await self._redis.set(self._keys.api_key(key_hash), account.encode())

    async def get_account_for_key(self, key_hash: str) -> str | None:
        """The account of an API-key hash, or ``None``."""
        with unavailable():
            raw = await self._redis.get(self._keys.api_key(key_hash))
        return text(raw) if raw is not None else None

    async def revoke_api_key(self, key_hash: str) -> bool:
        """Forget an API-key hash; False if it was unknown."""
        with unavailable():
            return bool(await self._redis.delete(self._keys.api_key(key_hash)))

    async def get_circuit(self, model: str) -> dict[str, Any] | None:
        """Shared circuit-breaker state of a model."""
        with unavailable():
            raw = await self._redis.get(self._keys.circuit(model))
        return dict(codec.loads(raw)) if raw is not None else None

    async def put_circuit(self, model: str, state: dict[str, Any]) -> None:
        """Replace a model's circuit-breaker state."""
        with unavailable():
            await self._redis.set(self._keys.circuit(model), codec.dumps(state))

    # --- reset ----------------------------------------------------------------
    async def delete_account_data(self, account: str) -> None:
        """Delete an account's decisions, counts and policy; tell the learner.

        The learner also holds the policy in memory, so a ``reset`` event goes
        down the account's reward stream: the learner drops the policy when it
        reaches it, after every reward published before the reset.
        """
        index = self._keys.account_decisions(account)
        shard_keys = self._keys.shard(self.shard(account))
        reset = RewardEvent(
            event_id=f"reset:{account}:{time.time_ns()}",
            request_id="",
            account=account,
            kind="reset",
            value=0.0,
            model="",
            created_at=time.time(),
        )
        with unavailable():
            request_ids = [text(r) for r in await self._redis.zrange(index, 0, -1)]
            pipe = self._redis.pipeline(transaction=False)
            for rid in request_ids:
                pipe.delete(self._keys.decision(rid), self._keys.rated(rid))
            pipe.delete(index)
            await pipe.execute()
            tx = self._redis.pipeline(transaction=True)
            if request_ids:
                tx.zrem(shard_keys.due, *[codec.due_member(account, r) for r in request_ids])
            tx.delete(shard_keys.counts(account), shard_keys.snapshot(account))
            tx.hdel(shard_keys.versions, account)
            tx.incr(shard_keys.epoch)
            tx.xadd(shard_keys.rewards, {b"e": codec.encode_event(reset)})
            await tx.execute()

    async def ping(self) -> bool:
        """True if Redis answers."""
        try:
            return bool(await self._redis.ping())
        except (aioredis.ConnectionError, aioredis.TimeoutError, OSError):
            return False

    async def close(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()

    def shard(self, account: str) -> int:
        """The account's shard."""
        return shard_of(account, self.shards)
