"""Reward streams on Redis: publish, read through the consumer group, reclaim, dead-letter.

Each shard ``n`` has one reward stream ``ar:{shard:n}:rewards`` read through
the consumer group ``learners``. Reads are one non-blocking ``XREADGROUP`` per
shard in a pipeline (multi-key commands would cross slots on Redis Cluster).
Commits, forwards and leases are in :mod:`service.store.redis_learning`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError, WatchError

from service.store import codec
from service.store.base import (
    RewardEvent,
    StreamEntry,
    shard_of,
)
from service.store.errors import StoreUnavailable
from service.store.redis_keys import ACQUIRE_LEASE, GROUP, RELEASE_LEASE, Keys

_POLL_S = 0.01
_MAX_BLOCK_MS = 4_000  # under the client's 5 s socket timeout
_DEAD_MAXLEN = 100_000


def text(value: Any) -> str:
    """A Redis reply (bytes with ``decode_responses=False``) as ``str``."""
    return value.decode() if isinstance(value, bytes) else str(value)


@contextmanager
def unavailable() -> Iterator[None]:
    """Translate connection-level Redis errors into :class:`StoreUnavailable`."""
    try:
        yield
    except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as exc:
        raise StoreUnavailable(f"redis unavailable: {exc}") from exc


class RedisStreams:
    """Stream operations (see the module docstring)."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: Keys,
        shards: int,
        ledger_retention_s: float,
        cluster: bool = False,
    ) -> None:
        if shards < 1:
            raise ValueError("shards must be >= 1")
        self._cluster = cluster
        self._redis = client
        self._keys = keys
        self.shards = shards
        self._retention_s = ledger_retention_s
        self._groups: set[int] = set()
        self._acquire = client.register_script(ACQUIRE_LEASE)
        self._release = client.register_script(RELEASE_LEASE)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """:func:`unavailable`, and a missing consumer group counts as unavailable too.

        Redis loses its groups if it restarts without persistence; the groups
        are recreated by the next call, so the caller just retries.
        """
        try:
            with unavailable():
                yield
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self._groups.clear()
            raise StoreUnavailable("consumer group missing (Redis lost its data?)") from exc

    # --- publishing -----------------------------------------------------------
    async def publish_reward(self, event: RewardEvent) -> str:
        """Append a reward to its account's shard stream; returns the entry id."""
        key = self._keys.shard(shard_of(event.account, self.shards)).rewards
        with self._guard():
            entry_id = await self._redis.xadd(key, {b"e": codec.encode_event(event)})
        return text(entry_id)

    # --- reading --------------------------------------------------------------
    async def _ensure_groups(self, shards: list[int]) -> None:
        missing = [s for s in shards if s not in self._groups]
        for shard in missing:
            try:
                await self._redis.xgroup_create(
                    self._keys.shard(shard).rewards, GROUP, id="0", mkstream=True
                )
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            self._groups.add(shard)

    async def _group_read(
        self, consumer: str, shards: list[int], start: str, count: int
    ) -> list[StreamEntry]:
        with self._guard():
            await self._ensure_groups(shards)
            pipe = self._redis.pipeline(transaction=False)
            for shard in shards:
                key = self._keys.shard(shard).rewards
                pipe.xreadgroup(GROUP, consumer, {key: start}, count=count)
            replies = await pipe.execute()
        entries: list[StreamEntry] = []
        for shard, reply in zip(shards, replies, strict=True):
            for _stream, messages in reply or []:
                entries.extend(self._entries(shard, messages))
        return entries

    def _entries(self, shard: int, messages: list[Any], deliveries: int = 1) -> list[StreamEntry]:
        key = self._keys.shard(shard).rewards
        out = []
        for entry_id, fields in messages:
            if not fields:  # deleted from the stream while pending
                continue
            out.append(
                StreamEntry(
                    stream=key,
                    entry_id=bytes(entry_id).decode(),
                    event=codec.decode_event(fields[b"e"]),
                    deliveries=deliveries,
                    shard=shard,
                )
            )
        return out

    async def read_rewards(
        self, consumer: str, shards: list[int], count: int, block_ms: int
    ) -> list[StreamEntry]:
        """New entries for ``consumer``, waiting up to ``block_ms`` for the first.

        One pipelined read per shard first (fair across shards). If all are
        empty, one blocking ``XREADGROUP`` over every shard's stream; on Redis
        Cluster (streams in different slots) a short poll loop instead.
        """
        entries = await self._group_read(consumer, shards, ">", count)
        if entries or block_ms <= 0:
            return entries
        if not self._cluster:
            return await self._blocking_read(consumer, shards, count, block_ms)
        deadline = time.monotonic() + block_ms / 1000
        while not entries and time.monotonic() < deadline:
            await asyncio.sleep(min(_POLL_S, max(0.0, deadline - time.monotonic())))
            entries = await self._group_read(consumer, shards, ">", count)
        return entries

    async def _blocking_read(
        self, consumer: str, shards: list[int], count: int, block_ms: int
    ) -> list[StreamEntry]:
        by_key = {self._keys.shard(s).rewards: s for s in shards}
        with self._guard():
            reply: Any = await self._redis.xreadgroup(
                GROUP, consumer, dict.fromkeys(by_key, ">"), count=count,
                block=min(block_ms, _MAX_BLOCK_MS),
            )  # fmt: skip
        entries: list[StreamEntry] = []
        for stream, messages in reply or []:
            entries.extend(self._entries(by_key[text(stream)], messages))
        return entries

    async def _with_deliveries(
        self, consumer: str, entries: list[StreamEntry]
    ) -> list[StreamEntry]:
        """Fill in ``deliveries`` from XPENDING (only on the rare reclaim paths)."""
        if not entries:
            return entries
        by_shard: dict[int, list[StreamEntry]] = {}
        for entry in entries:
            by_shard.setdefault(entry.shard, []).append(entry)
        counts: dict[str, int] = {}
        with self._guard():
            for shard, group in by_shard.items():
                ids = sorted(e.entry_id for e in group)
                rows = await self._redis.xpending_range(
                    self._keys.shard(shard).rewards,
                    GROUP,
                    min=ids[0],
                    max=ids[-1],
                    count=len(ids) + 1000,
                    consumername=consumer,
                )
                for row in rows:
                    counts[text(row["message_id"])] = int(row["times_delivered"])
        return [
            StreamEntry(e.stream, e.entry_id, e.event, counts.get(e.entry_id, 1), e.shard)
            for e in entries
        ]

    async def read_own_pending(
        self, consumer: str, shards: list[int], count: int
    ) -> list[StreamEntry]:
        """Entries delivered to ``consumer`` and not acked (e.g. before a crash)."""
        entries = await self._group_read(consumer, shards, "0", count)
        return await self._with_deliveries(consumer, entries)

    async def claim_stale(
        self, consumer: str, shards: list[int], min_idle_ms: int, count: int
    ) -> list[StreamEntry]:
        """Take over entries pending longer than ``min_idle_ms`` (``XAUTOCLAIM``)."""
        entries: list[StreamEntry] = []
        with self._guard():
            await self._ensure_groups(shards)
            for shard in shards:
                reply = await self._redis.xautoclaim(
                    self._keys.shard(shard).rewards, GROUP, consumer, min_idle_ms, count=count
                )
                entries.extend(self._entries(shard, reply[1]))
        return await self._with_deliveries(consumer, entries)

    async def ack_rewards(self, entries: list[StreamEntry]) -> None:
        """Acknowledge entries outside a commit (e.g. malformed ones)."""
        with self._guard():
            pipe = self._redis.pipeline(transaction=False)
            for entry in entries:
                pipe.xack(entry.stream, GROUP, entry.entry_id)
            await pipe.execute()

    async def dead_letter(self, entry: StreamEntry, reason: str) -> None:
        """Move an entry to the shard's dead-letter stream and ack it, atomically."""
        keys = self._keys.shard(entry.shard)
        with self._guard():
            pipe = self._redis.pipeline(transaction=True)
            pipe.xadd(
                keys.dead,
                {
                    b"e": codec.encode_event(entry.event),
                    b"reason": reason.encode()[:500],
                    b"deliveries": entry.deliveries,
                },
                maxlen=_DEAD_MAXLEN,
                approximate=True,
            )
            pipe.xack(entry.stream, GROUP, entry.entry_id)
            await pipe.execute()

    async def dead_letters(self, shard: int, count: int) -> list[tuple[RewardEvent, str]]:
        """The oldest dead-lettered events of a shard, with their reasons."""
        with self._guard():
            rows: Any = await self._redis.xrange(self._keys.shard(shard).dead, count=count)
        return [(codec.decode_event(f[b"e"]), text(f[b"reason"])) for _id, f in rows]

    async def pending_count(self, shards: list[int] | None = None) -> int:
        """Entries delivered and not yet acked, over ``shards`` (default: all)."""
        shards = list(range(self.shards)) if shards is None else shards
        with self._guard():
            await self._ensure_groups(shards)
            pipe = self._redis.pipeline(transaction=False)
            for shard in shards:
                pipe.xpending(self._keys.shard(shard).rewards, GROUP)
            replies = await pipe.execute()
        return sum(int(r["pending"]) for r in replies)

    async def _floors(self, shards: list[int]) -> list[tuple[int, str, str | None, int]]:
        """Per shard: trim floor, oldest un-acked entry id (or ``None``), un-acked count.

        Everything before the trim floor is acked: it is the oldest pending
        entry, or else the group's last delivered entry (all later ones are new).
        """
        with self._guard():
            await self._ensure_groups(shards)
            pipe = self._redis.pipeline(transaction=False)
            for shard in shards:
                key = self._keys.shard(shard).rewards
                pipe.xpending(key, GROUP)
                pipe.xinfo_groups(key)
            replies = await pipe.execute()
            out = []
            for i, shard in enumerate(shards):
                summary, groups = replies[2 * i], replies[2 * i + 1]
                group = next(g for g in groups if text(g["name"]) == GROUP)
                last, lag = text(group["last-delivered-id"]), int(group.get("lag") or 0)
                pending = int(summary["pending"])
                oldest = text(summary["min"]) if pending else None
                if oldest is None and lag:
                    key = self._keys.shard(shard).rewards
                    first = await self._redis.xrange(key, min=f"({last}", count=1)
                    oldest = text(first[0][0]) if first else None
                out.append(
                    (shard, text(summary["min"]) if pending else last, oldest, pending + lag)
                )
        return out

    async def backlog(self, shards: list[int] | None = None) -> tuple[int, float]:
        """Un-acked rewards (delivered or not) and the age in seconds of the oldest."""
        floors = await self._floors(list(range(self.shards)) if shards is None else shards)
        count = sum(n for *_, n in floors)
        stamps = [int(o.split("-")[0]) for _, _, o, _ in floors if o is not None]
        oldest = max(0.0, time.time() - min(stamps) / 1000) if stamps else 0.0
        return count, oldest

    async def trim_acked(self, shards: list[int]) -> None:
        """Drop entries the group has acked (``XTRIM MINID`` at the trim floor)."""
        floors = await self._floors(shards)
        with self._guard():
            pipe = self._redis.pipeline(transaction=False)
            for shard, floor, _, _ in floors:
                pipe.xtrim(self._keys.shard(shard).rewards, minid=floor, approximate=False)
            await pipe.execute()

    async def enqueue_due_defaults(self, shard: int, now: float, limit: int) -> int:
        """Publish ``default`` events for decisions whose window ended silently."""
        keys = self._keys.shard(shard)
        with self._guard():
            async with self._redis.pipeline(transaction=True) as pipe:
                await pipe.watch(keys.due)
                members = await pipe.zrangebyscore(keys.due, "-inf", now, start=0, num=limit)
                if not members:
                    await pipe.unwatch()  # type: ignore[no-untyped-call]
                    return 0
                pipe.multi()  # type: ignore[no-untyped-call]
                for member in members:
                    account, rid = codec.split_due_member(text(member))
                    event = codec.default_event(account, rid, now)
                    pipe.xadd(keys.rewards, {b"e": codec.encode_event(event)})
                pipe.zrem(keys.due, *members)
                try:
                    await pipe.execute()
                except WatchError:
                    return 0  # someone else enqueued them
        return len(members)
