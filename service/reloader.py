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
        self._stopping = False
        self.loads = 0

    @property
    def versions(self) -> dict[str, int]:
        """Snapshot versions currently loaded, by key."""
        return dict(self._versions)

    async def poll_once(self) -> int:
        """Load whatever changed since the last poll; returns the number of loads.

        At most ``max_accounts`` (the router's account cache size) account
        snapshots are loaded per poll, newest first; older ones are noted and
        load when the learner next updates them. Control returns to the event
        loop after every load (each takes milliseconds), so requests are
        served in between.
        """
        epoch = await self._store.snapshot_epoch()
        if epoch == self._epoch:
            return 0
        current = await self._store.snapshot_versions()
        changed = sorted(
            (k for k, v in current.items() if self._versions.get(k) != v),
            key=lambda k: (k != GLOBAL_KEY, -current[k]),
        )
        wanted = changed[: self._router.config.max_accounts + 1]
        for key in changed[len(wanted) :]:
            self._versions[key] = current[key]  # skipped: loads on its next update
        for key in [k for k in self._versions if k not in current]:
            if key.startswith(ACCOUNT_PREFIX):
                self._router.reset_account(key[len(ACCOUNT_PREFIX) :])
            del self._versions[key]
        loaded = 0
        for key, (version, blob) in (await self._store.get_snapshots(wanted)).items():
            self._load(key, version, blob)
            loaded += 1
            await asyncio.sleep(0)
        self._epoch = epoch
        self.loads += loaded
        return loaded

    def _load(self, key: str, version: int, blob: bytes) -> None:
        try:
            if key == GLOBAL_KEY:
                self._router.load_global(blob, str(version))
            else:
                self._router.load_account(key[len(ACCOUNT_PREFIX) :], blob, str(version))
        except Exception:  # a bad blob must not stop serving with the old model
            logger.exception("could not load snapshot %s v%s", key, version)
        self._versions[key] = version

    async def run(self) -> None:
        """Poll until :meth:`stop` (or cancelled); store outages only delay reloads."""
        while not self._stopping:
            try:
                await self.poll_once()
            except StoreUnavailable as exc:
                logger.warning("snapshot reload skipped: %s", exc)
            await asyncio.sleep(self._interval)

    def start(self) -> asyncio.Task[None]:
        """Start :meth:`run` as a background task."""
        if self._task is None or self._task.done():
            self._stopping = False
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
        """Cancel the background task and wait for it.

        The flag ends the loop even when the cancellation is lost inside a
        store call (seen with the Redis client under load: ``autoroute serve``
        then hung in its shutdown, awaiting this task, until killed).
        """
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
