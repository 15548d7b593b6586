"""The OpenAI-compatible surface at the ASGI level: routing, headers, streams, errors."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from providers.base import Message
from service.pipeline import ChatCall
from tests.service.conftest import ALICE, MODELS, app_of, chat, published
from tests.utils.fake_upstream import FakeUpstream


@pytest.fixture
def client(frozen_client: TestClient) -> TestClient:
    """These tests read the reward stream, so no learner may consume it."""
    return frozen_client


def sse_payloads(text: str) -> list[str]:
    return [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]


def test_auto_routes_to_a_catalog_model_and_says_which(client: TestClient) -> None:
    response = chat(client)
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] in MODELS
    assert body["choices"][0]["message"]["content"] == "Hello from the fake upstream."
    assert response.headers["x-autoroute-model"] == body["model"]
    assert response.headers["x-autoroute-request-id"] == body["id"]
    assert response.headers["x-autoroute-attempts"] == f"{body['model']}:ok"
    assert body["usage"]["total_tokens"] == (
        body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )


def test_routeplex_alias_routes_like_auto(client: TestClient) -> None:
    response = chat(client, model="routeplex-ai")
    assert response.status_code == 200
    assert response.json()["model"] in MODELS


def test_a_catalog_id_pins_the_model(client: TestClient, upstream: FakeUpstream) -> None:
    for _ in range(3):
        response = chat(client, model="local-small")
        assert response.json()["model"] == "local-small"
    assert upstream.calls("small") == 3
    assert upstream.calls() == 3


def test_decision_is_logged_with_metadata_only(client: TestClient) -> None:
    response = chat(client, "Translate 'good morning' into French.")
    request_id = response.json()["id"]
    store = app_of(client).state.store
    client.portal.call(app_of(client).state.pipeline.drain)  # decisions are written behind
    record = client.portal.call(store.get_decision, request_id)
    assert record is not None
    assert record.account == "alice"
    assert record.chosen == response.json()["model"]
    assert 0 < record.probability <= 1
    assert re.fullmatch(r"[0-9a-f]{64}", record.message_hash)
    assert record.features["query_type"] == response.json()["autoroute"]["query_type"]
    assert "good morning" not in json.dumps(record.features) + json.dumps(record.extra)


def test_auto_signal_is_published_for_the_answering_model(client: TestClient) -> None:
    body = chat(client).json()
    events = [e for e in published(client) if e.request_id == body["id"]]
    assert [(e.kind, e.model, e.account) for e in events] == [("auto", body["model"], "alice")]
    assert 0.0 <= events[0].value <= 1.0


def test_strategy_headers(client: TestClient) -> None:
    payload = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}
    for header, value in (("X-Autoroute-Strategy", "cost"), ("X-RoutePlex-Strategy", "quality")):
        response = client.post(
            "/v1/chat/completions", json=payload, headers={**ALICE, header: value}
        )
        assert response.headers["x-autoroute-strategy"] == value
    bad = client.post(
        "/v1/chat/completions", json=payload, headers={**ALICE, "X-Autoroute-Strategy": "cheap"}
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "validation_error"


def test_stream_sends_chunks_then_done(client: TestClient) -> None:
    response = chat(client, stream=True, stream_options={"include_usage": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    payloads = sse_payloads(response.text)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert {c["model"] for c in chunks} == {response.headers["x-autoroute-model"]}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Hello from the fake upstream."
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


def test_streamed_decision_is_logged_before_done(client: TestClient) -> None:
    response = chat(client, stream=True)
    request_id = response.headers["x-autoroute-request-id"]
    store = app_of(client).state.store
    assert client.portal.call(store.get_decision, request_id) is not None


def test_failover_to_the_next_model_is_reported(client: TestClient, upstream: FakeUpstream) -> None:
    upstream.set(mode="error", status=503)
    upstream.set("small", mode="answer")
    fallbacks = 0
    for _ in range(8):
        response = chat(client)
        assert response.status_code == 200
        assert response.json()["model"] == "local-small"
        *failed, answered = response.headers["x-autoroute-attempts"].split(",")
        assert answered == "local-small:ok"
        assert all(a in ("local-large:server_error", "local-medium:server_error") for a in failed)
        assert response.json()["autoroute"]["fallback_used"] is bool(failed)
        fallbacks += bool(failed)
    assert fallbacks > 0
    failures = {e.model for e in published(client) if e.kind == "failure"}
    assert failures and failures <= {"local-large", "local-medium"}


def test_all_providers_failing_is_a_502_in_openai_shape(
    client: TestClient, upstream: FakeUpstream
) -> None:
    upstream.set(mode="error", status=503)
    response = chat(client)
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "all_providers_failed"
    assert error["type"] == "api_error"
    # Every model tried teaches a zero: the last one as the logged decision's "auto".
    request_id = response.headers["x-autoroute-request-id"]
    events = [e for e in published(client) if e.request_id == request_id]
    assert sorted(e.kind for e in events) == ["auto", "failure", "failure"]
    assert {e.model for e in events} == set(MODELS) and {e.value for e in events} == {0.0}
    record = client.portal.call(app_of(client).state.store.get_decision, request_id)
    auto = next(e for e in events if e.kind == "auto")
    assert record.chosen == auto.model and record.auto_signal == 0.0


def test_content_policy_fails_fast(client: TestClient, upstream: FakeUpstream) -> None:
    upstream.set(mode="error", status=400, error_code="content_policy_violation")
    response = chat(client)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "content_policy_violation"
    assert upstream.calls() == 1
    # Not the model's fault: nothing is taught.
    assert published(client) == []


def test_mid_stream_failure_is_an_in_band_error(client: TestClient, upstream: FakeUpstream) -> None:
    upstream.set(mode="cut", chunks=4, cut_after=1)
    response = chat(client, stream=True)
    assert response.status_code == 200
    payloads = sse_payloads(response.text)
    assert "[DONE]" not in payloads
    last: dict[str, Any] = json.loads(payloads[-1])
    assert last["error"]["code"] == "provider_error"


def test_client_mistakes_are_400s_in_openai_shape(client: TestClient) -> None:
    cases = [
        ({"model": "auto"}, "validation_error"),
        ({"model": "auto", "messages": []}, "empty_messages"),
        (
            {"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]},
            "invalid_model",
        ),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": 9}, "validation_error"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "validation_error"),
        ({"messages": [{"role": "user", "content": "x"}], "n": 2}, "validation_error"),
        (
            {"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]},
            "validation_error",
        ),
    ]
    for payload, code in cases:
        response = client.post("/v1/chat/completions", json=payload, headers=ALICE)
        assert response.status_code == 400, payload
        assert response.json()["error"]["code"] == code, payload


def test_multimodal_text_parts_are_routed(client: TestClient, upstream: FakeUpstream) -> None:
    content = [{"type": "text", "text": "Describe this."}, {"type": "image_url", "image_url": {}}]
    response = client.post(
        "/v1/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": content}]},
        headers=ALICE,
    )
    assert response.status_code == 200
    assert upstream.requests[-1]["messages"][-1]["content"] == "Describe this."


def test_models_lists_auto_and_the_catalog(client: TestClient) -> None:
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert ids[0] == "auto" and set(MODELS) <= set(ids)


def test_open_circuits_are_published_and_listed(client: TestClient, upstream: FakeUpstream) -> None:
    upstream.set(mode="error", status=503)
    upstream.set("small", mode="answer")
    for _ in range(12):
        assert chat(client).json()["model"] == "local-small"
    client.portal.call(app_of(client).state.pipeline.drain)
    gauges = [
        line
        for line in client.get("/metrics").text.splitlines()
        if line.startswith("autoroute_circuit_open{")
    ]
    assert 'autoroute_circuit_open{model="local-large"} 1.0' in gauges
    assert 'autoroute_circuit_open{model="local-small"} 0.0' in gauges
    health = {m["id"]: m["health"] for m in client.get("/api/v1/models").json()["data"]}
    assert health["local-large"] == "unavailable" and health["local-small"] == "healthy"


def test_client_leaving_mid_stream_logs_the_decision_without_auto_reward(
    client: TestClient,
) -> None:
    pipeline = app_of(client).state.pipeline
    call = ChatCall(
        account="alice",
        request_id="req_" + "a" * 32,
        messages=(Message("user", "Tell me a long story."),),
        stream=True,
    )

    async def read_one_chunk_then_leave() -> None:
        session = await pipeline.open_stream(call)
        first = await anext(session.chunks)
        assert first.delta
        await session.aclose()
        await pipeline.drain()

    client.portal.call(read_one_chunk_then_leave)
    record = client.portal.call(app_of(client).state.store.get_decision, call.request_id)
    assert record is not None and record.auto_signal is None
    assert not [e for e in published(client) if e.request_id == call.request_id]


def test_a_catalog_model_without_a_key_cannot_be_pinned(client: TestClient) -> None:
    response = chat(client, model="gpt-4.1")  # shipped, but no OpenAI key in this setup
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_model"
    assert "no provider key" in response.json()["error"]["message"]
    listed = {m["id"] for m in client.get("/v1/models").json()["data"]}
    assert "gpt-4.1" not in listed
