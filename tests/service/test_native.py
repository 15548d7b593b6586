"""The native (RoutePlex-compatible) API at the ASGI level: envelopes, modes, streams."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.service.conftest import ALICE, MODELS, app_of
from tests.utils.fake_upstream import FakeUpstream

MESSAGES = [{"role": "user", "content": "Summarize the plot of Hamlet in two sentences."}]


def native(client: TestClient, **body: Any) -> Any:
    return client.post("/api/v1/chat", json={"messages": MESSAGES, **body}, headers=ALICE)


def test_chat_envelope_has_the_sdk_fields(client: TestClient) -> None:
    response = native(client, mode="routeplex-ai", strategy="balanced")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    assert data["id"] == body["meta"]["request_id"] == response.headers["x-autoroute-request-id"]
    assert data["output"] == "Hello from the fake upstream."
    assert data["model_used"] in MODELS and data["provider"] == "openai_compatible"
    assert data["routing_mode"] == "routeplex-ai"
    assert data["fallback_used"] is False
    assert isinstance(data["latency_ms"], int)
    usage = data["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["cost_usd"] > 0
    assert isinstance(body["meta"]["timestamp"], float)


def test_manual_mode_uses_the_given_model(client: TestClient, upstream: FakeUpstream) -> None:
    response = native(client, mode="manual", model="local-large")
    assert response.json()["data"]["model_used"] == "local-large"
    assert upstream.calls("large") == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"mode": "turbo"}, "invalid_mode"),
        ({"mode": "manual"}, "invalid_model"),
        ({"mode": "manual", "model": "gpt-17"}, "invalid_model"),
        ({"strategy": "cheapest"}, "validation_error"),
        ({"max_output_tokens": 0}, "validation_error"),
        ({"max_output_tokens": 4097}, "validation_error"),
        ({"temperature": -1}, "validation_error"),
        ({"messages": []}, "empty_messages"),
        ({"messages": "hello"}, "validation_error"),
    ],
)
def test_client_mistakes_get_the_sdk_error_codes(
    client: TestClient, body: dict[str, Any], code: str
) -> None:
    response = client.post("/api/v1/chat", json={"messages": MESSAGES, **body}, headers=ALICE)
    assert response.status_code == 400
    payload = response.json()
    assert payload["success"] is False
    assert payload["error"]["code"] == code
    assert payload["meta"]["request_id"] == response.headers["x-autoroute-request-id"]


def test_missing_or_wrong_key_is_invalid_api_key(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = client.post("/api/v1/chat", json={"messages": MESSAGES}, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_api_key"


def test_stream_events_start_delta_done(client: TestClient) -> None:
    response = native(client, stream=True)
    assert response.status_code == 200
    lines = [ln[6:] for ln in response.text.splitlines() if ln.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    events = [json.loads(line) for line in lines[:-1]]
    assert events[0]["type"] == "start"
    assert events[-1]["type"] == "done"
    assert {e["type"] for e in events[1:-1]} == {"delta"}
    assert "".join(e["content"] for e in events[1:-1]) == "Hello from the fake upstream."
    done = events[-1]
    assert done["model_used"] == events[0]["model_used"] == response.headers["x-autoroute-model"]
    assert done["usage"]["output_tokens"] > 0 and done["finish_reason"] == "stop"


def test_stream_cut_mid_way_ends_with_an_error_event(
    client: TestClient, upstream: FakeUpstream
) -> None:
    upstream.set(mode="cut", chunks=4, cut_after=2)
    response = native(client, stream=True)
    lines = [ln[6:] for ln in response.text.splitlines() if ln.startswith("data: ")]
    assert "[DONE]" not in lines
    last = json.loads(lines[-1])
    assert last["type"] == "error" and last["code"] == "provider_error" and last["message"]


def test_stream_that_cannot_start_is_an_http_error(
    client: TestClient, upstream: FakeUpstream
) -> None:
    upstream.set(mode="error", status=500)
    response = native(client, stream=True)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "all_providers_failed"
    attempts = response.json()["error"]["details"]["attempts"]
    assert attempts and all(a["error"] == "server_error" for a in attempts)


def test_estimate_needs_no_key(client: TestClient) -> None:
    response = client.post(
        "/api/v1/chat/estimate",
        json={"messages": MESSAGES, "model": "local-large", "max_output_tokens": 100},
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["model"] == "local-large"
    assert data["total_tokens"] == data["input_tokens"] + 100
    expected = (data["input_tokens"] * 5.0 + 100 * 15.0) / 1_000_000
    assert data["estimated_cost_usd"] == pytest.approx(expected)
    assert data["pricing"] == {"input_per_1k": 0.005, "output_per_1k": 0.015}


def test_estimate_without_model_uses_the_cheapest(client: TestClient) -> None:
    response = client.post("/api/v1/chat/estimate", json={"messages": MESSAGES})
    assert response.json()["data"]["model"] == "local-small"
    bad = client.post("/api/v1/chat/estimate", json={"messages": MESSAGES, "model": "nope"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_model"


def test_models_carry_prices_capabilities_and_circuit_health(client: TestClient) -> None:
    store = app_of(client).state.store
    client.portal.call(store.put_circuit, "local-medium", {"state": "open", "open_until": 4e9})
    body = client.get("/api/v1/models").json()
    assert body["success"] is True
    models = {m["id"]: m for m in body["data"]}
    assert set(models) == set(MODELS)
    assert models["local-medium"]["health"] == "unavailable"
    assert models["local-small"]["health"] == "healthy"
    small = models["local-small"]
    assert small["pricing"] == {"input_per_1k": 0.0001, "output_per_1k": 0.0002}
    assert small["capabilities"]["streaming"] is True
    assert small["simulated"] is False


def test_strategy_from_body_or_header(client: TestClient) -> None:
    header = {**ALICE, "X-RoutePlex-Strategy": "speed"}
    from_header = client.post("/api/v1/chat", json={"messages": MESSAGES}, headers=header)
    assert from_header.headers["x-autoroute-strategy"] == "speed"
    from_body = client.post(
        "/api/v1/chat", json={"messages": MESSAGES, "strategy": "cost"}, headers=header
    )
    assert from_body.headers["x-autoroute-strategy"] == "cost"
