"""Store faults seen by clients: a Redis restart, a failing insights update.

A rating that was published must be answered 200 whatever happens to the
insights counters after it: a 5xx would make the client retry into a 409.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.store.errors import StoreUnavailable
from tests.service.conftest import ALICE, SettingsFactory, app_of, published
from tests.utils.fake_upstream import FakeUpstream
from tests.utils.redis_server import RedisServer, redis_available

MESSAGES = [{"role": "user", "content": "Write a python function that adds two numbers."}]


def chat_and_rate(client: TestClient) -> tuple[int, int, str]:
    answer = client.post("/api/v1/chat", json={"messages": MESSAGES}, headers=ALICE)
    request_id = answer.json()["data"]["id"] if answer.status_code == 200 else ""
    rating = client.post(
        "/api/v1/feedback", json={"request_id": request_id, "score": 4}, headers=ALICE
    )
    return answer.status_code, rating.status_code, request_id


def test_rating_is_200_when_the_insights_update_fails(
    frozen_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object) -> None:
        raise StoreUnavailable("insights: ConnectionError")

    monkeypatch.setattr(app_of(frozen_client).state.insights, "rated", broken)
    answered, rated, request_id = chat_and_rate(frozen_client)
    assert (answered, rated) == (200, 200)
    kinds = {(e.request_id, e.kind) for e in published(frozen_client)}
    assert (request_id, "rating") in kinds


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis this test may restart (the session's is shared)."""
    if not redis_available():
        pytest.skip("redis-server is not installed")
    server = RedisServer.start(tmp_path / "redis")
    yield server
    server.stop()


def test_redis_restart_costs_no_request_and_no_write(
    make_settings: SettingsFactory,
    upstream: FakeUpstream,
    own_redis: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(redis_url=own_redis.url, learn=False)
    with TestClient(create_app(settings)) as client:
        assert chat_and_rate(client)[:2] == (200, 200)
        own_redis.restart()  # every pooled connection is now stale
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            results = [chat_and_rate(client) for _ in range(3)]
        assert [r[:2] for r in results] == [(200, 200)] * 3
        lost = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert not lost, [f"{r.name}: {r.getMessage()}" for r in lost]
        insights = client.get("/api/v1/insights", headers=ALICE).json()["data"]
        assert insights["samples"] == 4
