"""Shared fixtures: a real Redis server for the whole session, flushed per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.utils.redis_server import RedisServer, redis_available


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A ``redis-server`` (append-only) on a free port; skipped if not installed.

    With ``AUTOROUTE_REQUIRE_REDIS=1`` (set by ``.ci/run``) a missing server
    fails the test instead of skipping it.
    """
    if not redis_available():
        if os.environ.get("AUTOROUTE_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is not installed and AUTOROUTE_REQUIRE_REDIS=1")
        pytest.skip("redis-server is not installed")
    server = RedisServer.start(Path(tmp_path_factory.mktemp("redis")))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the session's Redis, emptied for this test."""
    redis_server.flush()
    return redis_server.url
