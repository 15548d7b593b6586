"""The admin API (``Authorization: Bearer <AUTOROUTE_ADMIN_TOKEN>``): keys and resets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from service.auth import check_account_id
from service.deps import AdminDep, InsightsDep, KeyRingDep, RequestIdDep, RouterDep, StoreDep
from service.errors import NotFound
from service.insights import reset_account
from service.schemas import CreateKeyRequest
from service.wire import NATIVE_ERRORS, envelope

router = APIRouter(
    prefix="/api/v1/admin",
    tags=["admin"],
    responses={**NATIVE_ERRORS, 403: {"description": "Admin API off (no admin token set)."}},
)


@router.post("/keys", status_code=201, summary="Create an API key for an account")
async def create_key(
    body: CreateKeyRequest, _: AdminDep, keyring: KeyRingDep, request_id: RequestIdDep
) -> dict[str, Any]:
    """The key is shown once; keep ``key_id`` to revoke it."""
    key, key_id = await keyring.create_key(body.account)
    return envelope({"account": body.account, "key": key, "key_id": key_id}, request_id)


@router.delete("/keys/{key_id}", summary="Revoke an API key")
async def revoke_key(
    key_id: str, _: AdminDep, keyring: KeyRingDep, request_id: RequestIdDep
) -> dict[str, Any]:
    """Revoke a key created by the admin API (static keys live in the environment)."""
    if not await keyring.revoke(key_id):
        raise NotFound("no such key")
    return envelope({"key_id": key_id, "revoked": True}, request_id)


@router.delete("/accounts/{account}/data", summary="Reset any account's learning data")
async def reset_any_account(
    account: str,
    _: AdminDep,
    router_: RouterDep,
    store: StoreDep,
    insights: InsightsDep,
    request_id: RequestIdDep,
) -> dict[str, Any]:
    """The admin equivalent of ``DELETE /api/v1/insights/data``."""
    await reset_account(check_account_id(account), router_, store, insights)
    return envelope({"account": account, "deleted": True}, request_id)
