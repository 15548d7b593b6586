"""Per-key rate limits: token buckets in-process and in Redis, 429 with Retry-After."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.ratelimit import LocalTokenBucket, RedisTokenBucket, build_rate_limiter
from tests.service.conftest import ALICE, BOB, SettingsFactory
from tests.utils.fake_upstream import FakeUpstream
from tests.utils.redis_server import free_port

MESSAGES = [{"role": "user", "content": "hi"}]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_local_bucket_bursts_then_refills_at_the_rate() -> None:
    clock = FakeClock()
    bucket = LocalTokenBucket(rate=2.0, burst=3, clock=clock)
    assert [await bucket.acquire("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert await bucket.acquire("k") == pytest.approx(0.5)
    assert await bucket.acquire("other") == 0.0
    clock.now += 0.5  # one token back at 2 tokens/s
    assert await bucket.acquire("k") == 0.0
    assert await bucket.acquire("k") > 0
    clock.now += 100  # refills only up to the burst
    assert [await bucket.acquire("k") for _ in range(4)].count(0.0) == 3


async def test_redis_bucket_is_shared_by_workers(redis_url: str) -> None:
    first = RedisTokenBucket.from_url(redis_url, rate=0.5, burst=2)
    second = RedisTokenBucket.from_url(redis_url, rate=0.5, burst=2)
    try:
        assert await first.acquire("key-id") == 0.0
        assert await second.acquire("key-id") == 0.0
        wait = await first.acquire("key-id")
        assert 0 < wait <= 2.0
        assert await second.acquire("another-key-id") == 0.0
    finally:
        await first.close()
        await second.close()


async def test_unreachable_redis_fails_open() -> None:
    limiter = RedisTokenBucket.from_url(f"redis://127.0.0.1:{free_port()}/0", rate=1, burst=1)
    try:
        assert [await limiter.acquire("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    finally:
        await limiter.close()


def test_limits_are_off_by_default(make_settings: SettingsFactory) -> None:
    settings = make_settings()
    assert settings.rate_limit_rps == 0
    assert build_rate_limiter(None, settings.rate_limit_rps, settings.rate_limit_burst) is None


@pytest.mark.parametrize("backend", ["embedded", "redis"])
def test_a_key_over_its_limit_gets_429_with_retry_after(
    backend: str,
    make_settings: SettingsFactory,
    upstream: FakeUpstream,
    request: pytest.FixtureRequest,
) -> None:
    extra = {"redis_url": request.getfixturevalue("redis_url")} if backend == "redis" else {}
    settings = make_settings(rate_limit_rps=0.2, rate_limit_burst=2, **extra)
    with TestClient(create_app(settings)) as client:
        for _ in range(2):
            ok = client.post("/api/v1/chat", json={"messages": MESSAGES}, headers=ALICE)
            assert ok.status_code == 200
        native = client.post("/api/v1/chat", json={"messages": MESSAGES}, headers=ALICE)
        assert native.status_code == 429
        assert native.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(native.headers["retry-after"]) <= 5
        openai = client.post(
            "/v1/chat/completions", json={"model": "auto", "messages": MESSAGES}, headers=ALICE
        )
        assert openai.status_code == 429
        assert openai.json()["error"]["code"] == "rate_limited"
        assert openai.json()["error"]["type"] == "rate_limit_error"
        assert "retry-after" in openai.headers
        # Another key has its own bucket.
        assert client.get("/api/v1/insights", headers=BOB).status_code == 200
        assert upstream.calls() == 2


def test_openapi_documents_429_wherever_a_key_is_needed(make_settings: SettingsFactory) -> None:
    paths = create_app(make_settings()).openapi()["paths"]
    keyed = [
        (method, path)
        for path, operations in paths.items()
        for method, op in operations.items()
        if not path.startswith("/api/v1/admin")
        and any(p["name"] == "authorization" for p in op.get("parameters", []))
    ]
    assert len(keyed) >= 6
    for method, path in keyed:
        assert "429" in paths[path][method]["responses"], (method, path)
