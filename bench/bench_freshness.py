"""Freshness over HTTP: from a feedback POST to the first decision made with it.

``python -m bench.bench_freshness`` prints a JSON dict (``run()`` returns it).
Everything runs as in production, each in its own process: ``redis-server``,
``autoroute serve`` (one worker, on Redis), ``autoroute learner`` (default
cadences: snapshots every 0.5 s, API reload polls every 0.2 s) and a fake
upstream (:mod:`bench.fake_upstream_fast`).

One sample:

1. account ``rater`` sends a chat request, and after a random pause (so the
   samples do not line up with the learner's cadence) rates it: the clock
   starts before ``POST /api/v1/feedback`` is sent;
2. meanwhile account ``probe`` sends chat requests back to back and notes each
   answer's ``X-Autoroute-Model-Version`` and arrival time;
3. the bench watches the store: once the learner's ledger has the rating, the
   version of ``rater``'s snapshot is the commit that learned it. The learner
   owns the global policy and commits it right after, with a higher version,
   so the first probe answer stamped with a higher version was decided with a
   model that includes the rating. The clock stops when that answer arrives
   (an upper bound: the decision was made up to one round trip earlier).

Same-run baselines: the chat round trip (p50), and the cadence floor (the
learner's snapshot interval plus the API's reload poll interval, the longest a
rating can wait on the two timers). ``run(snapshot_interval_s=0.2)`` measures
another learner cadence.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from bench import procs
from bench.http_targets import autoroute_command, write_catalog
from service.store import RedisStore
from tests.utils.redis_server import RedisServer

TARGET_P95_S = 2.0
SHARDS = 4
SNAPSHOT_INTERVAL_S = 0.5  # the learner's default (--snapshot-interval)
RELOAD_POLL_S = 0.2  # the API's default (SnapshotReloader.poll_interval_s)
KEYS = {"rater": "sk-fresh-rater-0001", "probe": "sk-fresh-probe-0001"}
PROMPT = "Write a Python function that merges two sorted lists in linear time."


async def _chat(client: httpx.AsyncClient, account: str) -> httpx.Response:
    response = await client.post(
        "/v1/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": PROMPT}]},
        headers={"Authorization": f"Bearer {KEYS[account]}"},
    )
    response.raise_for_status()
    return response


async def _learned_version(store: RedisStore, request_id: str) -> int:
    """The version of the commit that learned ``request_id``'s rating."""
    while not await store.was_applied(f"{request_id}:rating"):
        await asyncio.sleep(0.002)
    return (await store.snapshot_versions())["account:rater"]


async def _sample(
    client: httpx.AsyncClient, store: RedisStore, rng: random.Random
) -> tuple[float, list[float]]:
    """One freshness delay, and the round trips of the probes sent meanwhile."""
    request_id = (await _chat(client, "rater")).json()["id"]
    await asyncio.sleep(rng.uniform(0.0, SNAPSHOT_INTERVAL_S))
    began = time.perf_counter()
    rated = await client.post(
        "/api/v1/feedback",
        json={"request_id": request_id, "score": 5},
        headers={"Authorization": f"Bearer {KEYS['rater']}"},
    )
    rated.raise_for_status()
    learned = asyncio.create_task(_learned_version(store, request_id))
    answers: list[tuple[float, int]] = []  # (arrival, model version)
    trips = []
    while True:
        sent = time.perf_counter()
        response = await _chat(client, "probe")
        arrived = time.perf_counter()
        trips.append(arrived - sent)
        answers.append((arrived, int(response.headers["x-autoroute-model-version"])))
        if learned.done() and answers[-1][1] > learned.result():
            break
        if arrived - began > 30:
            learned.cancel()
            raise procs.BenchError(f"rating {request_id} not reflected after 30 s")
    first = next(t for t, v in answers if v > learned.result())
    return first - began, trips


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _measure(url: str, redis_url: str, samples: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)  # noqa: S311 - jitter, not crypto
    store = RedisStore.from_url(redis_url, shards=SHARDS)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            for _ in range(5):  # warm up: connections, first snapshots, VW in both processes
                await _sample(client, store, rng)
            delays, trips = [], []
            for _ in range(samples):
                delay, sample_trips = await _sample(client, store, rng)
                delays.append(delay)
                trips += sample_trips
    finally:
        await store.close()
    return {"delays": delays, "trips": trips}


def _start(stack: ExitStack, workdir: Path, snapshot_interval_s: float) -> tuple[str, str]:
    """Redis, the fake upstream, the learner and the API; returns (API URL, Redis URL)."""
    redis = RedisServer.start(workdir / "redis")
    stack.callback(redis.stop)
    upstream_port, api_port = procs.free_port(), procs.free_port()
    upstream = procs.python_module("bench.fake_upstream_fast", "--port", str(upstream_port))
    stack.enter_context(procs.Server("upstream", upstream, {}, cpu="1", logdir=workdir))
    catalog = write_catalog(workdir / "catalog.yaml", f"http://127.0.0.1:{upstream_port}/v1")
    env = {
        "AUTOROUTE_REDIS_URL": redis.url,
        "AUTOROUTE_SHARDS": str(SHARDS),
        "AUTOROUTE_CATALOG": str(catalog),
        "AUTOROUTE_API_KEYS": ",".join(f"{key}:{account}" for account, key in KEYS.items()),
        "AUTOROUTE_DATA_DIR": str(workdir / "data"),
    }
    learner = procs.python_module(
        "service.learner",
        "--consumer",
        "bench-fresh",
        "--snapshot-interval",
        str(snapshot_interval_s),
    )
    stack.enter_context(procs.Server("learner", learner, env, cpu="1", logdir=workdir))
    api = stack.enter_context(
        procs.Server("api", autoroute_command(api_port), env, cpu="0", logdir=workdir)
    )
    api.wait_port(api_port, timeout_s=30)
    return f"http://127.0.0.1:{api_port}", redis.url


def run(
    samples: int = 30, seed: int = 0, snapshot_interval_s: float = SNAPSHOT_INTERVAL_S
) -> dict[str, Any]:
    """Start the processes, take ``samples`` measurements (about 30 s), return the figures."""
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        url, redis_url = _start(stack, Path(tmp), snapshot_interval_s)
        raw = asyncio.run(_measure(url, redis_url, samples, seed))
    delays, trips = raw["delays"], raw["trips"]
    p50, p95 = statistics.median(delays), _percentile(delays, 0.95)
    rtt = statistics.median(trips)
    floor = snapshot_interval_s + RELOAD_POLL_S
    rows = [
        {"measure": "feedback -> decision p50", "value": round(p50, 3), "unit": "s"},
        {"measure": "feedback -> decision p95", "value": round(p95, 3), "unit": "s",
         "target": TARGET_P95_S, "ok": p95 <= TARGET_P95_S},
        {"measure": "feedback -> decision max", "value": round(max(delays), 3), "unit": "s"},
        {"measure": "baseline: chat round trip p50", "value": round(rtt * 1000, 2),
         "unit": "ms"},
        {"measure": "baseline: snapshot interval + reload poll", "value": floor, "unit": "s"},
        {"measure": "p95 / (snapshot interval + reload poll)", "value": round(p95 / floor, 2)},
        {"measure": "p50 / chat round trip", "value": round(p50 / rtt)},
    ]  # fmt: skip
    return {
        "samples": len(delays),
        "snapshot_interval_s": snapshot_interval_s,
        "p50_s": round(p50, 3),
        "p95_s": round(p95, 3),
        "max_s": round(max(delays), 3),
        "chat_rtt_p50_ms": round(rtt * 1000, 2),
        "cadence_floor_s": floor,
        "p95_over_cadence_floor": round(p95 / floor, 2),
        "p50_over_chat_rtt": round(p50 / rtt),
        "delays_s": [round(d, 3) for d in delays],
        "rows": rows,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
