"""The learner's commits on Redis: applied ledger, shard commits, forwards, leases.

A batch is made durable by :meth:`RedisLearning.commit_shard`: ``WATCH`` the
shard lease, check it, then one ``MULTI`` in the shard's hash slot writes
snapshots, ledger, counts, the forward batch and the acks. The global owner
reads forward streams with plain ``XREAD`` from the positions saved in the
global snapshot (:meth:`RedisLearning.get_global_state`). Leases are one key
each, taken with ``SET NX PX`` and renewed by a script that checks the holder.
"""

from __future__ import annotations

import time
from typing import Any

from redis.exceptions import WatchError

from service.store import codec
from service.store.base import ForwardBatch, GlobalState, ShardCommit
from service.store.errors import LeaseLost
from service.store.redis_keys import GROUP
from service.store.redis_streams import RedisStreams, text

_LATE_MAXLEN = 10_000
_FORWARD_MAXLEN = 1_000_000


class RedisLearning(RedisStreams):
    """Ledger, commit, forward and lease operations (see the module docstring)."""

    # --- ledger -----------------------------------------------------------------
    async def was_applied(self, event_id: str) -> bool:
        """True if any shard's ledger holds ``event_id``."""
        with self._guard():
            pipe = self._redis.pipeline(transaction=False)
            for shard in range(self.shards):
                pipe.zscore(self._keys.shard(shard).applied, event_id)
            return any(score is not None for score in await pipe.execute())

    async def applied_among(self, shard: int, event_ids: list[str]) -> set[str]:
        """The subset of ``event_ids`` already in the shard's ledger."""
        if not event_ids:
            return set()
        with self._guard():
            scores = await self._redis.zmscore(self._keys.shard(shard).applied, event_ids)
        return {e for e, s in zip(event_ids, scores, strict=True) if s is not None}

    async def ledger_stats(self) -> dict[str, int]:
        """Outcome -> number of events, summed over shards (``learned``, ``late``...)."""
        with self._guard():
            pipe = self._redis.pipeline(transaction=False)
            for shard in range(self.shards):
                pipe.hgetall(self._keys.shard(shard).stats)
            tables = await pipe.execute()
        total: dict[str, int] = {}
        for table in tables:
            for name, n in table.items():
                total[name.decode()] = total.get(name.decode(), 0) + int(n)
        return total

    # --- commits ----------------------------------------------------------------
    async def commit_shard(self, commit: ShardCommit) -> str | None:
        """Make a learner batch durable in one transaction (see :class:`ShardCommit`).

        Raises:
            LeaseLost: if ``commit.owner`` does not hold the shard lease.
        """
        keys = self._keys.shard(commit.shard)
        now = time.time()
        with self._guard():
            async with self._redis.pipeline(transaction=True) as pipe:
                await pipe.watch(keys.lease)
                if await pipe.get(keys.lease) != commit.owner.encode():
                    raise LeaseLost(f"shard {commit.shard} lease is not held by {commit.owner}")
                pipe.multi()  # type: ignore[no-untyped-call]
                forward_at = self._queue_commit(pipe, commit, now)
                try:
                    results = await pipe.execute()
                except WatchError as exc:
                    raise LeaseLost(f"shard {commit.shard} lease changed during commit") from exc
        return None if forward_at is None else text(results[forward_at])

    def _queue_commit(self, pipe: Any, c: ShardCommit, now: float) -> int | None:
        """Queue the commit's commands; returns the position of the forward XADD."""
        keys = self._keys.shard(c.shard)
        forward_at = None
        for account, blob in c.snapshots.items():
            if blob is None:
                pipe.delete(keys.snapshot(account))
                pipe.hdel(keys.versions, account)
            else:
                pipe.hset(keys.snapshot(account), mapping={b"v": c.version, b"blob": blob})
                pipe.hset(keys.versions, account, c.version)
        if c.snapshots:
            pipe.incr(keys.epoch)
        if c.applied:
            pipe.zadd(keys.applied, dict.fromkeys(c.applied, now))
            pipe.zremrangebyscore(keys.applied, "-inf", now - self._retention_s)
        for outcome, n in c.outcomes.items():
            pipe.hincrby(keys.stats, outcome, n)
        for account, by_model in c.counts.items():
            for model, n in by_model.items():
                pipe.hincrby(keys.counts(account), model, n)
        if c.settled:
            pipe.zrem(keys.due, *[codec.due_member(a, r) for a, r in c.settled])
        if c.forward:
            forward_at = len(pipe.command_stack)
            pipe.xadd(
                keys.forward,
                {b"u": codec.dumps(c.forward)},
                maxlen=_FORWARD_MAXLEN,
                approximate=True,
            )
        for late in c.late:
            pipe.xadd(keys.late, {b"e": codec.dumps(late)}, maxlen=_LATE_MAXLEN, approximate=True)
        if c.entries:
            pipe.xack(keys.rewards, GROUP, *[e.entry_id for e in c.entries])
        return forward_at

    async def read_forwards(self, marks: dict[int, str], count: int) -> list[ForwardBatch]:
        """Forward batches after ``marks`` (shard -> last applied id), per shard in order."""
        with self._guard():
            pipe = self._redis.pipeline(transaction=False)
            for shard in range(self.shards):
                pipe.xread({self._keys.shard(shard).forward: marks.get(shard, "0")}, count=count)
            replies = await pipe.execute()
        batches = []
        for shard, reply in enumerate(replies):
            for _stream, messages in reply or []:
                for entry_id, fields in messages:
                    batches.append(
                        ForwardBatch(shard, bytes(entry_id).decode(), codec.loads(fields[b"u"]))
                    )
        return batches

    async def get_global_state(self) -> GlobalState | None:
        """The global snapshot and its forward positions, or ``None``."""
        with self._guard():
            v, blob, marks = await self._redis.hmget(
                self._keys.global_snapshot, [b"v", b"blob", b"marks"]
            )
        if v is None or blob is None:
            return None
        raw_marks = codec.loads(marks) if marks else {}
        return GlobalState(
            int(v),
            bytes(blob),  # type: ignore[arg-type]
            {int(k): str(m) for k, m in raw_marks.items()},
        )

    async def commit_global(self, owner: str, state: GlobalState) -> None:
        """Store the global snapshot with its positions, then trim applied forwards.

        Raises:
            LeaseLost: if ``owner`` does not hold the global lease.
        """
        key, lease = self._keys.global_snapshot, self._keys.global_lease
        marks = {str(k): v for k, v in state.marks.items()}
        with self._guard():
            async with self._redis.pipeline(transaction=True) as pipe:
                await pipe.watch(lease)
                if await pipe.get(lease) != owner.encode():
                    raise LeaseLost(f"global lease is not held by {owner}")
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.hset(
                    key,
                    mapping={
                        b"v": state.version,
                        b"blob": state.blob,
                        b"marks": codec.dumps(marks),
                    },
                )
                try:
                    await pipe.execute()
                except WatchError as exc:
                    raise LeaseLost("global lease changed during commit") from exc
            trim = self._redis.pipeline(transaction=False)
            for shard, mark in state.marks.items():
                trim.xtrim(self._keys.shard(shard).forward, minid=mark)
            await trim.execute()

    # --- leases -------------------------------------------------------------------
    async def acquire_lease(self, name: str, owner: str, ttl_ms: int) -> bool:
        """Take or renew lease ``name`` (``global`` or ``shard:<n>``) for ``ttl_ms``."""
        with self._guard():
            return bool(await self._acquire(keys=[self._keys.lease(name)], args=[owner, ttl_ms]))

    async def release_lease(self, name: str, owner: str) -> None:
        """Give a lease up, if ``owner`` holds it."""
        with self._guard():
            await self._release(keys=[self._keys.lease(name)], args=[owner])

    async def heartbeat(self, member: str, ttl_ms: int) -> int:
        """Mark learner ``member`` alive for ``ttl_ms``; returns how many are alive."""
        key, now = self._keys.members, time.time()
        with self._guard():
            pipe = self._redis.pipeline(transaction=True)
            pipe.zadd(key, {member: now + ttl_ms / 1000})  # score: when it expires
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zcard(key)
            return int((await pipe.execute())[-1])
