"""Redis-only behaviour: Cluster-safe key layout, restarts, unavailability."""

from __future__ import annotations

import re

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from service.store import RedisStore, open_store
from service.store.base import ShardCommit, shard_of
from service.store.errors import StoreUnavailable
from tests.service.store.factories import make_decision, make_event
from tests.utils.redis_server import RedisServer, free_port

TAG = re.compile(rb"\{[^}]+\}")


async def test_open_store_picks_redis_for_a_url(redis_url: str) -> None:
    store = open_store(redis_url, shards=2)
    assert isinstance(store, RedisStore) and await store.ping()
    await store.close()


async def test_multi_key_transactions_stay_in_one_hash_slot(redis_url: str) -> None:
    """Keys written together share a hash tag, so the layout works on Cluster."""
    store = RedisStore.from_url(redis_url, shards=4)
    decision = make_decision("acct-1", auto_signal=0.5)
    await store.put_decision(decision, ttl_s=60)
    await store.publish_reward(make_event(decision))
    shard = shard_of("acct-1", 4)
    assert await store.acquire_lease(f"shard:{shard}", "me", 10_000)
    [entry] = await store.read_rewards("c", [shard], 10, 0)
    await store.commit_shard(
        ShardCommit(
            shard, "me", 1, [entry], ["e"], {"learned": 1}, {"acct-1": b"p"},
            {"acct-1": {"*": 1}}, [("acct-1", decision.request_id)], [{"u": 1}], [{"l": 1}],
        )
    )  # fmt: skip
    client = aioredis.Redis.from_url(redis_url)
    keys = [k async for k in client.scan_iter(match=b"ar:*")]
    await client.aclose()
    await store.close()
    assert keys
    assert all(TAG.search(k) for k in keys), keys
    shard_keys = [k for k in keys if b"{shard:" in k]
    assert {TAG.search(k).group(0) for k in shard_keys} == {f"{{shard:{shard}}}".encode()}  # type: ignore[union-attr]


async def test_unreachable_redis_raises_store_unavailable() -> None:
    client = aioredis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))
    store = RedisStore(client, shards=1)
    with pytest.raises(StoreUnavailable):
        await store.publish_reward(make_event(make_decision()))
    assert await store.ping() is False
    await store.close()


async def test_append_only_redis_keeps_unacked_rewards_across_a_restart(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server = RedisServer.start(tmp_path_factory.mktemp("redis-restart"))
    try:
        store = RedisStore.from_url(server.url, shards=2)
        event = make_event(make_decision())
        await store.publish_reward(event)
        await store.read_rewards("c1", [0, 1], 10, 0)
        server.restart()
        again = await store.read_own_pending("c1", [0, 1], 10)
        assert [e.event for e in again] == [event]
        await store.close()
    finally:
        server.stop()


async def test_lost_consumer_group_is_unavailable_once_then_recreated(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url, shards=2)
    event = make_event(make_decision())
    await store.publish_reward(event)
    assert len(await store.read_rewards("c1", [0, 1], 10, 0)) == 1
    client = aioredis.Redis.from_url(redis_url)
    await client.flushall()  # as if Redis restarted without persistence
    await client.aclose()
    await store.publish_reward(event)
    with pytest.raises(StoreUnavailable):
        await store.read_rewards("c1", [0, 1], 10, 0)
    assert [e.event for e in await store.read_rewards("c1", [0, 1], 10, 0)] == [event]
    await store.close()


async def test_trim_acked_frees_acked_entries(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url, shards=1)
    for _ in range(10):
        await store.publish_reward(make_event(make_decision()))
    entries = await store.read_rewards("c1", [0], 6, 0)
    await store.ack_rewards(entries[:4])
    await store.trim_acked([0])
    client = aioredis.Redis.from_url(redis_url)
    key = "ar:{shard:0}:rewards"
    assert await client.xlen(key) == 6  # entries 5..10: 2 pending, 4 not yet delivered
    await store.ack_rewards(entries[4:])
    await store.ack_rewards(await store.read_rewards("c1", [0], 10, 0))
    await store.trim_acked([0])
    assert await client.xlen(key) == 1  # the last delivered entry marks the position
    await client.aclose()
    await store.close()
