"""Fixtures of the HTTP service tests: a fake upstream, a user catalog, app factories.

Upstream models are ``openai_compatible`` entries of a user catalog that point
at :mod:`tests.utils.fake_upstream`, a real HTTP server on loopback, so the
whole request path (router, adapter, fallback, breaker) runs for real and
only the upstream model itself is fake.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from service.store.base import RewardEvent
from tests.utils.fake_upstream import FakeUpstream, fake_upstream

ADMIN_TOKEN = "admin-token-for-tests-0123456789"
ALICE = {"Authorization": "Bearer key-alice-0123456789"}
BOB = {"Authorization": "Bearer key-bob-0123456789"}
STATIC_KEYS = "key-alice-0123456789:alice,key-bob-0123456789:bob"
MODELS = ("local-large", "local-medium", "local-small")

_CATALOG = """\
models:
  - id: local-large
    provider: openai_compatible
    base_url: {base}
    upstream_model: large
    input_usd_per_mtok: 5.0
    output_usd_per_mtok: 15.0
    tier: 1
  - id: local-medium
    provider: openai_compatible
    base_url: {base}
    upstream_model: medium
    input_usd_per_mtok: 0.5
    output_usd_per_mtok: 1.5
    tier: 2
  - id: local-small
    provider: openai_compatible
    base_url: {base}
    upstream_model: small
    input_usd_per_mtok: 0.1
    output_usd_per_mtok: 0.2
    tier: 3
"""


@pytest.fixture(scope="session")
def upstream_server() -> Iterator[FakeUpstream]:
    with fake_upstream() as server:
        yield server


@pytest.fixture
def upstream(upstream_server: FakeUpstream) -> FakeUpstream:
    """The session's fake upstream, back to instant answers for this test."""
    upstream_server.reset()
    return upstream_server


@pytest.fixture(scope="session")
def catalog_file(upstream_server: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("catalog") / "catalog.yaml"
    path.write_text(_CATALOG.format(base=upstream_server.base_url), encoding="utf-8")
    return path


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path, catalog_file: Path) -> SettingsFactory:
    """Settings for one test app: its own data dir, the fake-upstream catalog, two accounts."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "catalog": catalog_file,
            "api_keys": STATIC_KEYS,
            "admin_token": ADMIN_TOKEN,
            "seed": 7,
            "fallback_attempt_timeout_s": 5.0,
            "fallback_total_timeout_s": 10.0,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
def client(make_settings: SettingsFactory, upstream: FakeUpstream) -> Iterator[TestClient]:
    """A running app (lifespan included) behind an in-process ASGI client."""
    with TestClient(create_app(make_settings())) as test_client:
        yield test_client


@pytest.fixture
def frozen_client(make_settings: SettingsFactory, upstream: FakeUpstream) -> Iterator[TestClient]:
    """Like ``client`` with ``learn=False``: no learner consumes the reward stream,
    so a test can read every event the API published (see :func:`published`)."""
    with TestClient(create_app(make_settings(learn=False))) as test_client:
        yield test_client


def app_of(client: TestClient) -> FastAPI:
    app = client.app
    assert isinstance(app, FastAPI)
    return app


def chat(
    client: TestClient, content: str = "Write a python function that adds two numbers.", **body: Any
) -> Any:
    """POST one OpenAI-style chat as Alice; returns the response."""
    payload = {"model": "auto", "messages": [{"role": "user", "content": content}], **body}
    return client.post("/v1/chat/completions", json=payload, headers=ALICE)


def published(client: TestClient) -> list[RewardEvent]:
    """Every reward event published so far (read from the store's streams)."""
    app = app_of(client)
    client.portal.call(app.state.pipeline.drain)
    store = app.state.store
    entries = client.portal.call(store.read_rewards, "tests", list(range(store.shards)), 10_000, 0)
    return [entry.event for entry in entries]
