"""Hostile clients: account isolation, keys kept as hashes and compared in constant
time, the admin token guarding every admin route, and no secret in any log line."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from service import auth
from service.app import create_app
from service.privacy import key_hash
from service.settings import Settings
from tests.service.conftest import ADMIN_TOKEN, ALICE, BOB, SettingsFactory, app_of
from tests.utils.fake_upstream import FakeUpstream
from tests.utils.live_server import live_server

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CODE = [{"role": "user", "content": "Write a python function that parses a date."}]


@pytest.fixture(params=["embedded", "redis"])
def backend_client(
    request: pytest.FixtureRequest, make_settings: SettingsFactory, upstream: FakeUpstream
) -> Iterator[TestClient]:
    """The app on each store backend; ``learn=False`` keeps the test deterministic."""
    extra: dict[str, Any] = {"learn": False}
    if request.param == "redis":
        extra["redis_url"] = request.getfixturevalue("redis_url")
    with TestClient(create_app(make_settings(**extra))) as client:
        yield client


def bob_chats(client: TestClient, n: int = 3) -> list[str]:
    ids = []
    for _ in range(n):
        response = client.post("/api/v1/chat", json={"messages": CODE}, headers=BOB)
        assert response.status_code == 200
        ids.append(response.json()["data"]["id"])
    return ids


def test_a_key_cannot_read_another_accounts_insights(backend_client: TestClient) -> None:
    client = backend_client
    bob_chats(client)
    alice = client.get("/api/v1/insights", headers=ALICE).json()["data"]
    assert alice == {"account": "alice", "samples": 0, "stage": "cold_start", "query_types": []}
    # No parameter lets a key choose whose insights it reads.
    smuggled = client.get("/api/v1/insights?account=bob", headers=ALICE).json()["data"]
    assert smuggled["account"] == "alice" and smuggled["samples"] == 0
    assert client.get("/api/v1/insights", headers=BOB).json()["data"]["samples"] == 3


def test_a_key_cannot_rate_another_accounts_request(backend_client: TestClient) -> None:
    client = backend_client
    request_id = bob_chats(client, 1)[0]
    for path in ("/api/v1/insights/feedback", "/api/v1/feedback"):
        foreign = client.post(path, json={"request_id": request_id, "score": 1}, headers=ALICE)
        assert foreign.status_code == 404
        assert foreign.json()["error"]["code"] == "not_found"
    # The attempts left Bob's request untouched: he can still rate it, once.
    mine = client.post("/api/v1/feedback", json={"request_id": request_id, "score": 5}, headers=BOB)
    assert mine.status_code == 200
    record = client.portal.call(app_of(client).state.store.get_decision, request_id)
    assert record is not None and record.account == "bob"


def test_a_key_cannot_reset_another_account(backend_client: TestClient) -> None:
    client = backend_client
    request_id = bob_chats(client, 2)[0]
    for url in ("/api/v1/insights/data", "/api/v1/insights/data?account=bob"):
        response = client.request("DELETE", url, headers=ALICE, json={"account": "bob"})
        assert response.status_code == 200 and response.json()["data"]["account"] == "alice"
    assert client.delete("/api/v1/admin/accounts/bob/data", headers=ALICE).status_code == 401
    assert client.get("/api/v1/insights", headers=BOB).json()["data"]["samples"] == 2
    store = app_of(client).state.store
    assert client.portal.call(store.get_decision, request_id) is not None


def admin_operations(client: TestClient) -> list[tuple[str, str]]:
    paths = app_of(client).openapi()["paths"]
    return [
        (method.upper(), path.replace("{key_id}", "k" * 64).replace("{account}", "bob"))
        for path, operations in paths.items()
        if path.startswith("/api/v1/admin")
        for method in operations
    ]


def test_every_admin_route_needs_the_admin_token(client: TestClient) -> None:
    operations = admin_operations(client)
    assert len(operations) >= 3
    created = client.post("/api/v1/admin/keys", json={"account": "carol"}, headers=ADMIN)
    carol = {"Authorization": f"Bearer {created.json()['data']['key']}"}
    almost = {"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}x"}
    for method, path in operations:
        for headers in ({}, ALICE, carol, almost, {"Authorization": ADMIN_TOKEN}):
            response = client.request(method, path, headers=headers, json={"account": "eve"})
            assert response.status_code == 401, (method, path, headers)
            assert response.json()["error"]["code"] == "unauthenticated"


def test_admin_routes_are_off_without_a_configured_token(
    make_settings: SettingsFactory, upstream: FakeUpstream
) -> None:
    with TestClient(create_app(make_settings(admin_token=None))) as client:
        for method, path in admin_operations(client):
            for headers in ({}, ADMIN, {"Authorization": "Bearer "}):
                response = client.request(method, path, headers=headers, json={"account": "eve"})
                assert response.status_code == 403
                assert response.json()["error"]["code"] == "admin_disabled"


def redis_dump(url: str) -> bytes:
    """Every key, hash field, value and stream entry in the Redis at ``url``."""
    r = redis.Redis.from_url(url)
    parts: list[bytes] = []
    for key in r.scan_iter(count=1000):
        parts.append(key)
        kind = r.type(key)
        if kind == b"string":
            parts.append(r.get(key) or b"")
        elif kind == b"hash":
            parts += [b"%s=%s" % kv for kv in r.hgetall(key).items()]
        elif kind == b"stream":
            parts += [repr(entry).encode() for entry in r.xrange(key)]
        elif kind == b"zset":
            parts += [m for m, _ in r.zrange(key, 0, -1, withscores=True)]
        elif kind == b"set":
            parts += list(r.smembers(key))
        elif kind == b"list":
            parts += r.lrange(key, 0, -1)
    r.close()
    return b"\n".join(parts)


def test_redis_holds_keys_only_as_hashes(
    make_settings: SettingsFactory, upstream: FakeUpstream, redis_url: str
) -> None:
    settings = make_settings(redis_url=redis_url, learn=False)
    with TestClient(create_app(settings)) as client:
        created = client.post("/api/v1/admin/keys", json={"account": "carol"}, headers=ADMIN)
        key, key_id = created.json()["data"]["key"], created.json()["data"]["key_id"]
        headers = {"Authorization": f"Bearer {key}"}
        assert client.post("/api/v1/chat", json={"messages": CODE}, headers=headers).is_success
        assert client.post("/api/v1/chat", json={"messages": CODE}, headers=ALICE).is_success
        secret = app_of(client).state.keyring._secret
    dump = redis_dump(redis_url)
    assert key_id.encode() in dump and key_id == key_hash(secret, key)
    static = [ALICE["Authorization"][7:], BOB["Authorization"][7:]]
    for plaintext in (key, key.removeprefix(auth.KEY_PREFIX), *static, ADMIN_TOKEN):
        assert plaintext.encode() not in dump


async def test_keys_and_admin_token_are_compared_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compared: list[tuple[bytes | str, bytes | str]] = []

    original = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)

    class NoStore:
        async def get_account_for_key(self, digest: str) -> str | None:
            return None

    ring = auth.KeyRing(b"s" * 32, NoStore(), {"sk-static-key-0123": "alice"})  # type: ignore[arg-type]
    assert await ring.account_for("Bearer sk-static-key-0123") == "alice"
    assert compared and all(isinstance(a, str) and len(a) == 64 for a, _ in compared)
    compared.clear()
    auth.check_admin("t" * 32, f"Bearer {'t' * 32}")
    with pytest.raises(auth.AdminUnauthorized):
        auth.check_admin("t" * 32, "Bearer guess")
    assert len(compared) == 2


LOG_CANARY = "LOGCANARY-91f2e7"
CANARY_KEY = f"sk-{LOG_CANARY}-key-0123456789"
CANARY_ADMIN = f"admin-{LOG_CANARY}-token"


def _hostile_calls() -> list[tuple[tuple[str, str], dict[str, Any]]]:
    """Requests carrying the canary in prompts, keys, tokens and bad input."""
    prompt = [{"role": "user", "content": f"my secret is {LOG_CANARY}"}]
    key = {"Authorization": f"Bearer {CANARY_KEY}"}
    admin = {"Authorization": f"Bearer {CANARY_ADMIN}"}
    chat, native = ("POST", "/v1/chat/completions"), ("POST", "/api/v1/chat")
    return [
        (chat, {"json": {"model": "auto", "messages": prompt}, "headers": key}),
        (chat, {"json": {"model": "auto", "messages": prompt, "stream": True}, "headers": key}),
        (native, {"json": {"messages": prompt}, "headers": key}),
        # The pinned model's upstream answers an error that echoes the prompt.
        (native, {"json": {"messages": prompt, "mode": "manual", "model": "local-small"},
                  "headers": key}),
        (native, {"json": {"messages": prompt, "mode": LOG_CANARY}, "headers": key}),
        (native, {"content": f'{{"messages": "{LOG_CANARY}"', "headers": key}),
        (native, {"json": {"messages": prompt},
                  "headers": {"Authorization": f"Bearer {CANARY_KEY}x"}}),
        (("POST", "/api/v1/admin/keys"), {"json": {"account": "x"}, "headers": admin}),
        (("POST", "/api/v1/admin/keys"), {"json": {"account": "x"},
                                         "headers": {"Authorization": f"Bearer {CANARY_ADMIN}x"}}),
        (("GET", "/api/v1/insights"), {"headers": key}),
    ]  # fmt: skip


def test_no_prompt_key_or_token_reaches_a_log_line(
    make_settings: SettingsFactory,
    upstream: FakeUpstream,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Every logger at DEBUG, uvicorn's access log included, through a real server."""
    caplog.set_level(logging.DEBUG)
    upstream.set(text=f"echo of {LOG_CANARY} in the answer")
    upstream.set("small", mode="error", status=400, error_message=f"bad prompt {LOG_CANARY}")
    settings = make_settings(api_keys=f"{CANARY_KEY}:canary", admin_token=CANARY_ADMIN, learn=False)
    with live_server(create_app(settings), access_log=True) as server:
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            exchanges = [http.request(*args, **kwargs) for args, kwargs in _hostile_calls()]
    statuses = [r.status_code for r in exchanges]
    assert statuses[:3] == [200, 200, 200] and 201 in statuses and 401 in statuses, statuses
    assert LOG_CANARY in exchanges[0].text  # the canary did travel through the service
    records = caplog.records
    assert any(r.name.startswith("uvicorn.access") for r in records), "access log not captured"
    for record in records:
        line = record.getMessage() + repr(record.args) + (record.exc_text or "")
        if record.exc_info and record.exc_info[1] is not None:
            line += repr(record.exc_info[1])
        assert LOG_CANARY not in line, f"{record.name}: {line[:300]}"
    out, err = capfd.readouterr()
    assert LOG_CANARY not in out + err


def test_cors_origins_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, make_settings: SettingsFactory, upstream: FakeUpstream
) -> None:
    monkeypatch.setenv("AUTOROUTE_CORS_ORIGINS", "https://app.example, https://admin.example")
    assert Settings(_env_file=None).cors_origins == [  # type: ignore[call-arg]
        "https://app.example",
        "https://admin.example",
    ]
    monkeypatch.delenv("AUTOROUTE_CORS_ORIGINS")
    assert Settings(_env_file=None).cors_origins == []  # type: ignore[call-arg]
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    settings = make_settings(cors_origins=["https://app.example"])
    with TestClient(create_app(settings)) as client:
        allowed = client.options(
            "/v1/chat/completions", headers={"Origin": "https://app.example", **preflight}
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        assert "access-control-allow-credentials" not in allowed.headers
        other = client.options(
            "/v1/chat/completions", headers={"Origin": "https://evil.example", **preflight}
        )
        assert "access-control-allow-origin" not in other.headers
    with TestClient(create_app(make_settings())) as client:
        off = client.options(
            "/v1/chat/completions", headers={"Origin": "https://app.example", **preflight}
        )
        assert "access-control-allow-origin" not in off.headers
