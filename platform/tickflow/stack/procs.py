"""Process bookkeeping for servers the project starts: pid files, port checks, waits."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path


class PortInUse(RuntimeError):
    """A port the local stack needs is taken by something else."""


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_port(port: int, setting: str, what: str) -> None:
    if not port_free(port):
        raise PortInUse(
            f"port {port} needed by {what} is already in use; stop whatever holds it "
            f"or set {setting} to another port"
        )


def wait_for_port(port: int, timeout: float, host: str = "127.0.0.1") -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.1)
    return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as dead.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def stop_pid(pid: int, timeout: float = 15.0) -> None:
    """SIGINT, then SIGTERM, then SIGKILL the process group (or the process), each given
    `timeout` seconds. noida-db and dagster dev shut down cleanly on SIGINT only."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return
            time.sleep(0.1)


def pid_file_state(path: Path, pid: int | None = None) -> tuple[str, int | None]:
    """("running", pid), ("crashed", pid) when the file names a process that is gone (a
    stale pid file: killed, or the machine restarted), or ("stopped", None) without a file."""
    if pid is None:
        try:
            pid = int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return "stopped", None
    return ("running", pid) if pid_alive(pid) else ("crashed", pid)


def _is_dagster_process(argv: list[str]) -> bool:
    for a in argv[:3]:
        base = a.rsplit("/", 1)[-1]
        if base == "dagster" or base.startswith(("dagster-webserver", "dagster-daemon")) or base.startswith("dagster."):
            return True
    return False


def dagster_processes(dagster_home: Path) -> list[int]:
    """Top-level Dagster processes (dagster dev, webserver, daemon) whose DAGSTER_HOME is
    ``dagster_home``: found however they were started, children of a matched process left out."""
    want = f"DAGSTER_HOME={dagster_home}".encode()
    matched: dict[int, int] = {}  # pid -> parent pid
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
            argv = [a.decode(errors="replace") for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if want in env and _is_dagster_process(argv):
            matched[int(entry.name)] = ppid
    return sorted(p for p, parent in matched.items() if parent not in matched)
