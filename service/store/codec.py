"""Byte encodings of store records, shared by both backends.

Records are JSON (orjson) so that a stored value is readable with
``redis-cli`` or ``sqlite3`` while debugging; none of them holds message text.
"""

from __future__ import annotations

from typing import Any

import orjson

from service.store.base import DecisionRecord, RewardEvent


def dumps(value: Any) -> bytes:
    """JSON bytes of a plain value."""
    return orjson.dumps(value)


def loads(raw: bytes | str) -> Any:
    """Inverse of :func:`dumps`."""
    return orjson.loads(raw)


def encode_decision(record: DecisionRecord) -> bytes:
    """Serialize a decision record (orjson writes dataclasses natively, no ``asdict`` copy)."""
    return orjson.dumps(record)


def decode_decision(raw: bytes | str) -> DecisionRecord:
    """Inverse of :func:`encode_decision`."""
    data = orjson.loads(raw)
    data["actions"] = list(data["actions"])
    return DecisionRecord(**data)


def encode_event(event: RewardEvent) -> bytes:
    """Serialize a reward event."""
    return orjson.dumps(event)


def decode_event(raw: bytes | str) -> RewardEvent:
    """Inverse of :func:`encode_event`."""
    return RewardEvent(**orjson.loads(raw))


def due_member(account: str, request_id: str) -> str:
    """Member of a due-for-default set: ``<account>\\x1f<request_id>``."""
    return f"{account}\x1f{request_id}"


def split_due_member(member: str) -> tuple[str, str]:
    """Inverse of :func:`due_member`."""
    account, _, request_id = member.partition("\x1f")
    return account, request_id


def default_event(account: str, request_id: str, now: float) -> RewardEvent:
    """The event the learner publishes when a decision's window ends silently.

    Its id is derived from the request, so enqueuing it twice is harmless.
    """
    return RewardEvent(
        event_id=f"default:{request_id}",
        request_id=request_id,
        account=account,
        kind="default",
        value=0.0,
        model="",
        created_at=now,
    )
