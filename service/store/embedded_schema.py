"""SQLite schema of the embedded store (see :mod:`service.store.embedded`).

The ``rewards`` table is a stream with consumer-group semantics: a row with
``deliveries = 0`` is new; a delivered, un-acked row is pending for
``consumer``; acking deletes the row. Rows survive a crash, so a reward that
was accepted (its ``INSERT`` committed) is redelivered after a restart.
"""

from __future__ import annotations

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    request_id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    shard INTEGER NOT NULL,
    body BLOB NOT NULL,
    due_at REAL NOT NULL,
    settled INTEGER NOT NULL DEFAULT 0,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_account ON decisions(account);
CREATE INDEX IF NOT EXISTS decisions_due ON decisions(shard, due_at) WHERE settled = 0;
CREATE INDEX IF NOT EXISTS decisions_expiry ON decisions(expires_at);
CREATE TABLE IF NOT EXISTS rated (request_id TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rewards (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    shard INTEGER NOT NULL,
    body BLOB NOT NULL,
    consumer TEXT,
    delivered_at REAL,
    deliveries INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS rewards_new ON rewards(shard, seq) WHERE deliveries = 0;
CREATE INDEX IF NOT EXISTS rewards_pending ON rewards(shard, delivered_at) WHERE deliveries > 0;
CREATE TABLE IF NOT EXISTS dead (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    shard INTEGER NOT NULL,
    body BLOB NOT NULL,
    reason TEXT NOT NULL,
    deliveries INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS applied (
    event_id TEXT PRIMARY KEY,
    shard INTEGER NOT NULL,
    applied_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS applied_age ON applied(applied_at);
CREATE TABLE IF NOT EXISTS stats (outcome TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS late (seq INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS forwards (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    shard INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    key TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    blob BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS counts (
    account TEXT NOT NULL,
    model TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (account, model)
);
CREATE TABLE IF NOT EXISTS api_keys (key_hash TEXT PRIMARY KEY, account TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS circuits (model TEXT PRIMARY KEY, state BLOB NOT NULL);
"""


def connect(path: str, synchronous: str) -> sqlite3.Connection:
    """Open (and create) the database in autocommit mode with WAL journaling.

    ``synchronous=NORMAL`` in WAL mode survives a process crash (SIGKILL) with
    no lost commit; ``FULL`` also survives power loss, at one fsync per write.
    """
    if synchronous not in ("NORMAL", "FULL"):
        raise ValueError("synchronous must be NORMAL or FULL")
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("PRAGMA busy_timeout=5000")
    db.executescript(SCHEMA)
    return db
