"""`tickflow demo` starts the demo as `python -m demo` from the repository root (the engine
never imports it); the entry point must import and parse there without a `sys.path` edit.
The demo itself runs end to end under `make demo` (minutes; not part of the suite)."""

from __future__ import annotations

import subprocess
import sys

from tickflow.cli import REPO


def test_python_m_demo_runs_from_the_repository_root() -> None:
    proc = subprocess.run([sys.executable, "-m", "demo", "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "--symbols" in proc.stdout and "--seed" in proc.stdout and "--date" in proc.stdout


def test_the_demo_module_imports_from_the_root() -> None:
    from demo import run

    assert run.REPO == REPO and (REPO / "workspace.yaml").exists()
