"""A circuit breaker per model, its state shared by every worker through a store.

    closed ──(N consecutive failures, or error rate ≥ r over a window)──▶ open
    open ──(cooldown elapsed; cooldown ≥ Retry-After)──▶ half_open (one probe allowed)
    half_open ──probe succeeds──▶ closed
    half_open ──probe fails──▶ open (cooldown doubled, up to a cap)

State lives in a :class:`CircuitStore` (the same ``get_circuit`` /
``put_circuit`` methods as ``service.store.base.Store``) as a small JSON-able
dict, and uses wall-clock time so that workers agree on it. Updates are
read-modify-write without a lock: two workers racing can at worst let one
extra probe through or count one failure twice, which a breaker tolerates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


# Built once: iterating the enum on every load cost 1.7 us, twice per request.
_STATES = frozenset(s.value for s in CircuitState)


class CircuitStore(Protocol):
    """Where breaker state is kept; ``service.store`` backends implement it."""

    async def get_circuit(self, model: str) -> dict[str, Any] | None: ...
    async def put_circuit(self, model: str, state: dict[str, Any]) -> None: ...


class MemoryCircuitStore:
    """In-process :class:`CircuitStore` for tests and the embedded single-process mode."""

    def __init__(self) -> None:
        self._states: dict[str, dict[str, Any]] = {}

    async def get_circuit(self, model: str) -> dict[str, Any] | None:
        state = self._states.get(model)
        return dict(state) if state is not None else None

    async def put_circuit(self, model: str, state: dict[str, Any]) -> None:
        self._states[model] = dict(state)


@dataclass(frozen=True, slots=True)
class CircuitConfig:
    """Thresholds of the breaker.

    Attributes:
        consecutive_failures: Failures in a row that open the circuit.
        error_rate: Failure fraction over the window that opens it...
        min_calls: ...once the window holds at least this many calls.
        window_s: Length of the error-rate window (a fixed window, reset when it expires).
        cooldown_s: Time open before a half-open probe is allowed.
        max_cooldown_s: Cap on the cooldown, whatever Retry-After or backoff say.
    """

    consecutive_failures: int = 5
    error_rate: float = 0.5
    min_calls: int = 20
    window_s: float = 60.0
    cooldown_s: float = 30.0
    max_cooldown_s: float = 600.0


def _closed(now: float) -> dict[str, Any]:
    return {
        "state": CircuitState.CLOSED.value,
        "consecutive": 0,
        "window_start": now,
        "calls": 0,
        "failures": 0,
        "open_until": 0.0,
        "cooldown": 0.0,
        "probe_at": 0.0,
    }


class CircuitBreaker:
    """Decides whether a model may be tried and records how its calls went.

    Args:
        store: Shared state backend.
        config: Thresholds.
        clock: Wall-clock seconds; injectable so tests need no sleeping.
    """

    def __init__(
        self,
        store: CircuitStore,
        config: CircuitConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._config = config or CircuitConfig()
        self._clock = clock

    async def state(self, model: str) -> CircuitState:
        """Current state as the model list shows it (an open circuit whose
        cooldown has elapsed reads as half-open)."""
        raw = await self._load(model)
        state = CircuitState(raw["state"])
        if state is CircuitState.OPEN and self._clock() >= raw["open_until"]:
            return CircuitState.HALF_OPEN
        return state

    async def states(self, models: Iterable[str]) -> dict[str, CircuitState]:
        """State of each model, for the model list and the metric gauge."""
        return {model: await self.state(model) for model in models}

    async def retry_after(self, model: str) -> float | None:
        """Seconds until an open circuit allows a probe, ``None`` if not open."""
        raw = await self._load(model)
        remaining = raw["open_until"] - self._clock()
        return remaining if raw["state"] == CircuitState.OPEN.value and remaining > 0 else None

    async def allow(self, model: str) -> bool:
        """Whether ``model`` may be called now; claims the probe when half-open.

        A probe that never reports back (its worker died) is given up on
        after one cooldown, so a lost probe cannot keep the circuit shut.
        """
        raw = await self._load(model)
        now = self._clock()
        if raw["state"] == CircuitState.CLOSED.value:
            return True
        if raw["state"] == CircuitState.OPEN.value:
            if now < raw["open_until"]:
                return False
        elif now < raw["probe_at"] + max(raw["cooldown"], self._config.cooldown_s):
            return False  # half-open with a probe in flight
        raw.update(state=CircuitState.HALF_OPEN.value, probe_at=now)
        await self._store.put_circuit(model, raw)
        return True

    async def record_success(self, model: str) -> None:
        """A call succeeded: a half-open circuit closes, counters move on."""
        raw = await self._load(model)
        now = self._clock()
        if raw["state"] != CircuitState.CLOSED.value:
            await self._store.put_circuit(model, _closed(now))
            return
        self._roll_window(raw, now)
        raw["calls"] += 1
        raw["consecutive"] = 0
        await self._store.put_circuit(model, raw)

    async def record_failure(self, model: str, *, retry_after: float | None = None) -> None:
        """A retryable failure: may open (or re-open) the circuit.

        Args:
            model: Catalog id.
            retry_after: The upstream's ``Retry-After``, which the cooldown honours.
        """
        raw = await self._load(model)
        now = self._clock()
        if raw["state"] != CircuitState.CLOSED.value:
            # A failed probe: back off harder.
            self._open(raw, now, max(raw["cooldown"] * 2, self._config.cooldown_s), retry_after)
        else:
            self._roll_window(raw, now)
            raw["calls"] += 1
            raw["failures"] += 1
            raw["consecutive"] += 1
            if self._should_open(raw):
                self._open(raw, now, self._config.cooldown_s, retry_after)
        await self._store.put_circuit(model, raw)

    def _should_open(self, raw: dict[str, Any]) -> bool:
        cfg = self._config
        if raw["consecutive"] >= cfg.consecutive_failures:
            return True
        return bool(
            raw["calls"] >= cfg.min_calls and raw["failures"] / raw["calls"] >= cfg.error_rate
        )

    def _open(
        self, raw: dict[str, Any], now: float, cooldown: float, retry_after: float | None
    ) -> None:
        cooldown = min(max(cooldown, retry_after or 0.0), self._config.max_cooldown_s)
        raw.update(state=CircuitState.OPEN.value, open_until=now + cooldown, cooldown=cooldown)

    def _roll_window(self, raw: dict[str, Any], now: float) -> None:
        if now - raw["window_start"] >= self._config.window_s:
            raw.update(window_start=now, calls=0, failures=0)

    async def _load(self, model: str) -> dict[str, Any]:
        raw = await self._store.get_circuit(model)
        fresh = _closed(self._clock())
        if not raw or raw.get("state") not in _STATES:
            return fresh
        # Fill keys an older writer may not have had.
        return {**fresh, **raw}
