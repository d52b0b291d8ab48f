"""Tick-store schema and the one place that detects what the server can do.

Tables: ``trades``, ``quotes`` (natural primary keys, so writing a row twice is a no-op),
``dead_letters`` (the raw payload and the reason for every input that did not become a
row) and ``offset_ledger`` (which Kafka offset ranges are in the store).

With TimescaleDB present, trades and quotes are hypertables with one-day chunks. Without
it they are declaratively range-partitioned by New York trading day, with a BRIN index on
time, and partitions are created on demand before a write. Either way partition-aligned
retention is available (``drop_days_before``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import psycopg
from psycopg import sql

from tickflow import sessions
from tickflow.store.gaps import ensure_gaps_schema
from tickflow.store.locks import Lock

TICK_TABLES = ("trades", "quotes")

_TABLES = {
    "trades": """
        ts            timestamptz      NOT NULL,
        sym           text             NOT NULL,
        trade_id      text             NOT NULL,
        exchange      smallint         NOT NULL,
        price         double precision NOT NULL,
        size          double precision NOT NULL,
        tape          smallint         NOT NULL,
        seq           bigint           NOT NULL,
        conditions    smallint[]       NOT NULL,
        ts_ns         bigint           NOT NULL,
        src_partition integer          NOT NULL,
        src_offset    bigint           NOT NULL,
        PRIMARY KEY (sym, ts, trade_id, exchange)
    """,
    "quotes": """
        ts            timestamptz      NOT NULL,
        sym           text             NOT NULL,
        bid_price     double precision NOT NULL,
        bid_size      double precision NOT NULL,
        ask_price     double precision NOT NULL,
        ask_size      double precision NOT NULL,
        bid_exchange  smallint         NOT NULL,
        ask_exchange  smallint         NOT NULL,
        tape          smallint         NOT NULL,
        seq           bigint           NOT NULL,
        conditions    smallint[]       NOT NULL,
        ts_ns         bigint           NOT NULL,
        src_partition integer          NOT NULL,
        src_offset    bigint           NOT NULL,
        PRIMARY KEY (sym, ts, ts_ns, seq)
    """,
}

# Column order of the binary COPY written by tickflow.store.pgcopy.
COPY_COLUMNS = {
    "trades": ("ts", "sym", "trade_id", "exchange", "price", "size", "tape", "seq", "conditions",
               "ts_ns", "src_partition", "src_offset"),
    "quotes": ("ts", "sym", "bid_price", "bid_size", "ask_price", "ask_size", "bid_exchange",
               "ask_exchange", "tape", "seq", "conditions", "ts_ns", "src_partition", "src_offset"),
}

_SUPPORT = """
CREATE TABLE IF NOT EXISTS dead_letters (
    topic        text        NOT NULL,
    partition    integer     NOT NULL,
    "offset"     bigint      NOT NULL,
    event_index  integer     NOT NULL,
    reason       text        NOT NULL,
    payload      bytea       NOT NULL,
    msg_ts       timestamptz,
    run_id       text,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset", event_index)
);
CREATE TABLE IF NOT EXISTS offset_ledger (
    topic         text        NOT NULL,
    partition     integer     NOT NULL,
    start_offset  bigint      NOT NULL,
    end_offset    bigint      NOT NULL CHECK (end_offset > start_offset),
    messages      bigint      NOT NULL,
    trades        bigint      NOT NULL,
    quotes        bigint      NOT NULL,
    duplicates    bigint      NOT NULL,
    dead_letters  bigint      NOT NULL,
    run_id        text,
    committed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, start_offset)
);
"""


@dataclass(frozen=True)
class Capabilities:
    server_version: int
    timescaledb: str | None  # extension version, or None

    @property
    def layout(self) -> str:
        return "hypertable" if self.timescaledb else "partitioned"


def detect(conn: psycopg.Connection) -> Capabilities:
    """What this server offers: the only place the storage layout is decided."""
    version = int(conn.execute("SHOW server_version_num").fetchone()[0])  # type: ignore[index]
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    if row is None:
        avail = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone()
        preloaded = conn.execute("SHOW shared_preload_libraries").fetchone()[0]  # type: ignore[index]
        if avail and "timescaledb" in preloaded:
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    if version < 150000:
        raise RuntimeError(f"tickflow needs PostgreSQL >= 15, server is {version}")
    return Capabilities(server_version=version, timescaledb=row[0] if row else None)


def ensure_schema(dsn: str) -> Capabilities:
    """Create the tick store if missing (idempotent, safe to run concurrently)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (int(Lock.TICK_TABLES),))
        try:
            caps = detect(conn)
            for table, cols in _TABLES.items():
                if caps.timescaledb:
                    conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
                        sql.Identifier(table), sql.SQL(cols)))
                    conn.execute(
                        "SELECT create_hypertable(%s, by_range('ts', INTERVAL '1 day'), if_not_exists => true)",
                        (table,),
                    )
                else:
                    conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}) PARTITION BY RANGE (ts)").format(
                        sql.Identifier(table), sql.SQL(cols)))
                    conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING brin (ts)").format(
                        sql.Identifier(f"{table}_ts_brin"), sql.Identifier(table)))
            conn.execute(_SUPPORT)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (int(Lock.TICK_TABLES),))
    ensure_gaps_schema(dsn)
    return caps


def partition_name(table: str, day: dt.date) -> str:
    if table not in TICK_TABLES:
        raise ValueError(f"not a tick table: {table!r}")
    return f"{table}_{day:%Y%m%d}"


def ensure_day_partitions(dsn: str, caps: Capabilities, days: list[dt.date]) -> None:
    """Create the New York-day partitions a write needs (plain PostgreSQL only).

    Runs on its own autocommit connection while an ingest transaction may be writing to
    the parent. ``CREATE TABLE ... PARTITION OF`` would need an ACCESS EXCLUSIVE lock on the
    parent and wait for that transaction forever; a standalone table attached with
    ``ATTACH PARTITION`` needs only SHARE UPDATE EXCLUSIVE, which does not conflict with a
    writer's ROW EXCLUSIVE. The CHECK constraint lets ATTACH skip its validation scan."""
    if caps.timescaledb or not days:
        return
    with psycopg.connect(dsn, autocommit=True) as conn:
        existing = {r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ANY(%s)", (list(TICK_TABLES),))}
        for day in sorted(set(days)):
            lo, hi = (sql.Literal(_ts_literal(x)) for x in sessions.day_bounds_ns(day))
            for table in TICK_TABLES:
                name = partition_name(table, day)
                if name in existing:
                    continue
                conn.execute("SELECT pg_advisory_lock(%s)", (int(Lock.TICK_PARTITIONS),))
                try:
                    attached = conn.execute(
                        "SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                        "WHERE c.relname = %s", (name,)).fetchone()
                    if attached:
                        continue
                    with conn.transaction():
                        conn.execute(sql.SQL(
                            "CREATE TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
                        ).format(sql.Identifier(name), sql.Identifier(table)))
                        conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK (ts >= {} AND ts < {})").format(
                            sql.Identifier(name), sql.Identifier(f"{name}_bounds"), lo, hi))
                    conn.execute(sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
                        sql.Identifier(table), sql.Identifier(name), lo, hi))
                    conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                        sql.Identifier(name), sql.Identifier(f"{name}_bounds")))
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (int(Lock.TICK_PARTITIONS),))


def _ts_literal(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC).isoformat()


def drop_days_before(dsn: str, day: dt.date) -> int:
    """Retention: drop whole partitions/chunks of tick data older than `day` (NY).

    TimescaleDB: drop_chunks; plain PostgreSQL: detach and drop the day partitions."""
    lo, _ = sessions.day_bounds_ns(day)
    cutoff = dt.datetime.fromtimestamp(lo / 1e9, tz=dt.UTC)
    dropped = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        caps = detect(conn)
        for table in TICK_TABLES:
            if caps.timescaledb:
                rows = conn.execute("SELECT drop_chunks(%s, older_than => %s)", (table, cutoff)).fetchall()
                dropped += len(rows)
                continue
            parts = conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s", (table,)).fetchall()
            for (name,) in parts:
                part_day = dt.datetime.strptime(name.rsplit("_", 1)[1], "%Y%m%d").date()
                if part_day < day:
                    conn.execute(sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(
                        sql.Identifier(table), sql.Identifier(name)))
                    conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
                    dropped += 1
    return dropped
