"""Operational endpoints: liveness, readiness and Prometheus metrics.

``create_app`` includes :data:`router` with ``app.include_router(health.router)``.
The handlers read what the lifespan put on ``app.state``:

- ``app.state.store``: the :class:`service.store.base.Store`; ``/readyz`` awaits
  ``store.ping()`` (bounded by :data:`PING_TIMEOUT_S`).
- ``app.state.catalog``: the loaded model catalog; must be present.
- ``app.state.router``: the loaded routing policy; must be present.
- ``app.state.metrics``: the :class:`service.metrics.Metrics` served at ``/metrics``.

None of these endpoints needs an API key: keep ``/metrics`` on a network only
Prometheus reaches (the Kubernetes Service and compose file do).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from service.metrics import Metrics

PING_TIMEOUT_S = 2.0
_REQUIRED_STATE = ("catalog", "router")

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    """Liveness probe. Never touches dependencies, so a slow Redis does not restart pods."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the store answers and the catalog and router are loaded",
    responses={503: {"description": "Not ready; ``checks`` says which part failed."}},
)
async def readyz(request: Request) -> JSONResponse:
    """Readiness probe: 200 when every check passes, 503 with the failing checks otherwise."""
    state = request.app.state
    checks = {"store": await _check_store(getattr(state, "store", None))}
    for name in _REQUIRED_STATE:
        checks[name] = "ok" if getattr(state, name, None) is not None else "not loaded"
    ready = all(result == "ok" for result in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """The Prometheus text exposition of this process (all workers in multiprocess mode)."""
    registry: Metrics | None = getattr(request.app.state, "metrics", None)
    if registry is None:
        return JSONResponse({"status": "metrics not configured"}, status_code=503)
    body, content_type = registry.render()
    return Response(content=body, media_type=content_type)


async def _check_store(store: Any) -> str:
    if store is None:
        return "not loaded"
    try:
        async with asyncio.timeout(PING_TIMEOUT_S):
            reachable = await store.ping()
    except TimeoutError:
        return "timeout"
    except Exception as exc:  # any failure means "not ready", never a 500
        log.warning("readiness: store ping failed: %s", type(exc).__name__)
        return "unreachable"
    return "ok" if reachable else "unreachable"
