"""`tickflow up | down | status`: idempotent start, stop by pid, a clear error for a taken port."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
import pytest

from tickflow.config import Settings
from tickflow.stack.local import LocalStack
from tickflow.stack.procs import PortInUse, free_port, pid_alive


def test_up_is_idempotent_and_down_stops_by_pid(workdir: Path) -> None:
    stack = LocalStack(Settings(home=workdir / "stack", pg_port=free_port(), kafka_port=free_port()))
    try:
        stack.up(log=lambda _: None)
        pg_pid, kafka_pid = stack.pg.pid(), stack.kafka.pid()
        assert pg_pid and kafka_pid
        stack.up(log=lambda _: None)  # again: nothing restarts
        assert (stack.pg.pid(), stack.kafka.pid()) == (pg_pid, kafka_pid)
        status = stack.status()
        assert status["postgres"].startswith("running") and status["kafka"].startswith("running")
        with psycopg.connect(stack.settings.dsn) as conn:
            tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert {"trades", "quotes", "dead_letters", "offset_ledger"} <= tables
        yaml = (stack.dagster_home / "dagster.yaml").read_text()
        assert f":{stack.settings.pg_port}/dagster" in yaml
    finally:
        stack.down(log=lambda _: None)
    assert not pid_alive(pg_pid) and not pid_alive(kafka_pid)
    assert stack.status()["postgres"] == "stopped" and stack.status()["kafka"] == "stopped"


def test_a_taken_port_names_the_setting(workdir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        stack = LocalStack(Settings(home=workdir / "taken", pg_port=port, kafka_port=free_port()))
        with pytest.raises(PortInUse, match=rf"port {port}.*TICKFLOW_PG_PORT"):
            stack.up(log=lambda _: None)
    assert stack.kafka.pid() is None  # nothing half-started
