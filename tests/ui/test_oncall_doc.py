"""docs/oncall.md cannot rot: every command in its bash blocks runs, in order, against the
live deployment (its last block restarts the stack, so this file runs after the UI tests)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.ui.live_stack import REPO, Live

DOC = REPO / "docs" / "oncall.md"


def commands(text: str) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_every_runbook_command_runs(live: Live) -> None:
    cmds = commands(DOC.read_text())
    assert len(cmds) >= 12 and any(c.startswith("tickflow backfill") for c in cmds)
    env = {**os.environ, **live.env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("TICKFLOW_PG_DSN", None)
    outputs = {}
    for cmd in cmds:
        res = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env, cwd=REPO, timeout=420)
        assert res.returncode == 0, f"{cmd}\n{res.stdout}\n{res.stderr}"
        outputs.setdefault(cmd, []).append(res.stdout)
    assert "dagster dev  running" in outputs["tickflow status"][0]
    assert "dagster dev  stopped" in outputs["tickflow status"][1]  # after `tickflow down`
    assert "postgres     running" in outputs["tickflow status"][2]  # after `tickflow up`
    backfill = outputs["tickflow backfill --select 'group:bars' --from 2024-06-17 --to 2024-06-18 --wait"][0]
    assert re.search(r"backfill \w+: 4 assets x 2 trading days", backfill) and "succeeded: 8 asset partitions" in backfill
    before, after = outputs["tickflow model list"]
    assert re.search(r"v1 .* champion", before) and re.search(r"v2 .* rejected", before)
    assert "decision" in after and "oncall: v1 champion from" in after and "rollback drill" in after
    [reasons] = [o[0] for c, o in outputs.items() if "FROM dead_letters GROUP BY reason" in c]
    assert "(0 rows)" not in reasons and " rows)" in reasons  # the streamed day's malformed messages
