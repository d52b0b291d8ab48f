"""The live feed's Deployment in helm/tickflow: one replica, Recreate, key from a Secret,
probes on the health endpoint the service really serves, egress only to the vendor, Kafka,
the tick store and DNS; every TICKFLOW_* it sets is a setting tickflow.config reads."""

from __future__ import annotations

import re

from tests.deploy.manifests import ROOT, chart_values, k8s_validate, parse_docs, rendered_chart

CONFIG_PY = ROOT / "platform" / "tickflow" / "config.py"
HEALTH_PY = ROOT / "platform" / "tickflow" / "feed" / "health.py"


def _feed(value_set: str) -> tuple[dict, dict]:
    docs = rendered_chart(value_set)
    [dep] = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-feed")]
    [pol] = [d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"].endswith("-feed")]
    return dep, pol


def test_feed_off_by_default_on_in_prod() -> None:
    assert not [d for d in rendered_chart("default") if d["metadata"]["name"].endswith("-feed")]
    dep, pol = _feed("prod")
    k8s_validate(dep)
    k8s_validate(pol)


def test_feed_deployment_contract() -> None:
    dep, _ = _feed("prod")
    values = chart_values("prod")
    spec = dep["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    [c] = pod["containers"]
    assert c["command"] == ["tickflow", "feed", "polygon"]
    env = {e["name"]: e for e in c["env"]}
    key = env["TICKFLOW_FEED_API_KEY"]
    assert "value" not in key
    assert key["valueFrom"]["secretKeyRef"] == {"name": values["feed"]["existingSecret"],
                                                "key": values["feed"]["keyField"]}
    known = set(re.findall(r'"(TICKFLOW_[A-Z_]+)"', CONFIG_PY.read_text()))
    assert set(env) <= known, set(env) - known
    port = int(env["TICKFLOW_FEED_HEALTH_PORT"]["value"])
    assert c["ports"] == [{"name": "health", "containerPort": port, "protocol": "TCP"}]
    served = set(re.findall(r'path == "(/[a-z]+)"', HEALTH_PY.read_text()))
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
        assert c[probe]["httpGet"] == {"path": path, "port": "health"} and path in served
    assert pod["terminationGracePeriodSeconds"] > 30  # the feed flushes for up to 30 s on SIGTERM
    labels = spec["template"]["metadata"]["labels"]
    for label in values["clientLabels"].values():
        assert labels[label] == "true"
    assert {e["secretRef"]["name"] for e in c["envFrom"] if "secretRef" in e} == {values["secrets"]["existingSecret"]}


def test_feed_network_policy_egress_only_where_needed() -> None:
    dep, pol = _feed("prod")
    values = chart_values("prod")
    assert pol["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert pol["spec"]["podSelector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert pol["spec"]["ingress"] == []  # no scrapers configured: probes only
    rules = pol["spec"]["egress"]
    vendor, kafka, db, dns = rules
    assert vendor["to"][0]["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert "10.0.0.0/8" in vendor["to"][0]["ipBlock"]["except"]
    assert [p["port"] for p in vendor["ports"]] == [443]
    assert kafka["to"] == [{"podSelector": {"matchLabels": {"strimzi.io/cluster": values["kafka"]["strimzi"]["clusterName"]}}}]
    assert {p["port"] for p in kafka["ports"]} == set(values["networkPolicy"]["kafka"]["clientPorts"])
    assert db["ports"] == [{"port": 5432, "protocol": "TCP"}]
    assert {p["port"] for p in dns["ports"]} == {53}


def test_feed_requires_the_key_secret_name() -> None:
    import subprocess

    from tests.deploy.manifests import CHART, RELEASE, tool

    proc = subprocess.run([tool("helm"), "template", RELEASE, str(CHART), "--set", "feed.enabled=true",
                           "--set", "feed.existingSecret="], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode != 0 and "existingSecret" in proc.stderr
    ok = subprocess.run([tool("helm"), "template", RELEASE, str(CHART), "--set", "feed.enabled=true",
                         "--set", "feed.networkPolicy.metricsFrom[0].podSelector.matchLabels.app=prometheus"],
                        capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert ok.returncode == 0, ok.stderr
    [pol] = [d for d in parse_docs(ok.stdout) if d["kind"] == "NetworkPolicy" and d["metadata"]["name"].endswith("-feed")]
    assert pol["spec"]["ingress"][0]["from"] == [{"podSelector": {"matchLabels": {"app": "prometheus"}}}]
