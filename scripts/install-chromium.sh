#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests (tests/ui, driven by Playwright for Python
# with executable_path=/usr/bin/chromium: Playwright's own browser download is not reachable
# here). Idempotent: a no-op (well under a second) when /usr/bin/chromium runs.
set -euo pipefail

if [[ -x /usr/bin/chromium ]] && /usr/bin/chromium --version >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [[ "$(id -u)" != "0" ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium
/usr/bin/chromium --version
