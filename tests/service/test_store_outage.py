"""With Redis down, answers keep flowing; what needs the store says 503, never 500."""

from __future__ import annotations

from fastapi.testclient import TestClient

from service.app import create_app
from tests.service.conftest import ALICE, SettingsFactory, chat
from tests.utils.fake_upstream import FakeUpstream
from tests.utils.redis_server import RedisServer


def test_redis_outage_keeps_chat_answering_and_refuses_clearly(
    make_settings: SettingsFactory,
    upstream: FakeUpstream,
    redis_server: RedisServer,
    redis_url: str,
) -> None:
    with TestClient(create_app(make_settings(redis_url=redis_url))) as client:
        request_id = chat(client).json()["id"]
        redis_server.stop()
        try:
            answered = chat(client)
            assert answered.status_code == 200  # static key, no store needed to answer
            rated = client.post(
                "/api/v1/feedback", json={"request_id": request_id, "score": 4}, headers=ALICE
            )
            assert rated.status_code == 503
            assert rated.json()["error"]["code"] == "service_unavailable"
            insights = client.get("/api/v1/insights", headers=ALICE)
            assert insights.status_code == 503
        finally:
            redis_server.resume()
        rated = client.post(
            "/api/v1/feedback", json={"request_id": request_id, "score": 4}, headers=ALICE
        )
        assert rated.status_code == 200
