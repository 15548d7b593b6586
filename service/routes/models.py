"""Model lists: ``GET /v1/models`` (OpenAI shape) and ``GET /api/v1/models`` (RoutePlex).

The native list carries prices, capabilities and health, where health is the
model's circuit-breaker state shared by every worker. Only models that can be
called are listed; those answered by the simulated provider (no key
configured) are marked ``simulated``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from service.deps import RegistryDep, RequestIdDep, StoreDep
from service.wire import envelope, native_model

router = APIRouter(tags=["models"])

_HEALTH = {"open": "unavailable", "half_open": "degraded"}


@router.get("/v1/models", summary="Models (OpenAI-compatible)")
async def openai_models(registry: RegistryDep) -> dict[str, Any]:
    """``auto`` (the router) first, then every model that can be called."""
    data = [{"id": "auto", "object": "model", "created": 0, "owned_by": "autoroute"}]
    data += [
        {
            "id": m.id,
            "object": "model",
            "created": 0,
            "owned_by": "autoroute-simulated" if registry.is_simulated(m) else m.provider,
        }
        for m in registry.available_models()
    ]
    return {"object": "list", "data": data}


@router.get("/api/v1/models", summary="Models with prices, capabilities and health")
async def native_models(
    registry: RegistryDep, store: StoreDep, request_id: RequestIdDep
) -> dict[str, Any]:
    """Every model that can be called, in the RoutePlex SDK's ``Model`` shape."""
    models = []
    for spec in registry.available_models():
        circuit = await store.get_circuit(spec.id) or {}
        health = _HEALTH.get(str(circuit.get("state", "closed")), "healthy")
        models.append(native_model(spec, health, registry.is_simulated(spec)))
    return envelope(models, request_id)
