"""Fixtures for learner tests: a real Router over two models, and both stores."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable

import pytest

from bandit.config import BanditConfig
from bandit.router import Router
from providers.catalog import ModelSpec
from service.store import EmbeddedStore, RedisStore
from service.store.base import Store

SHARDS = 4
MODELS = [
    ModelSpec("model-a", "sim", "a", 1.0, 2.0, tier=2),
    ModelSpec("model-b", "sim", "b", 1.0, 2.0, tier=2),
]


@pytest.fixture
def make_router() -> Callable[[], Router]:
    """Factory of fresh routers over ``model-a`` and ``model-b``."""

    def build() -> Router:
        return Router(MODELS, BanditConfig(bits=14), random.Random(7))

    return build


@pytest.fixture(params=["redis", "embedded"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """A fresh 4-shard store over each backend."""
    backend: Store
    if request.param == "redis":
        backend = RedisStore.from_url(request.getfixturevalue("redis_url"), shards=SHARDS)
    else:
        backend = EmbeddedStore(None, shards=SHARDS)
    yield backend
    await backend.close()
