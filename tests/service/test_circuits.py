"""The embedded circuit store: exact in memory, durable when the circuit moves."""

from __future__ import annotations

from typing import Any

from providers.circuit import CircuitBreaker, CircuitConfig, CircuitState
from service.circuits import LocalCircuitStore


class CountingStore:
    def __init__(self) -> None:
        self.states: dict[str, dict[str, Any]] = {}
        self.reads = self.writes = 0

    async def get_circuit(self, model: str) -> dict[str, Any] | None:
        self.reads += 1
        return self.states.get(model)

    async def put_circuit(self, model: str, state: dict[str, Any]) -> None:
        self.writes += 1
        self.states[model] = dict(state)


async def test_successes_stay_in_memory_and_an_open_circuit_is_written() -> None:
    store = CountingStore()
    clock = [1000.0]
    config = CircuitConfig(consecutive_failures=3)
    breaker = CircuitBreaker(LocalCircuitStore(store), config, clock=lambda: clock[0])
    for _ in range(5):
        assert await breaker.allow("m")
        await breaker.record_success("m")
    assert store.reads == 1 and store.writes == 1  # loaded once, the first state saved
    for _ in range(3):
        await breaker.record_failure("m")
    assert await breaker.state("m") is CircuitState.OPEN
    assert store.states["m"]["state"] == CircuitState.OPEN.value  # durable for a restart
    restarted = CircuitBreaker(LocalCircuitStore(store), config, clock=lambda: clock[0])
    assert await restarted.state("m") is CircuitState.OPEN
