"""The decision log's write-behind: batched, bounded, flushed on demand and at close."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from service.metrics import Metrics
from service.store.embedded import EmbeddedStore
from service.writebehind import RequestLog
from tests.service.store.factories import make_decision, make_event


@pytest.fixture
async def store() -> AsyncIterator[EmbeddedStore]:
    s = EmbeddedStore(None)
    yield s
    await s.close()


def _accepted(metrics: Metrics) -> float:
    value = metrics.registry.get_sample_value("autoroute_rewards_total", {"kind": "auto"})
    return value or 0.0


async def test_queued_until_flushed_then_counted(store: EmbeddedStore) -> None:
    metrics = Metrics()
    log = RequestLog(store, metrics, 60, flush_interval_s=60)
    log.start()
    decision = make_decision("acct-wb")
    assert log.submit(decision, [make_event(decision, "auto", 0.7)])
    assert await store.get_decision(decision.request_id) is None
    assert _accepted(metrics) == 0  # not accepted before it is in the store
    await log.flush()
    assert await store.get_decision(decision.request_id) == decision
    assert _accepted(metrics) == 1
    await log.close()


async def test_writer_flushes_by_itself(store: EmbeddedStore) -> None:
    log = RequestLog(store, Metrics(), 60, flush_interval_s=0)
    log.start()
    decision = make_decision("acct-wb")
    assert log.submit(decision, [])
    for _ in range(100):
        if await store.get_decision(decision.request_id) is not None:
            break
        await asyncio.sleep(0.01)
    assert await store.get_decision(decision.request_id) == decision
    await log.close()


async def test_full_queue_refuses_and_close_writes_the_rest(store: EmbeddedStore) -> None:
    log = RequestLog(store, Metrics(), 60, max_pending=2, flush_interval_s=60)
    assert not log.submit(make_decision(), [])  # not started: callers write themselves
    log.start()
    decisions = [make_decision("acct-wb") for _ in range(3)]
    assert [log.submit(d, []) for d in decisions] == [True, True, False]
    await log.close()
    got = await store.get_decisions([d.request_id for d in decisions])
    assert set(got) == {d.request_id for d in decisions[:2]}
    assert not log.submit(make_decision(), [])  # closed


async def test_store_failure_is_logged_not_raised(store: EmbeddedStore) -> None:
    metrics = Metrics()
    log = RequestLog(store, metrics, 60, flush_interval_s=60)
    log.start()
    decision = make_decision("acct-wb")
    log.submit(decision, [make_event(decision, "auto", 0.7)])
    await store.close()
    await log.close()  # must not raise
    assert _accepted(metrics) == 0
