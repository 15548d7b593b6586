"""Embedded-only behaviour: durability across a reopen of the data dir, WAL checkpoints."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from service.store import EmbeddedStore, open_store
from service.store.base import ShardCommit
from service.store.embedded import DB_NAME
from service.store.embedded_checkpoint import Checkpointer
from tests.service.store.factories import make_decision, make_event


async def test_open_store_without_url_is_embedded(tmp_path: Path) -> None:
    store = open_store(None, tmp_path)
    assert isinstance(store, EmbeddedStore)
    await store.close()
    assert (tmp_path / "autoroute.sqlite3").exists()


async def test_reopen_redelivers_unacked_and_keeps_learned_state(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path, shards=2)
    decision = make_decision("acct-r")
    await store.put_decision(decision, ttl_s=60)
    applied, pending, fresh = (make_event(decision) for _ in range(3))
    for event in (applied, pending, fresh):
        await store.publish_reward(event)
    first, second = await store.read_rewards("learner", [0, 1], 2, 0)
    assert await store.acquire_lease(f"shard:{first.shard}", "me", 10_000)
    await store.commit_shard(
        ShardCommit(first.shard, "me", 4, [first], [applied.event_id], snapshots={"acct-r": b"p"})
    )
    await store.close()  # as after a crash: "second" was delivered, never acked

    reopened = EmbeddedStore(tmp_path, shards=2)
    assert await reopened.get_decision(decision.request_id) == decision
    assert await reopened.get_snapshot("account:acct-r") == (4, b"p")
    assert await reopened.was_applied(applied.event_id)
    assert [e.event for e in await reopened.read_own_pending("learner", [0, 1], 10)] == [pending]
    assert [e.event for e in await reopened.read_rewards("learner", [0, 1], 10, 0)] == [fresh]
    await reopened.close()


def _in_database_file(path: Path, request_id: str) -> bool:
    """Whether the row is in the database file itself, not only in its WAL."""
    db = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)  # immutable: WAL unread
    try:
        rows = db.execute("SELECT 1 FROM decisions WHERE request_id = ?", (request_id,))
        return rows.fetchone() is not None
    except sqlite3.OperationalError:  # not even the schema is in the file yet
        return False
    finally:
        db.close()


async def test_the_serving_connection_never_checkpoints(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    try:
        assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    finally:
        await store.close()


async def test_wal_is_checkpointed_by_the_thread(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path, checkpoint_interval_s=0.01)
    decision = make_decision("acct-c")
    await store.put_decision(decision, ttl_s=60)
    checkpointer = store._checkpointer
    assert checkpointer is not None
    seen = checkpointer.checkpoints
    deadline = time.monotonic() + 5
    while checkpointer.checkpoints < seen + 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert _in_database_file(tmp_path / DB_NAME, decision.request_id)
    await store.close()
    assert not checkpointer._thread.is_alive()


async def test_without_the_thread_the_row_stays_in_the_wal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Checkpointer, "start", lambda self: None)
    store = EmbeddedStore(tmp_path)
    decision = make_decision("acct-w")
    await store.put_decision(decision, ttl_s=60)
    await asyncio.sleep(0.05)
    assert not _in_database_file(tmp_path / DB_NAME, decision.request_id)
    await store.close()
    assert _in_database_file(tmp_path / DB_NAME, decision.request_id)  # close checkpoints
