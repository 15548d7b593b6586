"""The fast lane answers exactly as FastAPI does.

Every case is sent to two apps built from the same settings but for
``fast_lane``, in the same order (routing is frozen and seeded, so both make
the same choices), and the answers must agree on status, header names, the
stable header values and the body once request ids and clocks are masked.
A spy on the lane tells which cases it served itself, so a lane that quietly
handed everything to FastAPI would fail too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from fastapi.testclient import TestClient

from service import fastlane
from service.app import create_app
from tests.service.conftest import ALICE, SettingsFactory
from tests.utils.fake_upstream import FakeUpstream

OPENAI = "/v1/chat/completions"
NATIVE = "/api/v1/chat"
JSON = {"Content-Type": "application/json"}
HI = [{"role": "user", "content": "Write a python function that adds two numbers."}]
MASKED = {"id", "request_id", "timestamp", "created", "latency_ms", "retry_after_s"}  # ids, clocks
STABLE_HEADERS = (
    "content-type",
    "retry-after",
    "cache-control",
    "x-autoroute-model",
    "x-autoroute-attempts",
    "x-autoroute-strategy",
    "x-autoroute-model-version",
    "x-autoroute-simulated",
)


@dataclass
class Case:
    name: str
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: {**ALICE, **JSON})
    served_by_lane: bool = True


def _json(path: str, payload: Any, **headers: str) -> tuple[str, bytes, dict[str, str]]:
    return path, json.dumps(payload).encode(), {**ALICE, **JSON, **headers}


def _case(name: str, path: str, payload: Any, lane: bool = True, **headers: str) -> Case:
    path, body, all_headers = _json(path, payload, **headers)
    return Case(name, path, body, all_headers, lane)


CASES = [
    # Served by the lane: valid bodies, whatever the outcome.
    _case("openai auto", OPENAI, {"model": "auto", "messages": HI}),
    _case("openai alias", OPENAI, {"model": "routeplex-ai", "messages": HI, "max_tokens": 20}),
    _case("openai pinned", OPENAI, {"model": "local-small", "messages": HI, "temperature": 0.2}),
    _case("openai unknown model", OPENAI, {"model": "nope", "messages": HI}),
    _case("openai strategy header", OPENAI, {"messages": HI}, **{"X-Autoroute-Strategy": "cost"}),
    _case(
        "openai routeplex header", OPENAI, {"messages": HI}, **{"X-RoutePlex-Strategy": "QUALITY"}
    ),
    _case("openai bad strategy", OPENAI, {"messages": HI}, **{"X-Autoroute-Strategy": "nope"}),
    _case("openai empty messages", OPENAI, {"model": "auto", "messages": []}),
    _case("openai tools", OPENAI, {"messages": HI, "tools": [{"type": "function"}], "n": 2}),
    _case("openai extra fields", OPENAI, {"messages": HI, "user": "u1", "seed": 3, "n": 1}),
    _case(
        "openai content parts",
        OPENAI,
        {"messages": [{"role": "developer", "content": [{"type": "text", "text": "be brief"}]}]},
    ),
    _case("openai stream", OPENAI, {"messages": HI, "stream": True}),
    _case(
        "openai stream usage",
        OPENAI,
        {"messages": HI, "stream": True, "stream_options": {"include_usage": True}},
    ),
    _case(
        "openai charset",
        OPENAI,
        {"messages": HI},
        **{"Content-Type": "application/json; charset=utf-8"},
    ),
    _case("native auto", NATIVE, {"messages": HI}),
    _case("native manual", NATIVE, {"mode": "manual", "model": "local-medium", "messages": HI}),
    _case("native manual no model", NATIVE, {"mode": "manual", "messages": HI}),
    _case("native bad mode", NATIVE, {"mode": "wild", "messages": HI}),
    _case("native body strategy", NATIVE, {"strategy": "cost", "messages": HI}),
    _case("native bad body strategy", NATIVE, {"strategy": "nope", "messages": HI}),
    _case("native empty messages", NATIVE, {"messages": []}),
    _case("native stream", NATIVE, {"messages": HI, "stream": True}),
    _case("native no key", NATIVE, {"messages": HI}, Authorization=""),
    _case("openai no key", OPENAI, {"messages": HI}, Authorization="Bearer wrong-key-000000000"),
    _case("openai not bearer", OPENAI, {"messages": HI}, Authorization="Basic abc"),
    # Handed to FastAPI: bodies it must judge itself.
    _case("openai missing messages", OPENAI, {"model": "auto"}, lane=False),
    _case("openai wrong types", OPENAI, {"messages": "hi", "stream": "maybe"}, lane=False),
    _case("openai temperature", OPENAI, {"messages": HI, "temperature": 9}, lane=False),
    _case("native long mode", NATIVE, {"mode": "x" * 51, "messages": HI}, lane=False),
    _case("native bad role", NATIVE, {"messages": [{"role": "tool", "content": "x"}]}, lane=False),
    _case("native json list", NATIVE, [1, 2], lane=False),
    Case("malformed json", OPENAI, b'{"messages": [', served_by_lane=False),
    Case("malformed json no key", NATIVE, b"{nope", {**JSON}, served_by_lane=False),
    Case("empty body", OPENAI, b"", served_by_lane=False),
    Case(
        "invalid utf-8",
        NATIVE,
        b'{"messages": [{"role": "user", "content": "\xff"}]}',
        served_by_lane=False,
    ),
    Case(
        "lone surrogate",
        OPENAI,
        b'{"messages": [{"role": "user", "content": "\\ud800"}]}',
        served_by_lane=False,
    ),
    Case(
        "nan",
        OPENAI,
        b'{"messages": [{"role": "user", "content": "x"}], "temperature": NaN}',
        served_by_lane=False,
    ),
    Case(
        "text/plain",
        OPENAI,
        json.dumps({"messages": HI}).encode(),
        {**ALICE, "Content-Type": "text/plain"},
        served_by_lane=False,
    ),
    Case(
        "vendor json",
        NATIVE,
        json.dumps({"messages": HI}).encode(),
        {**ALICE, "Content-Type": "application/vnd.api+json"},
        served_by_lane=False,
    ),
    Case(
        "no content type",
        NATIVE,
        json.dumps({"messages": HI}).encode(),
        {**ALICE},
        served_by_lane=False,
    ),
]


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "<masked>" if k in MASKED else _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def _body(response: httpx.Response) -> Any:
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
        return [e if e == "[DONE]" else _mask(json.loads(e)) for e in events]
    return _mask(response.json())


def _summary(response: httpx.Response) -> dict[str, Any]:
    headers = response.headers
    stable = {name: headers.get(name) for name in STABLE_HEADERS}
    return {
        "status": response.status_code,
        "header_names": sorted(headers.keys()),
        "headers": stable,
        "body": _body(response),
    }


@pytest.fixture
def twins(
    make_settings: SettingsFactory, upstream: FakeUpstream, tmp_path: Path
) -> Iterator[tuple[TestClient, TestClient]]:
    """The same app with the lane on and off (frozen routing, same seed, own data dirs)."""
    fast = create_app(make_settings(learn=False, data_dir=tmp_path / "fast"))
    plain = create_app(make_settings(learn=False, data_dir=tmp_path / "plain", fast_lane=False))
    with TestClient(fast) as fast_client, TestClient(plain) as plain_client:
        yield fast_client, plain_client


def test_lane_and_fastapi_answer_alike(
    twins: tuple[TestClient, TestClient], upstream: FakeUpstream
) -> None:
    fast, plain = twins
    upstream.set("medium", mode="error", status=503)  # one pinned model fails over
    with mock.patch.object(
        fastlane, "build_chat_context", wraps=fastlane.build_chat_context
    ) as spy:
        for case in CASES:
            before = spy.call_count
            got = fast.post(case.path, content=case.body, headers=case.headers)
            assert (spy.call_count > before) == case.served_by_lane, case.name
            want = plain.post(case.path, content=case.body, headers=case.headers)
            assert spy.call_count == before + case.served_by_lane, case.name
            assert _summary(got) == _summary(want), case.name
            assert got.headers["x-autoroute-request-id"] != want.headers["x-autoroute-request-id"]
    assert _metrics(fast) == _metrics(plain)


def _metrics(client: TestClient) -> list[str]:
    text = client.get("/metrics").text
    return sorted(ln for ln in text.splitlines() if ln.startswith("autoroute_requests_total{"))


def test_lane_counts_requests_like_fastapi(twins: tuple[TestClient, TestClient]) -> None:
    for client in twins:
        for case in CASES[:3] + CASES[-4:]:
            client.post(case.path, content=case.body, headers=case.headers)
    fast, plain = (_metrics(client) for client in twins)
    assert fast == plain
    assert any('route="/v1/chat/completions"' in ln and 'status="200"' in ln for ln in fast)
    assert any('route="/api/v1/chat"' in ln and 'status="400"' in ln for ln in fast)


def test_lane_reuses_the_request_id_as_decision_id(twins: tuple[TestClient, TestClient]) -> None:
    fast, _ = twins
    openai = fast.post(OPENAI, json={"messages": HI}, headers=ALICE)
    assert openai.json()["id"] == openai.headers["x-autoroute-request-id"]
    native = fast.post(NATIVE, json={"messages": HI}, headers=ALICE)
    request_id = native.headers["x-autoroute-request-id"]
    assert native.json()["data"]["id"] == native.json()["meta"]["request_id"] == request_id


def test_lane_reports_upstream_failures_like_fastapi(
    twins: tuple[TestClient, TestClient], upstream: FakeUpstream
) -> None:
    upstream.set(mode="error", status=503)
    for path in (OPENAI, NATIVE):
        fast, plain = (c.post(path, json={"messages": HI}, headers=ALICE) for c in twins)
        assert fast.status_code == 502
        assert _summary(fast) == _summary(plain)


@pytest.mark.parametrize("fast_lane", [True, False])
def test_body_cap_holds_in_both(
    make_settings: SettingsFactory, upstream: FakeUpstream, fast_lane: bool
) -> None:
    big = json.dumps({"messages": [{"role": "user", "content": "x" * 5000}]}).encode()

    def chunked() -> Iterator[bytes]:
        yield big[:2000]
        yield big[2000:]

    settings = make_settings(max_body_bytes=4096, fast_lane=fast_lane)
    with TestClient(create_app(settings)) as client:
        for path in (OPENAI, NATIVE):
            declared = client.post(path, content=big, headers=ALICE)
            streamed = client.post(path, content=chunked(), headers=ALICE)
            for response in (declared, streamed):
                assert response.status_code == 413
                assert "x-autoroute-request-id" in response.headers
            assert _mask(declared.json()) == _mask(streamed.json())
            body = declared.json()
            code = body["error"]["code"]
            assert code == "payload_too_large"
        assert upstream.calls() == 0


def test_rate_limit_holds_in_the_lane(
    make_settings: SettingsFactory, upstream: FakeUpstream, tmp_path: Path
) -> None:
    answers = []
    for fast_lane in (True, False):
        settings = make_settings(
            rate_limit_rps=0.001,
            rate_limit_burst=1,
            fast_lane=fast_lane,
            data_dir=tmp_path / str(fast_lane),
        )
        with TestClient(create_app(settings)) as client:
            first = client.post(OPENAI, json={"messages": HI}, headers=ALICE)
            second = client.post(NATIVE, json={"messages": HI}, headers=ALICE)
            answers.append((first.status_code, _summary(second)))
    assert answers[0] == answers[1]
    status, refused = answers[0]
    assert status == 200 and refused["status"] == 429
    assert refused["headers"]["retry-after"] is not None


def test_cors_wraps_the_lane(make_settings: SettingsFactory, upstream: FakeUpstream) -> None:
    settings = make_settings(cors_origins=["https://app.example"])
    with TestClient(create_app(settings)) as client:
        origin = {"Origin": "https://app.example"}
        response = client.post(OPENAI, json={"messages": HI}, headers={**ALICE, **origin})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://app.example"
        assert "X-Autoroute-Model" in response.headers["access-control-expose-headers"]


def test_lane_leaves_other_methods_and_paths_to_fastapi(
    twins: tuple[TestClient, TestClient],
) -> None:
    for method, path in (("GET", NATIVE), ("PUT", OPENAI), ("POST", OPENAI + "/")):
        fast, plain = (c.request(method, path, headers=ALICE) for c in twins)
        assert fast.status_code == plain.status_code != 200
        assert _mask(fast.json()) == _mask(plain.json())


def test_repeated_headers_are_read_alike(twins: tuple[TestClient, TestClient]) -> None:
    headers = [
        ("Authorization", ALICE["Authorization"]),
        ("Authorization", "Bearer wrong-key-000000000"),
        ("Content-Type", "application/json"),
        ("X-Autoroute-Strategy", "cost"),
        ("X-Autoroute-Strategy", "quality"),
    ]
    body = json.dumps({"messages": HI}).encode()
    fast, plain = (c.post(OPENAI, content=body, headers=headers) for c in twins)
    assert fast.status_code == 200
    assert _summary(fast) == _summary(plain)
