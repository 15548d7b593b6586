"""Write-behind for the decision log: served requests are written after the answer.

The decision record and the automatic rewards of a served request need not
delay its response: :meth:`RequestLog.submit` queues them in memory and a
background task writes what has gathered, in batches, with one
:meth:`~service.store.base.Store.record_requests` each (one SQLite commit or
one Redis round trip per batch instead of per request).

What this keeps:

* **Bounded memory.** When ``max_pending`` requests wait, :meth:`submit`
  refuses and the caller writes synchronously (back-pressure, as before).
* **Nothing accepted is lost.** A reward counts as accepted
  (``autoroute_rewards_accepted_total``) only once its batch is in the store;
  the client's own feedback never goes through here (``POST /v1/feedback``
  answers 200 only after its event is durable). A crash loses at most the
  queued automatic rewards of the last ``flush_interval_s``, never one the
  service has acknowledged.
* **Feedback right after an answer finds its decision.** The feedback service
  calls :meth:`flush` when a request id is unknown, before answering 404.
  That holds within one process only, so the app starts the writer for the
  embedded store alone: with Redis, the rating may reach another worker, and
  requests are written before their answer (an unstarted log refuses
  :meth:`submit`). Streamed answers are flushed before their final event.
* **Shutdown flushes.** :meth:`close` writes everything queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence

from service.metrics import Metrics
from service.store.base import DecisionRecord, LoggedRequest, RewardEvent, Store

logger = logging.getLogger(__name__)


class RequestLog:
    """Batches decision records and their rewards into the store. One per app.

    Args:
        store: where records go.
        metrics: counts rewards once they are written.
        ttl_s: the reward window (how long a decision waits for feedback).
        max_pending: requests queued at most; beyond it, writes are synchronous.
        max_batch: requests per store call.
        flush_interval_s: how long the writer lets a batch gather.
    """

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        ttl_s: float,
        *,
        max_pending: int = 10_000,
        max_batch: int = 500,
        flush_interval_s: float = 0.01,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._ttl_s = ttl_s
        self._max_pending = max_pending
        self._max_batch = max_batch
        self._interval_s = flush_interval_s
        self._pending: deque[LoggedRequest] = deque()
        self._ready = asyncio.Event()
        self._writing: asyncio.Lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the background writer (in the lifespan, on the serving loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="request-log-writer")

    async def close(self) -> None:
        """Stop the writer and write everything still queued."""
        if self._task is not None:
            async with self._writing:  # never cancel the writer in the middle of a batch
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    def submit(self, record: DecisionRecord, events: Sequence[RewardEvent]) -> bool:
        """Queue one request's record and rewards; False if the queue is full or stopped."""
        if self._task is None or len(self._pending) >= self._max_pending:
            return False
        self._pending.append((record, events))
        self._ready.set()
        return True

    async def write_now(self, record: DecisionRecord, events: Sequence[RewardEvent]) -> None:
        """Write one request at once (the queue was full); raises on store errors."""
        await self._store.record_request(record, self._ttl_s, events)
        self._accepted([(record, events)])

    async def flush(self) -> None:
        """Write everything queued so far (feedback lookups, tests, shutdown)."""
        async with self._writing:
            while self._pending:
                await self._write_batch()

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            await asyncio.sleep(self._interval_s)
            await self.flush()

    async def _write_batch(self) -> None:
        batch = [self._pending.popleft() for _ in range(min(self._max_batch, len(self._pending)))]
        try:
            await self._store.record_requests(batch, self._ttl_s)
        except Exception:  # the clients already have their answers; log and go on
            logger.exception("could not log %d decisions", len(batch))
            return
        self._accepted(batch)

    def _accepted(self, batch: Sequence[LoggedRequest]) -> None:
        for _, events in batch:
            for event in events:
                self._metrics.reward_accepted(event.kind)
