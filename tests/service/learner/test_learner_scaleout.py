"""Two learner processes' worth of learners on one Redis: split shards, one global owner."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from bandit.router import Router
from service.learner import Learner
from service.store import RedisStore
from service.store.base import shard_of
from tests.service.learner.helpers import global_count, learner
from tests.service.store.factories import make_decision, make_event

SHARDS = 4
ACCOUNTS = [f"acct-{i}" for i in range(16)]


async def _until(check: Callable[[], Awaitable[bool]], timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"condition not reached in time: {check}"
        await asyncio.sleep(0.01)


async def _publish(store: RedisStore, accounts: list[str], n: int) -> None:
    for i in range(n):
        decision = make_decision(accounts[i % len(accounts)], chosen="model-a")
        await store.put_decision(decision, ttl_s=3600)
        await store.publish_reward(make_event(decision, "auto", 0.6))


def _split(store: RedisStore, router: Router, name: str, shards: tuple[int, ...]) -> Learner:
    return learner(
        store, router, consumer=name, shards=shards, snapshot_interval_s=0.05, lease_ttl_ms=600
    )


async def test_two_learners_split_shards_and_one_owns_global(
    redis_url: str, make_router: Callable[[], Router]
) -> None:
    assert {shard_of(a, SHARDS) for a in ACCOUNTS} == set(range(SHARDS))
    store_a = RedisStore.from_url(redis_url, shards=SHARDS)
    store_b = RedisStore.from_url(redis_url, shards=SHARDS)
    router_a, router_b = make_router(), make_router()
    a = _split(store_a, router_a, "learner-a", (0, 1))
    b = _split(store_b, router_b, "learner-b", (2, 3))
    await _publish(store_a, ACCOUNTS, 200)
    tasks = {a: asyncio.create_task(a.run()), b: asyncio.create_task(b.run())}

    async def global_has(n: int) -> bool:
        snap = await store_a.get_snapshot("global")
        return snap is not None and global_count(snap[1]) == n

    try:
        await _until(lambda: global_has(200))
        assert a.owns_global != b.owns_global
        assert (a.held_shards, b.held_shards) == ([0, 1], [2, 3])
        assert {shard_of(x, SHARDS) for x in router_a.cached_accounts()} <= {0, 1}
        assert {shard_of(x, SHARDS) for x in router_b.cached_accounts()} <= {2, 3}
        assert (await store_a.ledger_stats())["learned"] == 200

        # the owner stops; the other takes the global lease over and keeps it current
        owner, other = (a, b) if a.owns_global else (b, a)
        owner.stop()
        await tasks.pop(owner)
        theirs = [x for x in ACCOUNTS if shard_of(x, SHARDS) in other.held_shards]
        await _publish(store_a, theirs, 50)
        await _until(lambda: global_has(250))
        assert other.owns_global
    finally:
        for learner_, task in tasks.items():
            learner_.stop()
            await task
        await store_a.close()
        await store_b.close()


async def test_balanced_learners_share_shards_and_take_over_a_dead_ones(
    redis_url: str, make_router: Callable[[], Router]
) -> None:
    stores = [RedisStore.from_url(redis_url, shards=SHARDS) for _ in range(2)]
    common = {"balance": True, "lease_ttl_ms": 600}
    a = learner(stores[0], make_router(), consumer="auto-a", snapshot_interval_s=0.05, **common)
    # b commits rarely, so it dies with learned but uncommitted rewards
    b = learner(stores[1], make_router(), consumer="auto-b", snapshot_interval_s=30, **common)
    tasks = {a: asyncio.create_task(a.run())}

    async def holds(who: Learner, n: int) -> bool:
        return len(who.held_shards) == n

    async def b_has_pending() -> bool:
        return await stores[0].pending_count(b.held_shards) > 0

    async def all_learned(n: int) -> bool:
        snap = await stores[0].get_snapshot("global")
        learned = (await stores[0].ledger_stats()).get("learned", 0)
        return learned == n and snap is not None and global_count(snap[1]) == n

    try:
        await _until(lambda: holds(a, 4))  # alone: every shard
        tasks[b] = asyncio.create_task(b.run())
        await _until(lambda: _split_evenly(a, b))
        await _publish(stores[0], ACCOUNTS, 100)
        await _until(b_has_pending)

        # b dies without committing or releasing anything (as if killed): a takes
        # its shards when b's heartbeat and leases expire, and claims its entries
        # at once (the default claim_idle_ms of 30 s would outlast this test)
        b._shutdown = _nothing  # type: ignore[method-assign]
        b.stop()
        await tasks.pop(b)
        await _until(lambda: holds(a, 4))
        await _until(lambda: all_learned(100))
        assert "duplicate" not in await stores[0].ledger_stats()
    finally:
        for learner_, task in tasks.items():
            learner_.stop()
            await task
        for store in stores:
            await store.close()


async def _nothing() -> None:
    return None


async def _split_evenly(a: Learner, b: Learner) -> bool:
    mine, theirs = set(a.held_shards), set(b.held_shards)
    return len(mine) == len(theirs) == 2 and not mine & theirs
