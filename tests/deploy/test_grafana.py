"""Grafana dashboards: valid PromQL (promtool parses it), exported metrics only, provisioning."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.metrics import Metrics
from tests.deploy.conftest import REPO
from tests.deploy.promql import metric_names, substitute_grafana_variables

DASHBOARDS = sorted((REPO / "grafana/dashboards").glob("*.json"))
DATASOURCES = REPO / "grafana/provisioning/datasources/prometheus.yml"
PROVIDERS = REPO / "grafana/provisioning/dashboards/autoroute.yml"
LABEL_VALUES = re.compile(r"label_values\(\s*([^,()]+)\s*,")


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield f"{panel['title']}/{target['refId']}", target["expr"]
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            match = LABEL_VALUES.search(query)
            yield f"${var['name']}", match.group(1) if match else query


ALL_QUERIES = [(p.name, where, expr) for p in DASHBOARDS for where, expr in queries(load(p))]


def test_there_are_dashboards_and_queries() -> None:
    assert {p.name for p in DASHBOARDS} >= {"autoroute-overview.json", "autoroute-learning.json"}
    assert len(ALL_QUERIES) >= 20


def test_every_query_parses_with_promtool(promtool: str, tmp_path: Path) -> None:
    rules = [
        {"record": f"autoroute_dashboard:check_{i}", "expr": substitute_grafana_variables(expr)}
        for i, (_, _, expr) in enumerate(ALL_QUERIES)
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules)} rules found" in result.stdout


def test_promtool_check_catches_a_broken_query(promtool: str, tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    broken = {"record": "x:y", "expr": "sum by (model (rate(autoroute_requests_total[5m]))"}
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [broken]}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, timeout=30
    )
    assert result.returncode != 0


@pytest.mark.parametrize(("dashboard", "where", "expr"), ALL_QUERIES)
def test_every_query_uses_exported_metrics_only(dashboard: str, where: str, expr: str) -> None:
    used = metric_names(expr)
    assert used, f"{dashboard} {where}: no metric in {expr!r}"
    unknown = used - Metrics().series_names()
    assert not unknown, f"{dashboard} {where}: {sorted(unknown)} not exported by service.metrics"


def test_dashboards_cover_every_operator_question() -> None:
    used = set().union(*(metric_names(expr) for _, _, expr in ALL_QUERIES))
    topics = {
        "traffic": "autoroute_requests_total",
        "overhead latency": "autoroute_router_overhead_seconds_bucket",
        "provider latency": "autoroute_provider_latency_seconds_bucket",
        "cost": "autoroute_cost_usd_total",
        "tokens": "autoroute_tokens_total",
        "model mix per query type": "autoroute_routed_total",
        "fallbacks": "autoroute_fallbacks_total",
        "provider errors": "autoroute_provider_errors_total",
        "circuits": "autoroute_circuit_open",
        "reward trend": "autoroute_reward_value_total",
        "rewards applied": "autoroute_rewards_applied_total",
        "learner lag": "autoroute_learner_oldest_pending_seconds",
        "learner pending": "autoroute_learner_pending",
        "model age": "autoroute_model_version_age_seconds",
        "accounts per stage": "autoroute_accounts",
    }
    missing = {topic for topic, metric in topics.items() if metric not in used}
    assert not missing


def test_panels_use_the_provisioned_datasource_and_do_not_overlap() -> None:
    provisioned = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    uids = {ds["uid"] for ds in provisioned}
    seen_uids: set[str] = set()
    for path in DASHBOARDS:
        dashboard = load(path)
        assert dashboard["uid"] not in seen_uids
        seen_uids.add(dashboard["uid"])
        cells: dict[tuple[int, int], str] = {}
        for panel in panels(dashboard):
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, panel["title"]
            for x in range(grid["x"], grid["x"] + grid["w"]):
                for y in range(grid["y"], grid["y"] + grid["h"]):
                    assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                    cells[(x, y)] = panel["title"]
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] in uids, panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] in uids


def test_panels_are_core_grafana_types_with_units() -> None:
    core = {"row", "timeseries", "stat", "piechart", "state-timeline", "bargauge", "gauge"}
    for path in DASHBOARDS:
        dashboard = load(path)
        assert dashboard["schemaVersion"] >= 36 and dashboard["title"].startswith("autoroute")
        for panel in panels(dashboard):
            assert panel["type"] in core, f"{path.name}: {panel['title']}"
            if panel["type"] != "row":
                assert panel["targets"], panel["title"]
                assert panel["fieldConfig"]["defaults"].get("unit"), panel["title"]


def test_dashboard_provider_loads_the_dashboard_folder() -> None:
    providers = yaml.safe_load(PROVIDERS.read_text())["providers"]
    assert [p["type"] for p in providers] == ["file"]
    compose = yaml.safe_load((REPO / "deploy/docker-compose.yml").read_text())
    volumes = compose["services"]["grafana"]["volumes"]
    mounted = {v.split(":")[1] for v in volumes if "grafana/dashboards" in v.split(":")[0]}
    assert providers[0]["options"]["path"] in mounted


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (
            "sum by (model) (rate(autoroute_tokens_total[$__rate_interval]))",
            {"autoroute_tokens_total"},
        ),
        ('a{x=~"$var"} / ignoring (model) group_left sum by (q) (b offset 5m)', {"a", "b"}),
        ("histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m]))) > bool 1e-3", {"h_bucket"}),
        ("(x > 0 unless y > 0) or min(max by (model) (z)) == 1", {"x", "y", "z"}),
    ],
)
def test_metric_name_extraction(expr: str, expected: set[str]) -> None:
    assert metric_names(expr) == expected
