"""Ratings: accepted once, for your own requests, within the window."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bandit.rewards import blend_rating
from tests.service.conftest import ALICE, BOB, app_of, chat, published


@pytest.fixture
def client(frozen_client: TestClient) -> TestClient:
    """These tests read the reward stream, so no learner may consume it."""
    return frozen_client


def rate(
    client: TestClient,
    request_id: str,
    headers: dict[str, str] = ALICE,
    path: str = "/api/v1/insights/feedback",
    **rating: object,
) -> Any:
    body = {"request_id": request_id, **(rating or {"score": 5, "is_helpful": True})}
    return client.post(path, json=body, headers=headers)


def test_rating_becomes_a_blended_reward_event(client: TestClient) -> None:
    answer = chat(client).json()
    response = rate(client, answer["id"], score=4, is_helpful=True)
    assert response.status_code == 200
    data = response.json()["data"]
    store = app_of(client).state.store
    record = client.portal.call(store.get_decision, answer["id"])
    expected = blend_rating(record.auto_signal, 4, True)
    assert data == {"request_id": answer["id"], "accepted": True, "reward": expected}
    ratings = [e for e in published(client) if e.kind == "rating"]
    assert len(ratings) == 1
    event = ratings[0]
    assert (event.request_id, event.account, event.model) == (
        answer["id"],
        "alice",
        answer["model"],
    )
    assert event.value == expected
    assert event.payload == {"score": 4, "is_helpful": True, "late": False}


def test_alias_path_and_helpful_only(client: TestClient) -> None:
    answer = chat(client).json()
    response = rate(client, answer["id"], path="/api/v1/feedback", is_helpful=False)
    assert response.status_code == 200


def test_second_rating_is_409(client: TestClient) -> None:
    request_id = chat(client).json()["id"]
    assert rate(client, request_id).status_code == 200
    again = rate(client, request_id, score=1)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_rated"
    assert len([e for e in published(client) if e.kind == "rating"]) == 1


def test_unknown_and_foreign_requests_are_the_same_404(client: TestClient) -> None:
    request_id = chat(client).json()["id"]
    foreign = rate(client, request_id, headers=BOB)
    unknown = rate(client, "req_" + "0" * 32)
    for response in (foreign, unknown):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    # Bob's attempt did not use up Alice's rating.
    assert rate(client, request_id).status_code == 200


def test_rating_after_the_window_is_410_and_recorded_late(client: TestClient) -> None:
    request_id = chat(client).json()["id"]
    app = app_of(client)
    store, window = app.state.store, app.state.settings.reward_window_s
    client.portal.call(app.state.pipeline.drain)  # the decision is written after the answer
    record = client.portal.call(store.get_decision, request_id)
    old = replace(record, created_at=time.time() - window - 5)
    client.portal.call(store.put_decision, old, window)
    response = rate(client, request_id)
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "feedback_window_expired"
    ratings = [e for e in published(client) if e.kind == "rating"]
    assert [e.payload["late"] for e in ratings] == [True]


@pytest.mark.parametrize(
    "body",
    [
        {"request_id": "not-an-id", "score": 3},
        {"request_id": "req_" + "0" * 32, "score": 6},
        {"request_id": "req_" + "0" * 32, "score": 0},
        {"request_id": "req_" + "0" * 32},
        {"score": 3},
    ],
)
def test_malformed_feedback_is_400(client: TestClient, body: dict[str, object]) -> None:
    response = client.post("/api/v1/insights/feedback", json=body, headers=ALICE)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_feedback_needs_a_key(client: TestClient) -> None:
    request_id = chat(client).json()["id"]
    response = client.post("/api/v1/feedback", json={"request_id": request_id, "score": 5})
    assert response.status_code == 401
