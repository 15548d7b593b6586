"""Hot-reload of learner snapshots into an API worker's router.

With Redis, the learner is another process; each API worker runs a
:class:`SnapshotReloader` that polls one cheap token
(:meth:`~service.store.base.Store.snapshot_epoch`, one round trip) and, only
when it changed, fetches the versions and loads the new blobs. A VW load
takes milliseconds, so it happens on the event loop between requests; a
request never waits for a reload, and ``router.model_version`` (stamped on
every decision) follows the loaded global snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from bandit.router import Router
from service.store.base import ACCOUNT_PREFIX, GLOBAL_KEY, Store
from service.store.errors import StoreUnavailable

logger = logging.getLogger(__name__)


class SnapshotReloader:
    """Keeps ``router`` at the newest snapshots in ``store``.

    Args:
        store: the shared store.
        router: this worker's router.
        poll_interval_s: time between two epoch polls.

    Example:
        >>> # reloader = SnapshotReloader(store, router); reloader.start()
        >>> # ... serve ...; await reloader.stop()
    """

    def __init__(self, store: Store, router: Router, *, poll_interval_s: float = 0.2) -> None:
        self._store = store
        self._router = router
        self._interval = poll_interval_s
        self._epoch: str | None = None
        self._versions: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self.loads = 0

    @property
    def versions(self) -> dict[str, int]:
        """Snapshot versions currently loaded, by key."""
        return dict(self._versions)

    async def poll_once(self) -> int:
        """Load whatever changed since the last poll; returns the number of loads."""
        epoch = await self._store.snapshot_epoch()
        if epoch == self._epoch:
            return 0
        current = await self._store.snapshot_versions()
        changed = [k for k, v in current.items() if self._versions.get(k) != v]
        removed = [k for k in self._versions if k not in current]
        blobs = await self._store.get_snapshots(changed)
        loaded = 0
        for key, (version, blob) in blobs.items():
            try:
                if key == GLOBAL_KEY:
                    self._router.load_global(blob, str(version))
                else:
                    self._router.load_account(key[len(ACCOUNT_PREFIX) :], blob, str(version))
            except Exception:  # a bad blob must not stop serving with the old model
                logger.exception("could not load snapshot %s v%s", key, version)
            loaded += 1
            self._versions[key] = version
        for key in removed:
            if key.startswith(ACCOUNT_PREFIX):
                self._router.reset_account(key[len(ACCOUNT_PREFIX) :])
            del self._versions[key]
        self._epoch = epoch
        self.loads += loaded
        return loaded

    async def run(self) -> None:
        """Poll forever (until cancelled); store outages only delay reloads."""
        while True:
            try:
                await self.poll_once()
            except StoreUnavailable as exc:
                logger.warning("snapshot reload skipped: %s", exc)
            await asyncio.sleep(self._interval)

    def start(self) -> asyncio.Task[None]:
        """Start :meth:`run` as a background task."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="snapshot-reloader")
        return self._task

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[SnapshotReloader]:
        """Poll in the background for the duration of the block (API lifespan)."""
        self.start()
        try:
            yield self
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Cancel the background task and wait for it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
