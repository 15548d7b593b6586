"""What the API remembers of a served request: the decision log and its rewards.

For every answered request one :class:`~service.store.base.DecisionRecord`
(metadata and an HMAC of the messages, never their text) and an ``auto``
reward carrying the automatic quality signal; for every model that failed on
the way, a ``failure`` reward of 0. The learner joins rewards to decisions by
request id. The per-account insights aggregates are updated here too.

Storage failures are logged and swallowed: the client already has its answer,
and losing one log line is better than failing a served request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from bandit.types import PromptFeatures
from providers.errors import Attempt
from service.insights import Insights
from service.metrics import Metrics
from service.privacy import message_hash
from service.store.base import DecisionRecord, RewardEvent, Store
from service.writebehind import RequestLog

if TYPE_CHECKING:
    from service.pipeline import ChatCall, Outcome, Plan

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DecisionRecorder:
    """Logs decisions and publishes their rewards. One per app."""

    store: Store
    metrics: Metrics
    insights: Insights
    hash_secret: bytes
    reward_window_s: float
    log: RequestLog | None = None

    async def served(
        self, plan: Plan, outcome: Outcome, signal: float | None, cost: float, latency_ms: float
    ) -> None:
        """Log the decision and publish the automatic and failure rewards.

        ``signal`` is ``None`` when the answer was not seen through (the client
        left mid-stream): no automatic reward then.
        """
        call = plan.call
        now = time.time()
        record = self._record(
            plan, outcome.model.id, outcome.attempts, now, signal, cost, latency_ms
        )
        record.extra["simulated"] = outcome.simulated
        events = _failure_events(call, outcome.attempts, now)
        if signal is not None:
            events.insert(0, _event(call, "auto", signal, outcome.model.id, now))
        await self._persist(record, events)
        if signal is None:
            return
        try:
            await self.insights.served(
                call.account, plan.features.query_type, outcome.model.id, signal, cost
            )
        except Exception:  # insights are a convenience; never fail a served answer
            logger.exception("could not update insights for %s", call.request_id)

    async def unanswered(self, plan: Plan, attempts: Sequence[Attempt]) -> None:
        """Every model tried failed (retryably): each one still teaches a low reward.

        The decision is logged with the last model tried as the chosen one and
        an automatic signal of 0, published as its ``auto`` reward; the models
        before it get ``failure`` rewards.
        """
        if not attempts:
            return  # nothing was tried (every circuit open): nothing to learn
        call, now = plan.call, time.time()
        last = attempts[-1].model_id
        record = self._record(plan, last, attempts, now, 0.0, 0.0)
        events = [_event(call, "auto", 0.0, last, now)]
        events += _failure_events(call, attempts[:-1], now)
        await self._persist(record, events)

    def _record(
        self,
        plan: Plan,
        chosen: str,
        attempts: Sequence[Attempt],
        now: float,
        signal: float | None,
        cost: float,
        latency_ms: float = 0.0,
    ) -> DecisionRecord:
        call, decision = plan.call, plan.decision
        return DecisionRecord(
            request_id=call.request_id,
            account=call.account,
            created_at=now,
            strategy=call.strategy,
            features=features_dict(plan.features),
            actions=list(decision.ranking),
            chosen=chosen,
            probability=decision.probability,
            model_version=decision.model_version,
            message_hash=message_hash(self.hash_secret, call.messages),
            auto_signal=signal,
            cost_usd=cost,
            latency_ms=latency_ms,
            extra={
                "first_choice": decision.chosen,
                "probabilities": dict(decision.probabilities),
                "stage": decision.stage,
                "account_weight": decision.account_weight,
                "attempts": [a.model_id for a in attempts],
                "pinned": call.model is not None,
            },
        )

    async def flush(self) -> None:
        """Write the queued decisions now (shutdown, feedback lookups, tests)."""
        if self.log is not None:
            await self.log.flush()

    async def _persist(self, record: DecisionRecord, events: Sequence[RewardEvent]) -> None:
        if self.log is not None and self.log.submit(record, events):
            return  # written after the answer, in a batch, by the same record_request rules
        # One round trip, the decision written before its rewards: a learner
        # never reads a reward whose decision is not stored yet.
        try:
            await self.store.record_request(record, self.reward_window_s, events)
        except Exception:  # answering the client matters more than one lost log line
            logger.exception("could not log decision %s", record.request_id)
            return
        for event in events:
            self.metrics.reward_accepted(event.kind)


_FEATURE_FIELDS = tuple(f.name for f in fields(PromptFeatures))


def features_dict(features: PromptFeatures) -> dict[str, Any]:
    """``dataclasses.asdict(features)`` without its deep copy.

    Every field is a str, a number, a bool or a tuple of ints, immutable all, so a
    shallow dict is equal to what ``asdict`` returns (a test holds the two
    together); ``asdict`` recursed into each value and ``deepcopy``-ed it: 12 µs
    of the recorder's ~70 µs per request, against 0.9 µs (timeit).
    """
    return {name: getattr(features, name) for name in _FEATURE_FIELDS}


def _failure_events(call: ChatCall, attempts: Sequence[Attempt], now: float) -> list[RewardEvent]:
    return [
        RewardEvent(
            event_id=f"{call.request_id}:failure:{i}",
            request_id=call.request_id,
            account=call.account,
            kind="failure",
            value=0.0,
            model=a.model_id,
            created_at=now,
            payload={"error_kind": a.error_kind},
        )
        for i, a in enumerate(attempts)
        if not a.ok
    ]


def _event(call: ChatCall, kind: str, value: float, model: str, now: float) -> RewardEvent:
    return RewardEvent(
        event_id=f"{call.request_id}:{kind}",
        request_id=call.request_id,
        account=call.account,
        kind=kind,
        value=value,
        model=model,
        created_at=now,
    )
