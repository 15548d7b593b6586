"""SIGKILL the learner process mid-stream, restart it: every reward applied exactly once."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bandit.config import BanditConfig
from bandit.router import Router
from providers.catalog import load_catalog
from service.store import RedisStore
from tests.service.learner.helpers import account_count, global_count
from tests.service.store.factories import make_decision, make_event

ROOT = Path(__file__).resolve().parents[3]
SHARDS = 4
ACCOUNTS = [f"acct-{i}" for i in range(12)]
FIRST, LATER = 4000, 300  # published before the kill, and while no learner runs
TOTAL = FIRST + LATER


def _spawn(redis_url: str) -> subprocess.Popen[bytes]:
    args = [
        sys.executable, "-m", "service.learner",
        "--redis-url", redis_url,
        "--shard-count", str(SHARDS),
        "--consumer", "sigkill-learner",
        "--snapshot-interval", "0.2",
        "--lease-ttl-ms", "1500",
        "--claim-idle-ms", "500",
        "--batch-size", "100",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def _until(check: Callable[[], Awaitable[bool]], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


async def _publish(store: RedisStore, models: list[str], n: int, rng: random.Random) -> None:
    for i in range(n):
        decision = make_decision(rng.choice(ACCOUNTS), actions=models, chosen=models[i % 2])
        await store.put_decision(decision, ttl_s=3600)
        await store.publish_reward(make_event(decision, "auto", rng.random()))


@pytest.mark.timeout(150)
async def test_sigkill_mid_stream_then_restart_applies_every_reward_once(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url, shards=SHARDS)
    try:
        await _kill_and_restart(store, redis_url)
    finally:
        await store.close()


async def _kill_and_restart(store: RedisStore, redis_url: str) -> None:
    catalog = load_catalog().models
    models = [m.id for m in catalog[:2]]
    rng = random.Random(5)
    await _publish(store, models, FIRST, rng)

    async def learned() -> int:
        return (await store.ledger_stats()).get("learned", 0)

    first = _spawn(redis_url)
    try:
        await _until(lambda: _at_least(learned, 200), timeout_s=30)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    at_kill = await learned()
    assert 0 < at_kill < FIRST, "the kill must land mid-stream"
    # entries delivered to the dead learner and never acked: learned, then lost
    assert await store.pending_count() > 0
    await _publish(store, models, LATER, rng)  # accepted while no learner runs

    second = _spawn(redis_url)
    try:

        async def done() -> bool:
            snap = await store.get_snapshot("global")
            return (
                await learned() >= TOTAL
                and await store.pending_count() == 0
                and snap is not None
                and global_count(snap[1]) >= TOTAL
            )

        await _until(done, timeout_s=90)
    finally:
        second.terminate()
        second.wait(timeout=10)

    stats = await store.ledger_stats()
    assert stats.get("learned") == TOTAL and "duplicate" not in stats
    snap = await store.get_snapshot("global")
    assert snap is not None and global_count(snap[1]) == TOTAL
    reader = Router(catalog, BanditConfig(), random.Random(0))
    per_account = 0
    for account in ACCOUNTS:
        blob = await store.get_snapshot(f"account:{account}")
        assert blob is not None
        per_account += account_count(reader, account, blob[1])
        assert (await store.get_counts(account))["*"] == account_count(reader, account, blob[1])
    assert per_account == TOTAL


async def _at_least(value: Callable[[], Awaitable[int]], floor: int) -> bool:
    return await value() >= floor
