"""The storage seam. Two backends implement :class:`Store` and pass the same
contract tests (``tests/service/store``): ``RedisStore`` for production and
``MemoryStore``, the embedded in-process default (persisting to the data dir).

Nothing here ever holds prompt or response text: only metadata and a keyed
hash of the messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


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
    (user feedback), ``failure`` (a failed provider attempt) or ``default``
    (window expired without a signal).
    """

    event_id: str  # unique; the learner uses it for idempotency
    request_id: str
    account: str
    kind: str
    value: float  # in [0, 1]
    model: str
    created_at: float
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StreamEntry:
    stream: str
    entry_id: str
    event: RewardEvent
    deliveries: int = 1


class Store(Protocol):
    """Narrow persistence interface used by the API and the learner."""

    # decision log (TTL = reward window)
    async def put_decision(self, record: DecisionRecord, ttl_s: float) -> None: ...
    async def get_decision(self, request_id: str) -> DecisionRecord | None: ...
    async def mark_rated(self, request_id: str, ttl_s: float) -> bool:
        """Atomically mark a request as rated; False if it already was."""
        ...

    # reward streams (sharded by account)
    async def publish_reward(self, event: RewardEvent) -> str: ...
    async def read_rewards(
        self, consumer: str, shards: list[int], count: int, block_ms: int
    ) -> list[StreamEntry]: ...
    async def ack_rewards(self, entries: list[StreamEntry]) -> None: ...
    async def claim_stale(
        self, consumer: str, shards: list[int], min_idle_ms: int, count: int
    ) -> list[StreamEntry]: ...
    async def dead_letter(self, entry: StreamEntry, reason: str) -> None: ...
    async def pending_count(self) -> int: ...

    # idempotency of applied rewards
    async def was_applied(self, event_id: str) -> bool: ...

    # model snapshots: key is "global" or "account:<id>"
    async def put_snapshot(self, key: str, version: int, blob: bytes) -> None: ...
    async def get_snapshot(self, key: str) -> tuple[int, bytes] | None: ...
    async def snapshot_versions(self) -> dict[str, int]: ...

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

    # reset: delete everything learned about an account
    async def delete_account_data(self, account: str) -> None: ...

    async def ping(self) -> bool: ...
    async def close(self) -> None: ...
