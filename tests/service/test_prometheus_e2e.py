"""A real Prometheus scrapes real autoroute processes; its HTTP API must return our series.

Debian's ``prometheus`` binary scrapes every second, with the alert rules of
``deploy/prometheus/alerts.yml`` loaded, and the tests poll its query API
(bounded) until the series carry the values the traffic implies:

- the embedded app (``create_app``, fake upstream models on loopback): chats,
  ratings, then a failover that opens a circuit, so the circuit and error-rate
  alerts go pending; ``promtool check metrics`` lints the real ``/metrics``;
- the Redis deployment: ``autoroute serve --workers 2`` and ``autoroute
  learner --metrics-port``, each scraped: one merged total across workers, and
  the learner's rewards, lag and model-age series.

Both check that every Grafana panel query parses in this Prometheus, and that
panels built only on series the scenario produces show data.

Locally the tests skip without the binaries; in CI (``AUTOROUTE_REQUIRE_REDIS=1``,
set by ``.ci/run``, which also installs them) a missing binary is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.multiprocess import MultiProcessCollector

from service.app import create_app
from service.settings import Settings
from tests.deploy.promql import metric_names
from tests.service.conftest import ALICE
from tests.utils.fake_upstream import FakeUpstream
from tests.utils.live_server import live_server

REPO = Path(__file__).resolve().parents[2]
KEY = "sk-e2e-prometheus-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
CHATS = 6
FAILOVER_CHATS = 12
PINNED_FAILURES = 6  # more than the breaker's 5 consecutive failures
# Series that chats and ratings alone produce: panels built only on them must show data.
PRODUCED_BY_TRAFFIC = frozenset(
    {
        "autoroute_requests_total",
        "autoroute_routed_total",
        "autoroute_router_overhead_seconds_bucket",
        "autoroute_provider_latency_seconds_bucket",
        "autoroute_tokens_total",
        "autoroute_cost_usd_total",
        "autoroute_rewards_total",
    }
)
# ... plus what failing upstreams produce.
FAILOVER_SERIES = frozenset(
    {
        "autoroute_fallbacks_total",
        "autoroute_provider_errors_total",
        "autoroute_circuit_open",
    }
)
# ... plus what the API's routing gauges and a separate learner publish (Redis mode).
PRODUCED_WITH_LEARNER = PRODUCED_BY_TRAFFIC | {
    "autoroute_rewards_applied_total",
    "autoroute_reward_value_total",
    "autoroute_learner_pending",
    "autoroute_learner_oldest_pending_seconds",
    "autoroute_model_version_age_seconds",
    "autoroute_accounts",
}
POLL_DEADLINE_S = 30.0


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is not None:
        return path
    message = f"{name} not found; install Debian's 'prometheus' package (.ci/run does)"
    if os.environ.get("AUTOROUTE_REQUIRE_REDIS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def poll(what: str, probe: Callable[[], Any], deadline_s: float = POLL_DEADLINE_S) -> Any:
    """Call ``probe`` until it returns something truthy; fail after ``deadline_s``."""
    deadline = time.monotonic() + deadline_s
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; last answer: {last!r}")


@dataclass
class Prometheus:
    base_url: str

    def query(self, promql: str) -> dict[str, Any]:
        resp = httpx.get(f"{self.base_url}/api/v1/query", params={"query": promql}, timeout=5)
        body: dict[str, Any] = resp.json()
        assert body["status"] == "success", (promql, body)
        return body

    def scalar(self, promql: str) -> float | None:
        result = self.query(promql)["data"]["result"]
        return float(result[0]["value"][1]) if result else None


@contextmanager
def start_prometheus(binary: str, workdir: Path, targets: dict[str, str]) -> Iterator[Prometheus]:
    """Run Prometheus on a free loopback port, scraping ``targets`` ({job: host:port})."""
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(REPO / "deploy/prometheus/alerts.yml")],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]}
            for job, target in targets.items()
        ],
    }
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    port = free_port()
    cmd = [
        binary,
        f"--config.file={config_path}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    log = (workdir / "prometheus.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError((workdir / "prometheus.log").read_text())
        try:
            return httpx.get(f"{base}/-/ready", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        poll("Prometheus to become ready", ready)
        yield Prometheus(base)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def dashboard_queries() -> list[str]:
    queries = []
    for path in sorted((REPO / "grafana/dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for inner in [panel, *panel.get("panels", [])]:
                queries += [t["expr"] for t in inner.get("targets", [])]
    return queries


def grafana_to_promql(expr: str) -> str:
    for variable in ("$__rate_interval", "$__range", "$__interval"):
        expr = expr.replace(variable, "1m")
    return expr.replace("$query_type", ".*")


def drive_traffic(base_url: str) -> list[str]:
    """Send CHATS chats and rate every one; returns the request ids."""
    request_ids = []
    with httpx.Client(base_url=base_url, headers=ALICE, timeout=30) as client:
        for i in range(CHATS):
            content = ["Write a python function to add two numbers.", "What is 2 + 2?"][i % 2]
            resp = client.post(
                "/v1/chat/completions",
                json={"model": "auto", "messages": [{"role": "user", "content": content}]},
            )
            assert resp.status_code == 200, resp.text
            request_ids.append(resp.json()["id"])
        for request_id in request_ids:
            resp = client.post("/api/v1/feedback", json={"request_id": request_id, "score": 5})
            assert resp.status_code == 200, resp.text
    return request_ids


def drive_failover(base_url: str, upstream: FakeUpstream, prometheus: Prometheus) -> None:
    """Every upstream model but ``small`` fails: chats still succeed, through fallbacks."""
    upstream.set(mode="error", status=503)
    upstream.set("small", mode="answer")
    with httpx.Client(base_url=base_url, headers=ALICE, timeout=30) as client:
        for _ in range(FAILOVER_CHATS):
            resp = client.post(
                "/v1/chat/completions",
                json={"model": "auto", "messages": [{"role": "user", "content": "Hello?"}]},
            )
            assert resp.status_code == 200, resp.text
            assert resp.json()["model"] == "local-small"
        # The router soon stops trying the failing models; pinning one fails until
        # its circuit opens.
        failed = 'autoroute_requests_total{route="/v1/chat/completions",status=~"5.."}'
        for i in range(PINNED_FAILURES):
            resp = client.post(
                "/v1/chat/completions",
                json={"model": "local-large", "messages": [{"role": "user", "content": "Hi"}]},
            )
            assert resp.status_code >= 500, resp.text
            if i == 0:
                # rate() cannot see the jump of a series' first sample: let Prometheus
                # scrape the new 5xx series once before the other failures.
                poll("the first 5xx scraped", lambda: prometheus.scalar(failed) is not None)


def test_prometheus_scrapes_the_app_and_sees_the_traffic(
    make_settings: Callable[..., Settings], upstream: FakeUpstream, tmp_path: Path
) -> None:
    """Embedded app with fake upstream models: traffic, ratings, then a failover."""
    prometheus_bin = require_binary("prometheus")
    promtool = require_binary("promtool")
    with live_server(create_app(make_settings())) as server:
        api_target = server.base_url.removeprefix("http://")
        targets = {"autoroute-api": api_target}
        with start_prometheus(prometheus_bin, tmp_path, targets) as prometheus:
            drive_traffic(server.base_url)
            drive_failover(server.base_url, upstream, prometheus)
            check_series(prometheus)
            check_failover_series(prometheus)
            check_dashboards_and_rules(prometheus, PRODUCED_BY_TRAFFIC | FAILOVER_SERIES)
        body = httpx.get(f"{server.base_url}/metrics", timeout=5).content
    lint = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=30
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def check_failover_series(prometheus: Prometheus) -> None:
    """Fallbacks, provider errors and open circuits reach Prometheus, and an alert is pending."""

    def open_models() -> set[str]:
        result = prometheus.query("autoroute_circuit_open == 1")["data"]["result"]
        return {r["metric"]["model"] for r in result}

    opened = poll("an open circuit", open_models)
    assert "local-small" not in opened
    assert prometheus.scalar('autoroute_circuit_open{model="local-small"}') == 0
    assert (prometheus.scalar("sum(autoroute_fallbacks_total)") or 0) > 0
    errors = 'sum(autoroute_provider_errors_total{model!="local-small"})'
    assert (prometheus.scalar(errors) or 0) >= 5  # consecutive failures open a circuit

    assert "local-large" in opened
    failed = 'sum(autoroute_requests_total{route="/v1/chat/completions",status=~"5.."})'
    # The circuit may show open in a scrape taken before the last pinned failures.
    poll("every pinned failure scraped", lambda: prometheus.scalar(failed) == PINNED_FAILURES)

    def pending() -> set[tuple[str, str]]:
        alerts = httpx.get(f"{prometheus.base_url}/api/v1/alerts", timeout=5).json()
        return {
            (a["labels"]["alertname"], a["labels"].get("model", ""))
            for a in alerts["data"]["alerts"]
            if a["state"] == "pending"  # their ``for`` has not elapsed yet
        }

    expected = {("AutorouteCircuitOpen", "local-large"), ("AutorouteHighErrorRate", "")}
    poll(f"alerts {expected} pending", lambda: expected <= pending())


def check_series(prometheus: Prometheus) -> None:
    total = CHATS + FAILOVER_CHATS
    chats = 'sum(autoroute_requests_total{route="/v1/chat/completions",status="200"})'
    poll(f"{chats} == {total}", lambda: prometheus.scalar(chats) == total)
    assert prometheus.scalar('up{job="autoroute-api"}') == 1
    assert (prometheus.scalar("sum(autoroute_routed_total)") or 0) >= total
    assert (prometheus.scalar("sum(autoroute_provider_latency_seconds_count)") or 0) >= total
    assert (prometheus.scalar('sum(autoroute_tokens_total{direction="output"})') or 0) > 0
    assert (prometheus.scalar("sum(autoroute_router_overhead_seconds_count)") or 0) >= total
    ratings = 'sum(autoroute_rewards_total{kind="rating"})'
    poll(f"{ratings} == {CHATS}", lambda: prometheus.scalar(ratings) == CHATS)
    models = prometheus.query("count by (model) (autoroute_routed_total)")["data"]["result"]
    assert models and all(r["metric"]["model"] != "none" for r in models)


def check_dashboards_and_rules(
    prometheus: Prometheus, produced: frozenset[str] = PRODUCED_BY_TRAFFIC
) -> None:
    """Every panel query parses; those built only on ``produced`` series show data."""
    queries = dashboard_queries()
    assert len(queries) >= 20
    # rate() needs two samples of a series inside its window.
    for name in sorted(produced):
        samples = f"min(count_over_time({name}[1m]))"
        poll(f"two samples of {name}", lambda q=samples: (prometheus.scalar(q) or 0) >= 2)
    empty = []
    for expr in queries:
        result = prometheus.query(grafana_to_promql(expr))["data"]["result"]  # parses
        if metric_names(expr) <= produced and not result:
            empty.append(expr)
    assert not empty, f"panels without data after the traffic: {empty}"
    rules = httpx.get(f"{prometheus.base_url}/api/v1/rules", timeout=5).json()
    loaded = {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}
    assert "AutorouteHighErrorRate" in loaded and "AutorouteStaleModel" in loaded


@contextmanager
def autoroute_serve(tmp_path: Path, redis_url: str, workers: int) -> Iterator[tuple[str, Path]]:
    """``autoroute serve --workers N`` against Redis; yields (base URL, metrics dir)."""
    mp_dir = tmp_path / "metrics"
    mp_dir.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "AUTOROUTE_REDIS_URL": redis_url,
        "AUTOROUTE_DATA_DIR": str(tmp_path / "data"),
        "AUTOROUTE_API_KEYS": f"{KEY}:e2e",
        "AUTOROUTE_HASH_SECRET": "e2e-hash-secret-0123456789",
        "PROMETHEUS_MULTIPROC_DIR": str(mp_dir),
    }
    cmd = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError((tmp_path / "serve.log").read_text())
        try:
            return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        poll("autoroute serve to become ready", ready)
        yield base, mp_dir
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


@contextmanager
def autoroute_learner(tmp_path: Path, redis_url: str) -> Iterator[str]:
    """``autoroute learner --metrics-port P``; yields its metrics host:port."""
    port = free_port()
    cmd = [sys.executable, "-m", "service.cli", "learner", "--redis-url", redis_url]
    cmd += ["--metrics-port", str(port), "--metrics-host", "127.0.0.1"]
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    log = (tmp_path / "learner.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError((tmp_path / "learner.log").read_text())
        try:
            return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        poll("the learner's /metrics", ready)
        yield f"127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def chats_per_worker(mp_dir: Path) -> dict[str, float]:
    """Successful chats counted in each worker's own counter file."""
    counts = {}
    for path in mp_dir.glob("counter_*.db"):
        total = 0.0
        for metric in MultiProcessCollector.merge([str(path)], accumulate=False):
            for sample in metric.samples:
                labels = sample.labels
                if sample.name == "autoroute_requests_total" and labels.get("status") == "200":
                    if labels.get("route") == "/v1/chat/completions":
                        total += sample.value
        counts[path.stem] = total
    return counts


def test_prometheus_scrapes_api_workers_and_the_learner(redis_url: str, tmp_path: Path) -> None:
    """The Redis deployment: ``serve --workers 2`` and ``learner``, both scraped."""
    prometheus_bin = require_binary("prometheus")
    chats = 'sum(autoroute_requests_total{route="/v1/chat/completions",status="200"})'
    with (
        autoroute_serve(tmp_path, redis_url, workers=2) as (base, mp_dir),
        autoroute_learner(tmp_path, redis_url) as learner_target,
    ):
        targets = {
            "autoroute-api": base.removeprefix("http://"),
            "autoroute-learner": learner_target,
        }
        with start_prometheus(prometheus_bin, tmp_path, targets) as prometheus:
            sent = send_chats_until_both_workers_answer(base, mp_dir)
            poll(f"{chats} == {sent}", lambda: prometheus.scalar(chats) == sent)
            # Whichever worker answers a scrape, the merged total is the same.
            scrapes = 'count_over_time(up{job="autoroute-api"}[1h])'
            first = prometheus.scalar(scrapes) or 0
            poll("three more scrapes", lambda: (prometheus.scalar(scrapes) or 0) >= first + 3)
            assert prometheus.scalar(f"min_over_time({chats}[3s:1s])") == sent
            # The learner's own endpoint: rewards it applied, and their values.
            assert prometheus.scalar('up{job="autoroute-learner"}') == 1
            applied = 'sum(autoroute_rewards_applied_total{job="autoroute-learner"})'
            poll("rewards applied by the learner", lambda: (prometheus.scalar(applied) or 0) > 0)
            value = 'sum(autoroute_reward_value_total{job="autoroute-learner"})'
            assert prometheus.scalar(value) is not None
            lag = 'autoroute_learner_oldest_pending_seconds{job="autoroute-learner"}'
            poll("the learner's lag gauges", lambda: prometheus.scalar(lag) is not None)
            age = 'max(autoroute_model_version_age_seconds{job="autoroute-api"})'
            poll("the API's model age", lambda: prometheus.scalar(age) is not None)
            check_dashboards_and_rules(prometheus, PRODUCED_WITH_LEARNER)


def send_chats_until_both_workers_answer(base: str, mp_dir: Path) -> int:
    """Chats (each rated) on new connections until both workers served one; returns the count."""
    sent = 0
    with httpx.Client(base_url=base, headers=AUTH, timeout=30) as client:
        while sent < 60 and sum(c > 0 for c in chats_per_worker(mp_dir).values()) < 2:
            resp = client.post(
                "/v1/chat/completions",
                headers={"Connection": "close"},
                json={"model": "auto", "messages": [{"role": "user", "content": "Hi"}]},
            )
            assert resp.status_code == 200, resp.text
            rating = {"request_id": resp.json()["id"], "score": 4}
            assert client.post("/api/v1/feedback", json=rating).status_code == 200
            sent += 1
    per_worker = chats_per_worker(mp_dir)
    assert sum(c > 0 for c in per_worker.values()) == 2, per_worker
    assert sum(per_worker.values()) == sent
    return sent
