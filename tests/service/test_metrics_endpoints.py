"""/healthz, /readyz and /metrics on a minimal app that includes the health router."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from service.metrics import Metrics
from service.routes import health


class FakeStore:
    def __init__(self, behaviour: str = "ok") -> None:
        self.behaviour = behaviour
        self.pings = 0

    async def ping(self) -> bool:
        self.pings += 1
        if self.behaviour == "raise":
            raise ConnectionError("redis down")
        if self.behaviour == "hang":
            await asyncio.sleep(30)
        return self.behaviour == "ok"


def make_app(*, store: object = None, catalog: object = None, router: object = None) -> FastAPI:
    app = FastAPI()
    app.include_router(health.router)
    app.state.store = store
    app.state.catalog = catalog
    app.state.router = router
    app.state.metrics = Metrics()
    return app


async def get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path)


async def test_healthz_is_ok_even_when_nothing_is_loaded() -> None:
    resp = await get(make_app(), "/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}


async def test_readyz_ready_when_store_answers_and_state_is_loaded() -> None:
    store = FakeStore("ok")
    resp = await get(make_app(store=store, catalog=object(), router=object()), "/readyz")
    assert resp.status_code == 200
    assert resp.json() == {
        "status": "ready",
        "checks": {"store": "ok", "catalog": "ok", "router": "ok"},
    }
    assert store.pings == 1


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [("down", "unreachable"), ("raise", "unreachable"), ("hang", "timeout")],
)
async def test_readyz_503_when_store_fails(
    behaviour: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "PING_TIMEOUT_S", 0.05)
    app = make_app(store=FakeStore(behaviour), catalog=object(), router=object())
    resp = await get(app, "/readyz")
    assert resp.status_code == 503
    body = resp.json()
    assert body["status"] == "not ready"
    assert body["checks"] == {"store": expected, "catalog": "ok", "router": "ok"}


async def test_readyz_503_names_what_is_not_loaded() -> None:
    resp = await get(make_app(store=FakeStore(), catalog=object()), "/readyz")
    assert resp.status_code == 503
    assert resp.json()["checks"] == {"store": "ok", "catalog": "ok", "router": "not loaded"}
    resp = await get(make_app(), "/readyz")
    assert resp.json()["checks"] == {
        "store": "not loaded",
        "catalog": "not loaded",
        "router": "not loaded",
    }


async def test_metrics_endpoint_serves_the_apps_own_registry() -> None:
    app = make_app()
    app.state.metrics.fallback("timeout")
    other = make_app()
    resp = await get(app, "/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    values = {
        (s.name, tuple(s.labels.items())): s.value
        for f in text_string_to_metric_families(resp.text)
        for s in f.samples
    }
    assert values[("autoroute_fallbacks_total", (("reason", "timeout"),))] == 1
    other_resp = await get(other, "/metrics")
    assert 'reason="timeout"' not in other_resp.text


async def test_metrics_503_without_a_metrics_object() -> None:
    app = make_app()
    del app.state.metrics
    resp = await get(app, "/metrics")
    assert resp.status_code == 503
