"""Circuit breaker transitions, driven by an injected clock (no sleeping)."""

from __future__ import annotations

import pytest

from providers.circuit import CircuitBreaker, CircuitConfig, CircuitState, MemoryCircuitStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


CONFIG = CircuitConfig(
    consecutive_failures=3, error_rate=0.5, min_calls=10, window_s=60, cooldown_s=30
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> MemoryCircuitStore:
    return MemoryCircuitStore()


@pytest.fixture
def breaker(store: MemoryCircuitStore, clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(store, CONFIG, clock=clock)


async def fail(breaker: CircuitBreaker, times: int, retry_after: float | None = None) -> None:
    for _ in range(times):
        await breaker.record_failure("m", retry_after=retry_after)


async def test_unknown_model_is_closed_and_allowed(breaker: CircuitBreaker) -> None:
    assert await breaker.state("m") is CircuitState.CLOSED
    assert await breaker.allow("m")
    assert await breaker.retry_after("m") is None


async def test_opens_after_consecutive_failures(breaker: CircuitBreaker) -> None:
    await fail(breaker, 2)
    assert await breaker.allow("m")

    await fail(breaker, 1)

    assert await breaker.state("m") is CircuitState.OPEN
    assert not await breaker.allow("m")
    assert await breaker.retry_after("m") == pytest.approx(30)


async def test_success_resets_the_consecutive_count(breaker: CircuitBreaker) -> None:
    await fail(breaker, 2)
    await breaker.record_success("m")
    await fail(breaker, 2)

    assert await breaker.state("m") is CircuitState.CLOSED


async def test_opens_on_error_rate_over_the_window(breaker: CircuitBreaker) -> None:
    for _ in range(5):  # alternate so there are never 3 failures in a row
        await breaker.record_success("m")
        await fail(breaker, 1)
    assert await breaker.state("m") is CircuitState.OPEN


async def test_error_rate_window_expires(breaker: CircuitBreaker, clock: Clock) -> None:
    for _ in range(4):
        await breaker.record_success("m")
        await fail(breaker, 1)
    clock.now += 61  # new window: the 4 old failures no longer count
    await breaker.record_success("m")
    await fail(breaker, 1)

    assert await breaker.state("m") is CircuitState.CLOSED


async def test_cooldown_then_single_half_open_probe(breaker: CircuitBreaker, clock: Clock) -> None:
    await fail(breaker, 3)
    clock.now += 29
    assert not await breaker.allow("m")

    clock.now += 1
    assert await breaker.state("m") is CircuitState.HALF_OPEN
    assert await breaker.allow("m")  # the probe
    assert not await breaker.allow("m")  # only one at a time

    await breaker.record_success("m")
    assert await breaker.state("m") is CircuitState.CLOSED
    assert await breaker.allow("m")


async def test_failed_probe_reopens_with_a_longer_cooldown(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    await fail(breaker, 3)
    clock.now += 30
    assert await breaker.allow("m")

    await fail(breaker, 1)

    assert await breaker.state("m") is CircuitState.OPEN
    assert await breaker.retry_after("m") == pytest.approx(60)


async def test_lost_probe_is_given_up_after_a_cooldown(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    await fail(breaker, 3)
    clock.now += 30
    assert await breaker.allow("m")
    clock.now += 30

    assert await breaker.allow("m")


async def test_cooldown_honours_retry_after_up_to_the_cap(
    store: MemoryCircuitStore, clock: Clock
) -> None:
    breaker = CircuitBreaker(
        store, CircuitConfig(consecutive_failures=1, cooldown_s=30, max_cooldown_s=300), clock=clock
    )

    await breaker.record_failure("a", retry_after=120)
    await breaker.record_failure("b", retry_after=5)
    await breaker.record_failure("c", retry_after=10_000)

    assert await breaker.retry_after("a") == pytest.approx(120)
    assert await breaker.retry_after("b") == pytest.approx(30)
    assert await breaker.retry_after("c") == pytest.approx(300)


async def test_state_is_shared_through_the_store(store: MemoryCircuitStore, clock: Clock) -> None:
    worker_a = CircuitBreaker(store, CONFIG, clock=clock)
    worker_b = CircuitBreaker(store, CONFIG, clock=clock)

    await worker_a.record_failure("m")
    await worker_b.record_failure("m")
    await worker_a.record_failure("m")

    assert not await worker_b.allow("m")
    assert await worker_b.states(["m", "other"]) == {
        "m": CircuitState.OPEN,
        "other": CircuitState.CLOSED,
    }
    stored = await store.get_circuit("m")
    assert stored is not None and stored["state"] == "open"


async def test_corrupt_stored_state_reads_as_closed(
    store: MemoryCircuitStore, breaker: CircuitBreaker
) -> None:
    await store.put_circuit("m", {"state": "melted"})

    assert await breaker.state("m") is CircuitState.CLOSED
