"""The global policy's single owner, elected by a lease.

Shard learners update account policies only; each of their commits appends
the same updates, in compact form, to the shard's forward stream. Exactly one
learner (the holder of the ``global`` lease) reads every forward stream from
the positions stored in the global snapshot, applies the updates to the
global policy, and commits the snapshot together with the new positions.
Those positions make the global policy exactly-once without a consumer group:
after a crash the owner reloads the snapshot and resumes from its positions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from service.learner_rewards import Update
from service.store.base import GlobalState, Store
from service.store.errors import LeaseLost, StoreUnavailable

logger = logging.getLogger(__name__)

LEASE = "global"


class GlobalRouter(Protocol):
    """What the owner needs from :class:`bandit.router.Router`."""

    model_version: str

    def export_global(self) -> bytes: ...
    def load_global(self, blob: bytes, version: str) -> None: ...


class GlobalOwner:
    """Holds (or waits for) the global lease and keeps the global policy current.

    Args:
        store: the shared store.
        router: the router whose global policy this process owns while leased.
        owner: this process's lease token.
        lease_ttl_ms: lease lifetime; renewed at every :meth:`maintain`.
        learn: applies one update to the global policy (``scope="global"``).
    """

    def __init__(
        self,
        store: Store,
        router: GlobalRouter,
        owner: str,
        lease_ttl_ms: int,
        learn: Callable[[Update], None],
    ) -> None:
        self._store = store
        self._router = router
        self._owner = owner
        self._ttl_ms = lease_ttl_ms
        self._learn = learn
        self.held = False
        self.dirty = False
        self.version = 0
        self.epoch = 0  # bumped at every reload of the committed global state
        self._marks: dict[int, str] = {}
        self._inline: set[tuple[int, str]] = set()
        # What "nothing committed yet" reloads to: the policy as it was before
        # this process learned anything into it.
        self._initial = router.export_global()

    async def maintain(self, before_change: Callable[[], Awaitable[None]]) -> None:
        """Take or renew the lease; reload the committed state when (re)acquired.

        ``before_change`` runs first whenever ownership changes, so that work
        learned under the old state is committed before the state flips.
        """
        try:
            ok = await self._store.acquire_lease(LEASE, self._owner, self._ttl_ms)
        except StoreUnavailable:
            ok = False
        if ok == self.held:
            return
        await before_change()
        if ok:
            await self._restore()
            logger.info("global policy: %s is the owner", self._owner)
        else:
            logger.warning("global policy: %s lost the lease", self._owner)
        self.held = ok

    async def _restore(self) -> None:
        state = await self._store.get_global_state()
        self._marks = dict(state.marks) if state else {}
        if state is not None:
            self._router.load_global(state.blob, str(state.version))
            self.version = state.version
        else:
            self._router.load_global(self._initial, self._router.model_version)
        self.epoch += 1
        self._inline.clear()
        self.dirty = False

    def applied_inline(self, shard: int, entry_id: str) -> None:
        """Note a committed forward batch already learned in this process's global policy.

        The owner learns its own shards' updates at once (one featurization
        for both policies); :meth:`pump` then only advances past them.
        """
        self._inline.add((shard, entry_id))

    async def pump(self, count: int) -> int:
        """Apply forward batches after the stored positions; returns updates passed."""
        if not self.held:
            return 0
        applied = 0
        for batch in await self._store.read_forwards(self._marks, count):
            key = (batch.shard, batch.entry_id)
            if key in self._inline:
                self._inline.discard(key)
            else:
                for wire in batch.updates:
                    self._learn(Update.from_wire(wire))
            applied += len(batch.updates)
            self._marks[batch.shard] = batch.entry_id
            self.dirty = True
        return applied

    async def commit(self, version: int, count: int = 500) -> bool:
        """Persist the global snapshot with its positions; False if nothing was written.

        The stored positions must cover every update in the stored policy, or
        a reload would apply some twice: forward batches learned inline are
        first passed over by :meth:`pump`, and the commit waits if it cannot.
        """
        while self.held and self._inline and await self.pump(count):
            pass
        if not (self.held and self.dirty) or self._inline:
            return False
        state = GlobalState(version, self._router.export_global(), dict(self._marks))
        try:
            await self._store.commit_global(self._owner, state)
        except (LeaseLost, StoreUnavailable) as exc:
            logger.warning("global commit failed (%s); reloading the last snapshot", exc)
            self.held = False  # re-acquire and reload from the store on the next tick
            return False
        self.version = version
        self._router.model_version = str(version)
        self.dirty = False
        return True

    async def release(self) -> None:
        """Give the lease up (clean shutdown)."""
        if self.held:
            await self._store.release_lease(LEASE, self._owner)
            self.held = False


def now_ms() -> int:
    """Wall-clock milliseconds, the floor of every snapshot version."""
    return int(time.time() * 1000)
