"""Model lists: ``GET /v1/models`` (OpenAI shape) and ``GET /api/v1/models`` (RoutePlex).

The native list carries prices, capabilities and health, where health is the
model's circuit-breaker state shared by every worker. Only models that can be
called are listed; those answered by the simulated provider (no key
configured) are marked ``simulated``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from providers.circuit import CircuitState
from service.deps import BreakerDep, RegistryDep, RequestIdDep
from service.wire import envelope, native_model

router = APIRouter(tags=["models"])

_HEALTH = {
    CircuitState.CLOSED: "healthy",
    CircuitState.HALF_OPEN: "degraded",
    CircuitState.OPEN: "unavailable",
}


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
    registry: RegistryDep, breaker: BreakerDep, request_id: RequestIdDep
) -> dict[str, Any]:
    """Every model that can be called, in the RoutePlex SDK's ``Model`` shape."""
    available = registry.available_models()
    states = await breaker.states(m.id for m in available)
    models = [
        native_model(spec, _HEALTH[states[spec.id]], registry.is_simulated(spec))
        for spec in available
    ]
    return envelope(models, request_id)
