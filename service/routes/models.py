"""Model lists: ``GET /v1/models`` (OpenAI shape) and ``GET /api/v1/models`` (RoutePlex).

The native list carries prices, capabilities and health, where health is the
model's circuit-breaker state shared by every worker. Models answered by the
simulated provider (no key configured) are marked ``simulated``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from service.deps import CatalogDep, RequestIdDep, SimulatedDep, StoreDep
from service.wire import envelope, native_model

router = APIRouter(tags=["models"])

_HEALTH = {"open": "unavailable", "half_open": "degraded", "half-open": "degraded"}


@router.get("/v1/models", summary="Models (OpenAI-compatible)")
async def openai_models(catalog: CatalogDep, simulated: SimulatedDep) -> dict[str, Any]:
    """``auto`` (the router) first, then every catalog model."""

    def owner(provider: str, model_id: str) -> str:
        return "autoroute-simulated" if model_id in simulated else provider

    data = [{"id": "auto", "object": "model", "created": 0, "owned_by": "autoroute"}]
    data += [
        {"id": m.id, "object": "model", "created": 0, "owned_by": owner(m.provider, m.id)}
        for m in catalog
    ]
    return {"object": "list", "data": data}


@router.get("/api/v1/models", summary="Models with prices, capabilities and health")
async def native_models(
    catalog: CatalogDep, store: StoreDep, simulated: SimulatedDep, request_id: RequestIdDep
) -> dict[str, Any]:
    """Every catalog model, in the RoutePlex SDK's ``Model`` shape."""
    models = []
    for spec in catalog:
        circuit = await store.get_circuit(spec.id) or {}
        health = _HEALTH.get(str(circuit.get("state", "closed")), "healthy")
        models.append(native_model(spec, health, spec.id in simulated))
    return envelope(models, request_id)
