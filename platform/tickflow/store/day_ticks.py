"""One trading day's regular-session ticks as symbol-major numpy columns.

The derived layer (bars, signals) works on the regular session: ticks with
``open <= ts < close`` of the XNYS session (early closes included). Extended-hours ticks
stay in the raw tables.

How rows leave PostgreSQL (measured on this machine, one day of 100 symbols, 2.47M trades):
a binary ``COPY ... TO STDOUT`` read through psycopg costs a driver call per row (9-19 s
for the trades alone), while the server packs the same rows into one binary ``int8[]`` /
``float8[]`` per symbol and column (``array_agg`` without ``ORDER BY``: a hash aggregate,
no sort) in about the time ``psql`` takes to stream the binary COPY (1.5 s against 1.4 s).
A numba kernel decodes each array's wire bytes straight into the day's column arrays, and
a second one puts each symbol's rows in (ts_ns, seq) order, which costs a check only when
the rows are stored in arrival order (the usual case: ingest appends in Kafka order).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numba as nb
import numpy as np
import psycopg
from psycopg import sql
from psycopg.adapt import Loader
from psycopg.pq import Format

from tickflow import sessions
from tickflow.conditions import COND_MASK_SQL
from tickflow.kernels.grouping import group_starts, prefix_counts, splice_columns

FLOAT8_ARRAY_OID, INT8_ARRAY_OID = 1022, 1016  # pg_type oids of float8[] and int8[]
# The stored columns a day's trades and quotes are read with (:func:`_fetch_columns`), and
# their names in :class:`DayTicks`.
TRADE_COLUMNS = ("price", "size", "cond_mask")
QUOTE_COLUMNS = ("bid_price", "bid_size", "ask_price", "ask_size")


def trade_columns(vals: list[np.ndarray]) -> dict[str, np.ndarray]:
    """:class:`DayTicks` trade columns from :func:`_fetch_columns` of ``TRADE_COLUMNS``."""
    f8 = np.float64
    return {"ts_ns": vals[0], "price": vals[2].view(f8), "size": vals[3].view(f8), "cond_mask": vals[4]}


def quote_columns(vals: list[np.ndarray]) -> dict[str, np.ndarray]:
    """:class:`DayTicks` quote columns from :func:`_fetch_columns` of ``QUOTE_COLUMNS``."""
    f8 = np.float64
    return {"ts_ns": vals[0], "bid": vals[2].view(f8), "bid_size": vals[3].view(f8), "ask": vals[4].view(f8),
            "ask_size": vals[5].view(f8)}


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


class _RawArrayLoader(Loader):
    """Keep a binary int8[]/float8[] as its wire bytes; :func:`decode_array_into` decodes it."""

    format = Format.BINARY

    def load(self, data):  # type: ignore[no-untyped-def]
        return data


@nb.njit(cache=True, nogil=True)
def decode_array_into(buf, out, pos):  # type: ignore[no-untyped-def]
    """Decode one binary one-dimensional array of 8-byte elements (PostgreSQL ``array_send``:
    int32 ndim, int32 has-null flag, int32 element oid, then per dimension int32 length and
    int32 lower bound, then per element an int32 byte length and the big-endian value) into
    ``out[pos:]`` as int64 bits; returns the element count. A NULL element (length -1) or a
    multi-dimensional array returns -1."""
    ndim = (buf[0] << 24) | (buf[1] << 16) | (buf[2] << 8) | buf[3]
    if ndim == 0:
        return 0
    if ndim != 1:
        return -1
    n = (buf[12] << 24) | (buf[13] << 16) | (buf[14] << 8) | buf[15]
    p = 20
    for i in range(n):
        if buf[p] != 0 or buf[p + 1] != 0 or buf[p + 2] != 0 or buf[p + 3] != 8:
            return -1
        v = np.int64(0)
        for k in range(8):
            v = (v << 8) | np.int64(buf[p + 4 + k])
        out[pos + i] = v
        p += 12
    return n


@nb.njit(cache=True, nogil=True)
def _before(cols, i, j):  # type: ignore[no-untyped-def]
    return cols[0, i] < cols[0, j] or (cols[0, i] == cols[0, j] and cols[1, i] < cols[1, j])


@nb.njit(cache=True, nogil=True)
def sort_groups_by_time(cols, starts, max_shift_factor=4):  # type: ignore[no-untyped-def]
    """Put each group ``starts[g]:starts[g+1]`` of the rows of ``cols`` (one row per column;
    row 0 ts_ns, row 1 seq) in (ts_ns, seq) order, in place and stable; returns the rows moved.

    Stored ticks come out nearly in order (arrival order; late ticks are a few), so an
    insertion sort is linear in the rows plus the shifts; a group needing more than
    ``max_shift_factor`` shifts per row is sorted by a merge sort instead."""
    n_cols = cols.shape[0]
    moved = 0
    row = np.empty(n_cols, dtype=cols.dtype)
    for g in range(starts.shape[0] - 1):
        a, b = starts[g], starts[g + 1]
        budget = max_shift_factor * (b - a)
        shifts = 0
        for i in range(a + 1, b):
            if not _before(cols, i, i - 1):
                continue
            moved += 1
            for c in range(n_cols):
                row[c] = cols[c, i]
            j = i
            while j > a and (row[0] < cols[0, j - 1] or (row[0] == cols[0, j - 1] and row[1] < cols[1, j - 1])):
                for c in range(n_cols):
                    cols[c, j] = cols[c, j - 1]
                j -= 1
                shifts += 1
            for c in range(n_cols):
                cols[c, j] = row[c]
            if shifts > budget:
                break
        if shifts > budget:
            seg = cols[:, a:b].copy()
            idx = np.argsort(seg[1], kind="mergesort")
            idx = idx[np.argsort(seg[0][idx], kind="mergesort")]
            for c in range(n_cols):
                for k in range(b - a):
                    cols[c, a + k] = seg[c, idx[k]]
    return moved


def ts_literal(ns: int) -> sql.Literal:
    """``ns`` as a ``timestamptz`` literal at ``ts``'s microsecond precision (floored, as
    ``ts`` is stored), for the ``ts`` bound that lets PostgreSQL skip rows; ``ts_ns`` decides."""
    return sql.Literal(dt.datetime.fromtimestamp(ns // 1000 / 1e6, tz=dt.UTC))


def _fetch_columns(conn: psycopg.Connection, table: str, columns: tuple[str, ...], lo: sql.Composable,
                   hi: sql.Composable, extra: sql.Composable | None = None
                   ) -> tuple[list[str], np.ndarray, list[np.ndarray]]:
    """The session's rows of ``columns`` (8-byte types; ``ts_ns`` and ``seq`` added) of every
    symbol: symbol names sorted, ``starts`` and int64 columns (float8 as their bits), each
    symbol's rows in (ts_ns, seq) order. ``extra``: a further ``AND`` condition (the
    intraday tail's ``ts_ns >= ...``)."""
    names = ("ts_ns", "seq", *columns)
    aggs = sql.SQL(", ").join(sql.SQL("array_agg({})").format(
        sql.SQL(COND_MASK_SQL) if c == "cond_mask" else sql.Identifier(c)) for c in names)
    query = sql.SQL("SELECT sym, {aggs} FROM {table} WHERE ts >= {lo} AND ts < {hi}{extra} GROUP BY sym").format(
        aggs=aggs, table=sql.Identifier(table), lo=lo, hi=hi,
        extra=sql.SQL("") if extra is None else sql.SQL(" AND {}").format(extra))
    conn.adapters.register_loader(FLOAT8_ARRAY_OID, _RawArrayLoader)
    conn.adapters.register_loader(INT8_ARRAY_OID, _RawArrayLoader)
    with conn.cursor(binary=True) as cur:
        rows = sorted(cur.execute(query).fetchall(), key=lambda r: r[0])
    syms = [r[0] for r in rows]
    counts = np.zeros(len(rows) + 1, dtype=np.int64)
    for i, r in enumerate(rows):
        b = memoryview(r[1])
        counts[i + 1] = int.from_bytes(b[12:16], "big") if int.from_bytes(b[0:4], "big") else 0
    starts = np.cumsum(counts)
    n = int(starts[-1])
    out = np.empty((len(names), n), dtype=np.int64)
    for i, r in enumerate(rows):
        for j in range(len(names)):
            got = decode_array_into(np.frombuffer(r[j + 1], dtype=np.uint8), out[j], starts[i])
            if got != counts[i + 1]:
                raise ValueError(f"{table}.{names[j]} of {syms[i]}: NULL or malformed array ({got} values, "
                                 f"expected {counts[i + 1]})")
    sort_groups_by_time(out, starts)
    return syms, starts, list(out)


def begin_in_snapshot(conn: psycopg.Connection, snapshot: str | None) -> None:
    """Start the caller's transaction as a read-only repeatable read that sees exactly
    ``snapshot`` (exported by :func:`day_snapshot`; None: a snapshot of its own)."""
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
    if snapshot is not None:
        conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))


@contextmanager
def day_snapshot(dsn: str) -> Iterator[str]:
    """An exported snapshot of the store, valid until the block ends: ticks read in it and
    a check that sums the store in it (the bars' volume reconciliation) see the same rows,
    whatever ingest commits in between."""
    with psycopg.connect(dsn) as conn, conn.transaction():
        begin_in_snapshot(conn, None)
        row = conn.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None
        yield str(row[0])


def _fetch_in_snapshot(dsn: str, snapshot: str, table: str, columns: tuple[str, ...], lo: sql.Composable,
                       hi: sql.Composable) -> tuple[list[str], np.ndarray, list[np.ndarray]]:
    """:func:`_fetch_columns` on a second connection that sees exactly ``snapshot``."""
    with psycopg.connect(dsn) as conn, conn.transaction():
        begin_in_snapshot(conn, snapshot)
        return _fetch_columns(conn, table, columns, lo, hi)


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
            # Already symbol-major and time-ordered: a stable sort would be the identity.
            out = {k: np.ascontiguousarray(np.asarray(v)[keep]) for k, v in cols.items() if k != "sym"}
            return out, group_starts(sym, len(symbols))
        order = np.lexsort((t, sym))
        out = {k: np.ascontiguousarray(np.asarray(v)[keep][order]) for k, v in cols.items() if k != "sym"}
        return out, group_starts(sym[order], len(symbols))

    t, ts_ = prep(trades)
    q, qs = prep(quotes)
    return DayTicks(day, list(symbols), o, c, t, ts_, q, qs)


def _align(syms: list[str], starts: np.ndarray, symbols: list[str]) -> np.ndarray:
    """``starts`` over ``symbols`` (a superset of ``syms``, both sorted): absent ones empty."""
    n = np.zeros(len(symbols), dtype=np.int64)
    index = {s: i for i, s in enumerate(symbols)}
    for k, s in enumerate(syms):
        n[index[s]] = starts[k + 1] - starts[k]
    return np.concatenate([[0], np.cumsum(n)]).astype(np.int64)


def load_day_ticks(dsn: str, day: dt.date, snapshot: str | None = None) -> DayTicks:
    """The regular-session trades and quotes of ``day`` from the tick store (as of
    ``snapshot``, :func:`day_snapshot`, when given)."""
    open_ns, close_ns = sessions.session_bounds_ns(day)
    lo, hi = ts_literal(open_ns), ts_literal(close_ns)
    with psycopg.connect(dsn) as conn, conn.transaction():
        # One snapshot for both tables (a concurrent ingest commit cannot split them), read
        # by two connections at once: two server backends aggregate trades and quotes on two
        # cores, and the decoders (nogil) run beside each other (100 symbols, in process:
        # 5.21 s -> 4.16 s at load 3-6; the two result sets coexist: +0.15 GB peak RSS).
        begin_in_snapshot(conn, snapshot)
        if snapshot is None:
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]  # type: ignore[index]
        with ThreadPoolExecutor(1) as pool:
            quotes_job = pool.submit(_fetch_in_snapshot, dsn, snapshot, "quotes", QUOTE_COLUMNS, lo, hi)
            t_syms, t_starts, t_vals = _fetch_columns(conn, "trades", TRADE_COLUMNS, lo, hi)
            q_syms, q_starts, q_vals = quotes_job.result()  # before the exporting transaction ends
    symbols = sorted(set(t_syms) | set(q_syms))
    return DayTicks(day, symbols, open_ns, close_ns, trade_columns(t_vals), _align(t_syms, t_starts, symbols),
                    quote_columns(q_vals), _align(q_syms, q_starts, symbols))


def _splice(old: dict[str, np.ndarray], old_starts: np.ndarray, before_ns: int, new: dict[str, np.ndarray],
            new_starts: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    keep = prefix_counts(old["ts_ns"], old_starts, before_ns)
    return splice_columns(old, old_starts, keep, new, new_starts)


def newest_ns(ticks: DayTicks) -> int:
    """The newest trade or quote held (``open_ns`` when none)."""
    return max([ticks.open_ns] + [int(c["ts_ns"].max()) for c in (ticks.trades, ticks.quotes) if c["ts_ns"].size])


def tail_boundary(ticks: DayTicks, margin_ns: int = 60_000_000_000) -> int:
    """Where :func:`refresh_day_ticks` starts reading: ``margin_ns`` before the newest tick held."""
    return max(newest_ns(ticks) - margin_ns, ticks.open_ns)


def refresh_day_ticks(dsn: str, prev: DayTicks, margin_ns: int = 60_000_000_000,
                      verified_ns: int | None = None, snapshot: str | None = None) -> tuple[DayTicks, str]:
    """``prev.day``'s ticks as stored now, reading only what ``prev`` cannot hold: the rows from
    :func:`tail_boundary` on. Rows are only ever added (ingest is idempotent), so when the
    store has as many rows before that boundary as ``prev`` has, they are ``prev``'s;
    otherwise (late ticks, a re-ingest) the whole day is read again.

    ``verified_ns``: the store's rows before it were found equal to ``prev``'s by an earlier
    refresh, so only the rows from it to the boundary are counted (an index range, not a scan
    of the day). A tick stored before it since then goes unseen until a refresh without it:
    the caller bounds that delay (the live session counts the whole day every minute or two).
    ``snapshot``: read as of it (:func:`day_snapshot`).
    Returns the ticks and ``"tail"`` or why the day was read whole."""
    t, q = prev.trades["ts_ns"], prev.quotes["ts_ns"]
    before = tail_boundary(prev, margin_ns)
    since = prev.open_ns if verified_ns is None else min(verified_ns, before)
    lo, hi = ts_literal(prev.open_ns), ts_literal(prev.close_ns)
    # ``ts`` (microseconds) bounds the scan; ``ts_ns`` decides. Without the bound on ``ts``
    # the tail's read scanned the day so far (0.2 s a table on a 7.5M-tick day, against 0.01 s)
    tail = sql.SQL("ts >= {} AND ts_ns >= {}").format(
        ts_literal(before - 1000), sql.Literal(before))
    span = sql.SQL("ts >= {lo} AND ts < {hi} AND ts >= {s_us} AND ts < {b_us} AND ts_ns >= {s} AND ts_ns < {b}").format(
        lo=lo, hi=hi, s_us=ts_literal(since - 1000),
        b_us=ts_literal(before + 1000), s=sql.Literal(since),
        b=sql.Literal(before))
    with psycopg.connect(dsn) as conn, conn.transaction():
        begin_in_snapshot(conn, snapshot)
        stored = conn.execute(sql.SQL("SELECT (SELECT count(*) FROM trades WHERE {w}), "
                                      "(SELECT count(*) FROM quotes WHERE {w})").format(w=span)).fetchone()
        held = (int(((t >= since) & (t < before)).sum()), int(((q >= since) & (q < before)).sum()))
        if stored != held:
            return load_day_ticks(dsn, prev.day, snapshot), "ticks before the tail changed (late data or a re-ingest)"
        t_syms, t_starts, t_vals = _fetch_columns(conn, "trades", TRADE_COLUMNS, lo, hi, tail)
        q_syms, q_starts, q_vals = _fetch_columns(conn, "quotes", QUOTE_COLUMNS, lo, hi, tail)
    symbols = sorted(set(prev.symbols) | set(t_syms) | set(q_syms))
    trades, trade_starts = _splice(prev.trades, _align(prev.symbols, prev.trade_starts, symbols), before,
                                   trade_columns(t_vals), _align(t_syms, t_starts, symbols))
    quotes, quote_starts = _splice(prev.quotes, _align(prev.symbols, prev.quote_starts, symbols), before,
                                   quote_columns(q_vals), _align(q_syms, q_starts, symbols))
    return DayTicks(prev.day, symbols, prev.open_ns, prev.close_ns, trades, trade_starts, quotes, quote_starts), "tail"


def ticks_from(held: DayTicks, from_ns: int) -> tuple[DayTicks, np.ndarray]:
    """``held`` from ``from_ns`` on (its ``open_ns`` then ``from_ns``), each symbol's quote
    prevailing at ``from_ns`` kept first in its rows; and per symbol whether it has a quote
    at or after ``from_ns``. Each symbol's rows are time-ordered, so its part is a suffix:
    only the suffixes are copied, not the day."""
    t_before = prefix_counts(held.trades["ts_ns"], held.trade_starts, from_ns)
    q_before = prefix_counts(held.quotes["ts_ns"], held.quote_starts, from_ns)
    q_in_tail = np.diff(held.quote_starts) > q_before
    none = np.zeros(len(held.symbols), dtype=np.int64)
    trades, t_starts = splice_columns(held.trades, held.trade_starts, none, held.trades, held.trade_starts, t_before)
    quotes, q_starts = splice_columns(held.quotes, held.quote_starts, none, held.quotes, held.quote_starts,
                                      np.maximum(q_before - 1, 0))
    return DayTicks(held.day, list(held.symbols), from_ns, held.close_ns, trades, t_starts, quotes, q_starts), q_in_tail
