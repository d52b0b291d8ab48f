"""A stored trading day's raw ticks as Polygon events, in exchange-time order (``tickflow replay --source store``).

The day is what its raw partition holds: every trade and quote whose exchange time falls on
that New York date (extended hours included). Each stored row becomes the flat JSON event
ingest decodes (``ev`` T or Q, the stored values unchanged: prices are written as the
shortest decimal that reads back as the same double, so sub-penny prices survive; the trade
id as stored, a string), one event per message, keyed by symbol. Rows stream from two
server-side cursors ordered by ``(ts_ns, seq)`` and are merged by exchange time, so memory
stays bounded by the cursors' batches, not the day.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import psycopg

from tickflow import sessions
from tickflow.config import Settings

_TRADES = ("SELECT sym, ts_ns, price, size, exchange, trade_id, conditions, tape, seq FROM trades "
           "WHERE ts >= %s AND ts < %s AND (%s::text[] IS NULL OR sym = ANY(%s)) ORDER BY ts_ns, seq, sym")
_QUOTES = ("SELECT sym, ts_ns, bid_price, bid_size, ask_price, ask_size, bid_exchange, ask_exchange, conditions, "
           "tape, seq FROM quotes WHERE ts >= %s AND ts < %s AND (%s::text[] IS NULL OR sym = ANY(%s)) "
           "ORDER BY ts_ns, seq, sym")


def _trade(r: tuple) -> tuple[int, str, bytes]:  # type: ignore[type-arg]
    sym, ts_ns, p, s, x, i, c, z, q = r
    return ts_ns, sym, orjson.dumps({"ev": "T", "sym": sym, "t": ts_ns, "p": p, "s": s, "x": x, "i": i,
                                     "c": list(c), "z": z, "q": q})


def _quote(r: tuple) -> tuple[int, str, bytes]:  # type: ignore[type-arg]
    sym, ts_ns, bp, bs, ap, as_, bx, ax, c, z, q = r
    return ts_ns, sym, orjson.dumps({"ev": "Q", "sym": sym, "t": ts_ns, "bp": bp, "bs": bs, "ap": ap, "as": as_,
                                     "bx": bx, "ax": ax, "c": list(c), "z": z, "q": q})


@dataclass(frozen=True)
class StoredDay:
    """Day ``date`` of the tick store at ``dsn``; ``n_symbols``: only its first N symbols (sorted)."""

    dsn: str
    date: dt.date
    n_symbols: int | None = None

    def symbols(self) -> list[str] | None:
        if self.n_symbols is None:
            return None
        lo, hi = self._bounds()
        with psycopg.connect(self.dsn) as conn:
            rows = conn.execute("SELECT DISTINCT sym FROM trades WHERE ts >= %s AND ts < %s UNION "
                                "SELECT DISTINCT sym FROM quotes WHERE ts >= %s AND ts < %s ORDER BY 1",
                                (lo, hi, lo, hi)).fetchall()
        return [r[0] for r in rows][: self.n_symbols]

    def _bounds(self) -> tuple[dt.datetime, dt.datetime]:
        lo, hi = sessions.day_bounds_ns(self.date)
        return dt.datetime.fromtimestamp(lo / 1e9, tz=dt.UTC), dt.datetime.fromtimestamp(hi / 1e9, tz=dt.UTC)

    def messages(self, settings: Settings) -> Iterator[tuple[int, str, bytes, bytes]]:
        """``(exchange ms, topic, key, value)`` of the stored day, in exchange-time order."""
        lo, hi = self._bounds()
        syms = self.symbols()
        with psycopg.connect(self.dsn) as conn, conn.transaction():
            # one snapshot for both tables
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            found = conn.execute("SELECT EXISTS (SELECT 1 FROM trades WHERE ts >= %s AND ts < %s) OR "
                                 "EXISTS (SELECT 1 FROM quotes WHERE ts >= %s AND ts < %s)",
                                 (lo, hi, lo, hi)).fetchone()
            if not (found and found[0]):
                raise ValueError(f"the tick store holds no trades or quotes on {self.date}")
            t_cur = conn.cursor(name="replay_trades")
            q_cur = conn.cursor(name="replay_quotes")
            t_cur.itersize = q_cur.itersize = 20_000
            t_cur.execute(_TRADES, (lo, hi, syms, syms))
            q_cur.execute(_QUOTES, (lo, hi, syms, syms))

            def tagged(cur: psycopg.Cursor, topic: str, render) -> Iterator[tuple[int, str, bytes, bytes]]:  # type: ignore[no-untyped-def, type-arg]
                for row in cur:
                    ts_ns, sym, value = render(row)
                    yield ts_ns, topic, sym.encode(), value

            for ts_ns, topic, key, value in heapq.merge(tagged(t_cur, settings.topic_trades, _trade),
                                                        tagged(q_cur, settings.topic_quotes, _quote),
                                                        key=lambda m: m[0]):
                yield ts_ns // 1_000_000, topic, key, value
