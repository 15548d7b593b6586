"""Ratings: ``POST /api/v1/insights/feedback`` (alias ``/api/v1/feedback``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from service.deps import AccountDep, FeedbackDep, RequestIdDep
from service.schemas import FeedbackRequest
from service.wire import NATIVE_ERRORS, ErrorEnvelope, envelope

router = APIRouter(prefix="/api/v1", tags=["feedback"], responses=NATIVE_ERRORS)

_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorEnvelope, "description": "Unknown request, or another account's."},
    409: {"model": ErrorEnvelope, "description": "The request was already rated."},
    410: {"model": ErrorEnvelope, "description": "Window passed: recorded, not learned."},
}


@router.post("/insights/feedback", summary="Rate an answer", responses=_RESPONSES)
@router.post("/feedback", summary="Rate an answer (alias)", responses=_RESPONSES)
async def feedback(
    body: FeedbackRequest, account: AccountDep, service: FeedbackDep, request_id: RequestIdDep
) -> dict[str, Any]:
    """Score 1-5 and/or ``is_helpful`` for one of your requests, within the window."""
    return envelope(await service.rate(account, body), request_id)
