"""One trading day's regular-session ticks as symbol-major numpy columns.

The derived layer (bars, signals) works on the regular session: ticks with
``open <= ts < close`` of the XNYS session (early closes included). Extended-hours ticks
stay in the raw tables. Rows leave PostgreSQL through ``COPY ... TO STDOUT`` as CSV and are
parsed by Arrow's multi-threaded reader, then sorted by (symbol, time, sequence) in numpy:
no Python object per tick.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from tickflow import sessions
from tickflow.kernels.grouping import group_starts


@dataclass
class DayTicks:
    """Symbol-major columns of one session. ``trades``: ts_ns, price, size; ``quotes``:
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


def _copy_csv(conn: psycopg.Connection, query: sql.Composable) -> bytes:
    buf = bytearray()
    with conn.cursor() as cur, cur.copy(sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(query)) as copy:
        for block in copy:
            buf += block
    return bytes(buf)


def _read(payload: bytes, names: list[str], types: list[pa.DataType]) -> pa.Table:
    if not payload:
        return pa.table({n: pa.array([], type=t) for n, t in zip(names, types, strict=True)})
    return pacsv.read_csv(
        io.BytesIO(payload),
        read_options=pacsv.ReadOptions(column_names=names),
        convert_options=pacsv.ConvertOptions(column_types=dict(zip(names, types, strict=True))),
    )


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
        order = np.lexsort((ts[keep], sym))
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
        t_raw = _copy_csv(conn, sql.SQL(
            "SELECT sym, ts_ns, seq, price, size FROM trades WHERE ts >= {} AND ts < {}").format(lo, hi))
        q_raw = _copy_csv(conn, sql.SQL(
            "SELECT sym, ts_ns, seq, bid_price, bid_size, ask_price, ask_size FROM quotes "
            "WHERE ts >= {} AND ts < {}").format(lo, hi))
    f8, i8, s = pa.float64(), pa.int64(), pa.string()
    t = _read(t_raw, ["sym", "ts_ns", "seq", "price", "size"], [s, i8, i8, f8, f8])
    q = _read(q_raw, ["sym", "ts_ns", "seq", "bid", "bid_size", "ask", "ask_size"], [s, i8, i8, f8, f8, f8, f8])
    symbols = sorted(set(t.column("sym").unique().to_pylist()) | set(q.column("sym").unique().to_pylist()))
    index = {name: i for i, name in enumerate(symbols)}

    def cols(tab: pa.Table) -> dict[str, np.ndarray]:
        dict_sym = tab.column("sym").combine_chunks().dictionary_encode()
        lookup = np.array([index[x] for x in dict_sym.dictionary.to_pylist()], dtype=np.int64)
        out = {"sym": lookup[dict_sym.indices.to_numpy(zero_copy_only=False)] if len(tab) else
               np.zeros(0, np.int64)}
        for name in tab.column_names[1:]:
            out[name] = tab.column(name).to_numpy()
        # Sequence breaks ties of equal timestamps; from_columns' sort is stable.
        order = np.lexsort((out.pop("seq"), out["ts_ns"]))
        return {k: v[order] for k, v in out.items()}

    return from_columns(day, symbols, cols(t), cols(q), open_ns, close_ns)
