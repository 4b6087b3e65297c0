"""Every Kubernetes manifest validates offline against a pinned Kubernetes version, and the pieces
refer to each other (and to converge's code) consistently."""

from __future__ import annotations

import copy
import functools
import importlib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from resources.memory_split import parse_size
from resources.training_policy import TRAINING_POOL
from shared.settings import Settings
from shared.versions import REPOSITORY_ROOT

KUBERNETES_VERSION = "1.32.0"
K8S = REPOSITORY_ROOT / "deploy" / "k8s"
MANIFEST_FILES = sorted(K8S.rglob("*.yaml"))


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


@functools.cache
def _parsed() -> tuple[dict[str, Any], ...]:
    return tuple(doc for path in MANIFEST_FILES for doc in _documents(path))


def _all() -> list[dict[str, Any]]:
    """Every manifest document, as a copy a test may change."""
    return copy.deepcopy(list(_parsed()))


def _find(kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in _all() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def _pod_specs() -> list[tuple[str, dict[str, Any]]]:
    specs = []
    for doc in _all():
        if doc["kind"] in {"Deployment", "StatefulSet", "Job"}:
            specs.append(
                (f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"])
            )
    return specs


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", [])}


@pytest.mark.parametrize("path", MANIFEST_FILES, ids=lambda p: str(p.relative_to(K8S)))
def test_manifest_is_valid_kubernetes(path: Path) -> None:
    documents = _documents(path)
    assert documents
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        assert document["metadata"].get("namespace", "converge") == "converge"


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda d: d["spec"].__setitem__("replicas", "three"), "replicas"),
        (lambda d: d["spec"]["template"]["spec"].__setitem__("restartPolicy", 1), "restartPolicy"),
        (lambda d: d["spec"].__setitem__("replicaz", 2), "replicaz"),
    ],
)
def test_the_validator_rejects_broken_manifests(mutate: Any, error: str) -> None:
    deployment = _find("Deployment", "serving")
    mutate(deployment)
    with pytest.raises(kubernetes_validate.ValidationError, match=error):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_every_container_has_resource_limits_and_runs_unprivileged() -> None:
    for owner, spec in _pod_specs():
        assert spec["securityContext"]["runAsNonRoot"] is True, owner
        for container in spec["containers"]:
            limits = container["resources"]["limits"]
            assert {"cpu", "memory"} <= set(limits), owner
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, owner


def test_references_resolve() -> None:
    names = {(d["kind"], d["metadata"]["name"]) for d in _all()}
    for owner, spec in _pod_specs():
        if "serviceAccountName" in spec:
            assert ("ServiceAccount", spec["serviceAccountName"]) in names, owner
        for container in spec["containers"]:
            for source in container.get("envFrom", []):
                ref = source.get("configMapRef") or source["secretRef"]
                kind = "ConfigMap" if "configMapRef" in source else "Secret"
                assert (kind, ref["name"]) in names, f"{owner} reads missing {kind} {ref['name']}"
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert ("ConfigMap", volume["configMap"]["name"]) in names, owner
    for binding in (d for d in _all() if d["kind"] == "RoleBinding"):
        assert ("Role", binding["roleRef"]["name"]) in names
        for subject in binding["subjects"]:
            assert ("ServiceAccount", subject["name"]) in names
    for service in (d for d in _all() if d["kind"] == "Service"):
        selector = service["spec"]["selector"]
        assert any(selector.items() <= spec_labels.items() for spec_labels in _template_labels()), (
            f"Service {service['metadata']['name']} selects no pods"
        )


def _template_labels() -> list[dict[str, str]]:
    return [
        d["spec"]["template"]["metadata"]["labels"]
        for d in _all()
        if d["kind"] in {"Deployment", "StatefulSet", "Job"}
    ]


def test_h2o_cluster_discovers_itself_through_the_headless_service() -> None:
    headless = _find("Service", "h2o")
    statefulset = _find("StatefulSet", "h2o")
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    env = _env(container)

    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    assert statefulset["spec"]["serviceName"] == "h2o"
    assert statefulset["spec"]["podManagementPolicy"] == "Parallel"
    assert env["H2O_KUBERNETES_SERVICE_DNS"] == "h2o.converge.svc.cluster.local"
    assert int(env["H2O_NODE_EXPECTED_COUNT"]) == statefulset["spec"]["replicas"]
    probe = container["readinessProbe"]["httpGet"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert probe["path"] == "/kubernetes/isLeaderNode"
    assert ports[probe["port"]] == int(env["H2O_K8S_API_PORT"])
    assert ports["internal"] == ports["api"] + 1  # H2O talks node-to-node on port + 1
    assert container["command"] == ["h2o-entrypoint.sh"]
    resources = container["resources"]
    assert resources["requests"]["memory"] == resources["limits"]["memory"]
    leader = _find("Service", "h2o-leader")
    assert leader["spec"]["selector"] == headless["spec"]["selector"]
    config = _find("ConfigMap", "converge-config")["data"]
    assert config["H2O_URL"] == "http://h2o-leader.converge.svc:54321"
    # Training checks the cloud it joins against the size the StatefulSet starts.
    assert int(config["H2O_CLOUD_SIZE"]) == statefulset["spec"]["replicas"]
    assert env["H2O_CLOUD_NAME"] == Settings().h2o_cloud_name


def test_serving_probes_hit_the_probe_port_off_the_event_loop() -> None:
    from serving.config import ServingSettings
    from serving.probes import LIVE_PATH, READY_PATH

    container = _find("Deployment", "serving")["spec"]["template"]["spec"]["containers"][0]
    env = _env(container)
    settings = ServingSettings(
        probe_port=env["CONVERGE_SERVING_PROBE_PORT"], probe_host=env["CONVERGE_SERVING_PROBE_HOST"]
    )
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports["probes"] == settings.probe_port != ports["http"]
    assert settings.probe_host == "0.0.0.0"  # the kubelet comes from the node, not loopback
    probes = {kind: container[kind]["httpGet"] for kind in ("livenessProbe", "startupProbe")}
    assert all(probe == {"path": LIVE_PATH, "port": "probes"} for probe in probes.values())
    assert container["readinessProbe"]["httpGet"] == {"path": READY_PATH, "port": "probes"}
    assert all(
        container[kind]["timeoutSeconds"] <= 1 for kind in ("livenessProbe", "readinessProbe")
    )
    service = _find("Service", "serving")["spec"]["ports"]
    assert [port["targetPort"] for port in service] == ["http"]  # probes stay inside the pod
    assert container["image"].split("/")[-1].startswith("converge-serving:")
    assert "java" not in " ".join(container["command"])


def _dagster_instance() -> dict[str, Any]:
    data = _find("ConfigMap", "dagster-instance")["data"]
    instance: dict[str, Any] = yaml.safe_load(data["dagster.yaml"])
    return instance


def test_dagster_instance_passes_dagsters_own_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster._config import process_config
    from dagster._core.instance.config import dagster_instance_config

    # What the pods get from the ConfigMap and the Secret.
    for key, value in _find("ConfigMap", "converge-config")["data"].items():
        monkeypatch.setenv(key, value)
    for key, value in _find("Secret", "converge-training-secrets")["stringData"].items():
        monkeypatch.setenv(key, value)
    (tmp_path / "dagster.yaml").write_text(
        _find("ConfigMap", "dagster-instance")["data"]["dagster.yaml"]
    )
    config, _ = dagster_instance_config(str(tmp_path))
    for section in ("run_launcher", "compute_logs"):
        module = importlib.import_module(config[section]["module"])
        component = getattr(module, config[section]["class"])
        result = process_config(component.config_type(), config[section]["config"])
        assert result.success, (section, result.errors)
    assert config["run_launcher"]["class"] == "K8sRunLauncher"
    assert config["concurrency"]["pools"]["granularity"] == "run"


def test_dagster_pieces_fit_together() -> None:
    launcher = _dagster_instance()["run_launcher"]["config"]
    names = {(d["kind"], d["metadata"]["name"]) for d in _all()}
    assert ("ConfigMap", launcher["instance_config_map"]) in names
    assert ("ServiceAccount", launcher["service_account_name"]) in names
    assert all(("ConfigMap", n) in names for n in launcher["env_config_maps"])
    assert all(("Secret", n) in names for n in launcher["env_secrets"])

    workspace = yaml.safe_load(_find("ConfigMap", "dagster-instance")["data"]["workspace.yaml"])
    server = workspace["load_from"][0]["grpc_server"]
    user_code = _find("Service", "dagster-user-code")
    assert server["host"] == "dagster-user-code.converge.svc"
    assert server["port"] == user_code["spec"]["ports"][0]["port"]

    deployment = _find("Deployment", "dagster-user-code")["spec"]["template"]["spec"]
    container = deployment["containers"][0]
    assert _env(container)["DAGSTER_CURRENT_IMAGE"] == container["image"]
    assert "assets.definitions" in container["command"]
    importlib.import_module("assets.definitions")

    # The pool the assets ask for is the one whose slots the init job sets.
    init = _find("Job", "dagster-instance-init")["spec"]["template"]["spec"]["containers"][0]
    assert f"concurrency set {TRAINING_POOL} " in init["command"][-1]

    # A run pod's memory limit is the task memory the training resources size a private JVM for.
    limits = launcher["run_k8s_config"]["container_config"]["resources"]["limits"]
    task_memory = _find("ConfigMap", "converge-config")["data"]["CONVERGE_TASK_MEMORY"]
    assert parse_size(limits["memory"]) == parse_size(task_memory)
    daemon = _find("Deployment", "dagster-daemon")
    assert daemon["spec"]["replicas"] == 1
    # The daemon with converge's backfill interval, as `converge demo` runs it (assets/daemon.py).
    (container,) = daemon["spec"]["template"]["spec"]["containers"]
    assert container["command"][:4] == ["python", "-m", "assets.daemon", "run"]


def _secret_keys(name: str) -> set[str]:
    return set(_find("Secret", name)["stringData"])


def _secrets_of(kind: str, name: str) -> set[str]:
    spec = _find(kind, name)["spec"]["template"]["spec"]
    return {
        source["secretRef"]["name"]
        for container in spec["containers"]
        for source in container.get("envFrom", [])
        if "secretRef" in source
    }


def test_each_component_gets_only_its_own_credentials() -> None:
    """Serving's Secret holds no owner or training URL, no Dagster URL; only the job migrates."""
    assert _secrets_of("Deployment", "serving") == {"converge-serving-secrets"}
    assert _secret_keys("converge-serving-secrets") == {
        "CONVERGE_SERVING_DATABASE_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    }
    for deployment in ("dagster-user-code", "dagster-daemon", "dagster-webserver"):
        assert _secrets_of("Deployment", deployment) == {"converge-training-secrets"}
    assert "DATABASE_URL" not in _secret_keys("converge-training-secrets")
    assert _secrets_of("Job", "converge-db-upgrade") == {"converge-migrate-secrets"}
    assert _secret_keys("converge-migrate-secrets") == {"DATABASE_URL"}


def _policies_for(labels: dict[str, str]) -> list[dict[str, Any]]:
    return [
        d["spec"]
        for d in _all()
        if d["kind"] == "NetworkPolicy"
        and d["spec"]["podSelector"].get("matchLabels", {}).items() <= labels.items()
    ]


def _admits(policies: list[dict[str, Any]], source: dict[str, str] | None) -> bool:
    """Whether any ingress rule admits a pod with labels `source` (None: outside the cluster)."""
    for policy in policies:
        for rule in policy.get("ingress", []):
            peers = rule.get("from")
            if peers is None:
                return True
            for peer in peers:
                selector = peer.get("podSelector", {})
                if source is None:
                    continue
                wanted = selector.get("matchLabels", {})
                expressions = selector.get("matchExpressions", [])
                if wanted.items() <= source.items() and all(
                    source.get(e["key"]) in e["values"] for e in expressions
                ):
                    return True
    return False


def test_only_serving_is_reachable_from_outside_and_h2o_only_from_training() -> None:
    pods = {
        "serving": {"app.kubernetes.io/name": "serving"},
        "h2o": {"app.kubernetes.io/name": "h2o"},
        "dagster-user-code": {"app.kubernetes.io/name": "dagster-user-code"},
        "dagster-webserver": {"app.kubernetes.io/name": "dagster-webserver"},
    }
    run_pod = _dagster_instance()["run_launcher"]["config"]["run_k8s_config"][
        "pod_template_spec_metadata"
    ]["labels"]
    deny_all = [
        d for d in _all() if d["kind"] == "NetworkPolicy" and d["spec"]["podSelector"] == {}
    ]
    assert deny_all and "ingress" not in deny_all[0]["spec"]
    for name, labels in pods.items():
        assert _admits(_policies_for(labels), None) == (name == "serving"), name
    h2o = _policies_for(pods["h2o"])
    assert _admits(h2o, run_pod) and _admits(h2o, pods["h2o"])
    assert not _admits(h2o, pods["serving"]) and not _admits(h2o, pods["dagster-webserver"])
    user_code = _policies_for(pods["dagster-user-code"])
    assert _admits(user_code, {"app.kubernetes.io/name": "dagster-daemon"})
    assert not _admits(user_code, pods["serving"])


def test_the_h2o_exporter_runs_beside_each_node_and_only_scrapers_reach_it() -> None:
    [statefulset] = [d for d in _all() if d["kind"] == "StatefulSet"]
    containers = {c["name"]: c for c in statefulset["spec"]["template"]["spec"]["containers"]}
    exporter = containers["h2o-exporter"]
    assert exporter["command"][:3] == ["converge", "h2o", "exporter"]
    assert "http://127.0.0.1:54321" in exporter["command"]
    assert [port["name"] for port in exporter["ports"]] == ["metrics"]
    h2o = _policies_for({"app.kubernetes.io/name": "h2o"})
    rules = [rule for policy in h2o for rule in policy.get("ingress", [])]
    scraper_rules = [
        rule
        for rule in rules
        if any(
            peer.get("podSelector", {}).get("matchLabels", {}).get("converge.io/metrics-scraper")
            for peer in rule["from"]
        )
    ]
    assert [[port["port"] for port in rule["ports"]] for rule in scraper_rules] == [["metrics"]]
