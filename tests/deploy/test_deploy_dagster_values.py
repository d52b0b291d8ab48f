"""helm/dagster-values.yaml, checked without the official chart (it cannot be fetched here:
only package registries are reachable). The keys are checked against the chart's values
schema as of chart 1.13 (the fields its templates read, where the schema forbids extras), the
run launcher section is rendered the way the chart's instance ConfigMap renders it and
validated by dagster_k8s's own K8sRunLauncher config schema, and the values are checked
against the image, the tickflow chart and the sensor's worst case."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from tests.deploy.dockerfiles import dockerfile_cmd, dockerfile_expose
from tests.deploy.manifests import VALUE_SETS, chart_values, dagster_values, render_run_launcher

# Top-level keys of the official chart's values (DagsterHelmValues and chart globals).
CHART_TOP_LEVEL = {
    "global", "nameOverride", "fullnameOverride", "rbacEnabled", "imagePullSecrets", "serviceAccount",
    "dagsterWebserver", "dagster-user-deployments", "postgresql", "generatePostgresqlPasswordSecret",
    "generateCeleryConfigSecret", "rabbitmq", "redis", "flower", "ingress", "computeLogManager",
    "pythonLogs", "scheduler", "runLauncher", "dagsterDaemon", "busybox", "migrate", "telemetry",
    "retention", "concurrency", "additionalInstanceConfig",
}
GLOBAL_KEYS = {"postgresqlSecretName", "dagsterHome", "serviceAccountName", "celeryConfigSecretName",
               "dagsterInstanceConfigMap"}
# Sections whose chart schema forbids unknown keys.
K8S_RUN_LAUNCHER_KEYS = {
    "image", "imagePullPolicy", "jobNamespace", "loadInclusterConfig", "kubeconfigFile", "envConfigMaps",
    "envSecrets", "envVars", "volumeMounts", "volumes", "labels", "failPodOnRunFailure", "resources",
    "schedulerName", "securityContext", "runK8sConfig",
}
RUN_K8S_CONFIG_KEYS = {"containerConfig", "podSpecConfig", "podTemplateSpecMetadata", "jobSpecConfig", "jobMetadata"}
DAEMON_KEYS = {
    "enabled", "image", "runCoordinator", "heartbeatTolerance", "env", "envConfigMaps", "envSecrets",
    "deploymentLabels", "labels", "nodeSelector", "affinity", "tolerations", "podSecurityContext",
    "securityContext", "resources", "livenessProbe", "readinessProbe", "startupProbe", "annotations",
    "runMonitoring", "runRetries", "sensors", "schedules", "schedulerName", "volumeMounts", "volumes",
}
WEBSERVER_KEYS = {
    "dbStatementTimeout", "dbPoolRecycle", "logLevel", "schedulerName", "volumeMounts", "volumes", "pathPrefix",
    "replicaCount", "image", "nameOverride", "service", "workspace", "env", "envConfigMaps", "envSecrets",
    "deploymentLabels", "labels", "nodeSelector", "affinity", "tolerations", "podSecurityContext",
    "securityContext", "resources", "readinessProbe", "livenessProbe", "startupProbe", "annotations",
    "enableReadOnly",
}
USER_DEPLOYMENT_KEYS = {
    "name", "image", "port", "dagsterApiGrpcArgs", "codeServerArgs", "includeConfigInLaunchedRuns", "env",
    "envConfigMaps", "envSecrets", "annotations", "nodeSelector", "affinity", "tolerations",
    "podSecurityContext", "securityContext", "resources", "livenessProbe", "readinessProbe", "startupProbe",
    "labels", "volumeMounts", "volumes", "schedulerName", "service", "deploymentStrategy",
    "initContainers", "sidecarContainers", "serviceAccount", "replicaCount",
}
POSTGRESQL_KEYS = {"postgresqlScheme", "image", "enabled", "postgresqlHost", "postgresqlUsername",
                   "postgresqlPassword", "postgresqlDatabase", "postgresqlParams", "service"}

# sensors/ (imported below) uses observable_source_asset, beta in this Dagster release
pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")


def test_keys_are_the_charts() -> None:
    v = dagster_values()
    assert set(v) <= CHART_TOP_LEVEL, set(v) - CHART_TOP_LEVEL
    assert set(v["global"]) <= GLOBAL_KEYS
    k = v["runLauncher"]["config"]["k8sRunLauncher"]
    assert set(k) <= K8S_RUN_LAUNCHER_KEYS, set(k) - K8S_RUN_LAUNCHER_KEYS
    assert set(k["runK8sConfig"]) <= RUN_K8S_CONFIG_KEYS
    assert set(v["dagsterDaemon"]) <= DAEMON_KEYS, set(v["dagsterDaemon"]) - DAEMON_KEYS
    assert set(v["dagsterWebserver"]) <= WEBSERVER_KEYS, set(v["dagsterWebserver"]) - WEBSERVER_KEYS
    assert set(v["postgresql"]) <= POSTGRESQL_KEYS
    for dep in v["dagster-user-deployments"]["deployments"]:
        assert set(dep) <= USER_DEPLOYMENT_KEYS, set(dep) - USER_DEPLOYMENT_KEYS
        assert bool(dep.get("codeServerArgs")) != bool(dep.get("dagsterApiGrpcArgs")), "exactly one server command"
    # required by the chart's schema
    for key in ("enabled", "image", "runCoordinator", "heartbeatTolerance", "sensors", "schedules"):
        assert key in v["dagsterDaemon"], key
    assert v["dagsterDaemon"]["sensors"]["useThreads"] is True
    assert v["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert set(v["dagsterDaemon"]["runCoordinator"]["config"]) == {"queuedRunCoordinator"}


def test_run_launcher_config_is_accepted_by_dagster_k8s() -> None:
    from dagster._config import process_config, resolve_to_config_type
    from dagster_k8s import K8sRunLauncher

    cfg = render_run_launcher(dagster_values())
    result = process_config(resolve_to_config_type(K8sRunLauncher.config_type()), cfg)
    assert result.success, [e.message for e in result.errors or []]
    # and a typo would not be
    bad = dict(cfg, env_config_map=["x"])
    assert not process_config(resolve_to_config_type(K8sRunLauncher.config_type()), bad).success


def test_k8s_run_launcher_with_external_postgres_by_secret() -> None:
    v = dagster_values()
    assert v["runLauncher"]["type"] == "K8sRunLauncher"
    assert v["postgresql"]["enabled"] is False
    assert v["generatePostgresqlPasswordSecret"] is False
    assert v["postgresql"]["postgresqlPassword"] == "", "the password lives only in the Secret"
    assert v["global"]["postgresqlSecretName"]
    assert v["postgresql"]["postgresqlHost"] and v["postgresql"]["postgresqlDatabase"]
    for off in ("rabbitmq", "redis", "flower"):
        assert v[off]["enabled"] is False
    assert v["generateCeleryConfigSecret"] is False
    assert v["telemetry"]["enabled"] is False
    # dagster==X pins the chart and image versions
    import dagster

    for part in ("dagsterWebserver", "dagsterDaemon"):
        assert v[part]["image"]["tag"] == dagster.__version__


def test_webserver_not_public() -> None:
    v = dagster_values()
    assert v["dagsterWebserver"]["service"]["type"] == "ClusterIP"
    assert v["ingress"]["enabled"] is False
    assert v["dagsterWebserver"]["replicaCount"] >= 2


def test_user_code_deployment_matches_the_image() -> None:
    """The chart runs `dagster code-server start -h 0.0.0.0 -p <port> <codeServerArgs>` as the
    container's args: exactly the image's CMD, on the port it exposes."""
    v = dagster_values()
    [dep] = v["dagster-user-deployments"]["deployments"]
    chart_args = ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", str(dep["port"]), *dep["codeServerArgs"]]
    for dockerfile in ("Dockerfile", "Dockerfile.gpu"):
        assert dockerfile_cmd(dockerfile) == chart_args, dockerfile
        assert dockerfile_expose(dockerfile) == dep["port"], dockerfile
    assert dep["image"]["tag"] not in ("", "latest")
    assert v["dagster-user-deployments"]["enabled"] and v["dagster-user-deployments"]["enableSubchart"]
    assert dep["includeConfigInLaunchedRuns"]["enabled"] is False


@pytest.mark.parametrize("section", ["user-code", "runLauncher"])
def test_env_from_configmap_and_secret(section: str) -> None:
    v = dagster_values()
    chart = chart_values()
    part = (v["dagster-user-deployments"]["deployments"][0] if section == "user-code"
            else v["runLauncher"]["config"]["k8sRunLauncher"])
    assert part["envConfigMaps"] == [{"name": chart["settings"]["configMapName"]}]
    assert part["envSecrets"] == [{"name": chart["secrets"]["existingSecret"]}]
    assert part["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m["name"] for m in part["volumeMounts"]}
    volumes = {vol["name"]: vol for vol in part["volumes"]}
    assert "/tmp" in mounts and "emptyDir" in volumes[mounts["/tmp"]]
    home = v["global"]["dagsterHome"]
    assert home in mounts and "emptyDir" in volumes[mounts[home]]


def test_service_account_is_the_tickflow_charts() -> None:
    v = dagster_values()
    sa = chart_values()["dagster"]["serviceAccount"]
    assert sa["create"] is True
    assert v["global"]["serviceAccountName"] == sa["name"]
    assert v["serviceAccount"]["create"] is False and v["rbacEnabled"] is False
    assert v["dagster-user-deployments"]["serviceAccount"]["create"] is False


def env_of(part: dict[str, Any]) -> dict[str, str]:
    env = part["env"]
    return {e["name"]: e["value"] for e in env} if isinstance(env, list) else dict(env)


def test_sensor_timeout_covers_the_kafka_sensor() -> None:
    """kafka_offset_sensor's worst case: for each topic, one metadata call and one watermark
    call per partition, each bounded by watermarks()'s timeout."""
    from tickflow.kafka.reader import watermarks

    per_call = inspect.signature(watermarks).parameters["timeout"].default
    partitions = max(chart_values(s)["kafka"]["topics"]["partitions"] for s in VALUE_SETS)
    worst = 2 * (1 + partitions) * per_call
    v = dagster_values()
    for part in ("dagsterDaemon", "dagsterWebserver"):
        env = env_of(v[part])
        assert int(env["DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS"]) > worst, (part, worst)
        assert int(env["DAGSTER_SCHEDULE_GRPC_TIMEOUT_SECONDS"]) >= 60
    assert v["dagsterDaemon"]["runMonitoring"]["startTimeoutSeconds"] >= 600, "GPU nodes take minutes to appear"


def test_run_queue_limits_use_the_run_tags() -> None:
    from assets.raw_ticks import ingest_job
    from sensors.automation import automation_sensor
    from sensors.kafka_offsets import ingest_request
    from tickflow.deploy import run_tags

    queue = dagster_values()["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    limits = queue["tagConcurrencyLimits"]
    pools = {lim["value"]: lim["limit"] for lim in limits if lim["key"] == "tickflow/queue"}
    # two ingest runs: a follower's successor starts while it follows (the handover)
    assert pools["ingest"] == 2 and pools["derived"] >= 1
    kinds = [lim for lim in limits if lim["key"] == run_tags.KIND_TAG]
    assert kinds and kinds[0]["value"] == run_tags.TRAINING_KIND
    assert all(lim["limit"] >= 1 for lim in limits)
    # the runs carry the tags the limits name: an ingest run as the sensor requests it (its
    # request's tags over the job's), and the automation sensor's derived runs
    request = ingest_request("trades:p0=0-10", [("trades", {0: (0, 10)})])
    assert {**ingest_job.tags, **request.tags}.get("tickflow/queue") == "ingest"
    assert automation_sensor.run_tags.get("tickflow/queue") == "derived"


def test_platform_pods_security() -> None:
    v = dagster_values()
    parts = [v["dagsterWebserver"], v["dagsterDaemon"], v["dagster-user-deployments"]["deployments"][0]]
    for part in parts:
        psc, sc = part["podSecurityContext"], part["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] > 0
        assert psc["seccompProfile"]["type"] == "RuntimeDefault"
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert {"cpu", "memory"} <= set(part["resources"]["requests"]) and part["resources"]["limits"]["memory"]
