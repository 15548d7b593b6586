"""Try the router's candidates in order until one answers.

Retryable errors (5xx, 429, timeouts, connection failures) move on to the next
candidate; non-retryable ones (bad request, auth, unknown model, content
policy) end the run at once, because another model would fail the same way.
Models whose circuit is open, or that have no provider, are skipped without
counting as an attempt; when every circuit is open, the model that reopens
soonest is probed anyway (panic mode). Every attempt is returned (or attached to the error)
so the caller can report each failure as a low reward for that model and set
``X-Autoroute-Attempts``.

Streams fail over only before their first content chunk. After it, the client
has already seen text, so a failure becomes :class:`StreamInterrupted`, which
the HTTP layer turns into an in-band error event, never a silently truncated
answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Protocol

from providers.base import ChatRequest, ChatResult, Provider, StreamChunk
from providers.catalog import ModelSpec
from providers.circuit import CircuitBreaker
from providers.errors import (
    Attempt,
    ConnectionFailed,
    NonRetryable,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    Retryable,
)


class ProviderSource(Protocol):
    """Anything that maps a model to its provider (``ProviderRegistry`` does)."""

    def provider_for(self, model: ModelSpec) -> Provider: ...


@dataclass(frozen=True, slots=True)
class FallbackPolicy:
    """Bounds of one fallback run.

    Attributes:
        max_attempts: Models actually called, at most (skipped ones don't count).
        attempt_timeout_s: Deadline of one attempt (for a stream: until its first chunk).
        total_timeout_s: Deadline of the whole run; the last attempt gets what is left.
    """

    max_attempts: int = 3
    attempt_timeout_s: float = 30.0
    total_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.attempt_timeout_s <= 0 or self.total_timeout_s <= 0:
            raise ValueError("FallbackPolicy needs max_attempts >= 1 and positive deadlines")


class AllProvidersFailed(ProviderError):
    """Every candidate failed or was skipped; ``attempts`` says how.

    ``retry_after`` is set when candidates were skipped for an open circuit:
    the seconds until the first of them accepts a probe again.
    """

    kind = "all_failed"

    def __init__(self, attempts: Sequence[Attempt], skipped: Sequence[str]) -> None:
        tried = ", ".join(f"{a.model_id}: {a.error_kind}" for a in attempts) or "none tried"
        super().__init__(f"all candidate models failed ({tried})", status=502)
        self.attempts = tuple(attempts)
        self.skipped = tuple(skipped)
        self.retry_after: float | None = None


class StreamInterrupted(ProviderError):
    """A stream failed after content was sent; the cause is chained and in ``cause_kind``."""

    kind = "stream_interrupted"

    def __init__(self, cause: ProviderError, model: str) -> None:
        super().__init__(
            f"stream interrupted: {cause.message}", model=model, provider=cause.provider
        )
        self.cause_kind = cause.kind


@dataclass(frozen=True, slots=True)
class FallbackOutcome:
    """A successful run: the answer and every attempt (the last one succeeded)."""

    result: ChatResult
    attempts: tuple[Attempt, ...]
    skipped: tuple[str, ...] = ()

    @property
    def failed(self) -> tuple[Attempt, ...]:
        return tuple(a for a in self.attempts if not a.ok)


class _Run:
    """Shared bookkeeping of one fallback run: deadlines, attempts, breaker."""

    def __init__(
        self, policy: FallbackPolicy, breaker: CircuitBreaker | None, clock: Callable[[], float]
    ) -> None:
        self.policy, self.breaker, self.clock = policy, breaker, clock
        self.deadline = clock() + policy.total_timeout_s
        self.attempts: list[Attempt] = []
        self.skipped: list[str] = []
        self.reopens_in: list[float] = []

    async def candidates(
        self, models: Sequence[ModelSpec], source: ProviderSource
    ) -> AsyncGenerator[tuple[ModelSpec, Provider, float], None]:
        """Yield (model, provider, timeout) for each model worth trying, within bounds.

        When every candidate with a provider was skipped for an open circuit,
        the one that reopens soonest is still tried once ("panic mode", as in
        Envoy): refusing all traffic until the first cooldown ends turns a
        two-second upstream outage into a thirty-second one for clients.
        """
        tried = False
        shut: list[tuple[float, ModelSpec, Provider]] = []
        for model in models:
            if not self._within_bounds():
                return
            try:
                provider = source.provider_for(model)
            except ProviderUnavailable:
                self.skipped.append(model.id)
                continue
            if self.breaker is not None and not await self.breaker.allow(model.id):
                self.skipped.append(model.id)
                wait = await self.breaker.retry_after(model.id)
                if wait is not None:
                    self.reopens_in.append(wait)
                shut.append((wait or 0.0, model, provider))
                continue
            tried = True
            yield model, provider, self._timeout()
        if not tried and shut and self._within_bounds():
            _, model, provider = min(shut, key=lambda item: item[0])
            self.skipped.remove(model.id)
            yield model, provider, self._timeout()

    def _within_bounds(self) -> bool:
        return len(self.attempts) < self.policy.max_attempts and self.deadline > self.clock()

    def _timeout(self) -> float:
        return min(self.policy.attempt_timeout_s, self.deadline - self.clock())

    async def failed(self, model: ModelSpec, exc: ProviderError, started: float) -> None:
        self.attempts.append(Attempt(model.id, exc.kind, self._ms(started), exc.status))
        if self.breaker is not None and isinstance(exc, Retryable):
            retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
            await self.breaker.record_failure(model.id, retry_after=retry_after)

    async def succeeded(self, model: ModelSpec, started: float) -> None:
        self.attempts.append(Attempt(model.id, None, self._ms(started)))
        if self.breaker is not None:
            await self.breaker.record_success(model.id)

    def fail_fast(self, exc: NonRetryable) -> NonRetryable:
        exc.attempts = tuple(self.attempts)
        return exc

    def exhausted(self) -> AllProvidersFailed:
        error = AllProvidersFailed(self.attempts, self.skipped)
        error.retry_after = min(self.reopens_in, default=None)
        return error

    def _ms(self, started: float) -> float:
        return round((self.clock() - started) * 1000, 1)


async def complete_with_fallback(
    candidates: Sequence[ModelSpec],
    request: ChatRequest,
    *,
    providers: ProviderSource,
    policy: FallbackPolicy | None = None,
    breaker: CircuitBreaker | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> FallbackOutcome:
    """Answer ``request`` with the first candidate that succeeds.

    Raises:
        NonRetryable: A candidate failed in a way no other model would fix
            (its ``attempts`` lists the run so far, itself included).
        AllProvidersFailed: Every attempt failed, or none could be made.
    """
    run = _Run(policy or FallbackPolicy(), breaker, clock)
    async with aclosing(run.candidates(candidates, providers)) as tries:
        async for model, provider, timeout in tries:
            started = clock()
            try:
                async with asyncio.timeout(timeout):
                    result = await provider.complete(model, request, timeout=timeout)
            except TimeoutError:
                await run.failed(model, _deadline(model, timeout), started)
                continue
            except Retryable as exc:
                await run.failed(model, exc, started)
                continue
            except NonRetryable as exc:
                await run.failed(model, exc, started)
                raise run.fail_fast(exc) from None
            await run.succeeded(model, started)
            return FallbackOutcome(result, tuple(run.attempts), tuple(run.skipped))
    raise run.exhausted()


class FallbackStream:
    """A stream that has produced its first chunk, so headers can now be sent.

    Iterate it to get every chunk, the first included. ``model`` is the model
    answering; ``attempts`` lists the failed attempts before it and, once the
    stream has ended, its own. A failure from here on raises
    :class:`StreamInterrupted`.
    """

    def __init__(
        self,
        model: ModelSpec,
        first: StreamChunk,
        chunks: AsyncIterator[StreamChunk],
        run: _Run,
        started: float,
    ) -> None:
        self.model = model
        self.first = first
        self._chunks = chunks
        self._run = run
        self._started = started

    @property
    def attempts(self) -> tuple[Attempt, ...]:
        return tuple(self._run.attempts)

    @property
    def skipped(self) -> tuple[str, ...]:
        return tuple(self._run.skipped)

    async def __aiter__(self) -> AsyncIterator[StreamChunk]:
        yield self.first
        try:
            async for chunk in self._chunks:
                yield chunk
        except ProviderError as exc:
            # Text already reached the client: no failover, say so in-band.
            await self._run.failed(self.model, exc, self._started)
            raise StreamInterrupted(exc, self.model.id) from exc
        finally:
            await _aclose(self._chunks)
        await self._run.succeeded(self.model, self._started)

    async def aclose(self) -> None:
        """Release the upstream connection (e.g. when the client went away)."""
        await _aclose(self._chunks)


async def stream_with_fallback(
    candidates: Sequence[ModelSpec],
    request: ChatRequest,
    *,
    providers: ProviderSource,
    policy: FallbackPolicy | None = None,
    breaker: CircuitBreaker | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> FallbackStream:
    """Open a stream with the first candidate that produces content.

    Failover happens only until a candidate yields its first content chunk
    (or finishes); ``attempt_timeout_s`` bounds the wait for it.

    Raises:
        NonRetryable: A candidate failed before its first chunk in a way no
            other model would fix.
        AllProvidersFailed: No candidate got to its first chunk.
    """
    run = _Run(policy or FallbackPolicy(), breaker, clock)
    async with aclosing(run.candidates(candidates, providers)) as tries:
        async for model, provider, timeout in tries:
            started = clock()
            chunks = provider.stream(model, request, timeout=timeout)
            try:
                async with asyncio.timeout(timeout):
                    first = await _first_chunk(model, chunks)
            except TimeoutError:
                await _aclose(chunks)
                await run.failed(model, _deadline(model, timeout), started)
                continue
            except Retryable as exc:
                await _aclose(chunks)
                await run.failed(model, exc, started)
                continue
            except NonRetryable as exc:
                await _aclose(chunks)
                await run.failed(model, exc, started)
                raise run.fail_fast(exc) from None
            return FallbackStream(model, first, chunks, run, started)
    raise run.exhausted()


async def _first_chunk(model: ModelSpec, chunks: AsyncIterator[StreamChunk]) -> StreamChunk:
    async for chunk in chunks:
        if chunk.delta or chunk.finish_reason is not None:
            return chunk
    raise ConnectionFailed("stream ended before any content", model=model.id)


async def _aclose(chunks: AsyncIterator[StreamChunk]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


def _deadline(model: ModelSpec, timeout: float) -> ProviderTimeout:
    return ProviderTimeout(
        f"no answer within {timeout:.2f}s", model=model.id, provider=model.provider
    )
