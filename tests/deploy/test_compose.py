"""deploy/docker-compose.yml: valid Compose, and wired to the files and ports it needs.

``docker compose config`` needs the Compose plugin, which CI does not have (only
PyPI and Debian are reachable). The file is always validated against the
Compose Specification JSON schema vendored in the ``check-jsonschema`` wheel,
and also with ``docker compose config`` wherever the plugin works.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import REPO

COMPOSE = REPO / "deploy/docker-compose.yml"


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def check_schema(path: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec"]
    return subprocess.run([*cmd, str(path)], capture_output=True, text=True, timeout=60)


def test_compose_file_matches_the_compose_spec_schema() -> None:
    result = check_schema(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_compose_file(tmp_path: Path) -> None:
    broken = compose()
    broken["services"]["api"]["ports"] = 8000
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    assert check_schema(path).returncode != 0


def compose_plugin_works() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not compose_plugin_works(), reason="docker compose plugin not installed")
def test_docker_compose_config_accepts_the_file() -> None:
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_stack_has_every_service() -> None:
    assert set(compose()["services"]) == {"redis", "api", "learner", "prometheus", "grafana"}


def test_redis_keeps_an_append_only_file_on_a_volume() -> None:
    redis = compose()["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data") for v in redis["volumes"])
    assert redis["healthcheck"]["test"][-1] == "ping"


def test_api_and_learner_run_the_image_commands_against_redis() -> None:
    services = compose()["services"]
    api, learner = services["api"], services["learner"]
    assert api["command"][:3] == ["serve", "--host", "0.0.0.0"]
    assert learner["command"][0] == "learner"
    assert api["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (COMPOSE.parent / api["build"]["context"] / api["build"]["dockerfile"]).is_file()
    for service in (api, learner):
        assert service["environment"]["AUTOROUTE_REDIS_URL"] == "redis://redis:6379/0"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["image"] == api["image"]
    # Multiprocess metric files go to a tmpfs, fresh on every container start.
    multiproc_dir = api["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    assert any(multiproc_dir.startswith(t.split(":")[0] + "/") for t in api["tmpfs"])


def test_bind_mounts_point_at_files_in_the_repository() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name}: {source} missing"


def test_prometheus_scrapes_the_api_and_learner_ports_of_the_stack() -> None:
    services = compose()["services"]
    config = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"][0] for job in config["scrape_configs"]
    }
    api_port = services["api"]["ports"][0].split(":")[-1]
    assert targets["autoroute-api"] == f"api:{api_port}"
    command = services["learner"]["command"]
    learner_port = command[command.index("--metrics-port") + 1]
    assert command[command.index("--metrics-host") + 1] == "0.0.0.0"
    assert targets["autoroute-learner"] == f"learner:{learner_port}"
    assert learner_port in " ".join(services["learner"]["healthcheck"]["test"])
    mounts = {v.split(":")[1] for v in services["prometheus"]["volumes"]}
    assert {"/etc/prometheus/prometheus.yml", "/etc/prometheus/alerts.yml"} <= mounts


def test_grafana_is_provisioned_with_datasource_and_dashboards() -> None:
    grafana = compose()["services"]["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"])
    assert mounts["../grafana/provisioning"] == "/etc/grafana/provisioning"
    dashboards_dir = mounts["../grafana/dashboards"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(dashboards_dir + "/")
    assert (REPO / "grafana/dashboards" / Path(home).name).is_file()
