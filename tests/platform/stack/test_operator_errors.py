"""Each component down: one line naming it, where, the setting and the fix; `status` tells
stopped from crashed; `down` stops Dagster processes it finds on the stack."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance

import definitions
from tickflow.config import Settings
from tickflow.ops.errors import ComponentUnreachable, mask_dsn
from tickflow.stack.local import LocalStack
from tickflow.stack.procs import free_port, pid_alive


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tickflow.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def _one_line(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 3, res.stderr
    assert "Traceback" not in res.stderr
    [line] = res.stderr.strip().splitlines()
    return line


def test_masking() -> None:
    assert mask_dsn("postgresql://u:s3cret@db:5432/t") == "postgresql://u:***@db:5432/t"
    assert mask_dsn("host=db password=s3cret dbname=t") == "host=db password=*** dbname=t"
    assert mask_dsn("postgresql://u@db/t") == "postgresql://u@db/t"


def test_each_component_down_is_one_actionable_line() -> None:
    pg, kafka, web = free_port(), free_port(), free_port()
    env = {"TICKFLOW_PG_DSN": f"postgresql://tick:s3cret@127.0.0.1:{pg}/tickflow", "TICKFLOW_KAFKA_PORT": str(kafka),
           "TICKFLOW_DAGSTER_PORT": str(web)}
    line = _one_line(_cli("model", "list", env=env))
    assert line == (f"error: PostgreSQL (tick store) unreachable at postgresql://tick:***@127.0.0.1:{pg}/tickflow "
                    "(connection refused); set TICKFLOW_PG_DSN (local: TICKFLOW_PG_PORT) to point elsewhere, "
                    "or start it locally with `tickflow up`")
    line = _one_line(_cli("simulate", "--symbols", "1", env=env))
    assert line.startswith(f"error: Kafka unreachable at 127.0.0.1:{kafka} (")
    assert line.endswith("set TICKFLOW_KAFKA_BOOTSTRAP (local: TICKFLOW_KAFKA_PORT) to point elsewhere, "
                         "or start it locally with `tickflow up`")
    line = _one_line(_cli("backfill", "--select", "group:bars", "--from", "2024-06-17", "--to", "2024-06-18",
                          env=env))
    assert line == (f"error: Dagster webserver unreachable at http://127.0.0.1:{web} ([Errno 111] Connection refused);"
                    " set TICKFLOW_UI_URL (local: TICKFLOW_DAGSTER_PORT) to point elsewhere, or start it locally "
                    "with `tickflow dev`")


def test_a_run_without_its_store_fails_with_the_line_and_keeps_the_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("TICKFLOW_PG_DSN", f"postgresql://tick:s3cret@127.0.0.1:{port}/tickflow")
    job = definitions.defs.resolve_job_def("train_job")
    with DagsterInstance.ephemeral() as instance:
        res = job.execute_in_process(partition_key="2024-06-21", instance=instance, raise_on_error=False)
    assert not res.success
    # in process, resources start with the run: the run fails before any step
    ev = res.get_run_failure_event()
    chain, err = [], ev.event_specific_data.error  # type: ignore[union-attr]
    while err is not None:
        chain.append(err)
        err = err.cause
    ours = [e for e in chain if e.cls_name == ComponentUnreachable.__name__]
    assert ours and "postgresql://tick:***@127.0.0.1" in ours[0].message and "`tickflow up`" in ours[0].message
    assert "s3cret" not in ours[0].message
    assert any(e.cls_name == "OperationalError" for e in chain)  # the original stays in the run log


def test_status_tells_crashed_from_stopped_and_up_recovers(workdir: Path) -> None:
    stack = LocalStack(Settings(home=workdir / "crash", pg_port=free_port(), kafka_port=free_port(),
                                dagster_port=free_port()))
    try:
        stack.up(log=lambda _: None)
        pg_pid, kafka_pid = stack.pg.pid(), stack.kafka.pid()
        assert pg_pid and kafka_pid
        os.kill(pg_pid, signal.SIGKILL)
        os.kill(kafka_pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while (pid_alive(pg_pid) or pid_alive(kafka_pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        (stack.run_dir / "dagster-dev.pid").write_text("999999")  # a dev that died without cleaning up
        st = stack.status()
        assert st["postgres"].startswith("crashed: stale pid file") and f"pid {pg_pid}" in st["postgres"]
        assert st["kafka"].startswith("crashed: stale pid file") and "`tickflow up`" in st["kafka"]
        assert st["dagster dev"].startswith("crashed: stale pid file") and "`tickflow dev`" in st["dagster dev"]
        stack.up(log=lambda _: None)
        st = stack.status()
        assert st["postgres"].startswith("running") and st["kafka"].startswith("running")
    finally:
        stack.down(log=lambda _: None)
    st = stack.status()
    assert st["postgres"] == "stopped" and st["kafka"] == "stopped" and st["dagster dev"] == "stopped"


def test_down_stops_a_dagster_dev_it_finds(workdir: Path) -> None:
    """A `dagster dev` started by hand on this stack's DAGSTER_HOME (no pid file of ours)."""
    stack = LocalStack(Settings(home=workdir / "dev", pg_port=free_port(), kafka_port=free_port()))
    stack.dagster_home.mkdir(parents=True)
    # argv[0] "dagster": what `ps` shows for `dagster dev`; sleep stands in for the server
    proc = subprocess.Popen(["bash", "-c", "exec -a dagster sleep 300"], start_new_session=True,
                            env={**os.environ, "DAGSTER_HOME": str(stack.dagster_home)})
    other = subprocess.Popen(["bash", "-c", "exec -a dagster sleep 300"], start_new_session=True,
                             env={**os.environ, "DAGSTER_HOME": str(workdir / "someone-else")})
    try:
        time.sleep(0.3)
        assert f"pids {proc.pid}" in stack.status()["dagster dev"]
        stack.down(log=lambda _: None)
        assert proc.wait(timeout=30) is not None
        assert other.poll() is None  # another stack's Dagster is left alone
    finally:
        for p in (proc, other):
            if p.poll() is None:
                p.kill()
                p.wait()
