"""Per-key rate limits: a token bucket per API key, in Redis or in this process.

Each key may send ``AUTOROUTE_RATE_LIMIT_RPS`` requests a second on average
and ``AUTOROUTE_RATE_LIMIT_BURST`` at once. A refused request gets 429
``rate_limited`` with ``Retry-After`` (whole seconds, rounded up).

With Redis every worker shares one bucket per key: a Lua script refills and
takes a token atomically, on Redis's own clock, so workers with skewed clocks
agree. The embedded backend keeps the same buckets in a dict. Buckets are
named by the key's HMAC (its ``key_id``), never by the key.

A Redis that cannot be reached fails open: the limiter protects upstream
budgets, and refusing every request while Redis restarts would be worse than
letting a burst through.

Example:
    >>> import asyncio
    >>> limiter = LocalTokenBucket(rate=1.0, burst=2)
    >>> [asyncio.run(limiter.acquire("k")) == 0 for _ in range(3)]
    [True, True, False]
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from service.errors import RateLimited

logger = logging.getLogger(__name__)

# KEYS[1]: the bucket. ARGV: rate (tokens/s), burst. Returns the wait in seconds
# as a string (a Lua number would be truncated to an integer reply).
BUCKET_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RateLimiter(Protocol):
    """Takes one token from a subject's bucket."""

    async def acquire(self, subject: str) -> float:
        """0 if the request may go, else the seconds until a token is free."""
        ...

    async def close(self) -> None: ...


class LocalTokenBucket:
    """Token buckets in this process (the embedded backend has one process)."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    async def acquire(self, subject: str) -> float:
        now = self._clock()
        tokens, ts = self._buckets.get(subject, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, now - ts) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[subject] = (tokens, now)
        return wait

    async def close(self) -> None:
        self._buckets.clear()


class RedisTokenBucket:
    """Token buckets shared by every worker, one Redis hash per key."""

    def __init__(self, client: aioredis.Redis, rate: float, burst: int, prefix: str = "ar") -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(BUCKET_SCRIPT)

    @classmethod
    def from_url(cls, url: str, rate: float, burst: int) -> RedisTokenBucket:
        client = aioredis.Redis.from_url(
            url, decode_responses=False, socket_timeout=1.0, socket_connect_timeout=1.0
        )
        return cls(client, rate, burst)

    async def acquire(self, subject: str) -> float:
        key = f"{self._prefix}:rl:{subject}"
        try:
            raw = await self._script(keys=[key], args=[repr(self.rate), str(self.burst)])
        except RedisError as exc:
            logger.warning(
                "rate limiter unavailable, letting the request through: %s", type(exc).__name__
            )
            return 0.0
        return float(raw.decode() if isinstance(raw, bytes) else raw)

    async def close(self) -> None:
        await self._client.aclose()


def build_rate_limiter(redis_url: str | None, rate: float, burst: int) -> RateLimiter | None:
    """The limiter for this deployment, or None when ``rate`` is 0 (limits off)."""
    if rate <= 0:
        return None
    if redis_url is not None:
        return RedisTokenBucket.from_url(redis_url, rate, burst)
    return LocalTokenBucket(rate, burst)


async def enforce(limiter: RateLimiter | None, subject: str) -> None:
    """Take a token for ``subject``.

    Raises:
        RateLimited: with ``Retry-After`` when the bucket is empty.
    """
    if limiter is None:
        return
    wait = await limiter.acquire(subject)
    if wait > 0:
        retry_after = max(1, math.ceil(wait))
        raise RateLimited(
            "rate limit exceeded for this API key; retry after the Retry-After delay",
            details={"retry_after_s": round(wait, 3)},
            headers={"Retry-After": str(retry_after)},
        )
