"""Settings of one learner process (see :class:`service.learner.Learner`)."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from service.learner_rewards import RewardRules


@dataclass(frozen=True, slots=True)
class LearnerConfig:
    """Settings of one learner process.

    Attributes:
        shards: the shards this process serves (``None``: all of the store's).
        balance: ignore ``shards``; hold a fair share of all shards, shared
            with the other live learners (see :mod:`service.learner_shards`).
        consumer: consumer name in the group; keep it stable across restarts
            so a restarted learner picks up its own pending entries at once.
        global_policy: compete for the global lease (one owner at a time).
        snapshot_interval_s: commit (and so publish snapshots) this often.
        batch_size: entries per stream read (``COUNT``).
        block_ms: longest wait for new entries when idle.
        claim_idle_ms: an entry pending this long belongs to a dead consumer.
        max_deliveries: attempts before an entry is dead-lettered.
        lease_ttl_ms: shard and global lease lifetime (renewed every third).
        max_batch_entries: commit the shard batches once they hold this many
            entries, before ``snapshot_interval_s`` is up (``None``: no bound).
            The embedded learner shares the serving loop, and a commit is one
            SQLite transaction whose cost grows with its entries.
        min_entries_per_export: a full batch must also hold this many entries
            per account it exports, so that exports stay amortised when many
            accounts share a batch.
        global_commit_interval_s: commit the global policy at most this often
            (``None``: with every commit). Its forward batches are durable in
            each shard commit, so a later global commit loses nothing.
        min_read_interval_s: after a step that read less than a full batch,
            wait this long before the next read, so rewards arriving one by one
            are learned in batches (the embedded learner shares the serving
            loop; 0 reads again at once).
    """

    shards: tuple[int, ...] | None = None
    balance: bool = False
    consumer: str = field(default_factory=lambda: f"learner-{socket.gethostname()}")
    global_policy: bool = True
    rules: RewardRules = field(default_factory=RewardRules)
    snapshot_interval_s: float = 0.5
    batch_size: int = 500
    block_ms: int = 100
    claim_idle_ms: int = 30_000
    claim_interval_s: float = 5.0
    max_deliveries: int = 5
    lease_ttl_ms: int = 10_000
    defaults_interval_s: float = 1.0
    max_touched_accounts: int = 200
    min_read_interval_s: float = 0.0
    max_batch_entries: int | None = None
    min_entries_per_export: int = 0
    global_commit_interval_s: float | None = None
