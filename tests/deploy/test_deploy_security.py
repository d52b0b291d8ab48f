"""No plaintext secret in the deployment files or in anything they render, and nothing
exposed outside the cluster by default."""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

import pytest
import yaml

from tests.deploy.manifests import OVERLAYS, ROOT, VALUE_SETS, helm_template, kustomize_text

SCANNED_DIRS = ("helm", "k8s")
SCANNED_FILES = ("Dockerfile", "Dockerfile.gpu", ".dockerignore", "docs/deploy.md",
                 "scripts/install-k8s-tools.sh")

# A value after a secret-ish key must be empty, a placeholder, a template or environment
# reference, or a boolean. Keys that name a Secret (existingSecret, postgresqlSecretName, ...)
# may also hold a lowercase DNS name: the Secret's name.
SECRET_KEY = re.compile(
    r"""(?ix)^\s*-?\s*["']?([\w.-]*(password|passwd|secret|token|apikey|api_key|access_key|private_key|credentials?)[\w.-]*)["']?\s*[:=]\s*(.*)$""")
REFERENCE_KEY = re.compile(r"(?i)(secrets?|secretname)$")
EMPTY_VALUE = re.compile(
    r"""(?x)^( |""|''|~|null|\{\}|\[\]|\#.*
        |<[^>]+>                          # <placeholder>
        |["']?\$\{?[A-Za-z_][A-Za-z0-9_]*\}?["']?   # $ENV reference
        |\{\{.*\}\}                       # template expression
        |true|false
        |[{\[]                             # a mapping or list follows (JSON, YAML flow)
        )\s*$""")
# Keys with a secret-ish word that hold no secret: EC2 instance metadata's token mode.
NOT_SECRET_KEYS = {"httpTokens"}
NAME_VALUE = re.compile(r"""^["']?[a-z0-9]([-a-z0-9.]*[a-z0-9])?["']?\s*(\#.*)?$""")
PATTERNS = {
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(r"(?i)aws.{0,20}['\"=: ][0-9a-zA-Z/+]{40}\b"),
    "private key": re.compile(r"-----BEGIN ([A-Z ]+ )?PRIVATE KEY-----"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "JWT": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\."),
    "URL with a password": re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@<$]+@"),
}


def secret_findings(text: str, origin: str) -> list[str]:
    found = []
    for n, line in enumerate(text.splitlines(), 1):
        for what, pattern in PATTERNS.items():
            if pattern.search(line):
                found.append(f"{origin}:{n}: {what}: {line.strip()}")
        m = SECRET_KEY.match(line)
        if m and m.group(1) not in NOT_SECRET_KEYS and not EMPTY_VALUE.match(m.group(3)):
            if not (REFERENCE_KEY.search(m.group(1)) and NAME_VALUE.match(m.group(3))):
                found.append(f"{origin}:{n}: value for {m.group(1)}: {line.strip()}")
    return found


def secret_data_findings(text: str, origin: str) -> list[str]:
    """Secret objects carrying data, and base64 blobs that decode to text anywhere."""
    found = []
    for doc in (d for d in yaml.safe_load_all(text) if d):
        if doc.get("kind") == "Secret" and (doc.get("data") or doc.get("stringData")):
            found.append(f"{origin}: Secret/{doc['metadata']['name']} carries data")
    for blob in re.findall(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{24,}={0,2}(?![A-Za-z0-9+/=])", text):
        if re.fullmatch(r"[a-z0-9]+", blob) or re.fullmatch(r"[0-9a-f]+", blob):
            continue  # hashes (e.g. checksum annotations) and plain words
        try:
            decoded = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        if decoded and all(32 <= b < 127 for b in decoded):
            found.append(f"{origin}: base64 text {blob[:12]}... -> {decoded[:12]!r}...")
    return found


def repo_files() -> list[Path]:
    files = [p for d in SCANNED_DIRS for p in sorted((ROOT / d).rglob("*")) if p.is_file()]
    return files + [ROOT / f for f in SCANNED_FILES]


def test_scanner_catches_secrets() -> None:
    """The checks below can fail: each kind of leak is caught."""
    leaks = {
        "postgresqlPassword: hunter2hunter2": "value for",
        "  password: 'S3cr3t!'": "value for",
        "TICKFLOW_PG_DSN: postgresql://tickflow:pw123@db:5432/tickflow": "URL with a password",
        "aws_access_key_id = AKIAABCDEFGHIJKLMNOP": "AWS access key id",
        "-----BEGIN RSA PRIVATE KEY-----": "private key",
        "token: ghp_" + "a" * 36: "GitHub token",
        "apiToken: abcdefghij": "value for",
        "existingSecret: Sup3r$ecret!": "value for",
    }
    for line, what in leaks.items():
        assert any(what in f for f in secret_findings(line, "x")), line
    secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  password: " + \
        base64.b64encode(b"correct horse battery staple").decode() + "\n"
    found = secret_data_findings(secret, "x")
    assert any("carries data" in f for f in found) and any("base64 text" in f for f in found)
    # and references are not findings
    for ok in ("existingSecret: tickflow-secrets", "postgresqlPassword: \"\"", "password:",
               "postgresqlSecretName: dagster-postgresql-secret", "key: postgres-password",
               "  -v tick_pw=\"${TICKFLOW_DB_PASSWORD}\""):
        assert not secret_findings(ok, "x"), ok


def test_repository_files_hold_no_secret() -> None:
    findings = []
    for path in repo_files():
        text = path.read_text(errors="replace")
        findings += secret_findings(text, str(path.relative_to(ROOT)))
        if path.suffix in {".yaml", ".yml"} and "{{" not in text:
            findings += secret_data_findings(text, str(path.relative_to(ROOT)))
    assert not findings, "\n".join(findings)


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_rendered_chart_holds_no_secret(value_set: str) -> None:
    text = helm_template(value_set)
    findings = secret_findings(text, f"helm template ({value_set})") + secret_data_findings(text, value_set)
    assert not findings, "\n".join(findings)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_overlays_hold_no_secret(overlay: str) -> None:
    text = kustomize_text(overlay)
    findings = secret_findings(text, f"kustomize {overlay}") + secret_data_findings(text, overlay)
    assert not findings, "\n".join(findings)


def test_nothing_exposed_by_default() -> None:
    """No LoadBalancer/NodePort Service, no Ingress, no external Kafka listener anywhere."""
    texts = [helm_template(v) for v in VALUE_SETS] + [kustomize_text(o) for o in OVERLAYS]
    for text in texts:
        for doc in (d for d in yaml.safe_load_all(text) if d):
            assert doc["kind"] not in {"Ingress", "Gateway", "HTTPRoute"}, doc["metadata"]["name"]
            if doc["kind"] == "Service":
                assert doc["spec"].get("type", "ClusterIP") == "ClusterIP"
            if doc["kind"] == "Kafka":
                assert all(lst["type"] == "internal" for lst in doc["spec"]["kafka"]["listeners"])
