"""Tables derived from the ticks (bars, indicators, signals), one trading day at a time.

Every derived table has a ``day`` column (the New York trading day, the Dagster
partition) and is partitioned by it, like the tick tables: native range partitions of one
day on plain PostgreSQL, one-day hypertable chunks with TimescaleDB
(:func:`tickflow.store.schema.detect` decides). The tables themselves are created by the
schema's migrations (tickflow.store.schema); ``Table`` here describes their columns to the
writers. A day is written by :func:`replace_day`
(or :func:`replace_days` for several tables in one go) inside the caller's transaction,
never by deleting rows:

- plain PostgreSQL: the new rows are COPYed into a fresh table with no index, which then
  gets its primary key (one sorted build instead of an index insert per row) and a CHECK
  that lets ``ATTACH PARTITION`` skip its scan; only then are the old day partition
  detached and dropped and the new one attached, the last statements before COMMIT;
- TimescaleDB: the day's chunk is truncated and the rows COPYed into the hypertable.

Either way readers see the old day or the new one, never a mix (they wait on the swap's
lock for the moment between the swap and COMMIT), and a writer killed before COMMIT
leaves the old day as it was (tests/platform/store/test_derived.py tests both).
Replacing only one ``interval_min`` of a day (the ML feature tables) carries the day's
other intervals over into the new partition.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg import sql

from tickflow.store.locks import Lock
from tickflow.store.pgcopy import SIGNATURE, TRAILER, encode_columns
from tickflow.store.schema import detect
from tickflow.store.schema import relkind as _relkind


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]  # (column, PostgreSQL type); day and sym come first
    key: tuple[str, ...]

    @property
    def value_columns(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns if c not in ("day", "sym"))


def _f8(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple((n, "float8") for n in names)


DAY_SYM = (("day", "date"), ("sym", "text"))  # the leading columns of every derived table

BARS = Table("bars", DAY_SYM + (("interval_min", "int2"), ("ts", "timestamptz"))
             + _f8("open", "high", "low", "close", "volume", "vwap", "dollar_volume")
             + (("trades", "int8"), ("quotes", "int8")) + _f8("twap_spread", "close_mid"),
             ("day", "interval_min", "sym", "ts"))

INDICATORS = Table("indicators", DAY_SYM + (("ts", "timestamptz"),)
                   + _f8("close", "sma_20", "sma_50", "sma_200", "ema_12", "ema_26", "rsi_14", "macd",
                         "macd_signal", "macd_hist", "bb_mid", "bb_upper", "bb_lower"),
                   ("day", "sym", "ts"))

TRADE_SIGNALS = Table("trade_signals", DAY_SYM + (("trade_no", "int4"), ("ts", "timestamptz"))
                      + _f8("price", "size", "log_return", "std_return", "lm_stat", "bns_z", "intensity_z",
                            "acd_duration", "acd_surprise")
                      + (("tick_sign", "int2"), ("lr_sign", "int2"), ("jump", "bool"), ("signal", "int2")),
                      ("day", "sym", "trade_no"))

BAR_MEASURES = Table("bar_measures", DAY_SYM + (("interval_min", "int2"), ("ts", "timestamptz"))
                     + _f8("rv", "bv", "bns_rj", "bns_z", "bns_p") + (("bns_jump", "bool"),)
                     + _f8("lm_max_abs") + (("lm_jumps", "int4"),)
                     + _f8("garch_sigma", "ofi", "signed_volume_tick", "signed_volume_lr", "bvc_buy_share",
                           "vpin", "roll_spread", "kyle_lambda", "amihud", "effective_spread", "realized_spread"),
                     ("day", "interval_min", "sym", "ts"))

DAILY_MEASURES = Table("daily_measures", DAY_SYM + (("trades", "int8"), ("returns", "int4"))
                       + _f8("rv", "bv", "tq", "bns_rj", "bns_z", "bns_p", "lm_critical", "lm_alpha")
                       + (("lm_jumps", "int4"),)
                       + _f8("garch_omega", "garch_alpha", "garch_beta", "garch_loglik", "garch_persistence")
                       + (("garch_converged", "bool"),)
                       + _f8("acd_omega", "acd_alpha", "acd_beta", "acd_loglik")
                       + (("acd_converged", "bool"),)
                       + _f8("tick_buy_share", "lr_buy_share", "vpin", "ofi", "roll_spread", "kyle_lambda",
                             "amihud", "effective_spread", "realized_spread"),
                       ("day", "sym"))

JUMP_EVENTS = Table("jump_events", DAY_SYM + (("ts", "timestamptz"), ("test", "text"))
                    + _f8("statistic", "critical", "log_return", "local_sd"),
                    ("day", "sym", "test", "ts"))

ANOMALIES = Table("anomalies", DAY_SYM + (("ts", "timestamptz"), ("kind", "text")) + _f8("value", "threshold"),
                  ("day", "sym", "kind", "ts"))

TABLES = {t.name: t for t in (BARS, INDICATORS, TRADE_SIGNALS, BAR_MEASURES, DAILY_MEASURES, JUMP_EVENTS,
                              ANOMALIES)}
# Text columns other than ``sym`` hold a small vocabulary; they are written as codes into it.
VOCABULARIES = {("jump_events", "test"): ("lee_mykland", "bns"),
                ("anomalies", "kind"): ("price_spike", "volume_surge", "rsi_overbought", "rsi_oversold")}


def _keys(t: Table) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(c) for c in t.key)


def partition_name(table: Table, day: dt.date) -> str:
    return f"{table.name}_{day:%Y%m%d}"


def _stage_table(conn: psycopg.Connection, table: Table, day: dt.date) -> str:
    """A new, index-free table shaped like ``table`` to fill with ``day``'s rows."""
    stage = partition_name(table, day) + "_new"
    conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(
        sql.Identifier(stage), sql.Identifier(table.name)))
    return stage


def _swap_in(conn: psycopg.Connection, table: Table, day: dt.date, stage: str) -> None:
    """Index the filled ``stage`` and make it ``day``'s partition of ``table`` in place of the
    old one. The heavy part (the index build, the CHECK's scan) runs before the parent's
    ACCESS EXCLUSIVE lock (DETACH) is taken; that lock is then held to COMMIT."""
    part = partition_name(table, day)
    lo, hi = sql.Literal(day), sql.Literal(day + dt.timedelta(days=1))
    conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
        sql.Identifier(stage), sql.Identifier(f"{stage}_pkey"), _keys(table)))
    conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK (day >= {} AND day < {})").format(
        sql.Identifier(stage), sql.Identifier(f"{stage}_bounds"), lo, hi))
    if _relkind(conn, part) is not None:
        conn.execute(sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(
            sql.Identifier(table.name), sql.Identifier(part)))
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(part)))
    conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(stage), sql.Identifier(part)))
    conn.execute(sql.SQL("ALTER INDEX {} RENAME TO {}").format(
        sql.Identifier(f"{stage}_pkey"), sql.Identifier(f"{part}_pkey")))
    conn.execute(sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
        sql.Identifier(table.name), sql.Identifier(part), lo, hi))
    conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
        sql.Identifier(part), sql.Identifier(f"{stage}_bounds")))


_CHUNK_ROWS = 262_144  # rows encoded at a time: the COPY stream never exists whole in memory


def _copy_frame(conn: psycopg.Connection, table: Table, target: str, day: dt.date, symbols: list[str],
                frame: dict[str, np.ndarray]) -> int:
    """COPY ``frame`` (``day`` filled in) into ``target`` as one binary stream, encoded in
    chunks of rows; returns the rows written."""
    n = int(next(iter(frame.values())).shape[0]) if frame else 0
    for name, _ in table.columns:
        if name != "day" and frame and frame[name].shape[0] != n:
            raise ValueError(f"{table.name}.{name}: {frame[name].shape[0]} rows, expected {n}")
    if n == 0:
        return 0
    # Text columns index one shared string table: symbols, then the vocabularies.
    strings = list(symbols)
    offsets: dict[str, int] = {}
    for name, pg_type in table.columns:
        if pg_type == "text" and name != "sym":
            offsets[name] = len(strings)
            strings += VOCABULARIES[(table.name, name)]
    day_code = (day - dt.date(1970, 1, 1)).days
    stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(target), sql.SQL(", ").join(sql.Identifier(c) for c, _ in table.columns))
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        copy.write(SIGNATURE)
        for lo in range(0, n, _CHUNK_ROWS):
            hi = min(n, lo + _CHUNK_ROWS)
            columns: list[tuple[str, np.ndarray]] = []
            for name, pg_type in table.columns:
                if name == "day":
                    columns.append(("date", np.full(hi - lo, day_code, dtype=np.int64)))
                elif name in offsets:
                    columns.append(("text", frame[name][lo:hi].astype(np.int64) + offsets[name]))
                else:
                    columns.append((pg_type, frame[name][lo:hi]))
            chunk = memoryview(encode_columns(columns, strings))
            copy.write(chunk[len(SIGNATURE) : len(chunk) - len(TRAILER)])
            del chunk
        copy.write(TRAILER)
    return n


@dataclass(frozen=True)
class DayRows:
    """One table's new rows for a day (see :func:`replace_day` for the arguments)."""

    table: Table
    day: dt.date
    symbols: list[str]
    frame: dict[str, np.ndarray]
    interval_min: int | None = None


def replace_day(conn: psycopg.Connection, table: Table, day: dt.date, symbols: list[str],
                frame: dict[str, np.ndarray], interval_min: int | None = None) -> int:
    """Replace ``day`` (only its ``interval_min`` rows when given) with ``frame``.

    ``frame`` maps every column but ``day`` to an equal-length array; ``sym`` (and any text
    column) holds int codes, into ``symbols`` or the column's vocabulary. Runs in the
    caller's transaction; returns the rows written."""
    return replace_days(conn, [DayRows(table, day, symbols, frame, interval_min)])[0]


def lock_tables(conn: psycopg.Connection, tables: list[Table]) -> None:
    """Make the caller's transaction the only writer of ``tables`` until it ends (advisory
    transaction locks, taken in name order).

    Two writers of one table, even of different days, must not overlap: each holds a weak
    lock on the parent from staging (``CREATE TABLE ... LIKE``) or writing, then asks for
    the parent's ACCESS EXCLUSIVE lock to swap its day in, so two of them wait for each
    other and PostgreSQL kills one (seen: a UI backfill of bars and signals beside a CLI
    backfill of bars). Taking every table's lock first, in one global order, leaves no
    cycle. Re-entrant within a transaction."""
    for name in sorted({t.name for t in tables}):
        key = zlib.crc32(name.encode()) - (1 << 31)
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (int(Lock.DAY_REPLACE), key))


class SwapRefused(Exception):
    """``before_swap`` said no: the caller's transaction must roll back, the old days stay."""


def replace_days(conn: psycopg.Connection, items: list[DayRows],
                 before_swap: Callable[[], bool] | None = None) -> list[int]:
    """Replace several (table, day) partitions in the caller's transaction: every new
    partition is filled and indexed first, then all are swapped in, so the tables' locks
    are held only from the swaps to COMMIT. Returns the rows written per item.

    ``before_swap`` (e.g. waiting for the day's checks, which can run meanwhile) is called
    before anything visible changes; if it returns False, :class:`SwapRefused` is raised."""
    timescale = detect(conn).timescaledb is not None
    lock_tables(conn, [it.table for it in items])
    if timescale:  # nothing to stage: the chunk is emptied and refilled
        if before_swap is not None and not before_swap():
            raise SwapRefused
        return [_replace_chunk(conn, it) for it in items]
    stages, rows = [], []
    for it in items:
        stage = _stage_table(conn, it.table, it.day)
        if it.interval_min is not None and _relkind(conn, partition_name(it.table, it.day)) is not None:
            cols = sql.SQL(", ").join(sql.Identifier(c) for c, _ in it.table.columns)
            conn.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} WHERE interval_min <> {}").format(
                sql.Identifier(stage), cols, cols, sql.Identifier(partition_name(it.table, it.day)),
                sql.Literal(int(it.interval_min))))
        rows.append(_copy_frame(conn, it.table, stage, it.day, it.symbols, it.frame))
        stages.append(stage)
    if before_swap is not None and not before_swap():
        raise SwapRefused
    for it, stage in sorted(zip(items, stages, strict=True), key=lambda x: (x[0].table.name, x[0].day)):
        _swap_in(conn, it.table, it.day, stage)
    return rows


def _replace_chunk(conn: psycopg.Connection, it: DayRows) -> int:
    """TimescaleDB: empty the day's rows (its one-day chunk truncated whole; with
    ``interval_min``, that interval's rows deleted) and COPY the new rows in."""
    if it.interval_min is not None:
        conn.execute(sql.SQL("DELETE FROM {} WHERE day = {} AND interval_min = {}").format(
            sql.Identifier(it.table.name), sql.Literal(it.day), sql.Literal(int(it.interval_min))))
    else:
        chunks = [r[0] for r in conn.execute(
            "SELECT show_chunks(%s::regclass, older_than => %s::date, newer_than => %s::date)",
            (sql.Identifier(it.table.name).as_string(conn), it.day + dt.timedelta(days=1), it.day)).fetchall()]
        # newer_than is inclusive of the chunk starting on the day; older_than exclusive.
        for chunk in chunks:
            conn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(str(chunk))))
    return _copy_frame(conn, it.table, it.table.name, it.day, it.symbols, it.frame)
