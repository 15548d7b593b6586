"""Accounts and keys: hashed at rest, admin-managed, a default key on first start."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.auth import DEFAULT_KEY_FILE
from service.privacy import SECRET_FILE, key_hash
from tests.service.conftest import ADMIN_TOKEN, SettingsFactory, app_of, chat
from tests.utils.fake_upstream import FakeUpstream

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MESSAGES = [{"role": "user", "content": "hi"}]


def files_contain(root: Path, needle: bytes) -> bool:
    return any(needle in p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_admin_creates_a_key_that_is_stored_hashed(
    client: TestClient, make_settings: SettingsFactory
) -> None:
    created = client.post("/api/v1/admin/keys", json={"account": "carol"}, headers=ADMIN)
    assert created.status_code == 201
    data = created.json()["data"]
    key, key_id = data["key"], data["key_id"]
    app = app_of(client)
    secret = (app.state.settings.data_dir / SECRET_FILE).read_text().strip().encode()
    assert key_id == key_hash(secret, key)
    store = app.state.store
    assert client.portal.call(store.get_account_for_key, key_id) == "carol"
    assert not files_contain(app.state.settings.data_dir, key.encode())
    answer = client.post(
        "/api/v1/chat", json={"messages": MESSAGES}, headers={"Authorization": f"Bearer {key}"}
    )
    assert answer.status_code == 200
    client.portal.call(app.state.pipeline.drain)  # decisions are written behind
    record = client.portal.call(store.get_decision, answer.json()["data"]["id"])
    assert record.account == "carol"


def test_revoked_key_stops_working(client: TestClient) -> None:
    data = client.post("/api/v1/admin/keys", json={"account": "dave"}, headers=ADMIN).json()["data"]
    headers = {"Authorization": f"Bearer {data['key']}"}
    assert client.delete(f"/api/v1/admin/keys/{data['key_id']}", headers=ADMIN).status_code == 200
    assert (
        client.post("/api/v1/chat", json={"messages": MESSAGES}, headers=headers).status_code == 401
    )
    assert client.delete(f"/api/v1/admin/keys/{data['key_id']}", headers=ADMIN).status_code == 404


def test_admin_api_needs_the_admin_token(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token-wrong-token"}):
        response = client.post("/api/v1/admin/keys", json={"account": "x"}, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthenticated"
    bad = client.post("/api/v1/admin/keys", json={"account": "no spaces"}, headers=ADMIN)
    assert bad.status_code == 400


def test_admin_api_is_off_without_a_token(
    make_settings: SettingsFactory, upstream: FakeUpstream
) -> None:
    with TestClient(create_app(make_settings(admin_token=None))) as client:
        response = client.post("/api/v1/admin/keys", json={"account": "x"}, headers=ADMIN)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "admin_disabled"


def test_openai_surface_rejects_bad_keys_in_openai_shape(client: TestClient) -> None:
    response = client.post(
        "/v1/chat/completions",
        json={"model": "auto", "messages": MESSAGES},
        headers={"Authorization": "Bearer wrong"},
    )
    assert response.status_code == 401
    assert response.json()["error"] == {
        "message": "invalid API key",
        "type": "authentication_error",
        "code": "invalid_api_key",
        "param": None,
    }


def test_default_account_key_is_created_once_and_kept(
    make_settings: SettingsFactory, upstream: FakeUpstream, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(api_keys=None)
    with TestClient(create_app(settings)):
        pass
    printed = capsys.readouterr().err
    key_file = settings.data_dir / DEFAULT_KEY_FILE
    key = key_file.read_text().strip()
    assert key in printed and str(key_file) in printed
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((settings.data_dir / SECRET_FILE).stat().st_mode) == 0o600
    with TestClient(create_app(settings)) as client:
        assert key not in capsys.readouterr().err
        response = client.post(
            "/api/v1/chat", json={"messages": MESSAGES}, headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == 200
        client.portal.call(app_of(client).state.pipeline.drain)  # decisions are written behind
        record = client.portal.call(
            app_of(client).state.store.get_decision, response.json()["data"]["id"]
        )
        assert record.account == "default"


def test_static_keys_map_to_their_accounts(client: TestClient) -> None:
    request_id = chat(client).json()["id"]
    client.portal.call(app_of(client).state.pipeline.drain)  # decisions are written behind
    record = client.portal.call(app_of(client).state.store.get_decision, request_id)
    assert record.account == "alice"
