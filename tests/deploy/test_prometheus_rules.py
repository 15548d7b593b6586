"""promtool checks: the alert rules, their unit tests, the scrape config and /metrics lint."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from service.metrics import Metrics

REQUIRED_ALERTS = {
    "AutorouteHighErrorRate",
    "AutorouteAllProvidersFailing",
    "AutorouteLearnerLagging",
    "AutorouteCircuitOpen",
    "AutorouteStaleModel",
}


def run(cmd: list[str], cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        cwd=cwd,
        input=stdin.decode() if stdin else None,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_alert_rules_are_valid(promtool: str, repo: Path) -> None:
    result = run([promtool, "check", "rules", "deploy/prometheus/alerts.yml"], repo)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rule_unit_tests_pass(promtool: str, repo: Path) -> None:
    result = run([promtool, "test", "rules", "alerts_test.yml"], repo / "deploy/prometheus")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_every_required_alert_exists_and_is_unit_tested(repo: Path) -> None:
    rules = yaml.safe_load((repo / "deploy/prometheus/alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert alerts >= REQUIRED_ALERTS
    tests = yaml.safe_load((repo / "deploy/prometheus/alerts_test.yml").read_text())
    tested_firing = {
        case["alertname"]
        for t in tests["tests"]
        for case in t.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert tested_firing == alerts, "every alert needs a unit test where it fires"


def test_every_rule_uses_exported_metrics_only(repo: Path) -> None:
    from tests.deploy.promql import metric_names

    rules = yaml.safe_load((repo / "deploy/prometheus/alerts.yml").read_text())
    exported = Metrics().series_names()
    for group in rules["groups"]:
        for rule in group["rules"]:
            used = metric_names(rule["expr"])
            assert used, rule["expr"]
            assert used <= exported, f"{rule.get('alert')}: unknown {used - exported}"


def test_scrape_config_is_valid(promtool: str, repo: Path) -> None:
    result = run([promtool, "check", "config", "deploy/prometheus/prometheus.yml"], repo)
    assert result.returncode == 0, result.stdout + result.stderr


def test_metrics_output_passes_promtool_lint(promtool: str, repo: Path) -> None:
    m = Metrics()
    m.observe_request("/v1/chat/completions", 200, "auto", "x")
    m.observe_overhead(0.001)
    m.observe_provider("x", 0.1, 1, 1, 0.1)
    m.routed("chat", "x")
    m.fallback("timeout")
    m.provider_error("x", "timeout")
    m.set_circuit("x", False)
    m.reward_accepted("auto")
    m.reward_applied("auto", value_sum=0.5)
    m.set_learner_lag(3, 1.5)
    m.set_model_version_age(1)
    m.set_accounts({"warm_up": 1})
    body, _ = m.render()
    result = run([promtool, "check", "metrics"], repo, stdin=body)
    assert result.returncode == 0, result.stdout + result.stderr
    # The lint does flag a bad exposition, so a pass above means something.
    bad = run(
        [promtool, "check", "metrics"], repo, stdin=b"# HELP x_ms X.\n# TYPE x_ms counter\nx_ms 1\n"
    )
    assert bad.returncode != 0
