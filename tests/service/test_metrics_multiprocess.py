"""Metrics stay correct under several uvicorn workers (prometheus multiprocess mode).

Starts ``uvicorn --workers 2`` on :func:`build_app` below with
``PROMETHEUS_MULTIPROC_DIR`` set, sends requests until both workers have
answered, and checks that ``/metrics`` (served by whichever worker) counts every
request once. After shutdown, the workers' live gauges must be gone while the
counters stay.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from service.metrics import MULTIPROC_ENV, Metrics, prepare_multiprocess_dir, setup_multiprocess
from service.routes import health

REPO = Path(__file__).resolve().parents[2]


def build_app() -> FastAPI:
    """App factory run inside each uvicorn worker."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.metrics = Metrics()
        yield
        app.state.metrics.close()

    app = FastAPI(lifespan=lifespan)
    app.include_router(health.router)

    @app.get("/hit")
    async def hit() -> dict[str, int]:
        metrics: Metrics = app.state.metrics
        metrics.observe_request("/hit", 200, "auto", "small")
        metrics.set_circuit("small", True)
        return {"pid": os.getpid()}

    @app.get("/close")
    async def close() -> dict[str, int]:
        app.state.metrics.set_circuit("small", False)
        return {"pid": os.getpid()}

    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(base: str, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"uvicorn did not answer on {base} within {deadline_s}s")


def metric_values(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == name
    }


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    mp_dir = prepare_multiprocess_dir(tmp_path / "prom")
    port = free_port()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(mp_dir)}
    cmd = [sys.executable, "-m", "uvicorn", "test_metrics_multiprocess:build_app", "--factory"]
    cmd += ["--app-dir", str(Path(__file__).parent), "--workers", "2"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base)
        yield base, mp_dir, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def test_counts_are_merged_across_workers(
    workers: tuple[str, Path, subprocess.Popen[bytes]],
) -> None:
    base, mp_dir, proc = workers
    pids: set[int] = set()
    sent = 0
    while len(pids) < 2 and sent < 400:
        # A new connection per request lets the kernel hand it to either worker.
        resp = httpx.get(f"{base}/hit", headers={"Connection": "close"}, timeout=5.0)
        pids.add(resp.json()["pid"])
        sent += 1
    assert len(pids) == 2, f"only one worker answered {sent} requests"

    key = (("model", "small"), ("route", "/hit"), ("status", "200"), ("strategy", "auto"))
    for _ in range(6):  # each scrape may land on either worker; all must agree
        text = httpx.get(f"{base}/metrics", headers={"Connection": "close"}, timeout=5.0).text
        assert metric_values(text, "autoroute_requests_total")[key] == sent
        assert metric_values(text, "autoroute_circuit_open")[(("model", "small"),)] == 1

    # Both workers saw the breaker open; one sees it close: the latest state wins.
    httpx.get(f"{base}/close", headers={"Connection": "close"}, timeout=5.0)
    text = httpx.get(f"{base}/metrics", timeout=5.0).text
    assert metric_values(text, "autoroute_circuit_open")[(("model", "small"),)] == 0

    assert len(list(mp_dir.glob("gauge_livemostrecent_*.db"))) == 2
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=20)
    assert not list(mp_dir.glob("gauge_live*_*.db")), "dead workers' live gauges remain"
    assert len(list(mp_dir.glob("counter_*.db"))) == 2


def test_setup_multiprocess_single_worker_without_dir_is_a_no_op(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    assert setup_multiprocess(1) is None
    assert MULTIPROC_ENV not in os.environ


def test_setup_multiprocess_creates_and_exports_a_dir_for_several_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # setenv first so that monkeypatch removes the variable the call exports.
    monkeypatch.setenv(MULTIPROC_ENV, "placeholder")
    monkeypatch.delenv(MULTIPROC_ENV)
    path = setup_multiprocess(2)
    assert path is not None and path.is_dir() and not any(path.iterdir())
    assert os.environ[MULTIPROC_ENV] == str(path)
    path.rmdir()


def test_setup_multiprocess_empties_a_configured_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "counter_123.db").write_bytes(b"stale")
    (tmp_path / "keep.txt").write_text("not ours")
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    assert setup_multiprocess(1) == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_metrics_create_a_missing_multiprocess_dir(tmp_path: Path) -> None:
    missing = tmp_path / "not" / "yet"
    code = (
        "from service.metrics import Metrics\n"
        "m = Metrics()\n"
        "m.fallback('timeout')\n"
        "print(m.render()[0].decode())\n"
    )
    env = {**os.environ, MULTIPROC_ENV: str(missing)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert 'autoroute_fallbacks_total{reason="timeout"} 1.0' in result.stdout
    assert list(missing.glob("counter_*.db"))
