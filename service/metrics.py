"""Prometheus metrics for the API and the learner.

One :class:`Metrics` object per process owns its own ``CollectorRegistry``, so
tests can build isolated apps side by side. The app factory stores it on
``app.state.metrics``; ``service/routes/health.py`` serves it at ``/metrics``.
The learner calls :func:`serve_metrics` to expose the same families on a port.

API (every method is cheap and never raises on a label value)::

    m = Metrics()
    m.observe_request(route="/v1/chat/completions", status="200",
                      strategy="auto", model="gpt-4o-mini")
    m.observe_overhead(0.0004)                # seconds in autoroute, provider excluded
    m.observe_provider("gpt-4o-mini", latency_s=0.8, input_tokens=120,
                       output_tokens=40, cost_usd=0.00012)
    m.routed(query_type="code", model="gpt-4o-mini")
    m.fallback("timeout")                     # why the next model was tried
    m.provider_error("gpt-4o-mini", "rate_limit")
    m.set_circuit("gpt-4o-mini", open=True)
    m.reward_accepted("rating")               # API: reward published
    m.reward_applied("rating", n=3, value_sum=2.5)  # learner: rewards learned from
    m.set_learner_lag(pending=12, oldest_s=4.5)
    m.set_model_version_age(30.0)
    m.set_accounts({"cold_start": 10, "warm_up": 3, "established": 1})
    body, content_type = m.render()           # the /metrics response
    m.close()                                 # on shutdown (multiprocess bookkeeping)

    setup_multiprocess(workers)               # `autoroute serve`, before uvicorn.run
    server, thread = serve_metrics(m, 9100, "0.0.0.0")  # the learner's /metrics

Series exported (the names dashboards and alerts rely on):

- ``autoroute_requests_total{route,status,strategy,model}``: ``route`` is the
  route template (never the raw path), ``status`` the HTTP status code.
- ``autoroute_router_overhead_seconds``: histogram, buckets from 50 µs.
- ``autoroute_provider_latency_seconds{model}``: histogram.
- ``autoroute_tokens_total{model,direction}``: ``direction`` is ``input`` or
  ``output``.
- ``autoroute_cost_usd_total{model}``.
- ``autoroute_routed_total{query_type,model}``: the model mix per query type.
- ``autoroute_fallbacks_total{reason}``, ``autoroute_provider_errors_total{model,kind}``.
- ``autoroute_circuit_open{model}``: 1 while the breaker is open.
- ``autoroute_rewards_total{kind}`` (accepted) and
  ``autoroute_rewards_applied_total{kind}`` (learned from).
- ``autoroute_reward_value_total{kind}``: sum of the applied reward values, so
  the mean reward is ``rate(value) / rate(applied)`` (the reward trend panel).
- ``autoroute_learner_pending``, ``autoroute_learner_oldest_pending_seconds``.
- ``autoroute_model_version_age_seconds``.
- ``autoroute_accounts{stage}``.

Labels stay bounded: no account or request id is ever a label, and each label
keeps at most :data:`MAX_LABEL_VALUES` distinct values per process; later
values are reported as ``other``. Never pass prompt or response text.

Several uvicorn workers: when ``PROMETHEUS_MULTIPROC_DIR`` is set before
``prometheus_client`` is first imported, values live in per-process files in
that directory and :meth:`Metrics.render` merges them with
``multiprocess.MultiProcessCollector``. Empty the directory before the workers
start (:func:`setup_multiprocess`, which also creates one for ``workers > 1``
when the variable is unset) and call :meth:`Metrics.close` when a
worker stops, so its live gauges disappear. Give the API and the learner
different directories.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
    values,
)
from prometheus_client.metrics import MetricWrapperBase

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
MAX_LABEL_VALUES: Final = 64
OVERFLOW_LABEL: Final = "other"

OVERHEAD_BUCKETS: Final = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip
PROVIDER_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)
STAGES: Final = ("cold_start", "warm_up", "established")

_SUFFIXES: Final = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}


def multiprocess_enabled() -> bool:
    """True when prometheus_client writes values to ``PROMETHEUS_MULTIPROC_DIR``."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def setup_multiprocess(workers: int) -> Path | None:
    """Get multiprocess metrics ready before uvicorn starts its workers.

    Call it in the parent process (``autoroute serve``) before ``uvicorn.run``.
    A set ``PROMETHEUS_MULTIPROC_DIR`` is emptied of stale files. Unset with
    ``workers > 1``, a fresh temporary directory is created and exported, so
    every worker, which inherits the environment, writes its values there.

    Returns:
        The directory in use, or None for a single process without one.
    """
    path = os.environ.get(MULTIPROC_ENV)
    if path is None:
        if workers <= 1:
            return None
        path = tempfile.mkdtemp(prefix="autoroute-metrics-")
        atexit.register(shutil.rmtree, path, True)
        os.environ[MULTIPROC_ENV] = path
    return prepare_multiprocess_dir(path)


def prepare_multiprocess_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` and delete stale ``*.db`` files from a previous run.

    Call it in the parent process, before the uvicorn workers start.
    """
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    return directory


class _LabelGuard:
    """Caps the distinct values of each label name, so a bug cannot explode series."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def __call__(self, name: str, value: object) -> str:
        text = str(value)
        with self._lock:
            seen = self._seen.setdefault(name, set())
            if text in seen:
                return text
            if len(seen) >= self._limit:
                return OVERFLOW_LABEL
            seen.add(text)
            return text


class Metrics:
    """Every autoroute metric family, in a registry of its own.

    Args:
        registry: where the families are registered; a new one by default.
        max_label_values: distinct values kept per label name before ``other``.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        max_label_values: int = MAX_LABEL_VALUES,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.multiprocess = multiprocess_enabled()
        if self.multiprocess:
            # The value files are opened as the families are built, just below.
            Path(os.environ[MULTIPROC_ENV]).mkdir(parents=True, exist_ok=True)
        self._label = _LabelGuard(max_label_values)
        self._children: dict[tuple[MetricWrapperBase, tuple[object, ...]], Any] = {}
        r = self.registry
        self.requests = Counter(
            "autoroute_requests",
            "Requests served, by route template, HTTP status, strategy and final model.",
            ["route", "status", "strategy", "model"],
            registry=r,
        )
        self.overhead = Histogram(
            "autoroute_router_overhead_seconds",
            "Time spent in autoroute per request, provider time excluded.",
            buckets=OVERHEAD_BUCKETS,
            registry=r,
        )
        self.provider_latency = Histogram(
            "autoroute_provider_latency_seconds",
            "Latency of successful provider calls.",
            ["model"],
            buckets=PROVIDER_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "autoroute_tokens",
            "Tokens sent to and received from providers.",
            ["model", "direction"],
            registry=r,
        )
        self.cost = Counter(
            "autoroute_cost_usd", "Provider cost in US dollars.", ["model"], registry=r
        )
        self.routed_total = Counter(
            "autoroute_routed",
            "Routing decisions by classified query type and chosen model.",
            ["query_type", "model"],
            registry=r,
        )
        self.fallbacks = Counter(
            "autoroute_fallbacks", "Fallbacks to the next model, by reason.", ["reason"], registry=r
        )
        self.provider_errors = Counter(
            "autoroute_provider_errors",
            "Failed provider attempts, by model and error kind.",
            ["model", "kind"],
            registry=r,
        )
        # The breaker state is shared by all workers (it lives in the store), so the
        # latest transition any live worker saw wins, not the max of stale views.
        self.circuit_open = Gauge(
            "autoroute_circuit_open",
            "1 while the model's circuit breaker is open.",
            ["model"],
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self.rewards = Counter(
            "autoroute_rewards", "Reward events accepted, by kind.", ["kind"], registry=r
        )
        self.rewards_applied = Counter(
            "autoroute_rewards_applied",
            "Reward events the learner has learned from, by kind.",
            ["kind"],
            registry=r,
        )
        self.reward_value = Counter(
            "autoroute_reward_value",
            "Sum of the reward values (in [0, 1]) the learner has learned from, by kind.",
            ["kind"],
            registry=r,
        )
        # Global quantities read from the store: the latest reading of a live process wins.
        self.learner_pending = Gauge(
            "autoroute_learner_pending",
            "Reward events delivered to the learner and not yet acknowledged.",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self.learner_oldest = Gauge(
            "autoroute_learner_oldest_pending_seconds",
            "Age of the oldest reward event not yet applied.",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self.model_version_age = Gauge(
            "autoroute_model_version_age_seconds",
            "Age of the model snapshot in use (worst live worker).",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.accounts = Gauge(
            "autoroute_accounts",
            "Accounts per learning stage.",
            ["stage"],
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        # Every family above, in definition order (series_names and the tests use it).
        self._families: tuple[Counter | Gauge | Histogram, ...] = tuple(
            v for v in vars(self).values() if isinstance(v, Counter | Gauge | Histogram)
        )
        self._exposition = self._build_exposition_registry()

    def _build_exposition_registry(self) -> CollectorRegistry:
        if not self.multiprocess:
            return self.registry
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return merged

    @property
    def exposition_registry(self) -> CollectorRegistry:
        """The registry to scrape: the merged view of all workers in multiprocess mode."""
        return self._exposition

    def _child(self, family: MetricWrapperBase, names: tuple[str, ...], *values: object) -> Any:
        """``family.labels(...)`` of the guarded ``values``, looked up once per distinct values.

        The guard maps a value it has let through the same way every time, so the
        child of a tuple of values never changes; tuples with an overflowing value
        are not kept, which bounds the cache by the series themselves. The lookup
        was nine guard calls and eight ``labels()`` per chat request (``labels``
        alone ~1 % of the server's time under load).
        """
        key = (family, values)
        child = self._children.get(key)
        if child is None:
            labels = [self._label(name, value) for name, value in zip(names, values, strict=True)]
            child = family.labels(*labels)
            if OVERFLOW_LABEL not in labels:
                self._children[key] = child
        return child

    # -- API side -----------------------------------------------------------

    def observe_request(self, route: str, status: int | str, strategy: str, model: str) -> None:
        """Count one served request. ``model`` is ``none`` when no model answered."""
        names = ("route", "status", "strategy", "model")
        self._child(self.requests, names, route, status, strategy, model).inc()

    def observe_overhead(self, seconds: float) -> None:
        """Record time spent in autoroute itself for one request."""
        self.overhead.observe(max(0.0, seconds))

    def observe_provider(
        self,
        model: str,
        latency_s: float,
        input_tokens: int,
        output_tokens: int,
        cost_usd: float,
    ) -> None:
        """Record one successful provider call: latency, tokens both ways, cost."""
        child = self._child
        child(self.provider_latency, ("model",), model).observe(max(0.0, latency_s))
        tokens = ("model", "direction")
        child(self.tokens, tokens, model, "input").inc(max(0, input_tokens))
        child(self.tokens, tokens, model, "output").inc(max(0, output_tokens))
        child(self.cost, ("model",), model).inc(max(0.0, cost_usd))

    def routed(self, query_type: str, model: str) -> None:
        """Count one routing decision for the model-mix-per-query-type panels."""
        self._child(self.routed_total, ("query_type", "model"), query_type, model).inc()

    def fallback(self, reason: str) -> None:
        """Count one fallback to the next model (``timeout``, ``rate_limit``, ...)."""
        self._child(self.fallbacks, ("reason",), reason).inc()

    def provider_error(self, model: str, kind: str) -> None:
        """Count one failed provider attempt; ``kind`` is the error class name or category."""
        self._child(self.provider_errors, ("model", "kind"), model, kind).inc()

    def set_circuit(self, model: str, open: bool) -> None:
        """Publish the breaker state of ``model``; call it on every transition."""
        self._child(self.circuit_open, ("model",), model).set(1.0 if open else 0.0)

    def reward_accepted(self, kind: str) -> None:
        """Count one reward event published to the learner stream."""
        self._child(self.rewards, ("kind",), kind).inc()

    # -- learner side -------------------------------------------------------

    def reward_applied(self, kind: str, n: int = 1, value_sum: float | None = None) -> None:
        """Count ``n`` reward events the learner has applied to a model.

        Args:
            kind: the reward kind (``auto``, ``rating``, ``failure``, ``default``).
            n: how many events of that kind were applied.
            value_sum: the sum of their reward values; feeds the mean-reward trend.
        """
        label = self._label("kind", kind)
        self.rewards_applied.labels(label).inc(max(0, n))
        if value_sum is not None:
            self.reward_value.labels(label).inc(max(0.0, value_sum))

    def set_learner_lag(self, pending: int, oldest_s: float) -> None:
        """Publish how far the learner is behind: events pending and the oldest age.

        Call it periodically (each learner poll): the value is a reading, not a timer.
        """
        self.learner_pending.set(max(0, pending))
        self.learner_oldest.set(max(0.0, oldest_s))

    def set_model_version_age(self, seconds: float) -> None:
        """Publish the age of the model snapshot this process routes with.

        Call it periodically (each snapshot-reloader poll), so the age keeps growing
        while no new snapshot arrives; the stale-model alert relies on that.
        """
        self.model_version_age.set(max(0.0, seconds))

    def set_accounts(self, stage_counts: Mapping[str, int]) -> None:
        """Publish accounts per stage; known stages missing from the mapping read 0."""
        for stage in STAGES:
            if stage not in stage_counts:
                self.accounts.labels(stage).set(0)
        for stage, count in stage_counts.items():
            self.accounts.labels(self._label("stage", stage)).set(max(0, count))

    # -- exposition ---------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        return generate_latest(self._exposition), CONTENT_TYPE_LATEST

    def series_names(self) -> frozenset[str]:
        """Every sample name these families can export (e.g. ``autoroute_tokens_total``)."""
        return frozenset(_series_names(self._families))

    def close(self) -> None:
        """Drop this worker's live gauges from the shared directory (multiprocess mode)."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def _series_names(families: Iterable[Counter | Gauge | Histogram]) -> Iterable[str]:
    for family in families:
        for described in family.describe():
            for suffix in _SUFFIXES[described.type]:
                yield described.name + suffix


def serve_metrics(
    metrics: Metrics, port: int, addr: str = "127.0.0.1"
) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``/metrics`` for a process without an HTTP app (the learner).

    Args:
        metrics: the process's metrics.
        port: TCP port; 0 picks a free one (read it from ``server.server_port``).
        addr: bind address; ``0.0.0.0`` in containers.

    Returns:
        The server and its daemon thread; call ``server.shutdown()`` to stop.
    """
    server, thread = start_http_server(port, addr, registry=metrics.exposition_registry)
    return server, thread
