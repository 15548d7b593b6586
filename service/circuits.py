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
