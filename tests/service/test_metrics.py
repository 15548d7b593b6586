"""Unit tests for service.metrics: names, values, bounded labels, isolation."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from service.metrics import MAX_LABEL_VALUES, OVERFLOW_LABEL, Metrics, serve_metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, _ = metrics.render()
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_request_counter_has_the_documented_labels() -> None:
    m = Metrics()
    m.observe_request("/v1/chat/completions", 200, "auto", "small")
    m.observe_request("/v1/chat/completions", 200, "auto", "small")
    m.observe_request("/v1/chat/completions", "502", "cost", "none")
    got = samples(m)
    key = (
        ("model", "small"),
        ("route", "/v1/chat/completions"),
        ("status", "200"),
        ("strategy", "auto"),
    )
    assert got[("autoroute_requests_total", key)] == 2
    failed = (
        ("model", "none"),
        ("route", "/v1/chat/completions"),
        ("status", "502"),
        ("strategy", "cost"),
    )
    assert got[("autoroute_requests_total", failed)] == 1


def test_provider_observation_records_latency_tokens_and_cost() -> None:
    m = Metrics()
    m.observe_provider("big", latency_s=0.3, input_tokens=100, output_tokens=20, cost_usd=0.25)
    m.observe_provider("big", latency_s=0.7, input_tokens=10, output_tokens=5, cost_usd=0.5)
    got = samples(m)
    assert got[("autoroute_tokens_total", (("direction", "input"), ("model", "big")))] == 110
    assert got[("autoroute_tokens_total", (("direction", "output"), ("model", "big")))] == 25
    assert got[("autoroute_cost_usd_total", (("model", "big"),))] == 0.75
    assert got[("autoroute_provider_latency_seconds_count", (("model", "big"),))] == 2
    assert abs(got[("autoroute_provider_latency_seconds_sum", (("model", "big"),))] - 1.0) < 1e-9
    le_half = (("le", "0.5"), ("model", "big"))
    assert got[("autoroute_provider_latency_seconds_bucket", le_half)] == 1


def test_overhead_histogram_resolves_tens_of_microseconds() -> None:
    m = Metrics()
    m.observe_overhead(0.00004)
    m.observe_overhead(0.0002)
    got = samples(m)
    assert got[("autoroute_router_overhead_seconds_bucket", (("le", "5e-05"),))] == 1
    assert got[("autoroute_router_overhead_seconds_bucket", (("le", "0.00025"),))] == 2


def test_gauges_and_learning_counters() -> None:
    m = Metrics()
    m.set_circuit("big", True)
    m.set_circuit("small", True)
    m.set_circuit("small", False)
    m.reward_accepted("rating")
    m.reward_applied("rating", n=3, value_sum=2.25)
    m.reward_applied("rating")
    m.fallback("timeout")
    m.provider_error("big", "rate_limit")
    m.routed("code", "big")
    m.set_learner_lag(pending=7, oldest_s=2.5)
    m.set_model_version_age(42.0)
    m.set_accounts({"warm_up": 3})
    got = samples(m)
    assert got[("autoroute_circuit_open", (("model", "big"),))] == 1
    assert got[("autoroute_circuit_open", (("model", "small"),))] == 0
    assert got[("autoroute_rewards_total", (("kind", "rating"),))] == 1
    assert got[("autoroute_rewards_applied_total", (("kind", "rating"),))] == 4
    assert got[("autoroute_reward_value_total", (("kind", "rating"),))] == 2.25
    assert got[("autoroute_fallbacks_total", (("reason", "timeout"),))] == 1
    assert got[("autoroute_provider_errors_total", (("kind", "rate_limit"), ("model", "big")))] == 1
    assert got[("autoroute_routed_total", (("model", "big"), ("query_type", "code")))] == 1
    assert got[("autoroute_learner_pending", ())] == 7
    assert got[("autoroute_learner_oldest_pending_seconds", ())] == 2.5
    assert got[("autoroute_model_version_age_seconds", ())] == 42
    assert got[("autoroute_accounts", (("stage", "warm_up"),))] == 3
    assert got[("autoroute_accounts", (("stage", "cold_start"),))] == 0


def test_label_values_are_capped_per_label_name() -> None:
    m = Metrics(max_label_values=3)
    for i in range(10):
        m.fallback(f"reason-{i}")
    got = samples(m)
    reasons = {dict(k[1])["reason"] for k in got if k[0] == "autoroute_fallbacks_total"}
    assert reasons == {"reason-0", "reason-1", "reason-2", OVERFLOW_LABEL}
    assert got[("autoroute_fallbacks_total", (("reason", OVERFLOW_LABEL),))] == 7
    assert MAX_LABEL_VALUES >= 16


def test_repeated_label_values_count_as_before_and_overflow_is_not_cached() -> None:
    m = Metrics(max_label_values=2)
    for _ in range(3):
        for model in ("m-a", "m-b", "m-c", "m-d"):
            m.observe_request("/v1/chat/completions", 200, "auto", model)
            m.observe_provider(model, 0.01, 10, 5, 0.001)
    got = samples(m)
    by_model = {
        dict(k[1])["model"]: v for k, v in got.items() if k[0] == "autoroute_requests_total"
    }
    assert by_model == {"m-a": 3, "m-b": 3, OVERFLOW_LABEL: 6}
    tokens = ("autoroute_tokens_total", (("direction", "input"), ("model", OVERFLOW_LABEL)))
    assert got[tokens] == 60
    # Only the admitted values were kept; m-c and m-d go through the guard each time.
    kept = {values for _, values in m._children}
    assert ("/v1/chat/completions", 200, "auto", "m-c") not in kept
    assert ("/v1/chat/completions", 200, "auto", "m-a") in kept


def test_instances_are_isolated() -> None:
    a, b = Metrics(), Metrics()
    a.fallback("timeout")
    assert ("autoroute_fallbacks_total", (("reason", "timeout"),)) in samples(a)
    assert ("autoroute_fallbacks_total", (("reason", "timeout"),)) not in samples(b)


def test_series_names_cover_what_render_emits() -> None:
    m = Metrics()
    m.observe_request("/r", 200, "auto", "x")
    m.observe_overhead(0.001)
    m.observe_provider("x", 0.1, 1, 1, 0.1)
    m.routed("chat", "x")
    m.fallback("timeout")
    m.provider_error("x", "timeout")
    m.set_circuit("x", False)
    m.reward_accepted("auto")
    m.reward_applied("auto", value_sum=1.0)
    m.set_learner_lag(0, 0)
    m.set_model_version_age(1)
    m.set_accounts({})
    emitted = {name for name, _ in samples(m)}
    assert emitted <= m.series_names()
    assert "autoroute_tokens_total" in emitted and "autoroute_accounts" in emitted


def test_render_content_type_is_prometheus_text() -> None:
    body, content_type = Metrics().render()
    assert content_type.startswith("text/plain")
    assert b"# TYPE autoroute_requests_total counter" in body


def test_serve_metrics_exposes_the_registry_over_http() -> None:
    m = Metrics()
    m.reward_applied("rating", 2)
    server, thread = serve_metrics(m, 0)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback
            text = resp.read().decode()
        assert 'autoroute_rewards_applied_total{kind="rating"} 2.0' in text
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_no_family_has_an_unbounded_label() -> None:
    """Only labels with a fixed or catalog-sized set of values: never accounts or requests."""
    bounded = {"route", "status", "strategy", "model", "direction", "query_type", "reason"}
    bounded |= {"kind", "stage"}
    m = Metrics()
    for family in m._families:
        assert set(family._labelnames) <= bounded, family


def test_exports_every_series_the_dashboards_and_alerts_rely_on() -> None:
    """The names issue 6 fixes, so dashboards and alerts can depend on them."""
    contract = {
        "autoroute_requests_total",
        "autoroute_router_overhead_seconds_bucket",
        "autoroute_provider_latency_seconds_bucket",
        "autoroute_tokens_total",
        "autoroute_cost_usd_total",
        "autoroute_fallbacks_total",
        "autoroute_provider_errors_total",
        "autoroute_circuit_open",
        "autoroute_rewards_total",
        "autoroute_rewards_applied_total",
        "autoroute_learner_pending",
        "autoroute_learner_oldest_pending_seconds",
        "autoroute_model_version_age_seconds",
        "autoroute_accounts",
        "autoroute_routed_total",
    }
    assert contract <= Metrics().series_names()
