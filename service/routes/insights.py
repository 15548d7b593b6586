"""Per-account insights and reset: ``GET /api/v1/insights``, ``DELETE /api/v1/insights/data``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from service.deps import (
    AccountDep,
    InsightsDep,
    PipelineDep,
    RequestIdDep,
    RouterDep,
    StoreDep,
)
from service.insights import reset_account
from service.wire import NATIVE_ERRORS, envelope

router = APIRouter(prefix="/api/v1/insights", tags=["insights"], responses=NATIVE_ERRORS)


@router.get("", summary="What routing learned for your account")
async def insights(
    account: AccountDep, service: InsightsDep, request_id: RequestIdDep
) -> dict[str, Any]:
    """Per query type: best models, samples, mean reward, stage, cost-saving ideas."""
    return envelope(await service.report(account), request_id)


@router.delete("/data", summary="Forget your account's learning data")
async def delete_data(
    account: AccountDep,
    router_: RouterDep,
    store: StoreDep,
    service: InsightsDep,
    pipeline: PipelineDep,
    request_id: RequestIdDep,
) -> dict[str, Any]:
    """Delete the account's policy, counts and decision log; routing reverts to global."""
    await pipeline.drain()  # decisions still queued are written first, then deleted
    await reset_account(account, router_, store, service)
    return envelope({"account": account, "deleted": True}, request_id)
