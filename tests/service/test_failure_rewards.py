"""A request whose every candidate failed still teaches the learner about each model.

The API logs the decision together with its rewards (``Store.record_request``),
so the learner joins every one of them to the decision: none is an ``orphan``.
"""

from __future__ import annotations

import random

import pytest
from fastapi.testclient import TestClient

from bandit.config import BanditConfig
from bandit.router import Router
from providers.catalog import load_catalog
from service.app import create_app
from service.learner import Learner, LearnerConfig
from tests.service.conftest import MODELS, SettingsFactory, app_of, chat
from tests.utils.fake_upstream import FakeUpstream


@pytest.fixture(params=["embedded", "redis"])
def backend(request: pytest.FixtureRequest) -> dict[str, str]:
    """Settings overrides selecting each store backend."""
    if request.param == "redis":
        return {"redis_url": request.getfixturevalue("redis_url")}
    return {}


def test_all_failed_request_teaches_each_failed_model(
    make_settings: SettingsFactory, upstream: FakeUpstream, backend: dict[str, str]
) -> None:
    upstream.set(mode="error", status=503)
    settings = make_settings(learn=False, **backend)  # only the drained learner below learns
    with TestClient(create_app(settings)) as client:
        response = chat(client)
        assert response.status_code == 502
        app = app_of(client)
        client.portal.call(app.state.pipeline.drain)
        store = app.state.store
        router = Router(load_catalog(settings.catalog).models, BanditConfig(), random.Random(1))
        learner = Learner(store, router, LearnerConfig(consumer="drain"))
        client.portal.call(learner.run, True)  # drain mode
        stats = client.portal.call(store.ledger_stats)
    assert upstream.calls() == len(MODELS)  # each model tried once, each failed
    assert stats.get("learned") == len(MODELS) and "orphan" not in stats
    samples = router.account_samples("alice")
    assert samples["*"] == len(MODELS) and all(samples[m] == 1 for m in MODELS)
