"""A broker that died is started again by ensure_running; a live one is left alone."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tickflow.stack.kafka import KafkaServer
from tickflow.stack.procs import free_port, wait_for_port


def test_ensure_running_restarts_a_dead_broker(workdir: Path) -> None:
    server = KafkaServer(workdir / "kafka-ensure", free_port())
    server.start()
    try:
        assert server.ensure_running() is False
        pid = server.pid()
        assert pid is not None
        os.killpg(pid, signal.SIGKILL)  # a crash, not a shutdown
        deadline = time.monotonic() + 10
        while wait_for_port(server.port, 0.2) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.ensure_running() is True
        assert wait_for_port(server.port, 5.0)
        assert server.pid() not in (None, pid)
        assert server.ensure_running() is False
    finally:
        server.stop()
