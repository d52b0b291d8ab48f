"""helm/tickflow: lint, render with every shipped value set, validate every object, and
check the contracts the rest of the deployment relies on."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.deploy import crds
from tests.deploy.manifests import (
    CHART,
    NAMESPACE,
    RELEASE,
    ROOT,
    VALUE_SETS,
    chart_values,
    dagster_values,
    helm_template,
    k8s_validate,
    pod_specs,
    rendered_chart,
    tool,
)

CONFIG_PY = ROOT / "platform" / "tickflow" / "config.py"


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_helm_lint(value_set: str) -> None:
    files: list[str] = []
    for f in VALUE_SETS[value_set]:
        files += ["-f", str(CHART / f)]
    proc = subprocess.run([tool("helm"), "lint", "--strict", str(CHART), "--namespace", NAMESPACE, *files],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_rendered_object_validates(value_set: str) -> None:
    docs = rendered_chart(value_set)
    assert docs, "nothing rendered"
    builtin = [d for d in docs if not crds.is_custom(d)]
    custom = [d for d in docs if crds.is_custom(d)]
    for obj in builtin:
        k8s_validate(obj)
    for obj in custom:
        crds.validate_custom(obj)
    kinds = {d["kind"] for d in docs}
    assert {"ConfigMap", "ServiceAccount", "Role", "RoleBinding", "NetworkPolicy"} <= kinds
    values = chart_values(value_set)
    if values["timescaledb"]["enabled"]:
        assert {"StatefulSet", "Service"} <= kinds
        assert ("PodDisruptionBudget" in kinds) == (values["timescaledb"]["pdb"]["enabled"]
                                                    or values["dagster"]["pdb"]["webserver"]["enabled"])
    if chart_values(value_set)["kafka"]["strimzi"]["enabled"]:
        assert len(by_kind(docs, "KafkaTopic")) == 2


def test_validation_is_strict() -> None:
    """The validators reject what the cluster would: an unknown field, a bad enum."""
    sts = by_kind(rendered_chart("default"), "StatefulSet")[0]
    sts["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    with pytest.raises(AssertionError, match="resource"):
        k8s_validate(sts)
    topic = by_kind(rendered_chart("default"), "KafkaTopic")[0]
    topic["spec"]["partition"] = 3
    with pytest.raises(AssertionError, match="partition"):
        crds.validate_custom(topic)


def test_required_secret_names() -> None:
    """Secrets are referenced by name; rendering without the name fails loudly."""
    for flag in ("secrets.existingSecret=", "timescaledb.existingSecret="):
        proc = subprocess.run([tool("helm"), "template", RELEASE, str(CHART), "--set", flag],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert proc.returncode != 0, flag
        assert "existingSecret" in proc.stderr


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_no_secret_objects_and_refs_only(value_set: str) -> None:
    docs = rendered_chart(value_set)
    assert not by_kind(docs, "Secret"), "the chart must not render Secrets (existingSecret only)"
    values = chart_values(value_set)
    for sts in by_kind(docs, "StatefulSet"):
        for c in sts["spec"]["template"]["spec"]["containers"]:
            for env in c.get("env", []):
                if "PASSWORD" in env["name"]:
                    assert "value" not in env, env
                    assert env["valueFrom"]["secretKeyRef"]["name"] == values["timescaledb"]["existingSecret"]


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_pods_are_restricted_and_bounded(value_set: str) -> None:
    """Every pod this chart runs: non-root, no privilege escalation, no capabilities, seccomp,
    read-only root filesystem with writable emptyDirs where needed, requests and limits."""
    pods = [p for d in rendered_chart(value_set) for p in pod_specs(d)]
    if chart_values(value_set)["timescaledb"]["enabled"]:
        assert pods
    for name, spec in pods:
        psc = spec.get("securityContext", {})
        assert psc.get("runAsNonRoot") is True, name
        assert psc.get("runAsUser", 1) != 0, name
        assert psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        for c in spec.get("initContainers", []) + spec["containers"]:
            sc = c.get("securityContext", {})
            assert sc.get("allowPrivilegeEscalation") is False, (name, c["name"])
            assert sc.get("readOnlyRootFilesystem") is True, (name, c["name"])
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], (name, c["name"])
            assert not sc.get("privileged"), (name, c["name"])
            res = c.get("resources", {})
            assert {"cpu", "memory"} <= set(res.get("requests", {})), (name, c["name"])
            assert "memory" in res.get("limits", {}), (name, c["name"])
            mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
            assert "/tmp" in mounts, (name, c["name"], "no writable /tmp under a read-only root")
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        tmp = [v for v in volumes.values() if "emptyDir" in v]
        assert tmp, name


def test_timescaledb_statefulset() -> None:
    docs = rendered_chart("prod")
    sts = by_kind(docs, "StatefulSet")[0]
    values = chart_values("prod")["timescaledb"]
    assert sts["spec"]["replicas"] == 1
    [claim] = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == values["persistence"]["size"]
    assert claim["spec"]["storageClassName"] == values["persistence"]["storageClassName"]
    pod = sts["spec"]["template"]["spec"]
    [c] = pod["containers"]
    assert c["image"] == f"{values['image']['repository']}:{values['image']['tag']}"
    assert re.fullmatch(r"pg\d+\.\d+-ts\d+\.\d+\.\d+", values["image"]["tag"]), "exact image tag"
    assert f"timescaledb.license={values['license']}" in c["args"]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts["data"] == "/home/postgres/pgdata"
    assert mounts["initdb"] == "/docker-entrypoint-initdb.d"
    assert pod["priorityClassName"] == "tickflow-platform"
    # the init script's roles/databases are the ones dagster-values and the DSN use
    init = next(d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-initdb"))
    script = init["data"]["10-tickflow.sh"]
    dv = dagster_values()["postgresql"]
    assert f'-v dagster_db="{dv["postgresqlDatabase"]}"' in script
    assert f'-v dagster_user="{dv["postgresqlUsername"]}"' in script
    assert "CREATE EXTENSION IF NOT EXISTS timescaledb" in script
    svc = next(d for d in by_kind(docs, "Service") if not d["spec"].get("clusterIP") == "None")
    assert svc["metadata"]["name"] == dv["postgresqlHost"]
    pdb = next(d for d in by_kind(docs, "PodDisruptionBudget") if "timescaledb" in d["metadata"]["name"])
    assert pdb["spec"]["selector"]["matchLabels"].items() <= sts["spec"]["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_settings_configmap(value_set: str) -> None:
    """The ConfigMap holds only TICKFLOW_* names that tickflow.config reads (no DSN), and its
    partition count is the KafkaTopics' (one number in values: kafka.topics.partitions)."""
    docs = rendered_chart(value_set)
    values = chart_values(value_set)
    cm = next(d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == values["settings"]["configMapName"])
    known = set(re.findall(r'"(TICKFLOW_[A-Z_]+)"', CONFIG_PY.read_text()))
    data = cm["data"]
    for key in data:
        assert key in known or key.startswith("TICKFLOW_KAFKA_CONF_"), key
    assert "TICKFLOW_PG_DSN" not in data
    assert data["TICKFLOW_KAFKA_PROFILE"] == "production"
    assert int(data["TICKFLOW_TOPIC_PARTITIONS"]) == values["kafka"]["topics"]["partitions"]
    for topic in by_kind(docs, "KafkaTopic"):
        assert topic["spec"]["partitions"] == int(data["TICKFLOW_TOPIC_PARTITIONS"])
        assert topic["metadata"]["annotations"]["tickflow.io/message-key"] == "symbol"
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == values["kafka"]["strimzi"]["clusterName"]
        assert topic["spec"]["replicas"] >= topic["spec"]["config"]["min.insync.replicas"]
    names = {t["spec"]["topicName"] for t in by_kind(docs, "KafkaTopic")}
    if names:
        assert names == {data["TICKFLOW_TOPIC_TRADES"], data["TICKFLOW_TOPIC_QUOTES"]}
    assert ("TICKFLOW_GPU_IMAGE" in data) == bool(values["settings"]["gpuImage"])


def test_network_policies_admit_exactly_the_platform_pods() -> None:
    """The labels the NetworkPolicies admit are the ones dagster-values.yaml puts on the
    platform's pods: the code server and run pods reach the tick store and Kafka, the
    webserver and daemon the tick store only."""
    docs = rendered_chart("default")
    values = chart_values("default")
    db_label, kafka_label = values["clientLabels"]["database"], values["clientLabels"]["kafka"]
    pols = {d["metadata"]["name"]: d for d in by_kind(docs, "NetworkPolicy")}
    db = pols[f"{RELEASE}-timescaledb"]
    assert db["spec"]["policyTypes"] == ["Ingress"]
    [rule] = db["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {db_label: "true"}}}]
    assert rule["ports"] == [{"port": 5432, "protocol": "TCP"}]
    sts = by_kind(docs, "StatefulSet")[0]
    assert db["spec"]["podSelector"]["matchLabels"].items() <= sts["spec"]["template"]["metadata"]["labels"].items()

    kafka = pols[f"{RELEASE}-kafka"]
    client_rule = kafka["spec"]["ingress"][0]
    assert client_rule["from"] == [{"podSelector": {"matchLabels": {kafka_label: "true"}}}]
    assert {p["port"] for p in client_rule["ports"]} == {9092, 9093}

    dv = dagster_values()
    [dep] = dv["dagster-user-deployments"]["deployments"]
    launcher = dv["runLauncher"]["config"]["k8sRunLauncher"]
    for labels in (dep["labels"], launcher["labels"]):
        assert labels[db_label] == "true" and labels[kafka_label] == "true"
    for part in ("dagsterWebserver", "dagsterDaemon"):
        assert dv[part]["labels"][db_label] == "true"
        assert kafka_label not in dv[part]["labels"]

    code = pols[f"{RELEASE}-code-server"]
    assert code["spec"]["podSelector"]["matchLabels"]["deployment"] == dep["name"]
    assert code["spec"]["ingress"][0]["ports"] == [{"port": dep["port"], "protocol": "TCP"}]


def test_run_launcher_rbac_and_service_account() -> None:
    docs = rendered_chart("default")
    dv = dagster_values()
    [sa] = by_kind(docs, "ServiceAccount")
    assert sa["metadata"]["name"] == dv["global"]["serviceAccountName"] == dv["serviceAccount"]["name"]
    [role] = by_kind(docs, "Role")
    [binding] = by_kind(docs, "RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NAMESPACE}]
    grants = {(g, r): set(rule["verbs"]) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert {"create", "get", "list", "watch", "delete"} <= grants[("batch", "jobs")]
    assert {"get", "list", "watch"} <= grants[("", "pods")]
    assert "get" in grants[("", "pods/log")]
    assert {"get", "list", "watch"} <= grants[("", "events")]
    assert not any("*" in verbs for verbs in grants.values()), "no wildcard verbs"
    assert ("", "secrets") not in grants, "the run launcher never reads Secrets"


def test_webserver_pdb_selects_the_chart_webserver() -> None:
    [pdb] = [d for d in by_kind(rendered_chart("default"), "PodDisruptionBudget") if "webserver" in d["metadata"]["name"]]
    sel = pdb["spec"]["selector"]["matchLabels"]
    assert sel == {"app.kubernetes.io/name": "dagster", "app.kubernetes.io/instance": "dagster",
                   "component": "dagster-webserver"}
    assert dagster_values()["dagsterWebserver"]["replicaCount"] > pdb["spec"]["minAvailable"]


def test_values_schema_rejects_typos() -> None:
    proc = subprocess.run([tool("helm"), "template", RELEASE, str(CHART), "--set", "timescaledb.persistance.size=1Gi"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode != 0 and "persistance" in proc.stderr


def test_template_output_is_deterministic() -> None:
    assert helm_template("default") == helm_template.__wrapped__("default")  # type: ignore[attr-defined]


def test_chart_files_exist() -> None:
    for f in ("Chart.yaml", "values.yaml", "values.schema.json", *(f for fs in VALUE_SETS.values() for f in fs)):
        assert (CHART / f).is_file(), f
    assert Path(CHART / "templates" / "NOTES.txt").is_file()
