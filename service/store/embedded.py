"""The embedded default store: SQLite in the data dir, no server to run.

Everything durable (decision log, reward stream with ack state, applied
ledger, snapshots, counts, keys) is in ``<data_dir>/autoroute.sqlite3`` in WAL
mode, so an accepted reward survives a crash and is redelivered, and the
learner's snapshots survive a restart. With ``data_dir=None`` the same code
runs on an in-memory database (tests, throwaway demos).

It is meant for one process: ``autoroute serve`` with the learner running as a
task inside it. Several workers need :class:`~service.store.redis_store.RedisStore`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from service.store import codec
from service.store.base import (
    ACCOUNT_PREFIX,
    GLOBAL_KEY,
    DecisionRecord,
    LoggedRequest,
    RewardEvent,
    shard_of,
)
from service.store.embedded_checkpoint import CHECKPOINT_INTERVAL_S, Checkpointer
from service.store.embedded_schema import connect
from service.store.embedded_streams import EmbeddedStreams

DB_NAME = "autoroute.sqlite3"


class EmbeddedStore(EmbeddedStreams):
    """:class:`~service.store.base.Store` on SQLite.

    Args:
        data_dir: directory of the database; ``None`` keeps it in memory.
        shards: number of reward shards (kept for parity with Redis; one
            learner usually owns them all here).
        decision_grace_s: how long a decision outlives its reward window.
        ledger_retention_s: how long applied event ids are remembered.
        synchronous: ``NORMAL`` (survives a process crash) or ``FULL`` (also
            survives power loss, at one fsync per write).
        checkpoint_interval_s: how often a thread checkpoints the WAL
            (:mod:`service.store.embedded_checkpoint`).

    Example:
        >>> import asyncio
        >>> store = EmbeddedStore(None)
        >>> asyncio.run(store.get_counts("nobody"))
        {}
    """

    def __init__(
        self,
        data_dir: Path | str | None,
        *,
        shards: int = 1,
        decision_grace_s: float = 600.0,
        ledger_retention_s: float = 3_600.0,
        synchronous: str = "NORMAL",
        checkpoint_interval_s: float = CHECKPOINT_INTERVAL_S,
    ) -> None:
        self._checkpointer: Checkpointer | None = None
        if data_dir is None:
            path = ":memory:"
        else:
            Path(data_dir).mkdir(parents=True, exist_ok=True)
            path = str(Path(data_dir) / DB_NAME)
        db = connect(path, synchronous)
        super().__init__(db, shards, ledger_retention_s)
        if data_dir is not None:
            # Checkpoints (and their fsyncs) happen on a thread, not in a commit on the loop.
            db.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = Checkpointer(path, checkpoint_interval_s)
            self._checkpointer.start()
        self._grace_s = decision_grace_s
        self._last_purge = 0.0

    # --- decision log -------------------------------------------------------
    async def put_decision(self, record: DecisionRecord, ttl_s: float) -> None:
        """Log a decision and schedule its default reward at ``created_at + ttl_s``."""
        await self.record_request(record, ttl_s, [])

    async def record_request(
        self, record: DecisionRecord, ttl_s: float, events: Sequence[RewardEvent]
    ) -> list[str]:
        """:meth:`put_decision` plus :meth:`publish_reward` of ``events``, one transaction.

        Returns the events' entry ids.
        """
        with self._tx() as db:
            ids = self._insert_request(db, record, ttl_s, events)
            self._purge_expired(db)
        if events and self._wakeup is not None:
            self._wakeup.set()
        return ids

    async def record_requests(self, requests: Sequence[LoggedRequest], ttl_s: float) -> None:
        """:meth:`record_request` of each request, all in one transaction (one commit)."""
        with self._tx() as db:
            for record, events in requests:
                self._insert_request(db, record, ttl_s, events)
            self._purge_expired(db)
        if self._wakeup is not None and any(events for _, events in requests):
            self._wakeup.set()

    def _insert_request(
        self,
        db: sqlite3.Connection,
        record: DecisionRecord,
        ttl_s: float,
        events: Sequence[RewardEvent],
    ) -> list[str]:
        due = record.created_at + ttl_s
        ids = []
        db.execute(
            "INSERT OR REPLACE INTO decisions VALUES (?, ?, ?, ?, ?, 0, ?)",
            (
                record.request_id,
                record.account,
                shard_of(record.account, self.shards),
                codec.encode_decision(record),
                due,
                due + self._grace_s,
            ),
        )
        for event in events:
            cur = db.execute(
                "INSERT INTO rewards (shard, body) VALUES (?, ?)",
                (shard_of(event.account, self.shards), codec.encode_event(event)),
            )
            ids.append(str(cur.lastrowid))
        return ids

    def _purge_expired(self, db: sqlite3.Connection) -> None:
        now = time.time()
        if now - self._last_purge > 60:
            self._last_purge = now
            db.execute("DELETE FROM decisions WHERE expires_at < ?", (now,))
            db.execute("DELETE FROM rated WHERE expires_at < ?", (now,))

    async def get_decision(self, request_id: str) -> DecisionRecord | None:
        """The logged decision, or ``None`` if unknown or expired."""
        return (await self.get_decisions([request_id])).get(request_id)

    async def get_decisions(self, request_ids: list[str]) -> dict[str, DecisionRecord]:
        """Several decisions (missing or expired ones are left out)."""
        found: dict[str, DecisionRecord] = {}
        now = time.time()
        for start in range(0, len(request_ids), 500):
            chunk = request_ids[start : start + 500]
            rows = self._query(
                "SELECT request_id, body FROM decisions WHERE expires_at > ?"  # noqa: S608
                f" AND request_id IN ({','.join('?' * len(chunk))})",
                (now, *chunk),
            )
            found.update((str(r), codec.decode_decision(bytes(b))) for r, b in rows)
        return found

    async def mark_rated(self, request_id: str, ttl_s: float) -> bool:
        """Atomically mark a request as rated; False if it already was."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "DELETE FROM rated WHERE request_id = ? AND expires_at <= ?", (request_id, now)
            )
            cur = db.execute("INSERT OR IGNORE INTO rated VALUES (?, ?)", (request_id, now + ttl_s))
        return cur.rowcount == 1

    # --- snapshots ------------------------------------------------------------
    @staticmethod
    def _check_key(key: str) -> None:
        if key != GLOBAL_KEY and not key.startswith(ACCOUNT_PREFIX):
            raise ValueError(f"snapshot key must be 'global' or 'account:<id>', got {key!r}")

    async def put_snapshot(self, key: str, version: int, blob: bytes) -> None:
        """Store a snapshot outside a learner commit (tools, migrations)."""
        self._check_key(key)
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?)", (key, version, blob))
            self._bump_epoch(db)

    async def get_snapshot(self, key: str) -> tuple[int, bytes] | None:
        """``(version, blob)`` of a snapshot, or ``None``."""
        return (await self.get_snapshots([key])).get(key)

    async def get_snapshots(self, keys: list[str]) -> dict[str, tuple[int, bytes]]:
        """Several snapshots (missing ones are left out)."""
        for key in keys:
            self._check_key(key)
        found: dict[str, tuple[int, bytes]] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            rows = self._query(
                "SELECT key, version, blob FROM snapshots"  # noqa: S608
                f" WHERE key IN ({','.join('?' * len(chunk))})",
                tuple(chunk),
            )
            found.update((str(k), (int(v), bytes(b))) for k, v, b in rows)
        return found

    async def snapshot_versions(self) -> dict[str, int]:
        """Version of every snapshot, keyed like :meth:`get_snapshot`."""
        return {str(k): int(v) for k, v in self._query("SELECT key, version FROM snapshots")}

    async def snapshot_epoch(self) -> str:
        """Changes whenever a snapshot is written or deleted."""
        rows = self._query("SELECT value FROM meta WHERE key = 'epoch'")
        return str(rows[0][0]) if rows else "0"

    # --- counts ---------------------------------------------------------------
    async def incr_counts(self, account: str, model: str, by: int = 1) -> None:
        """Add ``by`` samples of ``model`` (and of ``"*"``) to the account."""
        with self._tx() as db:
            db.executemany(
                "INSERT INTO counts VALUES (?, ?, ?)"
                " ON CONFLICT(account, model) DO UPDATE SET n = n + ?",
                [(account, model, by, by), (account, "*", by, by)],
            )

    async def get_counts(self, account: str) -> dict[str, int]:
        """Sample counts: ``"*"`` and per model; ``{}`` for an unknown account."""
        rows = self._query("SELECT model, n FROM counts WHERE account = ?", (account,))
        return {str(m): int(n) for m, n in rows}

    # --- keys and circuits ----------------------------------------------------
    async def put_api_key(self, key_hash: str, account: str) -> None:
        """Map an API-key hash to an account."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO api_keys VALUES (?, ?)", (key_hash, account))

    async def get_account_for_key(self, key_hash: str) -> str | None:
        """The account of an API-key hash, or ``None``."""
        rows = self._query("SELECT account FROM api_keys WHERE key_hash = ?", (key_hash,))
        return str(rows[0][0]) if rows else None

    async def revoke_api_key(self, key_hash: str) -> bool:
        """Forget an API-key hash; False if it was unknown."""
        with self._tx() as db:
            cur = db.execute("DELETE FROM api_keys WHERE key_hash = ?", (key_hash,))
        return cur.rowcount > 0

    async def get_circuit(self, model: str) -> dict[str, Any] | None:
        """Circuit-breaker state of a model."""
        rows = self._query("SELECT state FROM circuits WHERE model = ?", (model,))
        return dict(codec.loads(bytes(rows[0][0]))) if rows else None

    async def put_circuit(self, model: str, state: dict[str, Any]) -> None:
        """Replace a model's circuit-breaker state."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO circuits VALUES (?, ?)", (model, codec.dumps(state)))

    # --- reset ----------------------------------------------------------------
    async def delete_account_data(self, account: str) -> None:
        """Delete an account's decisions, counts and policy; tell the learner.

        A ``reset`` event goes down the account's reward stream so that the
        learner drops the in-memory policy after every earlier reward.
        """
        reset = RewardEvent(
            event_id=f"reset:{account}:{time.time_ns()}",
            request_id="",
            account=account,
            kind="reset",
            value=0.0,
            model="",
            created_at=time.time(),
        )
        with self._tx() as db:
            db.execute(
                "DELETE FROM rated WHERE request_id IN"
                " (SELECT request_id FROM decisions WHERE account = ?)",
                (account,),
            )
            db.execute("DELETE FROM decisions WHERE account = ?", (account,))
            db.execute("DELETE FROM counts WHERE account = ?", (account,))
            db.execute("DELETE FROM snapshots WHERE key = ?", (ACCOUNT_PREFIX + account,))
            self._bump_epoch(db)
            db.execute(
                "INSERT INTO rewards (shard, body) VALUES (?, ?)",
                (shard_of(account, self.shards), codec.encode_event(reset)),
            )
        if self._wakeup is not None:
            self._wakeup.set()

    async def ping(self) -> bool:
        """True if the database answers."""
        try:
            self._query("SELECT 1")
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            return False
        return True

    async def close(self) -> None:
        """Close the database (a WAL checkpoint happens on close)."""
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._db.close()

    def shard(self, account: str) -> int:
        """The account's shard."""
        return shard_of(account, self.shards)
