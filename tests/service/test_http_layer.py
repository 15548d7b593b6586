"""Middleware and the error handler: request ids, body limit, CORS, unknown routes."""

from __future__ import annotations

import json
from collections.abc import Iterator

from fastapi.testclient import TestClient

from service.app import create_app
from tests.service.conftest import ALICE, SettingsFactory
from tests.utils.fake_upstream import FakeUpstream


def test_every_response_has_a_request_id(client: TestClient) -> None:
    ids = set()
    for response in (
        client.get("/healthz"),
        client.get("/nope"),
        client.post("/api/v1/chat", json={}),
        client.get("/v1/models"),
    ):
        request_id = response.headers["x-autoroute-request-id"]
        assert request_id.startswith("req_")
        ids.add(request_id)
    assert len(ids) == 4


def test_unknown_routes_use_the_surface_shape(client: TestClient) -> None:
    native = client.get("/api/v1/nope")
    assert native.status_code == 404
    assert native.json()["success"] is False and native.json()["error"]["code"] == "not_found"
    openai = client.get("/v1/nope")
    assert openai.status_code == 404 and openai.json()["error"]["code"] == "not_found"
    wrong_method = client.get("/api/v1/chat")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


def test_oversized_body_is_413(make_settings: SettingsFactory, upstream: FakeUpstream) -> None:
    big = json.dumps({"messages": [{"role": "user", "content": "x" * 5000}]}).encode()

    def chunked() -> Iterator[bytes]:
        yield big[:2000]
        yield big[2000:]

    with TestClient(create_app(make_settings(max_body_bytes=4096))) as client:
        declared = client.post("/api/v1/chat", content=big, headers=ALICE)
        assert declared.status_code == 413
        assert declared.json()["error"]["code"] == "payload_too_large"
        streamed = client.post("/v1/chat/completions", content=chunked(), headers=ALICE)
        assert streamed.status_code == 413
        assert streamed.json()["error"]["code"] == "payload_too_large"
        assert upstream.calls() == 0


def test_malformed_json_and_invalid_utf8_are_400(client: TestClient) -> None:
    for content in (b"{not json", b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}'):
        response = client.post(
            "/api/v1/chat", content=content, headers={**ALICE, "Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "validation_error"


def test_cors_is_off_by_default(client: TestClient) -> None:
    response = client.options(
        "/v1/models",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in response.headers


def test_cors_allows_configured_origins(
    make_settings: SettingsFactory, upstream: FakeUpstream
) -> None:
    settings = make_settings(cors_origins=["https://app.example"])
    with TestClient(create_app(settings)) as client:
        response = client.get("/v1/models", headers={"Origin": "https://app.example"})
        assert response.headers["access-control-allow-origin"] == "https://app.example"
        other = client.get("/v1/models", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_requests_are_counted_by_route_template(client: TestClient) -> None:
    client.post(
        "/v1/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
        headers=ALICE,
    )
    text = client.get("/metrics").text
    lines = [ln for ln in text.splitlines() if ln.startswith("autoroute_requests_total{")]
    assert any('route="/v1/chat/completions"' in ln and 'status="200"' in ln for ln in lines)


def test_openapi_documents_both_error_shapes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    native = spec["paths"]["/api/v1/chat"]["post"]["responses"]["400"]
    openai = spec["paths"]["/v1/chat/completions"]["post"]["responses"]["400"]
    assert native["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorEnvelope")
    assert openai["content"]["application/json"]["schema"]["$ref"].endswith("/OpenAIError")
    feedback = spec["paths"]["/api/v1/insights/feedback"]["post"]["responses"]
    assert {"404", "409", "410"} <= set(feedback)


def test_chat_answers_carry_one_request_id_and_are_counted_with_their_labels(
    client: TestClient,
) -> None:
    response = client.post(
        "/v1/chat/completions",
        json={"model": "local-small", "messages": [{"role": "user", "content": "hi"}]},
        headers={**ALICE, "X-Autoroute-Strategy": "cost"},
    )
    assert response.status_code == 200
    assert response.headers.get_list("x-autoroute-request-id") == [response.json()["id"]]
    client.get("/nope")
    text = client.get("/metrics").text
    lines = [ln for ln in text.splitlines() if ln.startswith("autoroute_requests_total{")]
    assert any(
        'route="/v1/chat/completions"' in ln
        and 'status="200"' in ln
        and 'strategy="cost"' in ln
        and 'model="local-small"' in ln
        for ln in lines
    )
    assert any('route="unmatched"' in ln and 'status="404"' in ln for ln in lines)


def test_a_declared_oversized_body_is_refused_before_the_app(
    make_settings: SettingsFactory, upstream: FakeUpstream
) -> None:
    big = json.dumps({"messages": [{"role": "user", "content": "x" * 5000}]}).encode()
    with TestClient(create_app(make_settings(max_body_bytes=4096))) as client:
        refused = client.post("/v1/chat/completions", content=big, headers=ALICE)
        assert refused.status_code == 413
        assert refused.headers["connection"] == "close"
        assert refused.headers["x-autoroute-request-id"].startswith("req_")
        assert refused.json()["error"]["type"] == "invalid_request_error"
        # Refused before the app runs, so never counted (as before the merge).
        text = client.get("/metrics").text
        assert 'status="413"' not in text
