"""WAL checkpoints of the embedded store, on a thread of their own.

By default SQLite checkpoints a WAL database inside the commit that grows the
log past 1,000 pages, on the connection that made it: for the embedded store,
on the event loop, with the copy back into the database file and its fsyncs.
Under load that stalled the serving loop: the write-behind batch
(``RequestLog``) took 11.5 ms at p99, the slowest 11.6-19.6 ms of wall time for
2.5-3.9 ms of CPU, and without the automatic checkpoint 4.6 ms at p99 (a
timing of ``EmbeddedStore.record_requests`` under ``wrk -c1``, 800 batches).

So the store's connection never checkpoints (``wal_autocheckpoint=0``) and
:class:`Checkpointer` runs ``PRAGMA wal_checkpoint(PASSIVE)`` every
``interval_s`` from a daemon thread with its own connection. A passive
checkpoint neither waits for the writer nor blocks it, and ``sqlite3`` releases
the GIL while it runs; the log is restarted from its beginning by the first
commit after a complete checkpoint, so it stays about one interval of writes
long. Closing the store's connection still checkpoints what is left.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

logger = logging.getLogger(__name__)

CHECKPOINT_INTERVAL_S = 0.5


class Checkpointer:
    """Checkpoints the WAL of the database at ``path`` every ``interval_s``, off the loop.

    Example:
        >>> # checkpointer = Checkpointer("data/autoroute.sqlite3"); checkpointer.start()
        >>> # ...; checkpointer.close()   # before closing the store's connection
    """

    def __init__(self, path: str, interval_s: float = CHECKPOINT_INTERVAL_S) -> None:
        self._path = path
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="autoroute-wal-checkpoint", daemon=True
        )
        self.checkpoints = 0

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def close(self) -> None:
        """Stop the thread, after the checkpoint it may be running."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self._path, isolation_level=None)
        except sqlite3.Error:
            logger.exception("WAL checkpoints off: cannot open %s", self._path)
            return
        try:
            while not self._stop.wait(self._interval_s):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as exc:  # e.g. disk I/O: the next one tries again
                    logger.warning("WAL checkpoint of %s failed: %s", self._path, exc)
        finally:
            db.close()
