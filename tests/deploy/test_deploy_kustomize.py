"""k8s/: every overlay renders with `kubectl kustomize`, every object validates, and the GPU
node-pool contract (label, taint, device plugin, PriorityClass, example pools) agrees with
tickflow.deploy.run_tags."""

from __future__ import annotations

import pytest

from tests.deploy import crds
from tests.deploy.manifests import (
    OVERLAYS,
    ROOT,
    chart_values,
    k8s_validate,
    load_yaml,
    pod_specs,
    rendered_overlay,
)
from tickflow.deploy import run_tags


def find(docs: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_validates(overlay: str) -> None:
    docs = rendered_overlay(overlay)
    assert docs
    for obj in docs:
        if crds.is_custom(obj):
            crds.validate_custom(obj)
        else:
            k8s_validate(obj)
    assert find(docs, "Namespace", "tickflow")
    assert find(docs, "PriorityClass", run_tags.TRAINING_PRIORITY_CLASS)
    assert find(docs, "Kafka", chart_values()["kafka"]["strimzi"]["clusterName"])
    # every namespaced object lands in tickflow, except the device plugin (kube-system)
    for obj in docs:
        ns = obj["metadata"].get("namespace")
        if obj["kind"] in {"Namespace", "PriorityClass", "NodePool", "EC2NodeClass"}:
            assert ns is None, obj["metadata"]["name"]
        elif obj["kind"] == "DaemonSet":
            assert ns == "kube-system"
        else:
            assert ns == "tickflow", (obj["kind"], obj["metadata"]["name"])


def test_overlays_differ_where_they_should() -> None:
    local, prod = rendered_overlay("local"), rendered_overlay("prod")
    [lpool], [ppool] = find(local, "KafkaNodePool"), find(prod, "KafkaNodePool")
    assert lpool["spec"]["replicas"] == 1
    assert lpool["spec"]["storage"]["volumes"][0]["type"] == "ephemeral"
    assert ppool["spec"]["replicas"] == 3
    assert ppool["spec"]["storage"]["volumes"][0]["type"] == "persistent-claim"
    assert ppool["spec"]["storage"]["volumes"][0]["deleteClaim"] is False
    [lk], [pk] = find(local, "Kafka"), find(prod, "Kafka")
    assert lk["spec"]["kafka"]["config"]["default.replication.factor"] == 1
    assert pk["spec"]["kafka"]["config"]["min.insync.replicas"] == 2
    assert pk["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False
    assert not find(local, "DaemonSet"), "no GPU device plugin on a local cluster"
    assert find(prod, "DaemonSet", "nvidia-device-plugin-daemonset")
    [quota] = find(prod, "ResourceQuota")
    assert "requests.nvidia.com/gpu" in quota["spec"]["hard"]


def test_kafka_topics_fit_the_clusters() -> None:
    """The chart's topic replication fits the overlay's broker count it is paired with."""
    pairs = {"local": "local", "prod": "prod"}
    for overlay, value_set in pairs.items():
        [pool] = find(rendered_overlay(overlay), "KafkaNodePool")
        topics = chart_values(value_set)["kafka"]["topics"]
        assert topics["replicas"] <= pool["spec"]["replicas"]
        assert topics["config"]["min.insync.replicas"] <= topics["replicas"]


def test_kafka_listeners_admit_only_clients() -> None:
    [kafka] = find(rendered_overlay("prod"), "Kafka")
    label = chart_values()["clientLabels"]["kafka"]
    ports = set()
    for listener in kafka["spec"]["kafka"]["listeners"]:
        assert listener["type"] == "internal", "no listener outside the cluster"
        assert listener["networkPolicyPeers"] == [{"podSelector": {"matchLabels": {label: "true"}}}]
        ports.add(listener["port"])
    assert ports == set(chart_values()["networkPolicy"]["kafka"]["clientPorts"])
    assert chart_values()["settings"]["kafkaBootstrap"].startswith(f"{kafka['metadata']['name']}-kafka-bootstrap:")


def test_device_plugin_runs_on_the_gpu_pool() -> None:
    [ds] = find(rendered_overlay("prod"), "DaemonSet", "nvidia-device-plugin-daemonset")
    spec = ds["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == run_tags.GPU_NODE_SELECTOR
    assert {"key": run_tags.GPU_TAINT_KEY, "operator": "Exists", "effect": run_tags.GPU_TAINT_EFFECT} in spec["tolerations"]
    assert spec["priorityClassName"] == "system-node-critical"
    [c] = spec["containers"]
    assert c["image"].startswith("nvcr.io/nvidia/k8s-device-plugin:v")
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and "memory" in c["resources"]["limits"]
    [vol] = spec["volumes"]
    assert vol["hostPath"]["path"] == "/var/lib/kubelet/device-plugins"


def test_priority_classes() -> None:
    docs = rendered_overlay("prod")
    [training] = find(docs, "PriorityClass", run_tags.TRAINING_PRIORITY_CLASS)
    [platform] = find(docs, "PriorityClass", "tickflow-platform")
    assert training["preemptionPolicy"] == "Never", "training never evicts ingest"
    assert training["value"] < platform["value"]
    assert not training.get("globalDefault") and not platform.get("globalDefault")
    assert chart_values("prod")["timescaledb"]["priorityClassName"] == platform["metadata"]["name"]


def test_karpenter_node_pool_matches_the_contract() -> None:
    docs = rendered_overlay("prod-eks-karpenter")
    [pool] = find(docs, "NodePool", "tickflow-gpu")
    [node_class] = find(docs, "EC2NodeClass")
    tmpl = pool["spec"]["template"]
    assert tmpl["metadata"]["labels"] == run_tags.GPU_NODE_SELECTOR
    assert tmpl["spec"]["taints"] == [{"key": run_tags.GPU_TAINT_KEY, "value": run_tags.GPU_TAINT_VALUE,
                                       "effect": run_tags.GPU_TAINT_EFFECT}]
    assert tmpl["spec"]["nodeClassRef"] == {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass",
                                            "name": node_class["metadata"]["name"]}
    assert "nvidia.com/gpu" in pool["spec"]["limits"]
    assert find(docs, "DaemonSet", "nvidia-device-plugin-daemonset"), "AL2023 nodes need the device plugin"


def test_eksctl_node_group_matches_the_contract() -> None:
    cfg = load_yaml(ROOT / "k8s" / "node-pools" / "eksctl-gpu-nodegroup.yaml")
    crds.validate_custom(cfg)
    [group] = cfg["managedNodeGroups"]
    assert group["labels"] == run_tags.GPU_NODE_SELECTOR
    assert group["taints"] == [{"key": run_tags.GPU_TAINT_KEY, "value": run_tags.GPU_TAINT_VALUE,
                                "effect": run_tags.GPU_TAINT_EFFECT}]
    assert group["minSize"] == 0, "the GPU pool scales to zero between trainings"


def test_local_and_prod_workloads_are_bounded() -> None:
    for overlay in OVERLAYS:
        for name, spec in (p for d in rendered_overlay(overlay) for p in pod_specs(d)):
            for c in spec["containers"]:
                assert c.get("resources", {}).get("limits"), (overlay, name)
    [limits] = find(rendered_overlay("local"), "LimitRange")
    [item] = limits["spec"]["limits"]
    assert item["type"] == "Container" and item["default"] and item["defaultRequest"]


def test_namespace_pod_security() -> None:
    [ns] = find(rendered_overlay("prod"), "Namespace")
    labels = ns["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] in {"baseline", "restricted"}
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
