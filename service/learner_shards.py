"""Which reward shards a learner holds: a fixed list, or a fair share of all of them.

Every shard has a lease (``shard:<n>``); holding it is what allows a learner
to read and commit the shard. With a fixed list (``--shards 0,1``) the learner
keeps taking exactly those. With ``balance`` (``--shards auto``) the learners
find each other through heartbeats and each holds ``ceil(shards / learners)``:
a newcomer gets shards as the others shed their surplus, and the shards of a
learner that died are taken over once its leases expire.
"""

from __future__ import annotations

import logging
import math
import zlib

from service.store.base import Store

logger = logging.getLogger(__name__)


class ShardLeases:
    """The shard leases of one learner.

    Args:
        store: the shared store.
        owner: this learner's lease token.
        total: number of shards in the deployment.
        shards: the fixed shards to hold; ignored with ``balance``.
        balance: hold a fair share of all shards instead.
        ttl_ms: lease (and heartbeat) lifetime.
    """

    def __init__(
        self,
        store: Store,
        owner: str,
        total: int,
        shards: tuple[int, ...] | None,
        balance: bool,
        ttl_ms: int,
    ) -> None:
        wanted = sorted(shards) if shards is not None else list(range(total))
        if not wanted or any(not 0 <= s < total for s in wanted):
            raise ValueError(f"shards must be a non-empty subset of 0..{total - 1}")
        self._store = store
        self._owner = owner
        self._total = total
        self._balance = balance
        self._ttl_ms = ttl_ms
        # where this learner starts looking for free shards: spreads newcomers out
        start = zlib.crc32(owner.encode()) % total
        self._wanted = wanted if not balance else [(start + i) % total for i in range(total)]
        self._target = len(self._wanted)
        self.held: set[int] = set()

    async def renew(self) -> tuple[list[int], list[int]]:
        """Renew held leases and take wanted free ones; returns ``(gained, lost)``."""
        if self._balance:
            live = await self._store.heartbeat(self._owner, self._ttl_ms)
            self._target = math.ceil(self._total / max(1, live))
        gained, lost = [], []
        for shard in self._wanted:
            if shard not in self.held and len(self.held) >= self._target:
                continue
            ok = await self._store.acquire_lease(f"shard:{shard}", self._owner, self._ttl_ms)
            if ok and shard not in self.held:
                self.held.add(shard)
                gained.append(shard)
            elif not ok and shard in self.held:
                logger.warning("lost the lease of shard %d", shard)
                self.held.discard(shard)
                lost.append(shard)
        return gained, lost

    def surplus(self) -> list[int]:
        """Held shards beyond this learner's fair share (to commit, then release)."""
        if len(self.held) <= self._target:
            return []
        return sorted(self.held, key=self._wanted.index)[self._target :]

    async def release(self, shards: list[int]) -> None:
        """Give shards up (after their work is committed)."""
        for shard in shards:
            await self._store.release_lease(f"shard:{shard}", self._owner)
            self.held.discard(shard)
