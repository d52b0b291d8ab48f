"""Real servers for the tests: PostgreSQL 18 (embedded wheel), PostgreSQL 15 with
TimescaleDB (Debian, built by `make timescaledb`) and a Kafka-protocol server (noida-db),
each started once per session on free ports under a temporary folder."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tickflow.config import Settings
from tickflow.stack.kafka import KafkaServer, ensure_topics
from tickflow.stack.postgres import DEBIAN_PG15_BIN, PgServer, timescale_available, wheel_bin_dir
from tickflow.stack.procs import free_port
from tickflow.store.schema import ensure_schema


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="tickflow-test-", dir="/tmp"))
    d.chmod(0o755)
    xdg = d / "xdg"
    xdg.mkdir(mode=0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(xdg)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_plain(workdir: Path) -> Iterator[PgServer]:
    server = PgServer(wheel_bin_dir(), workdir / "pg18", free_port())
    server.start()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def pg_timescale(workdir: Path) -> Iterator[PgServer]:
    if not timescale_available():
        pytest.fail("TimescaleDB for PostgreSQL 15 is not installed: run `make timescaledb`")
    server = PgServer(DEBIAN_PG15_BIN, workdir / "pg15ts", free_port(), preload="timescaledb")
    server.start()
    yield server
    server.destroy()


def _fresh_db(server: PgServer, extensions: tuple[str, ...] = ()) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    return server.ensure_database(name, extensions)


@pytest.fixture(params=["plain", "timescale"])
def store_dsn(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh tick store database, on each backend in turn."""
    if request.param == "plain":
        server = request.getfixturevalue("pg_plain")
        dsn = _fresh_db(server)
    else:
        server = request.getfixturevalue("pg_timescale")
        dsn = _fresh_db(server, ("timescaledb",))
    caps = ensure_schema(dsn)
    assert caps.layout == ("partitioned" if request.param == "plain" else "hypertable")
    yield dsn
    name = dsn.rsplit("/", 1)[1]
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def plain_dsn(pg_plain: PgServer) -> Iterator[str]:
    """A fresh tick store on the embedded PostgreSQL only (for Kafka-heavy tests)."""
    dsn = _fresh_db(pg_plain)
    ensure_schema(dsn)
    yield dsn
    with psycopg.connect(pg_plain.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dsn.rsplit("/", 1)[1]}" WITH (FORCE)')


@pytest.fixture(scope="session")
def kafka(workdir: Path) -> Iterator[KafkaServer]:
    server = KafkaServer(workdir / "kafka", free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(workdir: Path, kafka: KafkaServer, plain_dsn: str) -> Settings:
    """Settings pointing at the test servers, with topics of their own."""
    # One test that brings the shared broker down must not fail every later Kafka test.
    kafka.ensure_running()
    tag = uuid.uuid4().hex[:8]
    s = Settings(home=workdir / "home", kafka_port=kafka.port, pg_dsn=plain_dsn,
                 topic_trades=f"trades_{tag}", topic_quotes=f"quotes_{tag}", topic_partitions=2)
    ensure_topics(kafka.bootstrap, s.topics, s.topic_partitions)
    return s


ML_DAYS = [dt.date(2024, 6, d) for d in (10, 11, 12, 13, 14, 17, 18, 20)]  # XNYS sessions (19th: Juneteenth)


@pytest.fixture(scope="session")
def ml_history(pg_plain: PgServer) -> str:
    """A database holding ML_DAYS of simulated ticks with their bars and signals (3 symbols);
    built once, then copied for each test that needs it (``ml_dsn``)."""
    from tickflow.simulate.to_store import simulate_history

    dsn = _fresh_db(pg_plain)
    ensure_schema(dsn)
    simulate_history(dsn, ML_DAYS, n_symbols=3, trades_per_symbol=3000, seed=11)
    return dsn.rsplit("/", 1)[1]


@pytest.fixture
def ml_dsn(pg_plain: PgServer, ml_history: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh copy of ``ml_history`` (PostgreSQL template copy), also set as TICKFLOW_PG_DSN."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_plain.dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{ml_history}"')
    dsn = pg_plain.dsn(name)
    monkeypatch.setenv("TICKFLOW_PG_DSN", dsn)
    yield dsn
    with psycopg.connect(pg_plain.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
