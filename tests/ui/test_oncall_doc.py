"""docs/oncall.md cannot rot: every command in its bash blocks runs, in order, against the
live deployment. The commands before its restart section run beside the browser tests
(tests/ui/runbook.py, started by tests/ui/conftest.py); this test, last in tests/ui, waits
for them and then runs the restart section, whose `tickflow down` ends the deployment."""

from __future__ import annotations

import io
import re

from tests.ui.conftest import ARTIFACTS
from tests.ui.live_stack import Live
from tests.ui.runbook import DOC, RunbookRun, commands, split_at_restart
from tickflow.ops.backfill import wait_backfill


def test_every_runbook_command_runs(live: Live, runbook: RunbookRun | None) -> None:
    text = DOC.read_text()
    cmds = commands(text)
    head, restart = split_at_restart(text)
    assert head + restart == cmds and restart[0] == "tickflow down"
    assert len(cmds) >= 12 and any(c.startswith("tickflow backfill") for c in cmds)
    assert runbook is not None, "the runbook's commands were not started (tests/ui/conftest.py)"
    runbook.join(timeout=900)
    for res in runbook.results:
        assert res.returncode == 0, f"{res.cmd}\n{res.stdout}\n{res.stderr}"
    outputs: dict[str, list[str]] = {}
    for res in runbook.results:
        outputs.setdefault(res.cmd, []).append(res.stdout)
    # the re-ingest is launched without --wait (the runbook follows it in the UI): to its end here
    reingest = outputs["tickflow backfill --select raw_quotes --from 2024-06-21 --to 2024-06-21"][0]
    bid = re.search(r"^backfill (\w+): 1 assets x 1 trading days", reingest, flags=re.M).group(1)  # type: ignore[union-attr]
    assert f"/runs/b/{bid}" in reingest  # its UI link
    progress = wait_backfill(live.api, bid, timeout_s=600, poll_s=1, out=io.StringIO())
    assert progress.status == "COMPLETED_SUCCESS" and progress.done == 1, progress
    for cmd in restart:
        res = runbook.run_one(cmd)
        assert res.returncode == 0, f"{res.cmd}\n{res.stdout}\n{res.stderr}"
        outputs.setdefault(res.cmd, []).append(res.stdout)
    assert [r.cmd for r in runbook.results] == cmds  # every command ran, in order
    ARTIFACTS.mkdir(parents=True, exist_ok=True)  # where the time goes
    (ARTIFACTS / "runbook-timings.txt").write_text("".join(f"{r.seconds:7.1f} s  {r.cmd}\n" for r in runbook.results))
    assert "dagster dev  running" in outputs["tickflow status"][0]
    assert "dagster dev  stopped" in outputs["tickflow status"][1]  # after `tickflow down`
    assert "postgres     running" in outputs["tickflow status"][2]  # after `tickflow up`
    # run once the UI's backfill is done (a gate in tests/ui/conftest.py): see there why
    backfill = outputs["tickflow backfill --select features --from 2024-06-17 --to 2024-06-18 --wait"][0]
    assert re.search(r"backfill \w+: 1 assets x 2 trading days", backfill) and "succeeded: 2 asset partitions" in backfill
    before, after = outputs["tickflow model list"]
    assert re.search(r"v1 .* champion", before) and re.search(r"v2 .* rejected", before)
    assert "decision" in after and "oncall: v1 champion from" in after and "rollback drill" in after
    [reasons] = [o[0] for c, o in outputs.items() if "FROM dead_letters GROUP BY reason" in c]
    assert "(0 rows)" not in reasons and " rows)" in reasons  # the streamed day's malformed messages
