"""Serving and learning together: the embedded learner task, and Redis snapshot reloads."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

from fastapi.testclient import TestClient

from bandit.config import BanditConfig
from bandit.router import Router
from providers.catalog import load_catalog
from service.app import create_app
from service.learner import Learner, LearnerConfig
from service.learning import RoutingGauges
from service.store.redis_store import RedisStore
from tests.service.conftest import ALICE, SettingsFactory, app_of, chat
from tests.utils.fake_upstream import FakeUpstream


def wait_for(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    """Poll a condition the service reaches on its own (learner/reloader cadence)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def rated_traffic(client: TestClient, n: int) -> None:
    for _ in range(n):
        request_id = chat(client).json()["id"]
        response = client.post(
            "/api/v1/feedback", json={"request_id": request_id, "score": 5}, headers=ALICE
        )
        assert response.status_code == 200


def test_embedded_learner_learns_and_survives_a_restart(
    make_settings: SettingsFactory, upstream: FakeUpstream
) -> None:
    settings = make_settings()
    with TestClient(create_app(settings)) as client:
        router = app_of(client).state.router
        rated_traffic(client, 6)
        wait_for(lambda: router.account_samples("alice")["*"] >= 6)
        wait_for(lambda: router.model_version != "0")
        learned = router.account_samples("alice")
        response = chat(client)
        assert response.headers["x-autoroute-model-version"] == router.model_version
        client.delete("/api/v1/insights/data", headers=ALICE)
        assert router.account_samples("alice")["*"] == 0
    assert learned["*"] >= 6
    with TestClient(create_app(settings)) as client:
        router = app_of(client).state.router
        # The global policy came back from the data dir; Alice's was reset for good.
        wait_for(lambda: router.model_version != "0")
        assert router.account_samples("alice")["*"] == 0


def test_redis_workers_hot_reload_the_learners_snapshots(
    make_settings: SettingsFactory, upstream: FakeUpstream, redis_url: str
) -> None:
    settings = make_settings(redis_url=redis_url)
    with TestClient(create_app(settings)) as client:
        router = app_of(client).state.router
        assert router.model_version == "0"
        rated_traffic(client, 4)

        async def learn() -> None:
            store = RedisStore.from_url(redis_url, shards=settings.shards)
            models = load_catalog(settings.catalog).models
            learner_router = Router(models, BanditConfig(), random.Random(1))
            try:
                await Learner(store, learner_router, LearnerConfig(consumer="t")).run(
                    until_idle=True
                )
            finally:
                await store.close()

        asyncio.run(learn())
        wait_for(lambda: router.model_version != "0")
        wait_for(lambda: router.account_samples("alice")["*"] >= 4)
        response = chat(client)
        assert response.headers["x-autoroute-model-version"] == router.model_version


def test_routing_gauges_and_applied_rewards_are_exported(
    make_settings: SettingsFactory, upstream: FakeUpstream
) -> None:
    def applied_ratings(client: TestClient) -> bool:
        lines = client.get("/metrics").text.splitlines()
        return any(
            ln.startswith("autoroute_rewards_applied_total{") and 'kind="rating"' in ln
            for ln in lines
        )

    with TestClient(create_app(make_settings())) as client:
        router = app_of(client).state.router
        rated_traffic(client, 3)
        wait_for(lambda: applied_ratings(client))  # counted when the learner commits
        RoutingGauges(router, app_of(client).state.metrics).publish()
        text = client.get("/metrics").text
        stage = router.stage("alice")
    assert f'autoroute_accounts{{stage="{stage}"}} 1.0' in text
    assert "autoroute_model_version_age_seconds " in text
