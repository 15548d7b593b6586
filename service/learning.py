"""Glue between serving and learning: start the right loop for the deployment.

Embedded (no Redis): the learner runs as a task inside ``serve`` and trains
this process's router in place; its snapshots in the data dir carry what was
learned across restarts. Redis: the learner is its own process
(``autoroute learner``) and a :class:`~service.reloader.SnapshotReloader`
hot-swaps its snapshots into this worker's router.

``AUTOROUTE_LEARN=false`` freezes routing: decisions and rewards are still
logged, but this process neither learns nor reloads (a fixed baseline for
benchmarks and A/B comparisons, or to inspect the reward stream).

Both loops are stopped by the lifespan's exit stack, before the store closes.

:class:`RoutingGauges` also runs in every mode: it publishes the age of the
model this worker routes with (``autoroute_model_version_age_seconds``, time
since its version last changed) and its accounts per gating stage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from contextlib import AsyncExitStack

from bandit.router import Router
from service.learner import Learner, LearnerConfig
from service.learner_rewards import RewardRules
from service.metrics import Metrics
from service.reloader import SnapshotReloader
from service.settings import Settings
from service.store.base import Store
from service.store.errors import StoreError

logger = logging.getLogger(__name__)

EMBEDDED_CONSUMER = "embedded"
EMBEDDED_SNAPSHOT_INTERVAL_S = 2.0
# The embedded learner shares the serving loop, so it works in small pieces:
# small reads often (each read's queries and learns are one stretch of the
# loop), and a commit, one SQLite transaction at ~15 µs per entry, every 64
# entries (or 16 per exported account, whichever is more); the global export,
# a few milliseconds, on its own 2 s cadence. At c=1 each stretch delays a
# request, and wrk counts a stall of S ms as ~S late requests (coordinated
# omission): BENCHMARKS.md has the measurements behind these numbers.
EMBEDDED_BATCH_SIZE = 100
EMBEDDED_MIN_READ_INTERVAL_S = 0.01
EMBEDDED_MAX_BATCH_ENTRIES = 64
EMBEDDED_ENTRIES_PER_EXPORT = 16


GAUGE_INTERVAL_S = 5.0


class RoutingGauges:
    """Publishes what this worker routes with: model version age and account stages."""

    def __init__(self, router: Router, metrics: Metrics) -> None:
        self._router = router
        self._metrics = metrics
        self._version = router.model_version
        self._since = time.monotonic()

    def publish(self) -> None:
        """Read the router and set the gauges (cheap: no I/O)."""
        now = time.monotonic()
        if self._router.model_version != self._version:
            self._version, self._since = self._router.model_version, now
        self._metrics.set_model_version_age(now - self._since)
        stages: Counter[str] = Counter(
            self._router.stage(a) for a in self._router.cached_accounts()
        )
        self._metrics.set_accounts(stages)

    async def run(self, interval_s: float = GAUGE_INTERVAL_S) -> None:
        while True:
            self.publish()
            await asyncio.sleep(interval_s)


async def start_learning(
    settings: Settings, store: Store, router: Router, metrics: Metrics, stack: AsyncExitStack
) -> None:
    """Start the in-process learner (embedded) or the snapshot reloader (Redis)."""
    gauges = asyncio.create_task(RoutingGauges(router, metrics).run(), name="routing-gauges")

    async def stop_gauges() -> None:
        gauges.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gauges

    stack.push_async_callback(stop_gauges)
    if not settings.learn:
        logger.warning("AUTOROUTE_LEARN=false: routing is frozen (no learning, no reloads)")
        return
    if not settings.embedded:
        reloader = SnapshotReloader(store, router)
        try:
            await reloader.poll_once()  # start from the newest model, not the prior
        except StoreError as exc:  # serve with the prior; the reloader catches up later
            logger.warning("no snapshots at startup (%s); routing from the catalog prior", exc)
        reloader.start()
        stack.push_async_callback(reloader.stop)
        return
    config = LearnerConfig(
        consumer=EMBEDDED_CONSUMER,
        rules=RewardRules(reward_window_s=settings.reward_window_s),
        # The router learns in place here, so a commit only makes learning
        # durable (un-acked rewards are redelivered after a crash) and exports
        # every touched account's VW workspace, in small pieces (see above).
        snapshot_interval_s=EMBEDDED_SNAPSHOT_INTERVAL_S,
        max_batch_entries=EMBEDDED_MAX_BATCH_ENTRIES,
        min_entries_per_export=EMBEDDED_ENTRIES_PER_EXPORT,
        global_commit_interval_s=EMBEDDED_SNAPSHOT_INTERVAL_S,
        batch_size=EMBEDDED_BATCH_SIZE,
        min_read_interval_s=EMBEDDED_MIN_READ_INTERVAL_S,
    )
    learner = Learner(store, router, config, metrics=metrics)
    task = asyncio.create_task(learner.run(), name="embedded-learner")

    async def stop() -> None:
        learner.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(stop)
