"""Tables derived from the ticks (bars, indicators, signals), one trading day at a time.

Every derived table has a ``day`` column (the New York trading day, the Dagster
partition). A day is written by :func:`replace_day`: delete that day's rows and COPY the
new ones in one transaction, so recomputing a partition (late data, a backfill) replaces
it atomically and readers see either the old day or the new one, never a mix.

The tables are plain (not partitioned): a day of derived rows is small next to its ticks
(the largest, ``trade_signals``, has one row per trade) and the ``(day, ...)`` primary
keys serve both the per-day delete and the per-day reads.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg import sql

from tickflow.store.pgcopy import encode_columns


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


def ensure_derived_schema(dsn: str, tables: tuple[Table, ...] | None = None) -> None:
    """Create the derived tables (default: all of ``TABLES``) if missing (idempotent)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(7263003)")
        try:
            for t in tables if tables is not None else TABLES.values():
                cols = sql.SQL(", ").join(
                    sql.SQL("{} {} {}").format(sql.Identifier(c), sql.SQL(pg_type),
                                               sql.SQL("NOT NULL" if c in t.key else ""))
                    for c, pg_type in t.columns)
                conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}))").format(
                    sql.Identifier(t.name), cols, sql.SQL(", ").join(sql.Identifier(c) for c in t.key)))
        finally:
            conn.execute("SELECT pg_advisory_unlock(7263003)")


def replace_day(conn: psycopg.Connection, table: Table, day: dt.date, symbols: list[str],
                frame: dict[str, np.ndarray], interval_min: int | None = None) -> int:
    """Replace ``day`` (and ``interval_min`` when the table has it) with ``frame``.

    ``frame`` maps every column but ``day`` to an equal-length array; ``sym`` (and any text
    column) holds int codes, into ``symbols`` or the column's vocabulary. Runs in the
    caller's transaction; returns the rows written."""
    n = int(next(iter(frame.values())).shape[0]) if frame else 0
    where = sql.SQL("day = {}").format(sql.Literal(day))
    if interval_min is not None:
        where = sql.SQL("{} AND interval_min = {}").format(where, sql.Literal(int(interval_min)))
    conn.execute(sql.SQL("DELETE FROM {} WHERE {}").format(sql.Identifier(table.name), where))
    if n == 0:
        return 0
    day_col = np.full(n, (day - dt.date(1970, 1, 1)).days, dtype=np.int64)
    columns: list[tuple[str, np.ndarray]] = []
    for name, pg_type in table.columns:
        if name == "day":
            columns.append(("date", day_col))
            continue
        values = frame[name]
        if values.shape[0] != n:
            raise ValueError(f"{table.name}.{name}: {values.shape[0]} rows, expected {n}")
        columns.append((pg_type, values))
    # Text columns index one shared string table: symbols, then the vocabularies.
    strings = list(symbols)
    for i, (name, pg_type) in enumerate(table.columns):
        if pg_type == "text" and name != "sym":
            vocab = VOCABULARIES[(table.name, name)]
            columns[i] = ("text", columns[i][1].astype(np.int64) + len(strings))
            strings += vocab
    payload = encode_columns(columns, strings)
    stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(c) for c, _ in table.columns))
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        view = memoryview(payload)
        for i in range(0, len(view), 8 << 20):
            copy.write(view[i : i + (8 << 20)])
    return n


def read_day(dsn: str, table: Table, day: dt.date, interval_min: int | None = None):  # type: ignore[no-untyped-def]
    """One day of a derived table as a pandas DataFrame, ordered by its key."""
    import pandas as pd

    where = sql.SQL("day = {}").format(sql.Literal(day))
    if interval_min is not None:
        where = sql.SQL("{} AND interval_min = {}").format(where, sql.Literal(int(interval_min)))
    q = sql.SQL("SELECT * FROM {} WHERE {} ORDER BY {}").format(
        sql.Identifier(table.name), where, sql.SQL(", ").join(sql.Identifier(c) for c in table.key))
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(q)
        names = [d.name for d in cur.description or []]
        return pd.DataFrame(cur.fetchall(), columns=names)
