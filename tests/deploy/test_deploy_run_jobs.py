"""The Kubernetes Jobs the K8sRunLauncher builds for a training run and an ingest run, through
dagster_k8s's real launch path: a K8sRunLauncher configured from helm/dagster-values.yaml,
runs created from Dagster job definitions (their tags become run tags, as the daemon and the
webserver do), and `launch_run` with the Kubernetes API replaced by a recorder. The GPU
request, node selector, toleration and PriorityClass must be on the training Job only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import chart_values, dagster_values, k8s_validate, render_run_launcher
from tickflow.deploy import run_tags

# assets/ uses observable_source_asset, beta in this Dagster release
pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")

CPU_IMAGE = "registry.example.com/tickflow/user-code:0.1.0"
GPU_IMAGE = "registry.example.com/tickflow/user-code:0.1.0-gpu"


class RecordingBatchApi:
    def __init__(self) -> None:
        self.jobs: list[tuple[Any, str]] = []

    def create_namespaced_job_with_retries(self, body: Any, namespace: str) -> None:
        self.jobs.append((body, namespace))


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    import kubernetes
    from dagster import DagsterInstance
    from dagster._core.code_pointer import FileCodePointer
    from dagster._core.launcher import LaunchRunContext
    from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
    from dagster_k8s import K8sRunLauncher

    import definitions

    ingest_job = definitions.defs.resolve_job_def("ingest_job")
    train_job = definitions.defs.resolve_job_def("train_job")  # the real one: scheduled retraining

    tmp: Path = tmp_path_factory.mktemp("k8s-run-jobs")
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "test", "user": {}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
    }))
    config = render_run_launcher(dagster_values())
    # the cluster's in-cluster config is replaced by a dummy kubeconfig; nothing connects
    config.update(load_incluster_config=False, kubeconfig_file=str(kubeconfig))
    launcher = K8sRunLauncher(**config)
    recorder = RecordingBatchApi()
    launcher._api_client = recorder  # noqa: SLF001 - the only thing replaced

    out: dict[str, dict[str, Any]] = {}
    home = tmp / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as instance:
        launcher.register_instance(instance)
        # the ingest run as kafka_offset_sensor requests it: the offset ranges of every topic
        ingest_config = {"ops": {"ingest_offsets": {"config": {"ranges": {"trades": {"0": [0, 1000]}}}}}}
        requests: list[tuple[str, Any, dict[str, Any], dict[str, str]]] = [
            ("training", train_job, {}, {"dagster/partition": "2024-06-21"}),
            ("ingest", ingest_job, ingest_config, {"tickflow/topics": "trades"}),
        ]
        # every other job of the code location (the asset jobs the UI launches for bars,
        # signals, features, predictions...): they must never ask for a GPU either
        requests += [(f"other:{j.name}", j, {}, {"dagster/partition": "2024-06-21"} if j.partitions_def else {})
                     for j in definitions.defs.get_repository_def().get_all_jobs()
                     if j.name not in (train_job.name, ingest_job.name)]
        for kind, job_def, run_config, request_tags in requests:
            origin = JobPythonOrigin(job_def.name, RepositoryPythonOrigin(
                executable_path="/opt/venv/bin/python",
                code_pointer=FileCodePointer("definitions.py", "defs", working_directory="/app"),
                container_image=CPU_IMAGE,
            ))
            run = instance.create_run_for_job(job_def, run_config=run_config, job_code_origin=origin,
                                              tags={**job_def.run_tags, **request_tags})
            launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
            body, namespace = recorder.jobs[-1]
            out[kind] = {"job": kubernetes.client.ApiClient().sanitize_for_serialization(body),
                         "namespace": namespace, "tags": dict(run.tags)}
    yield out


def pod(job: dict[str, Any]) -> dict[str, Any]:
    return job["spec"]["template"]["spec"]


def container(job: dict[str, Any]) -> dict[str, Any]:
    [c] = pod(job)["containers"]
    return c


def test_jobs_are_valid_kubernetes(launched: dict[str, dict[str, Any]]) -> None:
    for kind, rec in launched.items():
        job = rec["job"]
        assert job["kind"] == "Job" and job["apiVersion"] == "batch/v1", kind
        k8s_validate(job)
        assert rec["namespace"] == "tickflow"
        names = [v["name"] for v in pod(job)["volumes"]]
        assert len(names) == len(set(names)), f"{kind}: duplicate volumes {names}"


def test_training_job_lands_on_the_gpu_pool(launched: dict[str, dict[str, Any]]) -> None:
    job = launched["training"]["job"]
    spec, c = pod(job), container(job)
    assert c["resources"]["limits"][run_tags.GPU_RESOURCE] == "1"
    # deep-merged onto the launcher's CPU defaults: every default overridden
    assert c["resources"]["requests"] == {"cpu": run_tags.TRAINING_CPU_REQUEST, "memory": run_tags.TRAINING_MEMORY_REQUEST}
    assert c["resources"]["limits"]["cpu"] == run_tags.TRAINING_CPU_LIMIT
    assert c["resources"]["limits"]["memory"] == run_tags.TRAINING_MEMORY_LIMIT
    assert spec["nodeSelector"] == {"tickflow.io/pool": "gpu"}
    assert spec["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present",
                                    "effect": "NoSchedule"}]
    assert spec["priorityClassName"] == "tickflow-training"
    # TICKFLOW_GPU_IMAGE unset when definitions.py loaded: the code location's image
    # (the variable's path: test_gpu_image_from_environment)
    assert c["image"] == CPU_IMAGE
    assert job["spec"]["template"]["metadata"]["labels"]["tickflow.io/pool"] == "gpu"
    assert launched["training"]["tags"][run_tags.KIND_TAG] == run_tags.TRAINING_KIND


def test_ingest_job_stays_on_cpu(launched: dict[str, dict[str, Any]]) -> None:
    job = launched["ingest"]["job"]
    spec, c = pod(job), container(job)
    assert "dagster-k8s/config" not in launched["ingest"]["tags"], "ingest runs use the launcher defaults"
    for section in ("requests", "limits"):
        assert run_tags.GPU_RESOURCE not in c["resources"].get(section, {})
    assert not spec.get("nodeSelector")
    assert not spec.get("tolerations")
    assert not spec.get("priorityClassName")
    assert c["image"] == CPU_IMAGE
    # the launcher defaults are the CPU ingest sizes of run_tags
    assert {"container_config": {"resources": c["resources"]}} == run_tags.cpu_ingest_k8s_config()


def test_no_other_job_requests_a_gpu(launched: dict[str, dict[str, Any]]) -> None:
    others = [k for k in launched if k.startswith("other:")]
    assert others, "the code location's asset jobs were rendered too"
    for kind in ["ingest", *others]:
        job = launched[kind]["job"]
        spec, c = pod(job), container(job)
        for section in ("requests", "limits"):
            assert run_tags.GPU_RESOURCE not in c["resources"].get(section, {}), kind
        assert not spec.get("tolerations") and not spec.get("nodeSelector"), kind


def test_both_jobs_carry_the_platform_contract(launched: dict[str, dict[str, Any]]) -> None:
    """What every run pod gets from dagster-values.yaml: settings and Secret by reference,
    the network-access labels, the service account, non-root with a read-only root."""
    chart = chart_values()
    for kind, rec in launched.items():
        job = rec["job"]
        spec, c = pod(job), container(job)
        refs = {(k, ref["name"]) for src in c["envFrom"] for k, ref in src.items()}
        assert ("configMapRef", chart["settings"]["configMapName"]) in refs, kind
        assert ("secretRef", chart["secrets"]["existingSecret"]) in refs, kind
        assert not [e for e in c.get("env", []) if "PG_DSN" in e["name"] or "PASSWORD" in e["name"] and "value" in e]
        labels = job["spec"]["template"]["metadata"]["labels"]
        assert labels[chart["clientLabels"]["database"]] == "true"
        assert labels[chart["clientLabels"]["kafka"]] == "true"
        assert spec["serviceAccountName"] == chart["dagster"]["serviceAccount"]["name"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert {"/tmp", "/opt/dagster/dagster_home"} <= mounts
        assert job["spec"]["backoffLimit"] == 0
        assert c["args"][:5] == ["/opt/venv/bin/python", "-m", "dagster", "api", "execute_run"]
        assert "command" not in c, "the image's ENTRYPOINT (dumb-init) must stay"


def test_tag_helpers() -> None:
    cfg = run_tags.gpu_training_k8s_config(gpus=2, image="")
    assert cfg["container_config"]["resources"]["limits"][run_tags.GPU_RESOURCE] == "2"
    assert "image" not in cfg["container_config"]
    with pytest.raises(ValueError):
        run_tags.gpu_training_k8s_config(gpus=0)
    ingest = run_tags.cpu_ingest_run_tags()
    assert "nvidia.com/gpu" not in ingest[run_tags.K8S_CONFIG_TAG]
    assert "tolerations" not in ingest[run_tags.K8S_CONFIG_TAG]


def test_gpu_image_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(run_tags.GPU_IMAGE_ENV, GPU_IMAGE)
    assert run_tags.gpu_training_k8s_config()["container_config"]["image"] == GPU_IMAGE
    monkeypatch.delenv(run_tags.GPU_IMAGE_ENV)
    assert "image" not in run_tags.gpu_training_k8s_config()["container_config"]
