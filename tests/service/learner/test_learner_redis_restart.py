"""The learner rides out a Redis restart: nothing lost, nothing applied twice."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest

from bandit.router import Router
from service.reloader import SnapshotReloader
from service.store import RedisStore
from service.store.errors import StoreUnavailable
from tests.service.learner.helpers import global_count, learner
from tests.service.store.factories import make_decision, make_event
from tests.utils.redis_server import RedisServer


async def _until(check: Callable[[], Awaitable[bool]], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"condition not reached in time: {check}"
        await asyncio.sleep(0.02)


async def _publish(store: RedisStore, n: int) -> None:
    for i in range(n):
        decision = make_decision(f"acct-{i % 5}")
        await store.put_decision(decision, ttl_s=3600)
        await store.publish_reward(make_event(decision, "auto", 0.5))


async def test_learner_and_reloader_survive_a_redis_restart(
    tmp_path_factory: pytest.TempPathFactory, make_router: Callable[[], Router]
) -> None:
    server = RedisServer.start(tmp_path_factory.mktemp("redis-learner-restart"))
    store = RedisStore.from_url(server.url, shards=4)
    worker = make_router()
    running = learner(store, make_router(), snapshot_interval_s=0.05)

    async def global_is(n: int) -> bool:
        try:
            snap = await store.get_snapshot("global")
        except Exception:  # noqa: BLE001 - Redis may still be coming back
            return False
        return snap is not None and global_count(snap[1]) == n

    try:
        async with (
            running.running(),
            SnapshotReloader(store, worker, poll_interval_s=0.02).running(),
        ):
            await _publish(store, 100)
            await _until(lambda: global_is(100))
            server.stop()
            with pytest.raises(StoreUnavailable):  # refused with a clear error, not lost
                await _publish(store, 1)
            await _until(lambda: _noticed(running.stats))
            server.resume()
            await _publish(store, 100)
            await _until(lambda: global_is(200))
            assert (await store.ledger_stats())["learned"] == 200
            await _until(lambda: _loaded(worker, 200))
    finally:
        await store.close()
        server.stop()


async def _noticed(stats: Counter[str]) -> bool:
    return stats["store_unavailable"] > 0


async def _loaded(router: Router, n: int) -> bool:
    return global_count(router.export_global()) == n


async def test_learner_started_before_redis_waits_for_it(
    tmp_path_factory: pytest.TempPathFactory, make_router: Callable[[], Router]
) -> None:
    server = RedisServer.start(tmp_path_factory.mktemp("redis-late-start"))
    server.stop()
    store = RedisStore.from_url(server.url, shards=4)
    running = learner(store, make_router(), snapshot_interval_s=0.05)

    async def learned(n: int) -> bool:
        return (await store.ledger_stats()).get("learned", 0) == n

    try:
        async with running.running():
            await _until(lambda: _noticed(running.stats))
            server.resume()
            await _publish(store, 20)
            await _until(lambda: learned(20))
    finally:
        await store.close()
        server.stop()
