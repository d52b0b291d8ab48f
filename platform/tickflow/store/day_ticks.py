"""One trading day's regular-session ticks as symbol-major numpy columns.

The derived layer (bars, signals) works on the regular session: ticks with
``open <= ts < close`` of the XNYS session (early closes included). Extended-hours ticks
stay in the raw tables. Rows leave PostgreSQL as binary float8/int8 arrays, one block per
symbol-minute, that load straight into numpy: no Python object per tick.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg import sql

from tickflow import sessions
from tickflow.conditions import COND_MASK_SQL
from tickflow.kernels.grouping import group_starts
from tickflow.store.pgarrays import register_numpy_array_loaders


@dataclass
class DayTicks:
    """Symbol-major columns of one session. ``trades``: ts_ns, price, size and (from the
    store) cond_mask, the sale conditions as a bit set (:mod:`tickflow.conditions`); ``quotes``:
    ts_ns, bid, bid_size, ask, ask_size; ``*_starts`` index them per symbol."""

    day: dt.date
    symbols: list[str]
    open_ns: int
    close_ns: int
    trades: dict[str, np.ndarray]
    trade_starts: np.ndarray
    quotes: dict[str, np.ndarray]
    quote_starts: np.ndarray

    @property
    def n_minutes(self) -> int:
        return (self.close_ns - self.open_ns) // 60_000_000_000

    @property
    def n_symbols(self) -> int:
        return len(self.symbols)


def _fetch_columns(conn: psycopg.Connection, table: str, columns: tuple[str, ...], lo: sql.Composable,
                   hi: sql.Composable) -> tuple[list[str], list[int], list[list[np.ndarray]]]:
    """Per symbol-minute block: the symbol, the row count and one numpy array per column,
    time-ordered (then by sequence) within the block, blocks ordered by symbol and minute.

    The server aggregates each block into binary arrays, which load as numpy arrays without a
    Python object per tick (a row-per-message COPY costs a driver iteration per tick)."""
    aggs = sql.SQL(", ").join(sql.SQL("array_agg({} ORDER BY ts_ns, seq)").format(
        sql.SQL(COND_MASK_SQL) if c == "cond_mask" else sql.Identifier(c)) for c in columns)
    query = sql.SQL(
        "SELECT sym, {aggs} FROM {table} WHERE ts >= {lo} AND ts < {hi} "
        "GROUP BY sym, ts_ns / 60000000000 ORDER BY sym, ts_ns / 60000000000"
    ).format(aggs=aggs, table=sql.Identifier(table), lo=lo, hi=hi)
    register_numpy_array_loaders(conn)
    syms: list[str] = []
    counts: list[int] = []
    cols: list[list[np.ndarray]] = [[] for _ in columns]
    with conn.cursor(binary=True) as cur:
        for row in cur.execute(query):
            syms.append(row[0])
            counts.append(len(row[1]))
            for j in range(len(columns)):
                cols[j].append(row[j + 1])
    return syms, counts, cols


def from_columns(day: dt.date, symbols: list[str], trades: dict[str, np.ndarray],
                 quotes: dict[str, np.ndarray], open_ns: int | None = None,
                 close_ns: int | None = None) -> DayTicks:
    """Build DayTicks from columns with a ``sym`` code column (any order): keeps the session,
    sorts symbol-major by time (stable, so a sequence order given by the input survives)."""
    o, c = sessions.session_bounds_ns(day) if open_ns is None or close_ns is None else (open_ns, close_ns)

    def prep(cols: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        ts = np.asarray(cols["ts_ns"], dtype=np.int64)
        keep = (ts >= o) & (ts < c)
        sym = np.asarray(cols["sym"], dtype=np.int64)[keep]
        t = ts[keep]
        d_sym, d_ts = np.diff(sym), np.diff(t)
        if np.all((d_sym > 0) | ((d_sym == 0) & (d_ts >= 0))):
            # Already symbol-major and time-ordered (the store's loader sends it so): a stable
            # sort would be the identity, so skip it.
            out = {k: np.ascontiguousarray(np.asarray(v)[keep]) for k, v in cols.items() if k != "sym"}
            return out, group_starts(sym, len(symbols))
        order = np.lexsort((t, sym))
        out = {k: np.ascontiguousarray(np.asarray(v)[keep][order]) for k, v in cols.items() if k != "sym"}
        return out, group_starts(sym[order], len(symbols))

    t, ts_ = prep(trades)
    q, qs = prep(quotes)
    return DayTicks(day, list(symbols), o, c, t, ts_, q, qs)


def load_day_ticks(dsn: str, day: dt.date) -> DayTicks:
    """The regular-session trades and quotes of ``day`` from the tick store."""
    open_ns, close_ns = sessions.session_bounds_ns(day)
    lo, hi = (sql.Literal(dt.datetime.fromtimestamp(x / 1e9, tz=dt.UTC)) for x in (open_ns, close_ns))
    with psycopg.connect(dsn) as conn:
        t_syms, t_counts, t_vals = _fetch_columns(conn, "trades", ("ts_ns", "price", "size", "cond_mask"), lo, hi)
        q_syms, q_counts, q_vals = _fetch_columns(
            conn, "quotes", ("ts_ns", "bid_price", "bid_size", "ask_price", "ask_size"), lo, hi)
    symbols = sorted(set(t_syms) | set(q_syms))
    index = {name: i for i, name in enumerate(symbols)}

    def cols(syms: list[str], counts: list[int], vals: list[list[np.ndarray]], names: tuple[str, ...]
             ) -> dict[str, np.ndarray]:
        out = {"sym": np.repeat(np.array([index[x] for x in syms], dtype=np.int64), counts)}
        for name, parts in zip(names, vals, strict=True):
            out[name] = np.concatenate(parts) if parts else np.zeros(
                0, np.int64 if name in ("ts_ns", "cond_mask") else np.float64)
        return out

    trades = cols(t_syms, t_counts, t_vals, ("ts_ns", "price", "size", "cond_mask"))
    quotes = cols(q_syms, q_counts, q_vals, ("ts_ns", "bid", "bid_size", "ask", "ask_size"))
    return from_columns(day, symbols, trades, quotes, open_ns, close_ns)
