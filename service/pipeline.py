"""The request path: features, decision, fallback, decision log, automatic reward.

Both chat APIs (OpenAI-compatible and native) parse their wire format into a
:class:`ChatCall` and hand it to :class:`ChatPipeline`; routes stay thin and
the two APIs cannot drift apart in what they route, log or learn.

Per request the pipeline

1. classifies the messages locally (:func:`bandit.features.extract_features`);
2. asks the router for a decision over the candidates (every catalog model
   that fits the request, or the one model the client pinned);
3. calls upstream through fallback, in the decision's ranking order;
4. has :class:`~service.recorder.DecisionRecorder` log the decision
   (metadata and an HMAC of the messages only) and publish the automatic
   quality signal, plus a low reward for each model that failed.

Provider errors are translated to :mod:`service.errors` here, and only here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bandit import rewards
from bandit.features import extract_features
from bandit.types import Decision, PromptFeatures, Strategy
from providers import errors as perr
from providers.base import ChatRequest, ChatResult, FinishReason, Message, StreamChunk, Usage
from providers.catalog import Catalog, ModelSpec
from providers.circuit import CircuitBreaker, CircuitState
from providers.fallback import (
    AllProvidersFailed,
    FallbackPolicy,
    FallbackStream,
    complete_with_fallback,
    stream_with_fallback,
)
from providers.registry import ProviderRegistry
from service import errors
from service.metrics import Metrics
from service.recorder import DecisionRecorder

logger = logging.getLogger(__name__)


class RoutingPolicy(Protocol):
    """The part of :class:`bandit.router.Router` the request path uses."""

    def decide(
        self,
        account: str,
        features: PromptFeatures,
        strategy: Strategy,
        candidates: Sequence[str] | None = None,
    ) -> Decision: ...


@dataclass(frozen=True, slots=True)
class ChatCall:
    """A chat request parsed from either API."""

    account: str
    request_id: str
    messages: tuple[Message, ...]
    strategy: Strategy = "auto"
    model: str | None = None  # a pinned catalog id; None lets the router choose
    max_output_tokens: int | None = None
    temperature: float | None = None
    stream: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """What the router decided before any upstream call."""

    call: ChatCall
    features: PromptFeatures
    decision: Decision
    models: tuple[ModelSpec, ...]  # in fallback order
    started: float  # perf_counter at request start


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the client is told about how its request was served."""

    request_id: str
    model: ModelSpec
    attempts: tuple[perr.Attempt, ...]
    decision: Decision
    features: PromptFeatures
    simulated: bool
    strategy: str = "auto"

    @property
    def fallback_used(self) -> bool:
        return len(self.attempts) > 1

    @property
    def attempts_header(self) -> str:
        """``model:outcome`` per attempt, for ``X-Autoroute-Attempts``."""
        return ",".join(f"{a.model_id}:{a.error_kind or 'ok'}" for a in self.attempts)


@dataclass(frozen=True, slots=True)
class Completion:
    """A finished, non-streamed answer."""

    outcome: Outcome
    result: ChatResult
    cost_usd: float


@dataclass(slots=True)
class StreamSession:
    """An answer being streamed; iterate :attr:`chunks` exactly once."""

    outcome: Outcome
    chunks: AsyncIterator[StreamChunk]
    usage: Usage | None = None
    cost_usd: float = 0.0
    finish_reason: FinishReason | None = None

    async def aclose(self) -> None:
        """Stop the stream early (client gone); the decision is still logged."""
        aclose = getattr(self.chunks, "aclose", None)
        if aclose is not None:
            await aclose()


@dataclass(slots=True)
class ChatPipeline:
    """Routes chat calls and records what it did. One per app, built in the lifespan."""

    catalog: Catalog
    router: RoutingPolicy
    providers: ProviderRegistry
    fallback: FallbackPolicy
    breaker: CircuitBreaker | None
    metrics: Metrics
    recorder: DecisionRecorder
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    def plan(self, call: ChatCall) -> Plan:
        """Classify and decide; raise a client error for an impossible request."""
        started = time.perf_counter()
        if not call.messages:
            raise errors.EmptyMessages("messages must hold at least one message")
        features = extract_features(call.messages)
        candidates = self._candidates(call, features)
        decision = self.router.decide(call.account, features, call.strategy, candidates)
        models = tuple(self.catalog[m] for m in decision.ranking)
        self.metrics.routed(features.query_type, decision.chosen)
        return Plan(call, features, decision, models, started)

    def _candidates(self, call: ChatCall, features: PromptFeatures) -> list[str]:
        if call.model is not None:
            spec = self.catalog.get(call.model)
            if spec is None or not self.providers.is_available(spec):
                reason = "unknown" if spec is None else "unavailable (no provider key)"
                raise errors.InvalidModel(
                    f"model {call.model!r} is {reason}; GET /v1/models lists the routable ones",
                    details={"model": call.model},
                )
            return [call.model]
        fits = [
            m.id
            for m in self.providers.available_models()
            if m.context_window >= features.input_tokens
            and (not call.stream or "streaming" in m.capabilities)
        ]
        if not fits:
            raise errors.ValidationFailed("the prompt is longer than every model's context window")
        return fits

    def _request(self, plan: Plan) -> ChatRequest:
        call = plan.call
        return ChatRequest(call.messages, call.max_output_tokens, call.temperature)

    async def complete(self, call: ChatCall) -> Completion:
        """Serve a non-streamed call end to end."""
        plan = self.plan(call)
        provider_started = time.perf_counter()
        try:
            done = await complete_with_fallback(
                plan.models,
                self._request(plan),
                providers=self.providers,
                policy=self.fallback,
                breaker=self.breaker,
            )
        except perr.ProviderError as exc:
            self._unanswered(plan, exc)
            raise translate(exc) from exc
        provider_s = time.perf_counter() - provider_started
        result, attempts = done.result, done.attempts
        model = self.catalog[result.model_id]
        outcome = Outcome(
            call.request_id,
            model,
            attempts,
            plan.decision,
            plan.features,
            result.simulated,
            call.strategy,
        )
        cost = model.cost_usd(result.usage.input_tokens, result.usage.output_tokens)
        self.metrics.observe_overhead(time.perf_counter() - plan.started - provider_s)
        self._observe_attempts(attempts, result.model_id)
        self._observe_result(result, cost)
        signal = rewards.auto_quality_signal(
            plan.features,
            result.text,
            result.finish_reason,
            result.usage.input_tokens,
            result.usage.output_tokens,
        )
        await self.recorder.served(plan, outcome, signal, cost, result.latency_ms)
        return Completion(outcome, result, cost)

    async def open_stream(self, call: ChatCall) -> StreamSession:
        """Start a streamed call; fallback happens here, before the first byte."""
        plan = self.plan(call)
        # Streams: autoroute's own time is the routing decision (recording runs
        # after the last byte, off the client's clock).
        self.metrics.observe_overhead(time.perf_counter() - plan.started)
        try:
            opened = await stream_with_fallback(
                plan.models,
                self._request(plan),
                providers=self.providers,
                policy=self.fallback,
                breaker=self.breaker,
            )
        except perr.ProviderError as exc:
            self._unanswered(plan, exc)
            raise translate(exc) from exc
        model = opened.model
        self._observe_attempts(opened.attempts, model.id)
        simulated = self.providers.is_simulated(model)
        # The answering model's own attempt is only appended when its stream
        # ends; the headers, sent now, already name it.
        attempts = (*opened.attempts, perr.Attempt(model.id, None, 0.0))
        outcome = Outcome(
            call.request_id, model, attempts, plan.decision, plan.features, simulated, call.strategy
        )
        session = StreamSession(outcome, _empty())
        session.chunks = self._relay(plan, session, opened)
        return session

    async def _relay(
        self, plan: Plan, session: StreamSession, opened: FallbackStream
    ) -> AsyncIterator[StreamChunk]:
        """Pass chunks through, then record the decision whatever happened."""
        parts: list[str] = []
        finish: FinishReason = "error"
        started = time.perf_counter()
        try:
            async for chunk in opened:
                parts.append(chunk.delta)
                if chunk.usage is not None:
                    session.usage = chunk.usage
                if chunk.finish_reason is not None:
                    finish = chunk.finish_reason
                    session.finish_reason = finish
                yield chunk
        except perr.ProviderError as exc:
            self.metrics.provider_error(session.outcome.model.id, exc.kind)
            self._spawn(self._finish_stream(plan, session, "".join(parts), "error", started))
            raise translate(exc) from exc
        except BaseException:
            # The client went away (or we are shutting down): log the decision,
            # release the upstream, but give no automatic reward: the model did
            # nothing wrong, and the learner's default reward covers it.
            self._spawn(self._finish_stream(plan, session, "".join(parts), None, started))
            with contextlib.suppress(Exception):
                await opened.aclose()
            raise
        # Recorded before the caller sends its final event, so a client that
        # rates right after the stream ends finds its decision.
        await self._finish_stream(plan, session, "".join(parts), finish, started)

    async def _finish_stream(
        self,
        plan: Plan,
        session: StreamSession,
        text: str,
        finish: FinishReason | None,
        started: float,
    ) -> None:
        outcome = session.outcome
        usage = session.usage or Usage(plan.features.input_tokens, max(1, len(text) // 4))
        cost = outcome.model.cost_usd(usage.input_tokens, usage.output_tokens)
        session.usage, session.cost_usd = usage, cost
        latency_ms = (time.perf_counter() - started) * 1000
        self.metrics.observe_provider(
            outcome.model.id, latency_ms / 1000, usage.input_tokens, usage.output_tokens, cost
        )
        signal = None
        if finish is not None:
            signal = rewards.auto_quality_signal(
                plan.features, text, finish, usage.input_tokens, usage.output_tokens
            )
        await self.recorder.served(plan, outcome, signal, cost, latency_ms)
        # Written now, not behind: the client's next event is [DONE], and it
        # may rate the answer the moment it reads it.
        await self.recorder.flush()

    def _unanswered(self, plan: Plan, exc: perr.ProviderError) -> None:
        """No answer: count the attempts; only a fallback that ran out teaches the learner
        (a non-retryable error, e.g. content policy, is not the model's fault)."""
        self._observe_attempts(exc.attempts, None)
        if isinstance(exc, AllProvidersFailed):
            self._spawn(self.recorder.unanswered(plan, exc.attempts))

    def _observe_attempts(self, attempts: Sequence[perr.Attempt], answered: str | None) -> None:
        """Count failed attempts (and the fallbacks they caused); publish circuit gauges."""
        failed = [a for a in attempts if not a.ok]
        for attempt in failed:
            self.metrics.provider_error(attempt.model_id, attempt.error_kind or "unknown")
            if answered is not None:
                self.metrics.fallback(attempt.error_kind or "unknown")
        if answered is not None:
            self.metrics.set_circuit(answered, False)  # a success closes its circuit
        if failed and self.breaker is not None:
            self._spawn(self._publish_circuits(self.breaker, {a.model_id for a in failed}))

    async def _publish_circuits(self, breaker: CircuitBreaker, models: set[str]) -> None:
        for model in models:
            state = await breaker.state(model)
            self.metrics.set_circuit(model, state is CircuitState.OPEN)

    def _observe_result(self, result: ChatResult, cost: float) -> None:
        usage = result.usage
        self.metrics.observe_provider(
            result.model_id, result.latency_ms / 1000, usage.input_tokens, usage.output_tokens, cost
        )

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for background recording (streams, failures) to finish: shutdown and tests."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        await self.recorder.flush()


async def _empty() -> AsyncIterator[StreamChunk]:
    return
    yield


def translate(exc: perr.ProviderError) -> errors.ServiceError:
    """Map a provider failure to the client-facing error (the one translation point)."""
    details = {"attempts": [{"model": a.model_id, "error": a.error_kind} for a in exc.attempts]}
    message = exc.message
    if isinstance(exc, perr.ContentPolicy):
        return errors.ContentPolicyViolation(message, details=details)
    if isinstance(exc, AllProvidersFailed):
        return errors.AllProvidersFailed(message, details=details)
    if isinstance(exc, perr.ProviderTimeout):
        return errors.UpstreamTimeout(message, details=details)
    if isinstance(exc, perr.InvalidRequest):
        return errors.ValidationFailed(message, details=details)
    return errors.UpstreamError(message, details=details)
