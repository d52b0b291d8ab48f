"""The tick store's whole schema, as versioned migrations, and the one place that detects
what the server can do.

Every table's DDL lives here, nowhere else: ``MIGRATIONS`` is an ordered list of
(version, name, function); :func:`migrate` applies the versions a database lacks, in order,
each in its own transaction, under one advisory lock (:attr:`Lock.SCHEMA`), and records them
in ``schema_migrations`` (version, name, applied_at). It runs once: at ``tickflow up``, at
the start of every Dagster run (``TickflowResource``), and before CLI commands that use the
store; when the database is current that costs two small SELECTs (is ``schema_migrations``
there, its highest version: :func:`ensure_current`). A change of shape is a new version appended to the list; a version
once released is never edited (tests/platform/store/test_schema.py pins what each produces).

Tables: ``trades``, ``quotes`` (natural primary keys, so writing a row twice is a no-op),
``dead_letters`` (the raw payload and the reason for every input that did not become a
row), ``offset_ledger`` (which Kafka offset ranges are in the store), ``feed_gaps``
(tickflow.store.gaps), ``vendor_bars`` (tickflow.store.vendor_bars), the derived tables
(tickflow.store.derived, tickflow.ml.feature_store: bars, indicators, signals, features,
predictions, partitioned by ``day``), ``feature_blocks`` and the model registry's tables
(tickflow.ml.registry, tickflow.ops.models, tickflow.ml.pipeline).

With TimescaleDB present, the tick and derived tables are hypertables with one-day chunks.
Without it they are declaratively range-partitioned by New York trading day (the tick
tables with a BRIN index on time), and day partitions are created on demand before a write
(:func:`ensure_day_partitions`; derived days by tickflow.store.derived's swap). Either way
partition-aligned retention is available (``drop_days_before``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from tickflow import sessions
from tickflow.store.locks import Lock, holding

log = logging.getLogger(__name__)

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

# Version 1's tables that are not partitioned by day, as they were when versions began.
_PLAIN_TABLES_V1 = """
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
CREATE TABLE IF NOT EXISTS feed_gaps (
    id             bigserial   PRIMARY KEY,
    started_at     timestamptz NOT NULL,
    ended_at       timestamptz NULL,
    channels       text[]      NOT NULL,
    symbols        text[]      NULL,
    reason         text        NOT NULL,
    repaired_at    timestamptz NULL,
    repaired_rows  bigint      NULL,
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE INDEX IF NOT EXISTS feed_gaps_window ON feed_gaps (started_at, ended_at);
CREATE TABLE IF NOT EXISTS vendor_bars (
    day            date             NOT NULL,
    sym            text             NOT NULL,
    ts             timestamptz      NOT NULL,
    open           double precision NOT NULL,
    high           double precision NOT NULL,
    low            double precision NOT NULL,
    close          double precision NOT NULL,
    volume         double precision NOT NULL,
    vwap           double precision NULL,
    transactions   double precision NULL,
    avg_size       double precision NULL,
    source         smallint         NOT NULL,
    src_partition  integer          NOT NULL,
    src_offset     bigint           NOT NULL,
    PRIMARY KEY (sym, ts)
);
CREATE INDEX IF NOT EXISTS vendor_bars_day ON vendor_bars (day);
-- tickflow.ml.feature_store: the rows of ``features`` as one block per (day, interval, symbol)
CREATE TABLE IF NOT EXISTS feature_blocks (
    day          date NOT NULL,
    interval_min int2 NOT NULL,
    horizon      int2 NOT NULL,
    sym          text NOT NULL,
    names        text[] NOT NULL,
    ts           bytea NOT NULL,
    matrix       bytea NOT NULL,
    PRIMARY KEY (day, interval_min, sym)
);
CREATE TABLE IF NOT EXISTS model_registry (
    version         serial PRIMARY KEY,
    model_name      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    as_of_day       date NOT NULL,
    fit_start       date NOT NULL,
    fit_end         date NOT NULL,
    holdout_start   date NOT NULL,
    holdout_end     date NOT NULL,
    params          jsonb NOT NULL,
    features        jsonb NOT NULL,
    feature_hash    text NOT NULL,
    metrics         jsonb NOT NULL,
    device          text NOT NULL,
    artifact        bytea NOT NULL,
    artifact_format text NOT NULL DEFAULT 'ubj',
    status          text NOT NULL CHECK (status IN ('champion', 'retired', 'rejected')),
    decision        jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS champion_history (
    model_name     text NOT NULL,
    effective_day  date NOT NULL,
    promoted_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    version        int NOT NULL REFERENCES model_registry (version),
    PRIMARY KEY (model_name, effective_day, promoted_at)
);
CREATE TABLE IF NOT EXISTS champion_decisions (
    id             bigserial PRIMARY KEY,
    model_name     text NOT NULL,
    version        int NOT NULL REFERENCES model_registry (version),
    replaced       int REFERENCES model_registry (version),
    effective_day  date NOT NULL,
    decided_by     text NOT NULL CHECK (decided_by <> ''),
    reason         text NOT NULL CHECK (reason <> ''),
    decided_at     timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS model_evaluations (
    day           date NOT NULL,
    model_name    text NOT NULL,
    model_version int NOT NULL,
    interval_min  int2 NOT NULL,
    horizon       int2 NOT NULL,
    metrics       jsonb NOT NULL,
    evaluated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, model_name, model_version)
);
"""

# Version 1's tables partitioned by ``day`` (tickflow.store.derived and
# tickflow.ml.feature_store describe the same columns for their writers; a test checks that
# they agree): name -> (column definitions, primary key).
_DAY_TABLES_V1 = {
    "bars": ("day date NOT NULL, sym text NOT NULL, interval_min int2 NOT NULL, ts timestamptz NOT NULL, "
             "open float8, high float8, low float8, close float8, volume float8, vwap float8, dollar_volume float8, "
             "trades int8, quotes int8, twap_spread float8, close_mid float8",
             "day, interval_min, sym, ts"),
    "indicators": ("day date NOT NULL, sym text NOT NULL, ts timestamptz NOT NULL, close float8, sma_20 float8, "
                   "sma_50 float8, sma_200 float8, ema_12 float8, ema_26 float8, rsi_14 float8, macd float8, "
                   "macd_signal float8, macd_hist float8, bb_mid float8, bb_upper float8, bb_lower float8",
                   "day, sym, ts"),
    "trade_signals": ("day date NOT NULL, sym text NOT NULL, trade_no int4 NOT NULL, ts timestamptz, price float8, "
                      "size float8, log_return float8, std_return float8, lm_stat float8, bns_z float8, "
                      "intensity_z float8, acd_duration float8, acd_surprise float8, tick_sign int2, lr_sign int2, "
                      "jump bool, signal int2",
                      "day, sym, trade_no"),
    "bar_measures": ("day date NOT NULL, sym text NOT NULL, interval_min int2 NOT NULL, ts timestamptz NOT NULL, "
                     "rv float8, bv float8, bns_rj float8, bns_z float8, bns_p float8, bns_jump bool, "
                     "lm_max_abs float8, lm_jumps int4, garch_sigma float8, ofi float8, signed_volume_tick float8, "
                     "signed_volume_lr float8, bvc_buy_share float8, vpin float8, roll_spread float8, "
                     "kyle_lambda float8, amihud float8, effective_spread float8, realized_spread float8",
                     "day, interval_min, sym, ts"),
    "daily_measures": ("day date NOT NULL, sym text NOT NULL, trades int8, returns int4, rv float8, bv float8, "
                       "tq float8, bns_rj float8, bns_z float8, bns_p float8, lm_critical float8, lm_alpha float8, "
                       "lm_jumps int4, garch_omega float8, garch_alpha float8, garch_beta float8, "
                       "garch_loglik float8, garch_persistence float8, garch_converged bool, acd_omega float8, "
                       "acd_alpha float8, acd_beta float8, acd_loglik float8, acd_converged bool, "
                       "tick_buy_share float8, lr_buy_share float8, vpin float8, ofi float8, roll_spread float8, "
                       "kyle_lambda float8, amihud float8, effective_spread float8, realized_spread float8",
                       "day, sym"),
    "jump_events": ("day date NOT NULL, sym text NOT NULL, ts timestamptz NOT NULL, test text NOT NULL, "
                    "statistic float8, critical float8, log_return float8, local_sd float8",
                    "day, sym, test, ts"),
    "anomalies": ("day date NOT NULL, sym text NOT NULL, ts timestamptz NOT NULL, kind text NOT NULL, "
                  "value float8, threshold float8",
                  "day, sym, kind, ts"),
    "features": ("day date NOT NULL, sym text NOT NULL, interval_min int2 NOT NULL, ts timestamptz NOT NULL, "
                 "horizon int2, ret_lag_1 float8, ret_lag_2 float8, ret_lag_3 float8, ret_lag_5 float8, "
                 "ma_gap_5 float8, ma_gap_10 float8, ma_gap_20 float8, log_volume float8, volume_z float8, "
                 "realized_vol float8, time_of_day float8, spread_rel float8, rsi_14 float8, macd_hist_rel float8, "
                 "bb_pos float8, lm_max_abs float8, lr_imbalance float8, tick_imbalance float8, intensity_z float8, "
                 "m_rv float8, m_bns_z float8, m_ofi float8, m_kyle_lambda float8, m_effective_spread float8, "
                 "prev_rv float8, prev_vpin float8, prev_garch_persistence float8, prev_bns_z float8, "
                 "target float8, baseline_last float8",
                 "day, interval_min, sym, ts"),
    "predictions": ("day date NOT NULL, sym text NOT NULL, interval_min int2 NOT NULL, ts timestamptz NOT NULL, "
                    "horizon int2, model_version int4, predicted_return float8, direction int2, confidence float8",
                    "day, interval_min, sym, ts"),
}


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


# --- migrations -------------------------------------------------------------------------

_LEDGER = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer     PRIMARY KEY,
    name        text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)"""


def _tick_tables(conn: psycopg.Connection, caps: Capabilities) -> None:
    for table, cols in _TABLES.items():
        if caps.timescaledb:
            conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(sql.Identifier(table), sql.SQL(cols)))
            conn.execute("SELECT create_hypertable(%s, by_range('ts', INTERVAL '1 day'), if_not_exists => true)",
                         (table,))
        else:
            conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}) PARTITION BY RANGE (ts)").format(
                sql.Identifier(table), sql.SQL(cols)))
            conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING brin (ts)").format(
                sql.Identifier(f"{table}_ts_brin"), sql.Identifier(table)))


def relkind(conn: psycopg.Connection, name: str) -> str | None:
    """``pg_class.relkind`` of the table ``name`` ('p' partitioned, 'r' plain), None if missing."""
    row = conn.execute("SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass(%s)",
                       (sql.Identifier(name).as_string(conn),)).fetchone()
    return None if row is None else str(row[0])


def _is_hypertable(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = %s "
                        "AND hypertable_schema = current_schema()", (name,)).fetchone() is not None


def _day_table(conn: psycopg.Connection, caps: Capabilities, name: str, cols: str, key: str) -> None:
    """Create ``name`` partitioned by ``day`` (one-day chunks with TimescaleDB) if missing. A
    table left unpartitioned by a release before the partitioned layout is moved over, its
    rows kept (one native partition per day, named as tickflow.store.derived names them)."""
    kind = relkind(conn, name)
    if kind == "p" or (kind == "r" and caps.timescaledb and _is_hypertable(conn, name)):
        return
    ident, old = sql.Identifier(name), sql.Identifier(f"{name}_unpartitioned")
    if kind == "r":
        conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(ident, old))
        conn.execute(sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
            old, sql.Identifier(f"{name}_pkey"), sql.Identifier(f"{name}_unpartitioned_pkey")))
    if caps.timescaledb:
        conn.execute(sql.SQL("CREATE TABLE {} ({}, PRIMARY KEY ({}))").format(ident, sql.SQL(cols), sql.SQL(key)))
        conn.execute("SELECT create_hypertable(%s, by_range('day', INTERVAL '1 day'))", (name,))
    else:
        conn.execute(sql.SQL("CREATE TABLE {} ({}, PRIMARY KEY ({})) PARTITION BY RANGE (day)").format(
            ident, sql.SQL(cols), sql.SQL(key)))
    if kind != "r":
        return
    if not caps.timescaledb:
        for (day,) in conn.execute(sql.SQL("SELECT DISTINCT day FROM {}").format(old)).fetchall():
            conn.execute(sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                sql.Identifier(f"{name}_{day:%Y%m%d}"), ident, sql.Literal(day),
                sql.Literal(day + dt.timedelta(days=1))))
    names = sql.SQL(", ").join(sql.Identifier(c.split()[0]) for c in cols.split(", "))
    conn.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(ident, names, names, old))
    conn.execute(sql.SQL("DROP TABLE {}").format(old))


def _v1_initial(conn: psycopg.Connection, caps: Capabilities) -> None:
    """Every table as it was when versions began. IF NOT EXISTS throughout, so a database
    made before versions (whose tables already exist) passes through it unchanged."""
    _tick_tables(conn, caps)
    conn.execute(_PLAIN_TABLES_V1)
    for name, (cols, key) in _DAY_TABLES_V1.items():
        _day_table(conn, caps, name, cols, key)


def _v2_feature_blocks_out_of_line(conn: psycopg.Connection, caps: Capabilities) -> None:
    """``feature_blocks`` keeps its bytes out of line but uncompressed: float bits barely
    compress, and decompressing cost more than the bytes saved (bench/train.py)."""
    conn.execute("ALTER TABLE feature_blocks ALTER COLUMN ts SET STORAGE EXTERNAL, "
                 "ALTER COLUMN matrix SET STORAGE EXTERNAL")


def _v3_ml_columns(conn: psycopg.Connection, caps: Capabilities) -> None:
    """A ``features``/``predictions`` table made by an older feature set (before versions)
    gets the columns of version 1's; its old ones stay, unused (the writers name their
    columns)."""
    for name in ("features", "predictions"):
        for col in _DAY_TABLES_V1[name][0].split(", "):
            column, pg_type = col.split()[:2]
            conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                sql.Identifier(name), sql.Identifier(column), sql.SQL(pg_type)))


def _v4_intraday_marks(conn: psycopg.Connection, caps: Capabilities) -> None:
    """What the stored derived rows of an open day cover (``derive/intraday.py``): the
    intraday tail path reads it to know where the day's tail starts."""
    conn.execute("""
CREATE TABLE IF NOT EXISTS intraday_marks (
    day            date        NOT NULL,
    asset          text        NOT NULL,
    tail_from      bigint      NOT NULL,
    trades_before  bigint      NOT NULL,
    quotes_before  bigint      NOT NULL,
    symbols        text[]      NOT NULL,
    dirty_from     bigint,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, asset)
);
""")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[psycopg.Connection, Capabilities], None]  # runs inside the version's transaction


# Append only: a released version is never edited (a database already past it would never
# see the change); a change of shape is a new version at the end.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial", _v1_initial),
    Migration(2, "feature_blocks_out_of_line", _v2_feature_blocks_out_of_line),
    Migration(3, "ml_columns_of_older_feature_sets", _v3_ml_columns),
    Migration(4, "intraday_marks", _v4_intraday_marks),
)
LATEST = MIGRATIONS[-1].version


def current_version(conn: psycopg.Connection) -> int:
    """The highest version applied (0: none, or a database made before versions)."""
    if conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,):
        return 0
    return int(conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0])  # type: ignore[index]


def migrate(conn: psycopg.Connection, target: int | None = None) -> list[int]:
    """Apply the versions this database lacks (up to ``target``, default all), in order,
    each in its own transaction, under :attr:`Lock.SCHEMA`; returns the versions applied.

    Idempotent and safe to run from several processes at once: the second waits for the
    lock, then finds nothing to do. ``conn`` must be in autocommit mode."""
    if not conn.autocommit:
        raise ValueError("migrate() needs an autocommit connection (each version commits on its own)")
    done: list[int] = []
    with holding(conn, Lock.SCHEMA):
        caps = detect(conn)  # may create the timescaledb extension: under the lock
        conn.execute(_LEDGER)
        have = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        for m in MIGRATIONS:
            if m.version in have or (target is not None and m.version > target):
                continue
            with conn.transaction():
                m.apply(conn, caps)
                conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (m.version, m.name))
            log.info("schema: applied version %d (%s)", m.version, m.name)
            done.append(m.version)
    return done


def ensure_current(dsn: str) -> list[int]:
    """Bring the store's schema to ``LATEST`` if it is behind; two small SELECTs when it is current.
    Called once per run or command, not per operation. Returns the versions applied."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return migrate(conn) if current_version(conn) < LATEST else []


def ensure_schema(dsn: str) -> Capabilities:
    """:func:`ensure_current`, then what the server offers."""
    ensure_current(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        return detect(conn)


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
