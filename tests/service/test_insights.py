"""Insights per query type, and reset (own account and admin)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bandit.features import extract_features
from providers.base import Message
from service.app import create_app
from service.insights import Insights, stage_for
from service.insights_store import LocalStats
from tests.service.conftest import (
    ADMIN_TOKEN,
    ALICE,
    BOB,
    MODELS,
    SettingsFactory,
    app_of,
    chat,
)
from tests.utils.fake_upstream import FakeUpstream

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def teach(client: TestClient, account: str, n: int) -> None:
    """Give ``account`` ``n`` learned samples directly (the learner's job in production)."""
    router = app_of(client).state.router
    features = extract_features([Message("user", "Write a python function.")])
    for _ in range(n):
        router.learn(account, features, "auto", list(MODELS), "local-small", 0.5, 0.9)


def test_insights_report_per_query_type(client: TestClient) -> None:
    code = [chat(client, "Write a python function that reverses a string.") for _ in range(3)]
    chat(client, "Translate 'thank you very much' into German.")
    client.post(
        "/api/v1/insights/feedback",
        json={"request_id": code[0].json()["id"], "score": 1},
        headers=ALICE,
    )
    body = client.get("/api/v1/insights", headers=ALICE).json()
    data = body["data"]
    assert data["account"] == "alice" and data["samples"] == 4
    by_type = {q["query_type"]: q for q in data["query_types"]}
    assert by_type["code"]["samples"] == 3 and by_type["translation"]["samples"] == 1
    code_models = by_type["code"]["models"]
    assert sum(m["samples"] for m in code_models) == 3
    assert by_type["code"]["best_models"][0] == code_models[0]["model"]
    assert all(0 <= m["mean_reward"] <= 1 for m in code_models)
    assert by_type["code"]["stage"] == "cold_start"
    # Bob sees nothing of Alice's traffic.
    assert client.get("/api/v1/insights", headers=BOB).json()["data"]["query_types"] == []


async def test_cost_saving_recommendation_with_confidence() -> None:
    insights = Insights(LocalStats(), warmup=10, established=100)
    for _ in range(30):
        await insights.served("a", "code", "big", 0.80, 0.010)
        await insights.served("a", "code", "small", 0.82, 0.001)
    for _ in range(5):
        await insights.served("a", "code", "worse", 0.50, 0.0005)
    report = await insights.report("a")
    (code,) = report["query_types"]
    assert code["stage"] == "warm_up"
    (rec,) = code["recommendations"]
    assert (rec["from_model"], rec["to_model"]) == ("big", "small")
    assert rec["estimated_saving_pct"] == pytest.approx(90.0)
    assert rec["confidence"] == pytest.approx(30 / 40, abs=1e-3)


async def test_a_rating_replaces_the_automatic_reward() -> None:
    insights = Insights(LocalStats(), warmup=1, established=2)
    await insights.served("a", "math", "m", 0.5, 0.0)
    await insights.rated("a", "math", "m", 0.9 - 0.5)
    (math,) = (await insights.report("a"))["query_types"]
    assert math["models"][0]["mean_reward"] == pytest.approx(0.9)


def test_stages() -> None:
    assert [stage_for(n, 10, 100) for n in (0, 9, 10, 99, 100)] == [
        "cold_start",
        "cold_start",
        "warm_up",
        "warm_up",
        "established",
    ]


def test_reset_forgets_the_account_at_once(frozen_client: TestClient) -> None:
    client = frozen_client
    router = app_of(client).state.router
    request_id = chat(client).json()["id"]
    teach(client, "alice", 12)
    teach(client, "bob", 12)
    assert router.account_samples("alice")["*"] == 12
    response = client.delete("/api/v1/insights/data", headers=ALICE)
    assert response.status_code == 200 and response.json()["data"]["deleted"] is True
    assert router.account_samples("alice")["*"] == 0
    assert router.stage("alice") == "cold_start"
    assert router.account_samples("bob")["*"] == 12
    # The decision log went with it: the old request can no longer be rated.
    rated = client.post(
        "/api/v1/insights/feedback", json={"request_id": request_id, "score": 5}, headers=ALICE
    )
    assert rated.status_code == 404
    assert client.get("/api/v1/insights", headers=ALICE).json()["data"]["samples"] == 0


def _admin_reset(client: TestClient, account: str, headers: dict[str, str]) -> Any:
    return client.delete(f"/api/v1/admin/accounts/{account}/data", headers=headers)


def test_admin_resets_any_account(client: TestClient) -> None:
    router = app_of(client).state.router
    teach(client, "bob", 5)
    assert _admin_reset(client, "bob", {}).status_code == 401
    assert _admin_reset(client, "bob", BOB).status_code == 401
    assert router.account_samples("bob")["*"] == 5
    assert _admin_reset(client, "bob", ADMIN).status_code == 200
    assert router.account_samples("bob")["*"] == 0
    assert _admin_reset(client, "bad id!", ADMIN).status_code in (400, 404)


def test_redis_workers_share_insights_and_resets(
    make_settings: SettingsFactory, upstream: FakeUpstream, redis_url: str
) -> None:
    settings = make_settings(redis_url=redis_url)
    with TestClient(create_app(settings)) as worker_a, TestClient(create_app(settings)) as worker_b:
        for _ in range(3):
            assert chat(worker_a).status_code == 200
        seen_by_b = worker_b.get("/api/v1/insights", headers=ALICE).json()["data"]
        assert seen_by_b["samples"] == 3
        assert worker_b.delete("/api/v1/insights/data", headers=ALICE).status_code == 200
        assert worker_a.get("/api/v1/insights", headers=ALICE).json()["data"]["samples"] == 0


async def test_local_stats_survive_a_restart_and_a_reset_is_durable(tmp_path: Path) -> None:
    path = tmp_path / "insights.db"
    stats = LocalStats(path, flush_interval_s=0.01)
    await stats.incr_stats("a", {"code|m|n": 1.0, "code|m|r": 0.5})
    await stats.incr_stats("a", {"code|m|n": 1.0})
    await stats.incr_stats("b", {"math|m|n": 1.0})
    await asyncio.sleep(0.1)  # the background flush, not close(), writes these
    reopened = LocalStats(path)
    assert await reopened.get_stats("a") == {"code|m|n": 2.0, "code|m|r": 0.5}
    await reopened.close()

    await stats.delete_stats("a")
    await stats.incr_stats("b", {"math|m|n": 2.0})
    await stats.close()
    again = LocalStats(path)
    assert await again.get_stats("a") == {}
    assert await again.get_stats("b") == {"math|m|n": 3.0}
    await again.close()


def test_embedded_insights_survive_an_app_restart(
    make_settings: SettingsFactory, upstream: FakeUpstream
) -> None:
    settings = make_settings()
    with TestClient(create_app(settings)) as client:
        for _ in range(3):
            chat(client, "Write a python function that reverses a string.")
        before = client.get("/api/v1/insights", headers=ALICE).json()["data"]
    assert before["samples"] == 3
    with TestClient(create_app(settings)) as client:
        after = client.get("/api/v1/insights", headers=ALICE).json()["data"]
    assert after["samples"] == 3
    assert after["query_types"] == before["query_types"]
