"""Runs the commands of docs/oncall.md against the live deployment, in order.

The runbook's commands up to its "Restart the stack" section leave the deployment up, and
most of their time is waiting on the daemon (a backfill is picked up and finished on its
30-second iterations), so they run in a thread while the browser tests run
(tests/ui/conftest.py starts it); test_oncall_doc.py joins it, then runs the restart section
last, since `tickflow down` ends the deployment."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.ui.live_stack import REPO, Live

DOC = REPO / "docs" / "oncall.md"
RESTART = "## Restart the stack"


def commands(text: str) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def split_at_restart(text: str) -> tuple[list[str], list[str]]:
    """The commands before the restart section, and the restart section's own."""
    if RESTART not in text:
        raise ValueError(f"docs/oncall.md has no {RESTART!r} section")
    head, tail = text.split(RESTART, 1)
    return commands(head), commands(tail)


@dataclass
class Result:
    cmd: str
    returncode: int
    stdout: str
    stderr: str
    seconds: float


@dataclass
class RunbookRun:
    """Runs a list of commands in order, in a thread; stops at the first that fails."""

    live: Live
    cmds: list[str]
    gates: dict[str, threading.Event] = field(default_factory=dict)  # command prefix: wait for it first
    results: list[Result] = field(default_factory=list)
    error: BaseException | None = None
    _thread: threading.Thread | None = None

    def env(self) -> dict[str, str]:
        env = {**os.environ, **self.live.env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        env.pop("TICKFLOW_PG_DSN", None)
        return env

    def run_one(self, cmd: str) -> Result:
        t0 = time.monotonic()
        res = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=self.env(), cwd=REPO,
                             timeout=420)
        result = Result(cmd, res.returncode, res.stdout, res.stderr, time.monotonic() - t0)
        self.results.append(result)
        return result

    def _run_all(self) -> None:
        try:
            for cmd in self.cmds:
                for prefix, gate in self.gates.items():
                    if cmd.startswith(prefix) and not gate.wait(timeout=900):
                        raise TimeoutError(f"{cmd!r} waited 900 s for {prefix!r}'s gate")
                if self.run_one(cmd).returncode != 0:
                    return
        except BaseException as e:  # noqa: BLE001 - reported by join()
            self.error = e

    def start(self) -> RunbookRun:
        self._thread = threading.Thread(target=self._run_all, name="runbook", daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float) -> list[Result]:
        assert self._thread is not None
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"runbook commands still running after {timeout:.0f} s: "
                               f"{len(self.results)}/{len(self.cmds)} done")
        if self.error is not None:
            raise self.error
        return self.results
