"""The ``store`` fixture: one instance of each backend, for the contract suite."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from service.store import EmbeddedStore, RedisStore
from service.store.base import Store

SHARDS = 4


@pytest.fixture(params=["redis", "embedded"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """A fresh store with 4 shards, over each backend."""
    backend: Store
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        backend = RedisStore.from_url(url, shards=SHARDS)
    else:
        backend = EmbeddedStore(None, shards=SHARDS)
    yield backend
    await backend.close()
