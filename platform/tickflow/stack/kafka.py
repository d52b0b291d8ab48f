"""The local Kafka-protocol server (noida-db, single node) and topic administration."""

from __future__ import annotations

import importlib.util
import subprocess
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from tickflow.config import child_env
from tickflow.stack.procs import read_pid, stop_pid, wait_for_port


def noida_binary() -> Path:
    # The wheel's console script is a Python wrapper that does not pass signals on; start
    # the binary itself so that its pid is the server's.
    spec = importlib.util.find_spec("noida_db")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("noida-db is not installed; run `make venv`")
    binary = Path(next(iter(spec.submodule_search_locations))) / "noida-db"
    binary.chmod(0o755)
    return binary


@dataclass
class KafkaServer:
    data_dir: Path
    port: int

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "tickflow.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def pid(self) -> int | None:
        return read_pid(self.pid_file)

    def start(self, timeout: float = 30.0) -> None:
        if self.pid() is not None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                [str(noida_binary()), "start", "--only", "kafka", "--data-dir", str(self.data_dir),
                 "--host", "127.0.0.1", "--kafka-port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env=child_env(),
            )
        self.pid_file.write_text(str(proc.pid))
        if not wait_for_port(self.port, timeout):
            stop_pid(proc.pid)
            tail = self.log_file.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"Kafka (noida-db) did not open port {self.port}:\n{tail}")

    def ensure_running(self) -> bool:
        """Start the server again if it no longer answers on its port (a crashed server can
        linger as a zombie with a live-looking pid). Returns True when it had to restart."""
        if wait_for_port(self.port, 2.0):
            return False
        self.stop()
        self.start()
        return True

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(pid)
        self.pid_file.unlink(missing_ok=True)


def ensure_topics(bootstrap: str, topics: tuple[str, ...], partitions: int, local: bool = True) -> None:
    """Create the tick topics (keyed by symbol) if missing; grow partitions if fewer.

    Locally retention is infinite: the server applies retention to old CreateTime stamps at
    once, and simulated or archived days carry old exchange timestamps."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = admin.list_topics(timeout=10).topics
    config = {"retention.ms": "-1"} if local else {}
    new = [NewTopic(t, num_partitions=partitions, replication_factor=1, config=config)
           for t in topics if t not in existing]
    if new:
        for topic, fut in admin.create_topics(new, operation_timeout=10).items():
            try:
                fut.result()
            except Exception as e:  # a concurrent creator is fine
                if "already exists" not in str(e).lower() and "TOPIC_ALREADY_EXISTS" not in str(e):
                    raise RuntimeError(f"could not create topic {topic}: {e}") from e
    grow = [NewPartitions(t, partitions) for t in topics
            if t in existing and len(existing[t].partitions) < partitions]
    if grow:
        for _, fut in admin.create_partitions(grow).items():
            fut.result()
