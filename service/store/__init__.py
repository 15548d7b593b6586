"""Persistence for the service and the learner.

``open_store`` picks the backend: a Redis URL gives
:class:`~service.store.redis_store.RedisStore`, anything else the embedded
SQLite store (:class:`~service.store.embedded.EmbeddedStore`).
"""

from __future__ import annotations

from pathlib import Path

from service.store.base import Store
from service.store.embedded import EmbeddedStore
from service.store.redis_store import RedisStore

__all__ = ["EmbeddedStore", "RedisStore", "Store", "open_store"]


def open_store(
    redis_url: str | None = None,
    data_dir: Path | str | None = None,
    *,
    shards: int = 4,
    decision_grace_s: float = 600.0,
    ledger_retention_s: float = 3_600.0,
    cluster: bool = False,
) -> Store:
    """Open the store a deployment is configured for.

    Args:
        redis_url: ``redis://``, ``rediss://`` or ``unix://`` URL; ``None``
            selects the embedded store.
        data_dir: directory of the embedded store's database; ``None`` keeps
            it in memory (tests). Ignored with Redis.
        shards: number of reward-stream shards. Every process of a Redis
            deployment must use the same value (accounts map to shards by
            ``crc32 % shards``). The embedded store accepts it for parity.
        decision_grace_s: how long a decision outlives its reward window, so
            late feedback is told apart from unknown request ids.
        ledger_retention_s: how long applied event ids are remembered, to
            skip a reward published twice (a client retry). Redelivery after
            a crash needs no ledger (acks commit with the snapshots), so this
            only has to outlast retries; each id costs ~100 bytes of memory.
        cluster: the Redis URL points at a Redis Cluster (no cross-slot
            ``MGET``). Ignored by the embedded store.

    Returns:
        A store; close it with ``await store.close()``.

    Example:
        >>> store = open_store(None, None)
        >>> type(store).__name__
        'EmbeddedStore'
    """
    if redis_url:
        return RedisStore.from_url(
            redis_url,
            shards=shards,
            decision_grace_s=decision_grace_s,
            ledger_retention_s=ledger_retention_s,
            cluster=cluster,
        )
    return EmbeddedStore(
        data_dir,
        shards=shards,
        decision_grace_s=decision_grace_s,
        ledger_retention_s=ledger_retention_s,
    )
