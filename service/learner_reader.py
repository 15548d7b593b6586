"""Which reward entries a learner reads next, and when an entry is given up.

Order of reading: after a (re)start or a failed commit, this consumer's own
pending entries first (a restarted learner with the same consumer name gets
them back at once); then, when due, entries left pending by dead consumers
(``XAUTOCLAIM``); then new entries. An entry already delivered more than
``max_deliveries`` times goes to the dead-letter stream with the last error
seen for it, instead of looping forever.
"""

from __future__ import annotations

from collections import Counter

from service.store.base import Store, StreamEntry


class RewardReader:
    """Reads the held shards' streams for one consumer.

    Args:
        store: the shared store.
        consumer: consumer name in the ``learners`` group.
        batch_size: ``COUNT`` of each read.
        max_deliveries: attempts before an entry is dead-lettered.
        stats: counter that receives ``dead_letter`` counts.
    """

    def __init__(
        self,
        store: Store,
        consumer: str,
        batch_size: int,
        max_deliveries: int,
        stats: Counter[str],
    ) -> None:
        self._store = store
        self._consumer = consumer
        self._count = batch_size
        self._max = max_deliveries
        self._stats = stats
        self._errors: dict[str, str] = {}
        self._recovered: set[str] = set()
        self._takeover: list[int] = []
        self.recovering = True

    def recover(self) -> None:
        """Re-read this consumer's own pending entries before anything new."""
        self.recovering = True

    def take_over(self, shards: list[int]) -> None:
        """Newly held shards: claim what their previous holder left pending, now.

        Whoever held them before either released them after a commit (nothing
        pending) or died; a zombie cannot commit without the lease, so taking
        its entries at once is safe and spares waiting ``claim_idle_ms``.
        """
        self._takeover.extend(shards)
        self.recover()

    def failed(self, entry_id: str, reason: str) -> None:
        """Remember why an entry failed; it stays pending and is retried."""
        self._errors[entry_id] = reason[:500]

    async def read(
        self, shards: list[int], claim_idle_ms: int | None, block_ms: int
    ) -> list[StreamEntry]:
        """The next entries to process (``claim_idle_ms=None``: do not claim now)."""
        if self.recovering:
            pending = await self._store.read_own_pending(self._consumer, shards, self._count)
            fresh = [e for e in pending if e.entry_id not in self._recovered]
            self._recovered.update(e.entry_id for e in fresh)
            if fresh:
                return await self._screen(fresh)
            self.recovering, self._recovered = False, set()
        entries: list[StreamEntry] = []
        taken = [s for s in self._takeover if s in shards]
        self._takeover = []
        if taken:
            entries = await self._store.claim_stale(self._consumer, taken, 0, self._count)
        if claim_idle_ms is not None:
            entries += await self._store.claim_stale(
                self._consumer, shards, claim_idle_ms, self._count
            )
        block = 0 if entries else block_ms
        entries += await self._store.read_rewards(self._consumer, shards, self._count, block)
        return await self._screen(entries)

    async def _screen(self, entries: list[StreamEntry]) -> list[StreamEntry]:
        """Dead-letter entries that have failed ``max_deliveries`` times already."""
        keep = []
        for entry in entries:
            if entry.deliveries > self._max:
                reason = self._errors.pop(entry.entry_id, "too many delivery attempts")
                await self._store.dead_letter(entry, reason)
                self._stats["dead_letter"] += 1
            else:
                keep.append(entry)
        return keep
