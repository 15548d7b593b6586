"""Circuit-breaker state through the store, tolerant of a store outage.

The breaker keeps its state in the shared store so every worker agrees. When
the store is unreachable (a Redis restart), failing every chat request because
the breaker cannot read its state would turn a storage blip into a full
outage. This adapter reads "no state" (closed: try the model) and drops writes
until the store is back; fallback still protects each request on its own.
"""

from __future__ import annotations

import logging
from typing import Any

from providers.circuit import CircuitStore
from service.store.errors import StoreError

logger = logging.getLogger(__name__)


class TolerantCircuitStore:
    """A :class:`~providers.circuit.CircuitStore` that degrades to "closed" on store errors."""

    def __init__(self, store: CircuitStore) -> None:
        self._store = store

    async def get_circuit(self, model: str) -> dict[str, Any] | None:
        try:
            return await self._store.get_circuit(model)
        except StoreError as exc:
            logger.warning("circuit state unavailable, treating %s as closed: %s", model, exc)
            return None

    async def put_circuit(self, model: str, state: dict[str, Any]) -> None:
        try:
            await self._store.put_circuit(model, state)
        except StoreError as exc:
            logger.warning("circuit state of %s not saved: %s", model, exc)


class LocalCircuitStore:
    """Circuit state held in memory, written to the store when the circuit moves.

    For the embedded store only: one process owns the state, so memory is
    exact, and the breaker's read and write on every request cost no SQLite
    query or commit. The store is written when the state, its reopening time
    or its probe changes, so the next start finds open circuits open; the
    rolling call counters stay in memory (a restart starts a new window).
    """

    def __init__(self, store: CircuitStore) -> None:
        self._store = store
        self._states: dict[str, dict[str, Any] | None] = {}

    async def get_circuit(self, model: str) -> dict[str, Any] | None:
        if model not in self._states:
            self._states[model] = await self._store.get_circuit(model)
        state = self._states[model]
        return dict(state) if state is not None else None

    async def put_circuit(self, model: str, state: dict[str, Any]) -> None:
        before = self._states.get(model)
        self._states[model] = dict(state)
        if before is None or any(before.get(k) != state.get(k) for k in _DURABLE):
            await self._store.put_circuit(model, state)


_DURABLE = ("state", "open_until", "probe_at", "cooldown")
