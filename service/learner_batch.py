"""A learner's uncommitted work for one shard.

Entries, ledger ids, outcome counts, touched accounts and the forward batch
accumulate here between two commits and leave together, in one
:class:`~service.store.base.ShardCommit`, so nothing is acked that is not
also in a committed snapshot.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from service.store.base import ShardCommit, StreamEntry


@dataclass(slots=True)
class ShardBatch:
    """What one shard has learned since its last commit (one future :class:`ShardCommit`)."""

    entries: list[StreamEntry] = field(default_factory=list)
    entry_ids: set[str] = field(default_factory=set)
    event_ids: set[str] = field(default_factory=set)
    applied: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    learned: Counter[str] = field(default_factory=Counter)
    value_sums: dict[str, float] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)
    resets: set[str] = field(default_factory=set)
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    settled: list[tuple[str, str]] = field(default_factory=list)
    forward: list[dict[str, Any]] = field(default_factory=list)
    late: list[dict[str, Any]] = field(default_factory=list)
    # global epoch if the global policy learned this batch's updates inline
    inline_epoch: int | None = None

    def add(self, entry: StreamEntry, outcome: str, *, applied: bool = True) -> None:
        self.entries.append(entry)
        self.entry_ids.add(entry.entry_id)
        self.outcomes[outcome] += 1
        if applied:
            self.event_ids.add(entry.event.event_id)
            self.applied.append(entry.event.event_id)

    def count(self, account: str, model: str) -> None:
        counts = self.counts.setdefault(account, Counter())
        counts["*"] += 1
        counts[model] += 1

    def to_commit(
        self, shard: int, owner: str, version: int, snapshots: dict[str, bytes | None]
    ) -> ShardCommit:
        """The atomic commit that makes this batch durable."""
        return ShardCommit(
            shard=shard,
            owner=owner,
            version=version,
            entries=self.entries,
            applied=self.applied,
            outcomes=dict(self.outcomes),
            snapshots=snapshots,
            counts={a: dict(c) for a, c in self.counts.items()},
            settled=self.settled,
            forward=self.forward,
            late=self.late,
        )
