"""The Store contract: every backend must pass every test here."""

from __future__ import annotations

import asyncio
import time

import pytest

from service.store.base import ShardCommit, Store, shard_of
from service.store.errors import LeaseLost
from tests.service.store.conftest import SHARDS
from tests.service.store.factories import make_decision, make_event

ALL = list(range(SHARDS))


async def test_decision_round_trip_and_batch_get(store: Store) -> None:
    first, second = make_decision(auto_signal=0.7), make_decision("acct-b")
    await store.put_decision(first, ttl_s=60)
    await store.put_decision(second, ttl_s=60)
    assert await store.get_decision(first.request_id) == first
    assert await store.get_decision("missing") is None
    got = await store.get_decisions([first.request_id, "missing", second.request_id])
    assert got == {first.request_id: first, second.request_id: second}


async def test_record_request_logs_and_publishes_together(store: Store) -> None:
    decision = make_decision("acct-rr", auto_signal=0.6)
    events = [make_event(decision, "auto", 0.6), make_event(decision, "failure", 0.0)]
    ids = await store.record_request(decision, 60, events)
    assert await store.get_decision(decision.request_id) == decision
    entries = await store.read_rewards("c1", ALL, count=10, block_ms=0)
    assert [e.entry_id for e in entries] == ids
    assert [e.event for e in entries] == events
    assert await store.record_request(make_decision(), 60, []) == []


async def test_mark_rated_only_once(store: Store) -> None:
    assert await store.mark_rated("r1", ttl_s=60) is True
    assert await store.mark_rated("r1", ttl_s=60) is False
    assert await store.mark_rated("r2", ttl_s=60) is True


async def test_publish_read_ack(store: Store) -> None:
    decision = make_decision("acct-x")
    events = [make_event(decision, value=i / 10) for i in range(5)]
    for event in events:
        await store.publish_reward(event)
    entries = await store.read_rewards("c1", ALL, count=100, block_ms=0)
    assert [e.event for e in entries] == events
    assert {e.shard for e in entries} == {shard_of("acct-x", SHARDS)}
    assert await store.pending_count() == 5
    assert await store.read_rewards("c1", ALL, count=100, block_ms=0) == []
    await store.ack_rewards(entries)
    assert await store.pending_count() == 0


async def test_backlog_counts_unacked_and_trim_keeps_them(store: Store) -> None:
    assert await store.backlog() == (0, 0.0)
    decision = make_decision("acct-b")
    old = make_event(decision, created_at=time.time() - 30)
    await store.publish_reward(old)
    for _ in range(4):
        await store.publish_reward(make_event(decision))
    first = await store.read_rewards("c1", ALL, count=2, block_ms=0)
    count, oldest = await store.backlog()
    assert count == 5 and oldest > 0
    await store.ack_rewards(first)
    await store.trim_acked(ALL)
    assert (await store.backlog())[0] == 3
    rest = await store.read_rewards("c1", ALL, count=10, block_ms=0)
    assert len(rest) == 3  # trimming never drops an un-acked entry
    await store.ack_rewards(rest)
    await store.trim_acked(ALL)
    assert await store.backlog() == (0, 0.0)


async def test_read_only_from_requested_shards(store: Store) -> None:
    decision = make_decision("acct-x")
    await store.publish_reward(make_event(decision))
    home = shard_of("acct-x", SHARDS)
    others = [s for s in ALL if s != home]
    assert await store.read_rewards("c1", others, count=10, block_ms=0) == []
    assert len(await store.read_rewards("c1", [home], count=10, block_ms=0)) == 1


async def test_read_blocks_at_most_block_ms(store: Store) -> None:
    start = time.monotonic()
    assert await store.read_rewards("c1", ALL, count=10, block_ms=100) == []
    assert 0.09 <= time.monotonic() - start < 2.0


async def test_blocked_read_wakes_up_on_a_new_reward(store: Store) -> None:
    event = make_event(make_decision())
    start = time.monotonic()
    reader = asyncio.create_task(store.read_rewards("c1", ALL, count=10, block_ms=5_000))
    await asyncio.sleep(0)  # let the read start (the result is the same if it has not)
    await store.publish_reward(event)
    assert [e.event for e in await reader] == [event]
    assert time.monotonic() - start < 2.5


async def test_own_pending_is_redelivered_with_delivery_count(store: Store) -> None:
    event = make_event(make_decision())
    await store.publish_reward(event)
    first = await store.read_rewards("c1", ALL, count=10, block_ms=0)
    again = await store.read_own_pending("c1", ALL, count=10)
    assert [e.entry_id for e in again] == [e.entry_id for e in first]
    assert again[0].event == event and again[0].deliveries == 2
    assert await store.read_own_pending("c2", ALL, count=10) == []


async def test_claim_stale_moves_entries_to_claimer(store: Store) -> None:
    await store.publish_reward(make_event(make_decision()))
    await store.read_rewards("dead-consumer", ALL, count=10, block_ms=0)
    assert await store.claim_stale("c2", ALL, min_idle_ms=60_000, count=10) == []
    claimed = await store.claim_stale("c2", ALL, min_idle_ms=0, count=10)
    assert len(claimed) == 1 and claimed[0].deliveries == 2
    assert len(await store.read_own_pending("c2", ALL, count=10)) == 1


async def test_dead_letter_acks_and_keeps_reason(store: Store) -> None:
    event = make_event(make_decision())
    await store.publish_reward(event)
    [entry] = await store.read_rewards("c1", ALL, count=10, block_ms=0)
    await store.dead_letter(entry, "boom")
    assert await store.pending_count() == 0
    assert await store.dead_letters(entry.shard, 10) == [(event, "boom")]


async def _lease_all(store: Store, owner: str) -> None:
    for shard in ALL:
        assert await store.acquire_lease(f"shard:{shard}", owner, 10_000)


async def test_commit_shard_is_one_durable_batch(store: Store) -> None:
    decision = make_decision("acct-c")
    await store.put_decision(decision, ttl_s=0)
    event = make_event(decision)
    await store.publish_reward(event)
    [entry] = await store.read_rewards("c1", ALL, count=10, block_ms=0)
    await _lease_all(store, "me")
    epoch = await store.snapshot_epoch()
    commit = ShardCommit(
        shard=entry.shard,
        owner="me",
        version=7,
        entries=[entry],
        applied=[event.event_id],
        outcomes={"learned": 1},
        snapshots={"acct-c": b"policy"},
        counts={"acct-c": {"*": 1, "model-a": 1}},
        settled=[("acct-c", decision.request_id)],
        forward=[{"q": 0.8}],
    )
    forward_id = await store.commit_shard(commit)
    assert await store.pending_count() == 0
    assert await store.get_snapshot("account:acct-c") == (7, b"policy")
    assert (await store.snapshot_versions())["account:acct-c"] == 7
    assert await store.snapshot_epoch() != epoch
    assert await store.applied_among(entry.shard, [event.event_id, "x"]) == {event.event_id}
    assert await store.was_applied(event.event_id) and not await store.was_applied("x")
    assert (await store.ledger_stats())["learned"] == 1
    assert await store.get_counts("acct-c") == {"*": 1, "model-a": 1}
    # settled: no default reward for this decision although its window is over
    assert await store.enqueue_due_defaults(entry.shard, time.time() + 1, 100) == 0
    [batch] = await store.read_forwards({}, 100)
    assert batch.shard == entry.shard and batch.updates == [{"q": 0.8}]
    assert batch.entry_id == forward_id
    assert await store.read_forwards({entry.shard: batch.entry_id}, 100) == []


async def test_commit_deletes_snapshot_on_none(store: Store) -> None:
    await _lease_all(store, "me")
    shard = shard_of("acct-d", SHARDS)
    assert await store.commit_shard(ShardCommit(shard, "me", 1, snapshots={"acct-d": b"p"})) is None
    await store.commit_shard(ShardCommit(shard, "me", 2, snapshots={"acct-d": None}))
    assert await store.get_snapshot("account:acct-d") is None
    assert "account:acct-d" not in await store.snapshot_versions()


async def test_commit_without_the_lease_is_refused(store: Store) -> None:
    assert await store.acquire_lease("shard:0", "other", 10_000)
    with pytest.raises(LeaseLost):
        await store.commit_shard(ShardCommit(0, "me", 1, snapshots={"a": b"p"}))
    with pytest.raises(LeaseLost):
        await store.commit_shard(ShardCommit(1, "me", 1, snapshots={"a": b"p"}))


async def test_leases_are_exclusive_renewable_and_releasable(store: Store) -> None:
    assert await store.acquire_lease("global", "a", 10_000)
    assert not await store.acquire_lease("global", "b", 10_000)
    assert await store.acquire_lease("global", "a", 10_000)
    await store.release_lease("global", "b")
    assert not await store.acquire_lease("global", "b", 10_000)
    await store.release_lease("global", "a")
    assert await store.acquire_lease("global", "b", 10_000)


async def test_heartbeat_counts_live_learners(store: Store) -> None:
    assert await store.heartbeat("a", 10_000) == 1
    assert await store.heartbeat("b", 10_000) == 2
    assert await store.heartbeat("a", 10_000) == 2
    assert await store.heartbeat("c", 0) == 2  # seen, but its heartbeat is already stale


async def test_due_decisions_get_one_default_event(store: Store) -> None:
    silent = make_decision("acct-e", created_at=time.time() - 10)
    fresh = make_decision("acct-e")
    await store.put_decision(silent, ttl_s=5)
    await store.put_decision(fresh, ttl_s=60)
    shard = shard_of("acct-e", SHARDS)
    assert await store.enqueue_due_defaults(shard, time.time(), 100) == 1
    assert await store.enqueue_due_defaults(shard, time.time(), 100) == 0
    [entry] = await store.read_rewards("c1", ALL, count=10, block_ms=0)
    assert entry.event.kind == "default"
    assert entry.event.request_id == silent.request_id
    assert entry.event.event_id == f"default:{silent.request_id}"
    assert entry.event.account == "acct-e"


async def test_global_state_round_trip_needs_the_lease(store: Store) -> None:
    from service.store.base import GlobalState

    assert await store.get_global_state() is None
    state = GlobalState(3, b"global-policy", {0: "5", 2: "9"})
    with pytest.raises(LeaseLost):
        await store.commit_global("me", state)
    assert await store.acquire_lease("global", "me", 10_000)
    epoch = await store.snapshot_epoch()
    await store.commit_global("me", state)
    assert await store.get_global_state() == state
    assert await store.get_snapshot("global") == (3, b"global-policy")
    assert (await store.snapshot_versions())["global"] == 3
    assert await store.snapshot_epoch() != epoch


async def test_snapshots_put_get_and_versions(store: Store) -> None:
    await store.put_snapshot("account:a", 1, b"one")
    await store.put_snapshot("account:a", 2, b"two")
    await store.put_snapshot("global", 5, b"g")
    assert await store.get_snapshot("account:a") == (2, b"two")
    assert await store.get_snapshots(["account:a", "account:zz", "global"]) == {
        "account:a": (2, b"two"),
        "global": (5, b"g"),
    }
    assert await store.snapshot_versions() == {"account:a": 2, "global": 5}
    with pytest.raises(ValueError):
        await store.get_snapshot("bogus")


async def test_counts(store: Store) -> None:
    assert await store.get_counts("acct") == {}
    await store.incr_counts("acct", "m1")
    await store.incr_counts("acct", "m2", by=3)
    assert await store.get_counts("acct") == {"*": 4, "m1": 1, "m2": 3}


async def test_api_keys_and_circuits(store: Store) -> None:
    await store.put_api_key("h1", "team-a")
    assert await store.get_account_for_key("h1") == "team-a"
    assert await store.revoke_api_key("h1") is True
    assert await store.revoke_api_key("h1") is False
    assert await store.get_account_for_key("h1") is None
    assert await store.get_circuit("m") is None
    await store.put_circuit("m", {"state": "open", "until": 12.5})
    assert await store.get_circuit("m") == {"state": "open", "until": 12.5}


async def test_delete_account_data_only_touches_that_account(store: Store) -> None:
    mine, theirs = make_decision("gone"), make_decision("kept")
    for record in (mine, theirs):
        await store.put_decision(record, ttl_s=60)
        await store.incr_counts(record.account, "m1")
        await store.put_snapshot(f"account:{record.account}", 1, b"p")
    await store.mark_rated(mine.request_id, ttl_s=60)
    await store.delete_account_data("gone")
    assert await store.get_decision(mine.request_id) is None
    assert await store.get_counts("gone") == {}
    assert await store.get_snapshot("account:gone") is None
    assert await store.mark_rated(mine.request_id, ttl_s=60) is True
    assert await store.get_decision(theirs.request_id) == theirs
    assert await store.get_counts("kept") == {"*": 1, "m1": 1}
    assert await store.get_snapshot("account:kept") == (1, b"p")
    [entry] = await store.read_rewards("c1", ALL, count=10, block_ms=0)
    assert entry.event.kind == "reset" and entry.event.account == "gone"
    assert await store.enqueue_due_defaults(entry.shard, time.time() + 120, 100) == 0


async def test_ping(store: Store) -> None:
    assert await store.ping() is True


async def test_record_requests_writes_a_batch(store: Store) -> None:
    first, second = make_decision("acct-b1"), make_decision("acct-b2")
    events = [make_event(first, "auto", 0.5)]
    await store.record_requests([(first, events), (second, [])], 60)
    got = await store.get_decisions([first.request_id, second.request_id])
    assert got == {first.request_id: first, second.request_id: second}
    entries = await store.read_rewards("c1", ALL, count=10, block_ms=0)
    assert [e.event for e in entries] == events
