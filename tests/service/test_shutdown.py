"""Graceful shutdown of a real ``autoroute serve``: SIGTERM stops intake, lets the
in-flight request finish, flushes its reward event, and exits within the deadline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from service.store.redis_store import RedisStore
from tests.utils.fake_upstream import FakeUpstream
from tests.utils.redis_server import free_port

KEY = "key-shutdown-0123456789"
REPO = Path(__file__).resolve().parents[2]


def poll(what: str, check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@contextmanager
def serve(
    tmp_path: Path, redis_url: str, catalog: Path, shutdown_timeout_s: int
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOROUTE_", "PROMETHEUS_"))}
    env |= {
        "AUTOROUTE_REDIS_URL": redis_url,
        "AUTOROUTE_CATALOG": str(catalog),
        "AUTOROUTE_DATA_DIR": str(tmp_path / "data"),
        "AUTOROUTE_API_KEYS": f"{KEY}:shutdown",
        "AUTOROUTE_HASH_SECRET": "shutdown-hash-secret-0123456789",
        "AUTOROUTE_SHUTDOWN_TIMEOUT_S": str(shutdown_timeout_s),
    }
    cmd = [sys.executable, "-m", "service.cli", "serve", "--port", str(port)]
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*cmd, "--log-level", "info"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
        )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert proc.poll() is None, log_path.read_text()
        try:
            return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        poll("autoroute serve to become ready", ready)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def chat_in_background(
    base: str, results: list[httpx.Response | Exception], stream: bool = False
) -> threading.Thread:
    body = {"model": "auto", "messages": [{"role": "user", "content": "slow one"}]}

    def run() -> None:
        try:
            results.append(
                httpx.post(
                    f"{base}/v1/chat/completions",
                    json={**body, "stream": stream},
                    headers={"Authorization": f"Bearer {KEY}"},
                    timeout=60,
                )
            )
        except Exception as exc:  # reported by the test
            results.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def refuses_connections(base: str) -> bool:
    try:
        httpx.get(f"{base}/healthz", timeout=0.5)
    except httpx.TransportError:
        return True
    return False


def request_id_of(answer: httpx.Response) -> str:
    if answer.headers["content-type"].startswith("text/event-stream"):
        assert answer.text.rstrip().endswith("data: [DONE]")
        return str(json.loads(answer.text.split("data: ", 1)[1].split("\n", 1)[0])["id"])
    return str(answer.json()["id"])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_sigterm_finishes_in_flight_request_and_flushes_its_reward(
    tmp_path: Path, redis_url: str, catalog_file: Path, upstream: FakeUpstream, stream: bool
) -> None:
    upstream.set(delay_s=2.0)
    results: list[httpx.Response | Exception] = []
    with serve(tmp_path, redis_url, catalog_file, shutdown_timeout_s=15) as (proc, base):
        thread = chat_in_background(base, results, stream)
        poll("the slow request to reach the upstream", lambda: upstream.calls() == 1)
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        poll("intake to stop", lambda: refuses_connections(base), timeout_s=1.5)
        assert not results, "the in-flight request must still be running when intake stops"
        thread.join(timeout=30)
        proc.wait(timeout=15)
        elapsed = time.monotonic() - sent
    log = (tmp_path / "serve.log").read_text()
    # uvicorn re-raises the signal once shut down, so a clean exit reads as -SIGTERM.
    assert proc.returncode in (0, -signal.SIGTERM), log
    assert "Application shutdown complete" in log
    assert elapsed < 15
    assert len(results) == 1 and isinstance(results[0], httpx.Response), results
    answer = results[0]
    assert answer.status_code == 200, answer.text
    request_id = request_id_of(answer)
    store = RedisStore.from_url(redis_url, shards=4)
    try:
        assert await store.get_decision(request_id) is not None
        entries = await store.read_rewards("tests", list(range(store.shards)), 1000, 0)
        events = {(e.event.request_id, e.event.kind) for e in entries}
        assert (request_id, "auto") in events
    finally:
        await store.close()


@pytest.mark.parametrize("deadline_s", [1])
def test_sigterm_deadline_bounds_a_request_that_never_ends(
    tmp_path: Path, redis_url: str, catalog_file: Path, upstream: FakeUpstream, deadline_s: int
) -> None:
    upstream.set(mode="hang")
    results: list[httpx.Response | Exception] = []
    with serve(tmp_path, redis_url, catalog_file, shutdown_timeout_s=deadline_s) as (proc, base):
        thread = chat_in_background(base, results)
        poll("the request to reach the upstream", lambda: upstream.calls() >= 1)
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        proc.wait(timeout=deadline_s + 10)
        elapsed = time.monotonic() - sent
        thread.join(timeout=10)
    # The deadline, plus the lifespan's own bounded shutdown and interpreter exit.
    assert elapsed < deadline_s + 5, elapsed
    assert results and not (isinstance(results[0], httpx.Response) and results[0].is_success)
