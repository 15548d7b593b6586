"""The storage seam. Two backends implement :class:`Store` and pass the same
contract tests (``tests/service/store``): :class:`~service.store.redis_store.RedisStore`
for production and :class:`~service.store.embedded.EmbeddedStore`, the embedded
in-process default (SQLite in the data dir, or in memory for tests).

Nothing here ever holds prompt or response text: only metadata and a keyed
hash of the messages.

How the learner gets exactly-once updates from at-least-once streams: reward
streams are sharded by account (:func:`shard_of`), and everything a learner
batch changes in one shard (account snapshots, the applied-event ledger, the
sample counts, the acks, the forward batch for the global policy) is written by
one atomic :meth:`Store.commit_shard`. A crash before it leaves the old
snapshots and the un-acked entries, which are redelivered and learned again on
top of the old snapshots; a crash after it leaves nothing to redeliver. The
global policy is kept exactly-once the same way, with the per-shard read
positions of the forward streams stored inside its snapshot
(:class:`GlobalState`).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

GLOBAL_KEY = "global"
ACCOUNT_PREFIX = "account:"


def shard_of(account: str, shards: int) -> int:
    """The reward shard of ``account``: ``crc32(account) % shards``.

    Example:
        >>> shard_of("team-a", 4) == shard_of("team-a", 4)
        True
    """
    return zlib.crc32(account.encode("utf-8")) % shards


def account_key(account: str) -> str:
    """Snapshot key of an account's policy (``account:<id>``)."""
    return ACCOUNT_PREFIX + account


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """What is logged for each routed request, keyed by ``request_id``."""

    request_id: str
    account: str
    created_at: float  # unix seconds
    strategy: str
    features: dict[str, Any]  # PromptFeatures as a dict
    actions: list[str]  # candidate model ids, in the order they were scored
    chosen: str  # model that finally answered (or the last one tried)
    probability: float  # probability the router's first choice was sampled with
    model_version: str
    message_hash: str  # HMAC-SHA256 of the messages, hex
    auto_signal: float | None = None  # automatic quality signal in [0, 1]
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RewardEvent:
    """One reward on its way to the learner.

    ``kind`` is ``auto`` (automatic signal at response time), ``rating``
    (user feedback; ``payload`` carries ``score`` and ``is_helpful``),
    ``failure`` (a failed provider attempt of ``model``), ``default`` (window
    expired without a signal; published by the learner itself) or ``reset``
    (the account's learning data was deleted; published by
    :meth:`Store.delete_account_data`).
    """

    event_id: str  # unique; the learner uses it for idempotency
    request_id: str
    account: str
    kind: str
    value: float  # in [0, 1]
    model: str
    created_at: float
    payload: dict[str, Any] = field(default_factory=dict)


# A served request as the decision log keeps it: its decision and its rewards.
LoggedRequest = tuple[DecisionRecord, Sequence[RewardEvent]]


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """A reward as delivered by a stream; ``deliveries`` counts delivery attempts."""

    stream: str
    entry_id: str
    event: RewardEvent
    deliveries: int = 1
    shard: int = 0


@dataclass(frozen=True, slots=True)
class ShardCommit:
    """Everything one learner batch changes in one shard; applied atomically.

    Attributes:
        shard: the shard all of this belongs to.
        owner: lease holder token; the commit fails with ``LeaseLost`` otherwise.
        version: snapshot version given to every snapshot written here.
        entries: stream entries to acknowledge.
        applied: event ids to add to the applied ledger.
        outcomes: outcome name -> number of events, added to the ledger stats.
        snapshots: account -> exported policy, or ``None`` to delete it (reset).
        counts: account -> model (and ``"*"``) -> sample count increment.
        settled: (account, request_id) pairs that got a signal: no default reward.
        forward: compact global updates, written as one forward batch.
        late: metadata of ratings that arrived after the window (recorded only).
    """

    shard: int
    owner: str
    version: int
    entries: list[StreamEntry] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    snapshots: dict[str, bytes | None] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    settled: list[tuple[str, str]] = field(default_factory=list)
    forward: list[dict[str, Any]] = field(default_factory=list)
    late: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ForwardBatch:
    """Global updates committed by one shard batch, in stream order."""

    shard: int
    entry_id: str
    updates: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class GlobalState:
    """The global policy with the forward-stream positions it already includes."""

    version: int
    blob: bytes
    marks: dict[int, str]  # shard -> last forward entry id applied


class Store(Protocol):
    """Narrow persistence interface used by the API and the learner.

    Every method raises :class:`service.store.errors.StoreUnavailable` when the
    backend cannot be reached. ``shards`` is the number of reward shards.
    """

    shards: int

    # decision log: kept ttl_s (the reward window) plus a grace period so late
    # feedback is recognised as late; ttl_s after creation a decision that got
    # no signal becomes due for a default reward.
    async def put_decision(self, record: DecisionRecord, ttl_s: float) -> None: ...
    async def record_request(
        self, record: DecisionRecord, ttl_s: float, events: Sequence[RewardEvent]
    ) -> list[str]:
        """``put_decision`` and ``publish_reward`` of each event in one round trip."""
        ...

    async def record_requests(self, requests: Sequence[LoggedRequest], ttl_s: float) -> None:
        """``record_request`` of several requests in one round trip (write-behind batches)."""
        ...

    async def get_decision(self, request_id: str) -> DecisionRecord | None: ...
    async def get_decisions(self, request_ids: list[str]) -> dict[str, DecisionRecord]: ...
    async def mark_rated(self, request_id: str, ttl_s: float) -> bool:
        """Atomically mark a request as rated; False if it already was."""
        ...

    # reward streams (sharded by account)
    async def publish_reward(self, event: RewardEvent) -> str: ...
    async def read_rewards(
        self, consumer: str, shards: list[int], count: int, block_ms: int
    ) -> list[StreamEntry]: ...
    async def read_own_pending(
        self, consumer: str, shards: list[int], count: int
    ) -> list[StreamEntry]: ...
    async def ack_rewards(self, entries: list[StreamEntry]) -> None: ...
    async def claim_stale(
        self, consumer: str, shards: list[int], min_idle_ms: int, count: int
    ) -> list[StreamEntry]: ...
    async def dead_letter(self, entry: StreamEntry, reason: str) -> None: ...
    async def dead_letters(self, shard: int, count: int) -> list[tuple[RewardEvent, str]]: ...
    async def pending_count(self, shards: list[int] | None = None) -> int: ...
    async def enqueue_due_defaults(self, shard: int, now: float, limit: int) -> int: ...
    async def backlog(self, shards: list[int] | None = None) -> tuple[int, float]:
        """Un-acked rewards (delivered or not) and the age in seconds of the oldest."""
        ...

    async def trim_acked(self, shards: list[int]) -> None:
        """Free the space of entries the learners have acked."""
        ...

    # idempotency of applied rewards
    async def was_applied(self, event_id: str) -> bool: ...
    async def applied_among(self, shard: int, event_ids: list[str]) -> set[str]: ...
    async def ledger_stats(self) -> dict[str, int]: ...

    # learner commits and the global policy
    async def commit_shard(self, commit: ShardCommit) -> str | None:
        """Apply ``commit`` atomically; returns the forward batch's entry id, if any."""
        ...

    async def read_forwards(self, marks: dict[int, str], count: int) -> list[ForwardBatch]: ...
    async def get_global_state(self) -> GlobalState | None: ...
    async def commit_global(self, owner: str, state: GlobalState) -> None: ...

    # leases: exclusive ownership of "global" and "shard:<n>"
    async def acquire_lease(self, name: str, owner: str, ttl_ms: int) -> bool: ...
    async def release_lease(self, name: str, owner: str) -> None: ...
    async def heartbeat(self, member: str, ttl_ms: int) -> int:
        """Mark learner ``member`` alive for ``ttl_ms``; returns how many are alive."""
        ...

    # model snapshots: key is "global" or "account:<id>"
    async def put_snapshot(self, key: str, version: int, blob: bytes) -> None: ...
    async def get_snapshot(self, key: str) -> tuple[int, bytes] | None: ...
    async def get_snapshots(self, keys: list[str]) -> dict[str, tuple[int, bytes]]: ...
    async def snapshot_versions(self) -> dict[str, int]: ...
    async def snapshot_epoch(self) -> str:
        """A cheap token that changes whenever any snapshot version changes."""
        ...

    # per-account sample counts, overall ("*") and per model
    async def incr_counts(self, account: str, model: str, by: int = 1) -> None: ...
    async def get_counts(self, account: str) -> dict[str, int]: ...

    # accounts and keys (keys are stored as hashes only)
    async def put_api_key(self, key_hash: str, account: str) -> None: ...
    async def get_account_for_key(self, key_hash: str) -> str | None: ...
    async def revoke_api_key(self, key_hash: str) -> bool: ...

    # circuit breaker state per model, shared by all workers
    async def get_circuit(self, model: str) -> dict[str, Any] | None: ...
    async def put_circuit(self, model: str, state: dict[str, Any]) -> None: ...

    # reset: delete everything learned about an account (and tell the learner)
    async def delete_account_data(self, account: str) -> None: ...

    async def ping(self) -> bool: ...
    async def close(self) -> None: ...
