"""The learner: reward streams in, policy updates and snapshots out, exactly once.

One loop (:meth:`Learner.run`) per process; ``run(until_idle=True)`` drains
what is there and returns (tests, like arq's burst mode). Each step:

1. renew the shard leases (``shard:<n>``) and compete for ``global``;
2. read rewards of the held shards through the ``learners`` consumer group
   (first this consumer's own pending entries, left by a crash; then stale
   entries of dead consumers, ``XAUTOCLAIM``; then new ones), dead-lettering
   entries delivered more than ``max_deliveries`` times;
3. join each reward to its decision and learn the account policy
   (:mod:`service.learner_rewards` holds the semantics);
4. if this process owns the global policy, apply the forwarded updates of
   every shard (:mod:`service.learner_global`);
5. every ``snapshot_interval_s``, commit: per shard, one atomic
   :meth:`~service.store.base.Store.commit_shard` writes the touched accounts'
   snapshots, the applied-event ledger, counts, the forward batch and the acks.

Why this is exactly-once: the in-memory policy only ever runs ahead of the
store by uncommitted, un-acked entries. If the process dies, or a commit
fails, those entries are redelivered and re-learned on top of the last
committed snapshots (a failed commit drops the touched accounts from memory so
they are reloaded). A reward published twice is skipped by the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence

from bandit.rewards import blend_rating
from bandit.router import Router
from service.learner_batch import ShardBatch
from service.learner_config import LearnerConfig
from service.learner_global import GlobalOwner, now_ms
from service.learner_policies import Policies
from service.learner_reader import RewardReader
from service.learner_rewards import Blend, plan_event
from service.learner_shards import ShardLeases
from service.metrics import Metrics
from service.store.base import (
    DecisionRecord,
    Store,
    StreamEntry,
    shard_of,
)
from service.store.errors import LeaseLost, StoreUnavailable

__all__ = ["Learner", "LearnerConfig", "main"]

logger = logging.getLogger(__name__)

# Longest stretch of learning between two yields to the event loop: an
# embedded learner shares it with serving (a VW learn takes tens of µs).
YIELD_AFTER_S = 0.0005


class Learner:
    """Applies every reward once to the router and publishes snapshots.

    Args:
        store: the shared store (Redis or embedded).
        router: the router to train. Embedded mode shares the serving router.
        config: see :class:`LearnerConfig`.
        blend: how a raw rating is blended with the automatic signal.
        metrics: counts committed rewards by kind (``reward_applied``).

    Example:
        >>> # learner = Learner(store, router, LearnerConfig(consumer="l1"))
        >>> # await learner.run(until_idle=True)   # drain, then return
    """

    def __init__(
        self,
        store: Store,
        router: Router,
        config: LearnerConfig | None = None,
        *,
        blend: Blend = blend_rating,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config = config or LearnerConfig()
        self._store, self._router, self._blend = store, router, blend
        self._policies = Policies(store, router)
        self._metrics = metrics
        self.owner = f"{config.consumer}:{uuid.uuid4().hex[:12]}"
        self._leases = ShardLeases(
            store, self.owner, store.shards, config.shards, config.balance, config.lease_ttl_ms
        )
        self._held = self._leases.held
        self._batches: dict[int, ShardBatch] = {}
        self._global = (
            GlobalOwner(store, router, self.owner, config.lease_ttl_ms, self._policies.learn_global)
            if config.global_policy
            else None
        )
        self._stop = asyncio.Event()
        self._version = 0
        self._due: dict[str, float] = {}
        self.stats: Counter[str] = Counter()  # outcomes committed by this process
        self._reader = RewardReader(
            store, config.consumer, config.batch_size, config.max_deliveries, self.stats
        )

    @property
    def held_shards(self) -> list[int]:
        """Shards whose lease this process holds."""
        return sorted(self._held)

    @property
    def owns_global(self) -> bool:
        """True while this process holds the global lease."""
        return self._global is not None and self._global.held

    def stop(self) -> None:
        """Ask :meth:`run` to commit what it has and return."""
        self._stop.set()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Learner]:
        """Run in a background task for the duration of the block (embedded ``serve``).

        Example:
            >>> # await stack.enter_async_context(Learner(store, router).running())
        """
        task = asyncio.create_task(self.run(), name="learner")
        try:
            yield self
        finally:
            self.stop()
            await task

    # --- main loop --------------------------------------------------------------
    async def run(self, until_idle: bool = False) -> None:
        """Learn until :meth:`stop` (or, with ``until_idle``, until nothing is left)."""
        self._stop.clear()
        self._due.pop("lease", None)  # the first step takes the leases
        try:
            while not self._stop.is_set():
                try:
                    work = await self._step(until_idle)
                except Exception as exc:
                    # A learner that dies silently stops all learning: log, drop
                    # uncommitted work (it is redelivered) and go on.
                    if until_idle:
                        raise
                    outage = isinstance(exc, StoreUnavailable)
                    self.stats["store_unavailable" if outage else "step_errors"] += 1
                    logger.warning("learner step failed (%s); retrying", exc, exc_info=not outage)
                    await self._abandon_all()
                    await self._wait(1.0)
                    continue
                if until_idle and work == 0 and not self._reader.recovering and not self._dirty():
                    if not await self._store.pending_count(self.held_shards):
                        break
                linger = self.config.min_read_interval_s
                if not until_idle and linger > 0 and work < self.config.batch_size:
                    await self._wait(linger)
        finally:
            await self._shutdown()

    async def _wait(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            pass

    def _timer(self, name: str, every_s: float) -> bool:
        now = time.monotonic()
        if now - self._due.get(name, 0.0) >= every_s:
            self._due[name] = now
            return True
        return False

    def _dirty(self) -> bool:
        owner = self._global
        return bool(self._batches) or (owner is not None and owner.held and owner.dirty)

    async def _step(self, until_idle: bool) -> int:
        """One iteration; returns how much work it found (0 means idle)."""
        cfg = self.config
        lost_global = until_idle and self._global is not None and not self._global.held
        if self._timer("lease", cfg.lease_ttl_ms / 3000) or lost_global:
            await self._maintain()
        read = await self._process(await self._read(until_idle))
        work = read
        if self._global is not None:
            work += await self._global.pump(cfg.batch_size)
        touched = sum(len(b.touched) for b in self._batches.values())
        entries = sum(len(b.entries) for b in self._batches.values())
        full = cfg.max_batch_entries is not None and entries >= max(
            cfg.max_batch_entries, cfg.min_entries_per_export * touched
        )
        # Drain mode commits when the streams are empty, not after every read, so
        # that a burst is exported once (an account export costs milliseconds).
        if until_idle and read == 0:
            await self._commit(force_global=True)
        elif touched >= cfg.max_touched_accounts or full:
            await self._commit()
        elif self._timer("commit", cfg.snapshot_interval_s):
            await self._commit()
        if until_idle or self._timer("defaults", cfg.defaults_interval_s):
            for shard in self.held_shards:
                work += await self._store.enqueue_due_defaults(shard, time.time(), cfg.batch_size)
        return work

    async def _read(self, until_idle: bool) -> list[StreamEntry]:
        cfg, shards = self.config, self.held_shards
        if not shards:
            await self._wait(0 if until_idle else cfg.block_ms / 1000)
            return []
        # In drain mode, failed entries are retried at once, but only between
        # batches: a claim must never re-deliver entries awaiting their commit.
        claim = None
        if until_idle and not self._batches:
            claim = 0
        elif not until_idle and self._timer("claim", cfg.claim_interval_s):
            claim = cfg.claim_idle_ms
        return await self._reader.read(shards, claim, 0 if until_idle else self._block_ms())

    def _block_ms(self) -> int:
        next_commit = self._due.get("commit", 0.0) + self.config.snapshot_interval_s
        until_commit = max(0.0, next_commit - time.monotonic())
        return max(1, min(self.config.block_ms, int(until_commit * 1000)))

    # --- learning ---------------------------------------------------------------
    async def _process(self, entries: list[StreamEntry]) -> int:
        by_shard: dict[int, list[StreamEntry]] = {}
        for entry in entries:
            if entry.shard in self._held:
                by_shard.setdefault(entry.shard, []).append(entry)
        work = 0
        for shard, group in by_shard.items():
            batch = self._batches.get(shard) or self._new_batch(shard)
            group = [e for e in group if e.entry_id not in batch.entry_ids]
            done = await self._store.applied_among(shard, [e.event.event_id for e in group])
            rids = {e.event.request_id for e in group if e.event.kind != "reset"}
            decisions = await self._store.get_decisions(sorted(rids))
            await self._policies.ensure_accounts(
                {d.account for d in decisions.values()} - batch.resets
            )
            invalid = []
            since = time.perf_counter()
            for entry in group:
                if time.perf_counter() - since >= YIELD_AFTER_S:
                    await asyncio.sleep(0)  # an embedded learner shares the serving loop
                    since = time.perf_counter()
                duplicate = entry.event.event_id in done or entry.event.event_id in batch.event_ids
                try:
                    reason = self._apply(batch, entry, duplicate, decisions)
                except Exception as exc:  # noqa: BLE001 - retried, then dead-lettered
                    logger.warning("reward %s failed: %r", entry.event.event_id, exc)
                    self._reader.failed(entry.entry_id, repr(exc))
                    continue
                if reason:
                    invalid.append((entry, reason))
            for entry, reason in invalid:
                await self._store.dead_letter(entry, reason)
                self.stats["invalid"] += 1
            work += len(group)
        return work

    def _new_batch(self, shard: int) -> ShardBatch:
        # While this process owns the global policy, it learns its own rewards
        # into both policies at once; the global owner then skips their forwards.
        inline = self._global is not None and self._global.held
        batch = ShardBatch(inline_epoch=self._global.epoch if inline and self._global else None)
        self._batches[shard] = batch
        return batch

    def _apply(
        self,
        batch: ShardBatch,
        entry: StreamEntry,
        duplicate: bool,
        decisions: dict[str, DecisionRecord],
    ) -> str | None:
        """Learn from one entry into ``batch``; returns a reason if it is invalid."""
        event = entry.event
        if duplicate:
            batch.add(entry, "duplicate", applied=False)
            return None
        if event.kind == "reset":
            self._router.reset_account(event.account)
            batch.resets.add(event.account)
            batch.touched.add(event.account)
            batch.counts.pop(event.account, None)
            batch.add(entry, "reset")
            return None
        decision = decisions.get(event.request_id)
        if decision is not None and decision.account != event.account:
            return "event account does not match the decision's account"
        plan = plan_event(event, decision, self.config.rules, self._blend)
        if plan.outcome == "invalid":
            return plan.reason
        for update in plan.updates:
            self._policies.learn(update, "account" if batch.inline_epoch is None else "both")
            batch.forward.append(update.to_wire())
            batch.touched.add(update.account)
            batch.count(update.account, update.chosen)
            batch.learned[event.kind] += 1
            batch.value_sums[event.kind] = batch.value_sums.get(event.kind, 0.0) + update.quality
        if plan.settles and decision is not None:
            batch.settled.append((decision.account, decision.request_id))
        if plan.outcome == "late":
            batch.late.append(
                {"event_id": event.event_id, "request_id": event.request_id,
                 "account": event.account, "value": event.value, "at": event.created_at}
            )  # fmt: skip
        batch.add(entry, plan.outcome)
        return None

    # --- commits and leases -------------------------------------------------------
    def _next_version(self) -> int:
        floor = self._global.version if self._global is not None else 0
        self._version = max(self._version + 1, now_ms(), floor + 1)
        return self._version

    async def _commit(self, force_global: bool = False) -> None:
        """Make every shard batch durable, then the global policy when it is due."""
        self._due["commit"] = time.monotonic()
        await self._commit_shards()
        if self._global is None:
            return
        every = self.config.global_commit_interval_s
        if force_global or every is None or self._timer("global", every):
            await asyncio.sleep(0)  # two transactions, two slices of the loop
            await self._global.commit(self._next_version())

    async def _commit_shards(self) -> None:
        for shard, batch in list(self._batches.items()):
            del self._batches[shard]
            if batch.entries or batch.touched:
                await self._commit_shard(shard, batch)

    async def _commit_shard(self, shard: int, batch: ShardBatch) -> None:
        snapshots: dict[str, bytes | None] = {}
        since = time.perf_counter()
        for account in batch.touched:  # no learning happens while this task yields
            if time.perf_counter() - since >= YIELD_AFTER_S:
                await asyncio.sleep(0)
                since = time.perf_counter()
            snapshots |= self._policies.export({account}, batch.resets)
        commit = batch.to_commit(shard, self.owner, self._next_version(), snapshots)
        try:
            forward_id = await self._store.commit_shard(commit)
        except (LeaseLost, StoreUnavailable) as exc:
            logger.warning(
                "commit of shard %d failed (%s); entries will be redelivered", shard, exc
            )
            self._forget(batch)
            if isinstance(exc, LeaseLost):
                self._held.discard(shard)
            return
        self.stats.update(batch.outcomes)
        if self._metrics is not None:
            for kind, n in batch.learned.items():
                self._metrics.reward_applied(kind, n, batch.value_sums.get(kind))
        owner = self._global
        if forward_id and owner is not None and batch.inline_epoch == owner.epoch:
            owner.applied_inline(shard, forward_id)

    def _forget(self, batch: ShardBatch) -> None:
        """Drop uncommitted learning: reload those accounts, re-read own entries."""
        self._policies.forget(batch.touched)
        if batch.inline_epoch is not None and self._global is not None:
            self._global.held = False  # its global updates too: reload on re-acquire
        self._reader.recover()

    async def _abandon_all(self) -> None:
        for batch in self._batches.values():
            self._forget(batch)
        self._batches.clear()
        if self._global is not None:
            self._global.held = False  # reload the committed global state on re-acquire

    async def _maintain(self) -> None:
        """Renew, take or shed shard leases, and compete for the global one."""
        self._due["lease"] = time.monotonic()
        gained, lost = await self._leases.renew()
        for shard in lost:
            self._forget(self._batches.pop(shard, ShardBatch()))
        surplus = self._leases.surplus()
        if surplus:
            await self._commit_shards()  # nothing uncommitted may outlive the lease
            await self._leases.release(surplus)
        if gained:
            self._reader.take_over(gained)
            await self._preload(gained)
        if self._global is not None:
            await self._global.maintain(before_change=self._commit_shards)
        await self._housekeeping()

    async def _housekeeping(self) -> None:
        """Trim acked stream entries and publish the backlog (on the lease cadence)."""
        if self._held:
            await self._store.trim_acked(self.held_shards)
        if self._metrics is not None:
            self._metrics.set_learner_lag(*await self._store.backlog())

    async def _preload(self, shards: list[int]) -> None:
        """Reload the committed policies of the newly held shards' accounts.

        Embedded mode serves from this very router, so a restart must bring
        learned accounts back at once, not on their next reward. Only as many
        as the router's account cache holds are loaded, most recently updated
        first (versions are commit times); the others load on their next reward.
        """
        total = self._store.shards
        # Another learner may have advanced these accounts while the shard was
        # not ours: drop what this router remembers, load what is committed.
        self._policies.forget(
            {a for a in self._router.cached_accounts() if shard_of(a, total) in shards}
        )
        versions = [
            (version, key.partition(":")[2])
            for key, version in (await self._store.snapshot_versions()).items()
            if key.startswith("account:") and shard_of(key.partition(":")[2], total) in shards
        ]
        newest = sorted(versions, reverse=True)[: self._router.config.max_accounts]
        await self._policies.ensure_accounts({account for _, account in newest})

    async def _shutdown(self) -> None:
        try:
            await self._commit(force_global=True)
            await self._leases.release(sorted(self._held))
            if self._global is not None:
                await self._global.release()
        except StoreUnavailable as exc:
            logger.warning("learner shutdown without a final commit: %s", exc)


def main(argv: Sequence[str] | None = None) -> int:
    """``autoroute learner`` / ``python -m service.learner`` (see :mod:`service.learner_cli`)."""
    from service.learner_cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
