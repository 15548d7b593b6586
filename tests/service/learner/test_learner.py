"""The learner in drain mode, over both store backends, with the real Router."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bandit.router import Router
from bandit.types import PromptFeatures
from service.store import EmbeddedStore
from service.store.base import Store, shard_of
from tests.service.learner.conftest import SHARDS
from tests.service.learner.helpers import account_count, global_count, learner
from tests.service.store.factories import FEATURES, make_decision, make_event


async def _publish_auto(store: Store, accounts: list[str], per_account: int) -> list[str]:
    ids = []
    for account in accounts:
        for i in range(per_account):
            decision = make_decision(account, chosen="model-a" if i % 2 else "model-b")
            await store.put_decision(decision, ttl_s=3600)
            event = make_event(decision, "auto", 0.25 + 0.5 * (i % 2))
            await store.publish_reward(event)
            ids.append(event.event_id)
    return ids


async def test_drain_applies_every_reward_exactly_once(
    store: Store, make_router: Callable[[], Router]
) -> None:
    accounts = ["acct-1", "acct-2", "acct-3"]
    ids = await _publish_auto(store, accounts, per_account=7)
    # the same events published again (an at-least-once publisher retrying)
    for account in accounts[:1]:
        decision = make_decision(account)
        await store.put_decision(decision, ttl_s=3600)
        event = make_event(decision, "auto", 0.5)
        await store.publish_reward(event)
        await store.publish_reward(event)
        ids.append(event.event_id)
    router = make_router()
    await learner(store, router).run(until_idle=True)

    assert global_count(router.export_global()) == len(ids)
    assert router.account_samples("acct-1")["*"] == 8
    assert router.account_samples("acct-2")["*"] == 7
    stats = await store.ledger_stats()
    assert stats["learned"] == len(ids) and stats["duplicate"] == 1
    assert await store.pending_count() == 0
    assert all([await store.was_applied(i) for i in ids])
    assert (await store.get_counts("acct-3"))["*"] == 7
    snap = await store.get_snapshot("global")
    assert snap is not None and global_count(snap[1]) == len(ids)
    acct = await store.get_snapshot("account:acct-2")
    assert acct is not None and account_count(make_router(), "acct-2", acct[1]) == 7

    # a second learner over the same store finds nothing left to learn
    again = make_router()
    await learner(store, again).run(until_idle=True)
    assert global_count(again.export_global()) == len(ids)
    assert again.account_samples("acct-2")["*"] == 7


async def test_snapshot_versions_increase_across_commits(
    store: Store, make_router: Callable[[], Router]
) -> None:
    router = make_router()
    await _publish_auto(store, ["acct-v"], 2)
    await learner(store, router).run(until_idle=True)
    first = await store.snapshot_versions()
    await _publish_auto(store, ["acct-v"], 2)
    await learner(store, router).run(until_idle=True)
    second = await store.snapshot_versions()
    assert second["global"] > first["global"]
    assert second["account:acct-v"] > first["account:acct-v"]
    assert router.model_version == str(second["global"])


async def test_failing_reward_is_dead_lettered_after_max_deliveries(
    store: Store, make_router: Callable[[], Router]
) -> None:
    # "ghost" is a candidate the router does not know: learning it always raises
    bad = make_decision("acct-d", actions=["model-a", "ghost"], chosen="ghost")
    good = make_decision("acct-d")
    for decision in (bad, good):
        await store.put_decision(decision, ttl_s=3600)
        await store.publish_reward(make_event(decision, "auto", 0.5))
    router = make_router()
    await learner(store, router, max_deliveries=3).run(until_idle=True)

    [(event, reason)] = await store.dead_letters(shard_of("acct-d", SHARDS), 10)
    assert event.request_id == bad.request_id and "ghost" in reason
    assert router.account_samples("acct-d")["*"] == 1
    assert await store.pending_count() == 0


async def test_invalid_event_is_dead_lettered_at_once(
    store: Store, make_router: Callable[[], Router]
) -> None:
    decision = make_decision("acct-i")
    await store.put_decision(decision, ttl_s=3600)
    await store.publish_reward(make_event(decision, "mystery", 0.5))
    await learner(store, make_router()).run(until_idle=True)
    [(event, reason)] = await store.dead_letters(shard_of("acct-i", SHARDS), 10)
    assert event.kind == "mystery" and "unknown reward kind" in reason


async def test_late_rating_is_recorded_not_learned(
    store: Store, make_router: Callable[[], Router]
) -> None:
    decision = make_decision("acct-l", created_at=time.time() - 100)
    await store.put_decision(decision, ttl_s=3600)
    late = make_event(decision, "rating", 1.0, payload={"score": 5, "late": True})
    await store.publish_reward(late)
    router = make_router()
    await learner(store, router).run(until_idle=True)
    assert router.account_samples("acct-l")["*"] == 0
    assert global_count(router.export_global()) == 0
    assert (await store.ledger_stats())["late"] == 1
    assert await store.was_applied(late.event_id)


async def test_silent_decision_gets_the_default_reward_once(
    store: Store, make_router: Callable[[], Router]
) -> None:
    past = time.time() - 10
    silent = make_decision("acct-s", created_at=past)
    answered = make_decision("acct-s", created_at=past)
    await store.put_decision(silent, ttl_s=5)
    await store.put_decision(answered, ttl_s=5)
    await store.publish_reward(make_event(answered, "auto", 0.9))
    router = make_router()
    await learner(store, router).run(until_idle=True)
    # one auto reward for the answered decision, one default for the silent one
    assert router.account_samples("acct-s")["*"] == 2
    assert await store.was_applied(f"default:{silent.request_id}")
    assert not await store.was_applied(f"default:{answered.request_id}")
    await learner(store, router).run(until_idle=True)
    assert router.account_samples("acct-s")["*"] == 2


async def test_reset_drops_the_account_policy_in_the_learner(
    store: Store, make_router: Callable[[], Router]
) -> None:
    await _publish_auto(store, ["acct-r", "acct-keep"], 4)
    router = make_router()
    await learner(store, router).run(until_idle=True)
    await store.delete_account_data("acct-r")
    await learner(store, router).run(until_idle=True)
    assert router.account_samples("acct-r")["*"] == 0
    assert await store.get_snapshot("account:acct-r") is None
    assert router.account_samples("acct-keep")["*"] == 4
    assert global_count(router.export_global()) == 8


async def test_ratings_pull_each_account_to_its_favourite(
    store: Store, make_router: Callable[[], Router]
) -> None:
    """Opposite tastes on the same prompts: each account ends up routed its own way."""
    tastes = {"likes-a": "model-a", "likes-b": "model-b"}
    for account, favourite in tastes.items():
        for i in range(40):
            chosen = "model-a" if i % 2 else "model-b"
            decision = make_decision(account, chosen=chosen, auto_signal=0.5)
            await store.put_decision(decision, ttl_s=3600)
            score = 1.0 if chosen == favourite else 0.0
            await store.publish_reward(make_event(decision, "rating", score))
    router = make_router()
    await learner(store, router).run(until_idle=True)
    features = PromptFeatures(**FEATURES)
    for account, favourite in tastes.items():
        picks = [router.decide(account, features, "balanced").chosen for _ in range(50)]
        assert picks.count(favourite) > 35, (account, picks.count(favourite))


async def test_embedded_restart_keeps_what_was_learned(
    tmp_path: Path, make_router: Callable[[], Router]
) -> None:
    store = EmbeddedStore(tmp_path, shards=2)
    await _publish_auto(store, ["acct-e1", "acct-e2"], 5)
    await learner(store, make_router()).run(until_idle=True)
    await store.close()

    reopened = EmbeddedStore(tmp_path, shards=2)
    router = make_router()
    fresh = learner(reopened, router)
    await _publish_auto(reopened, ["acct-e1"], 3)
    await fresh.run(until_idle=True)
    assert router.account_samples("acct-e1")["*"] == 8
    assert router.account_samples("acct-e2")["*"] == 5  # preloaded, though untouched
    assert global_count(router.export_global()) == 13
    await reopened.close()


async def test_committed_rewards_reach_the_metrics(
    store: Store, make_router: Callable[[], Router]
) -> None:
    from service.learner import Learner, LearnerConfig
    from service.metrics import Metrics

    metrics = Metrics()
    await _publish_auto(store, ["acct-m"], 4)  # qualities 0.25, 0.75, 0.25, 0.75
    config = LearnerConfig(consumer="metrics-learner", lease_ttl_ms=5_000)
    await Learner(store, make_router(), config, metrics=metrics).run(until_idle=True)
    value = metrics.registry.get_sample_value
    assert value("autoroute_rewards_applied_total", {"kind": "auto"}) == 4
    metrics.close()


async def test_failed_first_global_commit_reloads_the_initial_policy(
    make_router: Callable[[], Router],
) -> None:
    """With nothing committed yet, a reload must not keep inline-learned updates."""
    from service.store.base import GlobalState
    from service.store.errors import StoreUnavailable

    class FailsOnce(EmbeddedStore):
        failures = 1

        async def commit_global(self, owner: str, state: GlobalState) -> None:
            if self.failures:
                self.failures -= 1
                raise StoreUnavailable("injected")
            await super().commit_global(owner, state)

    store = FailsOnce(None, shards=SHARDS)
    await _publish_auto(store, ["acct-f1", "acct-f2"], 5)
    router = make_router()
    await learner(store, router).run(until_idle=True)
    assert store.failures == 0
    snap = await store.get_snapshot("global")
    assert snap is not None and global_count(snap[1]) == 10
    assert global_count(router.export_global()) == 10
    await store.close()


async def test_regained_shard_reloads_accounts_another_learner_advanced(
    store: Store, make_router: Callable[[], Router]
) -> None:
    first_router = make_router()
    first = learner(store, first_router, consumer="first")
    await _publish_auto(store, ["acct-x"], 5)
    await first.run(until_idle=True)  # releases its leases when it returns
    await _publish_auto(store, ["acct-x"], 5)
    await learner(store, make_router(), consumer="second").run(until_idle=True)
    await _publish_auto(store, ["acct-x"], 5)
    await first.run(until_idle=True)  # same process again, with a stale cached policy
    assert first_router.account_samples("acct-x")["*"] == 15
    snap = await store.get_snapshot("account:acct-x")
    assert snap is not None and account_count(make_router(), "acct-x", snap[1]) == 15


async def test_full_batches_commit_early_and_the_global_policy_on_its_own_cadence(
    store: Store, make_router: Callable[[], Router]
) -> None:
    """``max_batch_entries`` commits before the timer; the global commit waits for its own."""
    import asyncio

    await _publish_auto(store, ["acct-b"], 12)
    router = make_router()
    worker = learner(
        store,
        router,
        snapshot_interval_s=60.0,
        global_commit_interval_s=60.0,
        max_batch_entries=5,
        batch_size=5,
    )
    task = asyncio.create_task(worker.run())
    deadline = time.monotonic() + 10
    while (await store.ledger_stats()).get("learned", 0) < 10:
        assert time.monotonic() < deadline, "no early commit within 10 s"
        await asyncio.sleep(0.02)
    # two full batches are durable long before the 60 s timer; the rest waits
    assert (await store.ledger_stats())["learned"] == 10
    snap = await store.get_snapshot("global")
    assert snap is not None and global_count(snap[1]) == 5  # only the first commit's
    acct = await store.get_snapshot("account:acct-b")
    assert acct is not None and account_count(make_router(), "acct-b", acct[1]) == 10

    worker.stop()
    await task  # the shutdown commit is a full one
    assert (await store.ledger_stats())["learned"] == 12
    snap = await store.get_snapshot("global")
    assert snap is not None and global_count(snap[1]) == 12


async def test_a_full_batch_holds_enough_entries_per_exported_account(
    store: Store, make_router: Callable[[], Router]
) -> None:
    """With ``min_entries_per_export``, a batch over two accounts needs twice the entries."""
    import asyncio

    worker = learner(
        store,
        make_router(),
        snapshot_interval_s=60.0,
        max_batch_entries=4,
        min_entries_per_export=4,
    )
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0.2)  # past the first step, whose commit timer is due at once
    await _publish_auto(store, ["acct-x", "acct-y"], 3)  # 6 entries, 2 accounts
    for _ in range(50):  # all six are read and learned, but 6 < 4 x 2: no commit yet
        await asyncio.sleep(0.01)
    assert (await store.ledger_stats()).get("learned", 0) == 0
    await _publish_auto(store, ["acct-x"], 2)  # 8 entries: full
    deadline = time.monotonic() + 10
    while (await store.ledger_stats()).get("learned", 0) < 8:
        assert time.monotonic() < deadline, "no commit of the full batch within 10 s"
        await asyncio.sleep(0.02)
    worker.stop()
    await task
