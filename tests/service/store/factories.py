"""Factories for store records (used by the store and learner tests)."""

from __future__ import annotations

import itertools
import time
from typing import Any

from service.store.base import DecisionRecord, RewardEvent

_ids = itertools.count()

FEATURES: dict[str, Any] = {
    "query_type": "code",
    "complexity": 0.5,
    "input_tokens": 100,
    "expected_output_tokens": 200,
    "has_code_fence": False,
    "has_list": False,
    "question_count": 1,
    "turns": 1,
    "has_system_prompt": False,
    "language": "en",
}


def make_decision(
    account: str = "acct-a",
    request_id: str | None = None,
    *,
    created_at: float | None = None,
    actions: list[str] | None = None,
    chosen: str = "model-a",
    auto_signal: float | None = None,
    query_type: str = "code",
) -> DecisionRecord:
    """A decision record with plausible metadata."""
    return DecisionRecord(
        request_id=request_id or f"req-{next(_ids)}",
        account=account,
        created_at=time.time() if created_at is None else created_at,
        strategy="balanced",
        features={**FEATURES, "query_type": query_type},
        actions=actions or ["model-a", "model-b"],
        chosen=chosen,
        probability=0.5,
        model_version="1",
        message_hash="ab" * 32,
        auto_signal=auto_signal,
    )


def make_event(
    decision: DecisionRecord,
    kind: str = "auto",
    value: float = 0.8,
    *,
    event_id: str | None = None,
    created_at: float | None = None,
    model: str | None = None,
    payload: dict[str, Any] | None = None,
) -> RewardEvent:
    """A reward event for ``decision``."""
    return RewardEvent(
        event_id=event_id or f"ev-{next(_ids)}",
        request_id=decision.request_id,
        account=decision.account,
        kind=kind,
        value=value,
        model=model or decision.chosen,
        created_at=time.time() if created_at is None else created_at,
        payload=payload or {},
    )
