"""Hostile and clumsy input: each gets its precise error code, in the route's envelope,
and never a 5xx or a call to the upstream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.service.conftest import ALICE, STATIC_KEYS, SettingsFactory
from tests.utils.fake_upstream import FakeUpstream

OPENAI = "/v1/chat/completions"
NATIVE = "/api/v1/chat"
ESTIMATE = "/api/v1/chat/estimate"
FEEDBACK = "/api/v1/insights/feedback"
HI = [{"role": "user", "content": "hi"}]
JSON_HEADERS = {**ALICE, "Content-Type": "application/json"}


def post(client: TestClient, path: str, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(path, content=content, headers={**JSON_HEADERS, **headers})


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    """The status, the code, and the surface's envelope (OpenAI's or RoutePlex's)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code, body
    if response.request.url.path.startswith("/v1/"):
        assert set(body["error"]) == {"message", "type", "code", "param"}
    else:
        assert body["success"] is False and body["meta"]["request_id"].startswith("req_")
        assert body["meta"]["request_id"] == response.headers["x-autoroute-request-id"]


@pytest.fixture(scope="module")
def shared(
    upstream_server: FakeUpstream, catalog_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """One app for the whole module (refused requests change nothing); a body limit
    that lets huge messages reach validation."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("bad-input"),
        catalog=catalog_file,
        api_keys=STATIC_KEYS,
        seed=7,
        max_body_bytes=8_000_000,
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def client(shared: TestClient, upstream: FakeUpstream) -> TestClient:
    """The module's app, with the upstream's call counts reset for this test."""
    return shared


@pytest.mark.parametrize("limit", [2048, 65_536])
@pytest.mark.parametrize("path", [OPENAI, NATIVE, FEEDBACK])
def test_body_over_the_configured_limit_is_413(
    make_settings: SettingsFactory, upstream: FakeUpstream, limit: int, path: str
) -> None:
    def body_of(size: int) -> bytes:
        padding = size - len(json.dumps({"model": "auto", "messages": HI, "pad": ""}))
        return json.dumps({"model": "auto", "messages": HI, "pad": "x" * padding}).encode()

    def chunked(data: bytes) -> Iterator[bytes]:
        for start in range(0, len(data), 1000):
            yield data[start : start + 1000]

    with TestClient(create_app(make_settings(max_body_bytes=limit))) as client:
        assert client.post(path, content=body_of(limit), headers=JSON_HEADERS).status_code < 413
        declared = client.post(path, content=body_of(limit + 1), headers=JSON_HEADERS)
        assert_error(declared, 413, "payload_too_large")
        assert str(limit) in declared.json()["error"]["message"]
        streamed = client.post(path, content=chunked(body_of(limit + 1)), headers=JSON_HEADERS)
        assert_error(streamed, 413, "payload_too_large")
    assert upstream.calls() == (1 if path != FEEDBACK else 0)


MALFORMED: list[bytes] = [
    b"{not json",
    b"",
    b"null",
    b"[1, 2]",
    b'"a string"',
    b'{"messages": [{"role": "user", "content": "hi"}]',  # truncated
    b'{"messages": [{"role": "user", "content": "hi"}]}{}',  # trailing data
    b"\x00\x01\x02",
]


@pytest.mark.parametrize("path", [OPENAI, NATIVE, ESTIMATE, FEEDBACK])
@pytest.mark.parametrize("body", MALFORMED, ids=repr)
def test_malformed_json_is_400_validation_error(
    client: TestClient, upstream: FakeUpstream, path: str, body: bytes
) -> None:
    assert_error(post(client, path, body), 400, "validation_error")
    assert upstream.calls() == 0


WRONG_TYPES: list[tuple[str, dict[str, Any]]] = [
    (OPENAI, {"model": "auto", "messages": "hello"}),
    (OPENAI, {"model": "auto", "messages": [{"role": "user", "content": 42}]}),
    (OPENAI, {"model": "auto", "messages": [{"role": "wizard", "content": "hi"}]}),
    (OPENAI, {"model": 7, "messages": HI}),
    (OPENAI, {"model": "auto", "messages": HI, "stream": "yes please"}),
    (OPENAI, {"model": "auto", "messages": HI, "temperature": "hot"}),
    (OPENAI, {"model": "auto", "messages": HI, "temperature": 9}),
    (OPENAI, {"model": "auto"}),
    (NATIVE, {"messages": [{"role": "user"}]}),
    (NATIVE, {"messages": [{"role": "user", "content": ["parts"]}]}),
    (NATIVE, {"messages": HI, "mode": 3}),
    (NATIVE, {"messages": HI, "stream": {}}),
    (NATIVE, {"messages": {"role": "user", "content": "hi"}}),
    (ESTIMATE, {"messages": HI, "max_output_tokens": "lots"}),
    (FEEDBACK, {"request_id": "req_" + "0" * 32, "score": "five"}),
    (FEEDBACK, {"request_id": "req_" + "0" * 32, "score": 6}),
    (FEEDBACK, {"request_id": "req_" + "0" * 32, "is_helpful": "maybe"}),
    (FEEDBACK, {"request_id": "req_" + "0" * 32}),
]


@pytest.mark.parametrize(("path", "body"), WRONG_TYPES)
def test_wrong_types_are_400_validation_error(
    client: TestClient, upstream: FakeUpstream, path: str, body: dict[str, Any]
) -> None:
    response = post(client, path, body)
    assert_error(response, 400, "validation_error")
    if path != OPENAI:
        assert response.json()["error"]["details"], "native errors say which field"
    assert upstream.calls() == 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (OPENAI, {"model": "auto", "messages": []}),
        (NATIVE, {"messages": []}),
        (ESTIMATE, {"messages": []}),
    ],
)
def test_empty_messages_are_empty_messages(
    client: TestClient, upstream: FakeUpstream, path: str, body: dict[str, Any]
) -> None:
    assert_error(post(client, path, body), 400, "empty_messages")
    assert upstream.calls() == 0


def test_empty_content_is_a_valid_message(client: TestClient) -> None:
    empty = [{"role": "user", "content": ""}]
    assert post(client, OPENAI, {"model": "auto", "messages": empty}).status_code == 200
    assert post(client, NATIVE, {"messages": empty}).status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        # Over the native per-message cap (2,000,000 characters).
        (NATIVE, {"messages": [{"role": "user", "content": "x" * 2_000_001}]}),
        (ESTIMATE, {"messages": [{"role": "user", "content": "x" * 2_000_001}]}),
        # More messages than any request may carry.
        (OPENAI, {"model": "auto", "messages": HI * 10_001}),
        (NATIVE, {"messages": HI * 10_001}),
        # Longer than every model's context window.
        (OPENAI, {"model": "auto", "messages": [{"role": "user", "content": "x" * 3_000_000}]}),
    ],
    ids=["native-content", "estimate-content", "openai-count", "native-count", "openai-context"],
)
def test_huge_messages_are_400_validation_error(
    client: TestClient, upstream: FakeUpstream, path: str, body: dict[str, Any]
) -> None:
    assert_error(post(client, path, body), 400, "validation_error")
    assert upstream.calls() == 0


def test_unknown_strategy_in_header_or_body(client: TestClient, upstream: FakeUpstream) -> None:
    for header in ("X-Autoroute-Strategy", "X-RoutePlex-Strategy"):
        response = post(client, OPENAI, {"model": "auto", "messages": HI}, **{header: "fastest"})
        assert_error(response, 400, "validation_error")
        assert "fastest" in response.json()["error"]["message"]
    assert_error(
        post(client, NATIVE, {"messages": HI, "strategy": "fastest"}), 400, "validation_error"
    )
    assert upstream.calls() == 0


@pytest.mark.parametrize("mode", ["turbo", "", "MANUAL ", "x" * 50])
def test_unknown_mode_is_invalid_mode(
    client: TestClient, upstream: FakeUpstream, mode: str
) -> None:
    assert_error(post(client, NATIVE, {"messages": HI, "mode": mode}), 400, "invalid_mode")
    assert upstream.calls() == 0


def test_overlong_mode_is_a_validation_error(client: TestClient) -> None:
    assert_error(post(client, NATIVE, {"messages": HI, "mode": "x" * 51}), 400, "validation_error")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (OPENAI, {"model": "gpt-17", "messages": HI}),
        (OPENAI, {"model": "", "messages": HI}),
        (OPENAI, {"model": "local-large\x00", "messages": HI}),
        (NATIVE, {"messages": HI, "mode": "manual", "model": "gpt-17"}),
        (NATIVE, {"messages": HI, "mode": "manual"}),
        (ESTIMATE, {"messages": HI, "model": "gpt-17"}),
    ],
)
def test_invalid_model_is_invalid_model(
    client: TestClient, upstream: FakeUpstream, path: str, body: dict[str, Any]
) -> None:
    assert_error(post(client, path, body), 400, "invalid_model")
    assert upstream.calls() == 0


def test_overlong_model_is_a_validation_error(client: TestClient) -> None:
    body = {"model": "m" * 201, "messages": HI}
    assert_error(post(client, OPENAI, body), 400, "validation_error")


@pytest.mark.parametrize("value", [0, -1, 4097, 10**12, 1.5, "lots", None, [512]])
@pytest.mark.parametrize("path", [NATIVE, ESTIMATE])
def test_max_output_tokens_out_of_range(
    client: TestClient, upstream: FakeUpstream, path: str, value: Any
) -> None:
    response = post(client, path, {"messages": HI, "max_output_tokens": value})
    assert_error(response, 400, "validation_error")
    assert response.json()["error"]["details"][0]["loc"][-1] == "max_output_tokens"
    if path == NATIVE:
        assert upstream.calls() == 0


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
@pytest.mark.parametrize("value", [0, -5, 1_000_001, "many"])
def test_openai_max_tokens_out_of_range(
    client: TestClient, upstream: FakeUpstream, field: str, value: Any
) -> None:
    response = post(client, OPENAI, {"model": "auto", "messages": HI, field: value})
    assert_error(response, 400, "validation_error")
    assert upstream.calls() == 0


INVALID_UTF8 = [
    b'{"model": "auto", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
    b'{"model": "auto", "messages": [{"role": "user", "content": "\xc3\x28"}]}',
    b'{"model": "auto", "messages": [{"role": "user", "content": "\xed\xa0\x80"}]}',
    b"\xff\xfe{\x00}\x00",
    # Valid UTF-8 JSON, but the escape is a lone surrogate: no text can hold it.
    b'{"model": "auto", "messages": [{"role": "user", "content": "\\ud800"}]}',
    b'{"model": "auto", "messages": [{"role": "user", "content": [{"type": "text", '
    b'"text": "\\udfff"}]}]}',
]


@pytest.mark.parametrize("path", [OPENAI, NATIVE, ESTIMATE])
@pytest.mark.parametrize("body", INVALID_UTF8, ids=repr)
def test_invalid_utf8_is_400_validation_error(
    client: TestClient, upstream: FakeUpstream, path: str, body: bytes
) -> None:
    assert_error(post(client, path, body), 400, "validation_error")
    assert upstream.calls() == 0


@pytest.mark.parametrize(
    "request_id",
    [
        "",
        "req_",
        "req_123",
        "req_" + "0" * 31,
        "req_" + "0" * 33,
        "req_" + "G" * 32,
        "REQ_" + "0" * 32,
        "req_" + "0" * 32 + "\n",
        "../../etc/passwd",
        "req_*",
        "x" * 10_000,
        "\x00",
    ],
)
def test_malformed_request_id_on_feedback(client: TestClient, request_id: str) -> None:
    for path in (FEEDBACK, "/api/v1/feedback"):
        response = post(client, path, {"request_id": request_id, "score": 3})
        assert_error(response, 400, "validation_error")
        assert response.json()["error"]["details"][0]["loc"][-1] == "request_id"


def test_well_formed_unknown_request_id_is_not_found(client: TestClient) -> None:
    assert_error(
        post(client, FEEDBACK, {"request_id": "req_" + "a" * 32, "score": 3}), 404, "not_found"
    )


def test_wrong_content_type_and_method(client: TestClient) -> None:
    body = json.dumps({"model": "auto", "messages": HI}).encode()
    plain = client.post(OPENAI, content=body, headers={**ALICE, "Content-Type": "text/plain"})
    assert_error(plain, 400, "validation_error")
    assert_error(
        client.put(NATIVE, json={"messages": HI}, headers=ALICE), 405, "method_not_allowed"
    )
