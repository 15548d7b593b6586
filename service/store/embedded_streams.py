"""The learner's half of the embedded store: streams, ledger, commits, forwards, leases.

Mirrors :mod:`service.store.redis_streams` on SQLite tables (schema in
:mod:`service.store.embedded_schema`). Every write is one SQLite transaction,
so a learner commit is atomic exactly as the Redis ``MULTI`` is. Statements
run inline on the event loop: each takes tens of microseconds (WAL mode, no
fsync with ``synchronous=NORMAL``), less than a thread hop would cost. WAL
checkpoints, which do fsync, run on a thread of their own
(:mod:`service.store.embedded_checkpoint`).
Leases live in memory, since one process owns the database.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from service.store import codec
from service.store.base import (
    ForwardBatch,
    GlobalState,
    RewardEvent,
    ShardCommit,
    StreamEntry,
    shard_of,
)
from service.store.errors import LeaseLost, StoreUnavailable

_LATE_KEEP = 10_000


class EmbeddedStreams:
    """Stream, ledger, commit and lease operations on one SQLite connection."""

    def __init__(self, db: sqlite3.Connection, shards: int, ledger_retention_s: float) -> None:
        if shards < 1:
            raise ValueError("shards must be >= 1")
        self._db = db
        self.shards = shards
        self._retention_s = ledger_retention_s
        self._leases: dict[str, tuple[str, float]] = {}
        self._members: dict[str, float] = {}
        self._wakeup: asyncio.Event | None = None
        self._wakeup_loop: asyncio.AbstractEventLoop | None = None

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; translate SQLite I/O errors to StoreUnavailable."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"embedded store: {exc}") from exc

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"embedded store: {exc}") from exc

    # --- publishing -----------------------------------------------------------
    async def publish_reward(self, event: RewardEvent) -> str:
        """Append a reward durably; returns its entry id."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO rewards (shard, body) VALUES (?, ?)",
                (shard_of(event.account, self.shards), codec.encode_event(event)),
            )
        if self._wakeup is not None:
            self._wakeup.set()
        return str(cur.lastrowid)

    # --- reading --------------------------------------------------------------
    @staticmethod
    def _marks(shards: list[int]) -> str:
        return ",".join(str(int(s)) for s in shards) or "-1"

    def _deliver(self, consumer: str, rows: list[Any]) -> list[StreamEntry]:
        now = time.time()
        with self._tx() as db:
            db.executemany(
                "UPDATE rewards SET consumer = ?, delivered_at = ?, deliveries = deliveries + 1"
                " WHERE seq = ?",
                [(consumer, now, row[0]) for row in rows],
            )
        return [
            StreamEntry(
                stream=f"shard:{row[1]}",
                entry_id=str(row[0]),
                event=codec.decode_event(bytes(row[2])),
                deliveries=int(row[3]) + 1,
                shard=int(row[1]),
            )
            for row in rows
        ]

    async def read_rewards(
        self, consumer: str, shards: list[int], count: int, block_ms: int
    ) -> list[StreamEntry]:
        """New entries for ``consumer``, waiting up to ``block_ms`` for the first."""
        deadline = time.monotonic() + block_ms / 1000
        while True:
            rows = self._query(
                "SELECT seq, shard, body, deliveries FROM rewards WHERE deliveries = 0"  # noqa: S608
                f" AND shard IN ({self._marks(shards)}) ORDER BY seq LIMIT ?",
                (count,),
            )
            remaining = deadline - time.monotonic()
            if rows or remaining <= 0:
                return self._deliver(consumer, rows)
            if self._wakeup is None or self._wakeup_loop is not asyncio.get_running_loop():
                # an Event belongs to one loop; tests may reuse a store across loops
                self._wakeup, self._wakeup_loop = asyncio.Event(), asyncio.get_running_loop()
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return []

    async def read_own_pending(
        self, consumer: str, shards: list[int], count: int
    ) -> list[StreamEntry]:
        """Entries delivered to ``consumer`` and not acked (e.g. before a crash)."""
        rows = self._query(
            "SELECT seq, shard, body, deliveries FROM rewards WHERE deliveries > 0"  # noqa: S608
            f" AND consumer = ? AND shard IN ({self._marks(shards)}) ORDER BY seq LIMIT ?",
            (consumer, count),
        )
        return self._deliver(consumer, rows)

    async def claim_stale(
        self, consumer: str, shards: list[int], min_idle_ms: int, count: int
    ) -> list[StreamEntry]:
        """Take over entries pending for longer than ``min_idle_ms``."""
        rows = self._query(
            "SELECT seq, shard, body, deliveries FROM rewards WHERE deliveries > 0"  # noqa: S608
            f" AND delivered_at <= ? AND shard IN ({self._marks(shards)}) ORDER BY seq LIMIT ?",
            (time.time() - min_idle_ms / 1000, count),
        )
        return self._deliver(consumer, rows)

    async def ack_rewards(self, entries: list[StreamEntry]) -> None:
        """Acknowledge entries outside a commit."""
        with self._tx() as db:
            db.executemany(
                "DELETE FROM rewards WHERE seq = ?", [(int(e.entry_id),) for e in entries]
            )

    async def dead_letter(self, entry: StreamEntry, reason: str) -> None:
        """Move an entry to the dead-letter table and ack it, atomically."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO dead (shard, body, reason, deliveries) VALUES (?, ?, ?, ?)",
                (entry.shard, codec.encode_event(entry.event), reason[:500], entry.deliveries),
            )
            db.execute("DELETE FROM rewards WHERE seq = ?", (int(entry.entry_id),))

    async def dead_letters(self, shard: int, count: int) -> list[tuple[RewardEvent, str]]:
        """The oldest dead-lettered events of a shard, with their reasons."""
        rows = self._query(
            "SELECT body, reason FROM dead WHERE shard = ? ORDER BY seq LIMIT ?", (shard, count)
        )
        return [(codec.decode_event(bytes(b)), str(r)) for b, r in rows]

    async def pending_count(self, shards: list[int] | None = None) -> int:
        """Entries delivered and not yet acked, over ``shards`` (default: all)."""
        shards = list(range(self.shards)) if shards is None else shards
        rows = self._query(
            "SELECT COUNT(*) FROM rewards WHERE deliveries > 0"  # noqa: S608
            f" AND shard IN ({self._marks(shards)})"
        )
        return int(rows[0][0])

    async def backlog(self, shards: list[int] | None = None) -> tuple[int, float]:
        """Un-acked rewards (delivered or not) and the age in seconds of the oldest."""
        shards = list(range(self.shards)) if shards is None else shards
        marks = self._marks(shards)
        rows = self._query(
            f"SELECT COUNT(*), MIN(seq) FROM rewards WHERE shard IN ({marks})"  # noqa: S608
        )
        count, first = int(rows[0][0]), rows[0][1]
        if not count:
            return 0, 0.0
        body = self._query("SELECT body FROM rewards WHERE seq = ?", (first,))[0][0]
        return count, max(0.0, time.time() - codec.decode_event(bytes(body)).created_at)

    async def trim_acked(self, shards: list[int]) -> None:
        """Nothing to do: acking deletes the row."""

    async def enqueue_due_defaults(self, shard: int, now: float, limit: int) -> int:
        """Publish ``default`` events for decisions whose window ended silently."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT request_id, account FROM decisions WHERE shard = ? AND settled = 0"
                " AND due_at <= ? ORDER BY due_at LIMIT ?",
                (shard, now, limit),
            ).fetchall()
            db.executemany(
                "INSERT INTO rewards (shard, body) VALUES (?, ?)",
                [(shard, codec.encode_event(codec.default_event(a, r, now))) for r, a in rows],
            )
            db.executemany(
                "UPDATE decisions SET settled = 1 WHERE request_id = ?", [(r,) for r, _ in rows]
            )
        if rows and self._wakeup is not None:
            self._wakeup.set()
        return len(rows)

    # --- ledger -----------------------------------------------------------------
    async def was_applied(self, event_id: str) -> bool:
        """True if the ledger holds ``event_id``."""
        return bool(self._query("SELECT 1 FROM applied WHERE event_id = ?", (event_id,)))

    async def applied_among(self, shard: int, event_ids: list[str]) -> set[str]:
        """The subset of ``event_ids`` already in the ledger."""
        found: set[str] = set()
        for start in range(0, len(event_ids), 500):
            chunk = event_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                f"SELECT event_id FROM applied WHERE event_id IN ({marks})",  # noqa: S608
                tuple(chunk),
            )
            found.update(str(r[0]) for r in rows)
        return found

    async def ledger_stats(self) -> dict[str, int]:
        """Outcome -> number of events (``learned``, ``late``, ...)."""
        return {str(o): int(n) for o, n in self._query("SELECT outcome, n FROM stats")}

    # --- commits ----------------------------------------------------------------
    def _check_lease(self, name: str, owner: str) -> None:
        holder = self._leases.get(name)
        if holder is None or holder[0] != owner or holder[1] < time.monotonic():
            raise LeaseLost(f"{name} lease is not held by {owner}")

    async def commit_shard(self, commit: ShardCommit) -> str | None:
        """Make a learner batch durable in one transaction (see :class:`ShardCommit`)."""
        self._check_lease(f"shard:{commit.shard}", commit.owner)
        now = time.time()
        c = commit
        with self._tx() as db:
            for account, blob in c.snapshots.items():
                key = f"account:{account}"
                if blob is None:
                    db.execute("DELETE FROM snapshots WHERE key = ?", (key,))
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?)", (key, c.version, blob)
                    )
            if c.snapshots:
                self._bump_epoch(db)
            db.executemany(
                "INSERT OR IGNORE INTO applied VALUES (?, ?, ?)",
                [(e, c.shard, now) for e in c.applied],
            )
            db.execute("DELETE FROM applied WHERE applied_at < ?", (now - self._retention_s,))
            db.executemany(
                "INSERT INTO stats VALUES (?, ?) ON CONFLICT(outcome) DO UPDATE SET n = n + ?",
                [(o, n, n) for o, n in c.outcomes.items()],
            )
            db.executemany(
                "INSERT INTO counts VALUES (?, ?, ?)"
                " ON CONFLICT(account, model) DO UPDATE SET n = n + ?",
                [(a, m, n, n) for a, by in c.counts.items() for m, n in by.items()],
            )
            db.executemany(
                "UPDATE decisions SET settled = 1 WHERE request_id = ?",
                [(r,) for _, r in c.settled],
            )
            forward_id = None
            if c.forward:
                cur = db.execute(
                    "INSERT INTO forwards (shard, body) VALUES (?, ?)",
                    (c.shard, codec.dumps(c.forward)),
                )
                forward_id = str(cur.lastrowid)
            db.executemany(
                "INSERT INTO late (body) VALUES (?)", [(codec.dumps(x),) for x in c.late]
            )
            if c.late:  # keep the most recent ones, like the capped Redis stream
                db.execute(
                    "DELETE FROM late WHERE seq <= (SELECT MAX(seq) FROM late) - ?", (_LATE_KEEP,)
                )
            db.executemany(
                "DELETE FROM rewards WHERE seq = ?", [(int(e.entry_id),) for e in c.entries]
            )
        return forward_id

    @staticmethod
    def _bump_epoch(db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT INTO meta VALUES ('epoch', 1)"
            " ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    async def read_forwards(self, marks: dict[int, str], count: int) -> list[ForwardBatch]:
        """Forward batches after ``marks`` (shard -> last applied id), per shard in order."""
        batches: list[ForwardBatch] = []
        for shard in range(self.shards):
            rows = self._query(
                "SELECT seq, body FROM forwards WHERE shard = ? AND seq > ? ORDER BY seq LIMIT ?",
                (shard, int(marks.get(shard, "0")), count),
            )
            batches.extend(
                ForwardBatch(shard, str(seq), codec.loads(bytes(body))) for seq, body in rows
            )
        return batches

    async def get_global_state(self) -> GlobalState | None:
        """The global snapshot and its forward positions, or ``None``."""
        rows = self._query("SELECT version, blob FROM snapshots WHERE key = 'global'")
        if not rows:
            return None
        raw = self._query("SELECT value FROM meta WHERE key = 'global_marks'")
        marks = codec.loads(bytes(raw[0][0])) if raw else {}
        version, blob = rows[0]
        return GlobalState(
            int(version),
            bytes(blob),
            {int(k): str(v) for k, v in marks.items()},
        )

    async def commit_global(self, owner: str, state: GlobalState) -> None:
        """Store the global snapshot with its positions and drop applied forwards."""
        self._check_lease("global", owner)
        marks = {str(k): v for k, v in state.marks.items()}
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO snapshots VALUES ('global', ?, ?)",
                (state.version, state.blob),
            )
            db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('global_marks', ?)", (codec.dumps(marks),)
            )
            self._bump_epoch(db)
            db.executemany(
                "DELETE FROM forwards WHERE shard = ? AND seq <= ?",
                [(shard, int(mark)) for shard, mark in state.marks.items()],
            )

    # --- leases -------------------------------------------------------------------
    async def acquire_lease(self, name: str, owner: str, ttl_ms: int) -> bool:
        """Take or renew lease ``name`` for ``ttl_ms`` (in memory: one process)."""
        now = time.monotonic()
        holder = self._leases.get(name)
        if holder is not None and holder[0] != owner and holder[1] > now:
            return False
        self._leases[name] = (owner, now + ttl_ms / 1000)
        return True

    async def release_lease(self, name: str, owner: str) -> None:
        """Give a lease up, if ``owner`` holds it."""
        holder = self._leases.get(name)
        if holder is not None and holder[0] == owner:
            del self._leases[name]

    async def heartbeat(self, member: str, ttl_ms: int) -> int:
        """Mark learner ``member`` alive for ``ttl_ms``; returns how many are alive."""
        now = time.monotonic()
        self._members[member] = now + ttl_ms / 1000
        self._members = {m: t for m, t in self._members.items() if t > now}
        return len(self._members)
