"""The snapshot reloader: an API worker's router follows the learner's snapshots."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import cast

from bandit.router import Router
from service.reloader import SnapshotReloader
from service.store.base import Store
from tests.service.learner.helpers import global_count, learner
from tests.service.store.factories import make_decision, make_event


async def _rate(store: Store, account: str, n: int) -> None:
    for i in range(n):
        decision = make_decision(account, chosen="model-a" if i % 2 else "model-b")
        await store.put_decision(decision, ttl_s=3600)
        await store.publish_reward(make_event(decision, "rating", 1.0 if i % 2 else 0.0))


async def test_poll_loads_new_versions_once_and_follows_resets(
    store: Store, make_router: Callable[[], Router]
) -> None:
    trainer, worker = make_router(), make_router()
    reloader = SnapshotReloader(store, worker)
    assert await reloader.poll_once() == 0
    await _rate(store, "acct-w", 6)
    await learner(store, trainer).run(until_idle=True)

    assert await reloader.poll_once() == 2  # global + the account
    versions = await store.snapshot_versions()
    assert worker.model_version == str(versions["global"])
    assert worker.account_samples("acct-w") == trainer.account_samples("acct-w")
    assert global_count(worker.export_global()) == global_count(trainer.export_global())
    assert await reloader.poll_once() == 0  # nothing changed: one cheap call

    await store.delete_account_data("acct-w")
    await learner(store, trainer).run(until_idle=True)
    await reloader.poll_once()
    assert worker.account_samples("acct-w")["*"] == 0
    assert "account:acct-w" not in reloader.versions


async def test_background_reloader_picks_up_a_running_learner(
    store: Store, make_router: Callable[[], Router]
) -> None:
    trainer, worker = make_router(), make_router()
    running = learner(store, trainer, snapshot_interval_s=0.05)
    reloader = SnapshotReloader(store, worker, poll_interval_s=0.02)
    task = asyncio.create_task(running.run())
    reloader.start()
    try:
        await _rate(store, "acct-bg", 4)
        deadline = time.monotonic() + 10
        while worker.account_samples("acct-bg")["*"] < 12:  # 4 ratings x 3 repeats
            assert time.monotonic() < deadline, "the worker never saw the new snapshot"
            await asyncio.sleep(0.01)
    finally:
        await reloader.stop()
        running.stop()
        await task


async def test_first_poll_loads_only_as_many_accounts_as_the_cache_holds(
    store: Store, make_router: Callable[[], Router]
) -> None:
    import random

    from bandit.config import BanditConfig
    from tests.service.learner.conftest import MODELS

    trainer = make_router()
    await _rate(store, "seed", 1)
    await learner(store, trainer).run(until_idle=True)
    blob = trainer.export_account("seed")
    assert blob is not None
    for version, account in enumerate(["old-1", "old-2", "new-1", "new-2"], start=1):
        await store.put_snapshot(f"account:{account}", version, blob)
    await store.delete_account_data("seed")
    await store.put_snapshot("global", 99, trainer.export_global())

    worker = Router(MODELS, BanditConfig(bits=14, max_accounts=2), random.Random(1))
    reloader = SnapshotReloader(store, worker)
    assert await reloader.poll_once() == 3  # global + the two newest accounts
    assert sorted(worker.cached_accounts()) == ["new-1", "new-2"]
    await store.put_snapshot("account:old-1", 100, blob)  # updated again: now it loads
    assert await reloader.poll_once() == 1
    assert "old-1" in worker.cached_accounts()


class _SwallowsCancellation:
    """A store whose epoch read loses a cancellation, as a client library may."""

    def __init__(self) -> None:
        self.polls = 0
        self.swallow = True

    async def snapshot_epoch(self) -> str:
        self.polls += 1
        if self.swallow:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.05)
        return "same"


async def test_stop_returns_even_if_a_store_call_loses_the_cancellation(
    make_router: Callable[[], Router],
) -> None:
    store = _SwallowsCancellation()
    reloader = SnapshotReloader(cast(Store, store), make_router(), poll_interval_s=0.01)
    reloader._epoch = "same"  # nothing to load: each poll is one epoch read
    task = reloader.start()
    while store.polls < 3:  # then stop while that epoch read is in flight
        await asyncio.sleep(0.001)
    stopping = asyncio.create_task(reloader.stop())
    done, _ = await asyncio.wait({stopping}, timeout=2)
    store.swallow = False  # so that a loop left running can be ended below
    while not stopping.done():
        task.cancel()
        await asyncio.sleep(0.02)
    assert done, "stop() hung: the lost cancellation left the poll loop running"
