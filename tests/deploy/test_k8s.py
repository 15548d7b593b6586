"""deploy/k8s: schema-valid manifests (kubernetes-validate, offline) that fit together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.conftest import REPO

K8S = REPO / "deploy/k8s"
KUBERNETES_VERSION = "1.30.0"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in MANIFESTS:
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def find(kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}"
    return matches[0]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_is_valid_for_kubernetes(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_validator_rejects_an_unknown_field() -> None:
    service = find("Service", "autoroute-api")
    broken = {**service, "spec": {**service["spec"], "selectr": {}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in MANIFESTS)


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def test_api_deployment_probes_health_endpoints_and_runs_unprivileged() -> None:
    api = find("Deployment", "autoroute-api")
    c = container(api)
    assert c["args"][:3] == ["serve", "--host", "0.0.0.0"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert c["livenessProbe"]["httpGet"]["port"] in ports
    annotations = api["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == ports["http"]
    assert annotations["prometheus.io/path"] == "/metrics"
    assert api["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    multiproc = {e["name"]: e["value"] for e in c["env"]}["PROMETHEUS_MULTIPROC_DIR"]
    assert any(multiproc == m or multiproc.startswith(m + "/") for m in mounts), (
        "multiprocess metric files need a writable, per-pod volume"
    )
    assert "/tmp" in mounts, "a read-only root filesystem still needs a writable /tmp"
    assert "cpu" in c["resources"]["requests"], "the HPA needs a CPU request"


def test_learner_deployment_is_single_and_probed_on_its_metrics_port() -> None:
    learner = find("Deployment", "autoroute-learner")
    c = container(learner)
    assert c["args"][0] == "learner"
    assert learner["spec"]["replicas"] == 1
    assert learner["spec"]["strategy"]["type"] == "Recreate"
    port = {p["name"]: p["containerPort"] for p in c["ports"]}["metrics"]
    assert c["livenessProbe"]["httpGet"]["port"] == "metrics"
    args = c["args"]
    assert int(args[args.index("--metrics-port") + 1]) == port
    assert args[args.index("--metrics-host") + 1] == "0.0.0.0"
    annotations = learner["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == port


def test_service_and_hpa_target_the_api_pods() -> None:
    api = find("Deployment", "autoroute-api")
    pod_labels = api["spec"]["template"]["metadata"]["labels"]
    service = find("Service", "autoroute-api")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    hpa = find("HorizontalPodAutoscaler", "autoroute-api")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "autoroute-api")
    assert hpa["spec"]["minReplicas"] >= 2


def test_pods_read_settings_from_the_configmap_and_secret() -> None:
    for name in ("autoroute-api", "autoroute-learner"):
        refs = container(find("Deployment", name))["envFrom"]
        assert find("ConfigMap", refs[0]["configMapRef"]["name"])
        secret = find("Secret", refs[1]["secretRef"]["name"])
        assert len(secret["stringData"]["AUTOROUTE_HASH_SECRET"]) >= 16
    assert find("ConfigMap", "autoroute-config")["data"]["AUTOROUTE_REDIS_URL"].startswith(
        "redis://"
    )
