"""Embedded-only behaviour: durability across a reopen of the data dir."""

from __future__ import annotations

from pathlib import Path

from service.store import EmbeddedStore, open_store
from service.store.base import ShardCommit
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
