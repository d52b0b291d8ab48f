"""Intraday tail updates of bars and indicators equal the full recompute of the day.

A simulated day is fed into the store in chunks, as ingest would during the session; after
each chunk the bars and indicators are updated as the assets do (the tail path once the day
has a mark). The stored result is then compared with the full recompute of the same ticks,
exactly. Late ticks before the tail force a full update, whose result is again the full one."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import psycopg

from tests.platform.derived_reading import read_day
from tickflow import sessions
from tickflow.derive import entry_points, intraday
from tickflow.simulate.day import simulate_day
from tickflow.simulate.to_store import write_simulated_day
from tickflow.store import derived

DAY = dt.date(2024, 6, 21)
OPEN_NS, CLOSE_NS = sessions.session_bounds_ns(DAY)
MIN = 60_000_000_000


def _stage(dsn: str) -> None:
    """The whole simulated day into holding tables; the tick tables start empty."""
    write_simulated_day(dsn, simulate_day(DAY, n_symbols=3, seed=11, trades_per_symbol=2500,
                                          quotes_per_symbol=5000))
    with psycopg.connect(dsn) as conn:
        for t in ("trades", "quotes"):
            conn.execute(f"CREATE TABLE {t}_all AS SELECT * FROM {t}")  # noqa: S608 - test constants
            conn.execute(f"DELETE FROM {t}")  # noqa: S608


def _feed(dsn: str, lo_ns: int, hi_ns: int, table_filter: str = "") -> int:
    """Ingest the held ticks with ``lo_ns <= ts_ns < hi_ns`` (as an ingest commit would)."""
    n = 0
    with psycopg.connect(dsn) as conn:
        for t in ("trades", "quotes"):
            n += conn.execute(f"INSERT INTO {t} SELECT * FROM {t}_all WHERE ts_ns >= %s AND ts_ns < %s"  # noqa: S608
                              + table_filter, (lo_ns, hi_ns)).rowcount
    return n


def _update(dsn: str, now_ns: int) -> tuple[str, str]:
    b = intraday.bars_tail_or_full(dsn, DAY, now_ns=now_ns)
    assert not b.blocked, b.blocked
    i = intraday.indicators_tail_or_full(dsn, DAY, now_ns=now_ns)
    assert not i.blocked, i.blocked
    return b.extra["bars_1m"]["update"], i.extra["indicators"]["update"]


def _stored(dsn: str) -> dict[str, pd.DataFrame]:
    return {"bars": read_day(dsn, derived.BARS, DAY), "indicators": read_day(dsn, derived.INDICATORS,
                                                                                            DAY)}


def _full_recompute(dsn: str) -> dict[str, pd.DataFrame]:
    assert not entry_points.run_bars(dsn, DAY).blocked
    assert not entry_points.run_indicators(dsn, DAY).blocked
    return _stored(dsn)


def _assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for name in a:
        assert len(a[name]) and len(a[name]) == len(b[name]), name
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


def test_chunked_tail_updates_equal_the_full_recompute(store_dsn: str) -> None:
    dsn = store_dsn
    _stage(dsn)
    cuts = [OPEN_NS + m * MIN + 17 * 1_000_000_000 for m in (7, 40, 41, 181, 300)] + [CLOSE_NS + MIN]
    modes = []
    lo = 0
    for c in cuts:
        assert _feed(dsn, lo, c) > 0
        lo = c
        modes.append(_update(dsn, now_ns=min(c, CLOSE_NS - 1)))
    # the first update of the day is full (no mark yet); the later ones take the tail
    assert modes[0] == ("full", "tail")
    assert all(m == ("tail", "tail") for m in modes[2:]), modes
    with psycopg.connect(dsn) as conn:
        mark = intraday.read_mark(conn, DAY)
    assert mark is not None and mark.tail_from > OPEN_NS + 290 * MIN
    incremental = _stored(dsn)
    _assert_same(incremental, _full_recompute(dsn))


def test_late_ticks_before_the_tail_force_a_full_update(plain_dsn: str) -> None:
    dsn = plain_dsn
    _stage(dsn)
    late_sym = "sym NOT IN (SELECT min(sym) FROM trades_all)"
    first = OPEN_NS + 120 * MIN
    # one symbol's ticks of minutes 60..120 held back: they arrive late
    _feed(dsn, 0, OPEN_NS + 60 * MIN)
    _feed(dsn, OPEN_NS + 60 * MIN, first, f" AND {late_sym}")
    assert _update(dsn, first) == ("full", "tail")
    assert _feed(dsn, first, first + 5 * MIN) > 0
    assert _update(dsn, first + 5 * MIN) == ("tail", "tail")
    # the late ticks land before the tail
    assert _feed(dsn, OPEN_NS + 60 * MIN, first, f" AND NOT ({late_sym})") > 0
    b = intraday.bars_tail_or_full(dsn, DAY, now_ns=first + 6 * MIN)
    assert b.extra["bars_1m"]["update"] == "full"
    assert "before the tail changed" in b.extra["bars_1m"]["full_because"]
    assert intraday.indicators_tail_or_full(dsn, DAY, now_ns=first + 6 * MIN).extra["indicators"]["update"] == "tail"
    after_late = _stored(dsn)
    _assert_same(after_late, _full_recompute(dsn))
    # a closed day is always recomputed whole, and then has no mark
    closed = intraday.bars_tail_or_full(dsn, DAY, now_ns=CLOSE_NS + MIN)
    assert closed.extra["bars_1m"] == {**closed.extra["bars_1m"], "update": "full",
                                       "full_because": "the session has closed"}
    with psycopg.connect(dsn) as conn:
        assert intraday.read_mark(conn, DAY) is None


def test_tail_is_read_not_the_day(plain_dsn: str) -> None:
    """The tail update loads only the ticks from the mark on (what makes it not grow)."""
    dsn = plain_dsn
    _stage(dsn)
    _feed(dsn, 0, OPEN_NS + 200 * MIN)
    _update(dsn, OPEN_NS + 200 * MIN)
    _feed(dsn, OPEN_NS + 200 * MIN, OPEN_NS + 202 * MIN)
    r = intraday.update_bars(dsn, DAY, OPEN_NS + 202 * MIN)
    assert isinstance(r, entry_points.DayReport)
    with psycopg.connect(dsn) as conn:
        stored = conn.execute("SELECT count(*) FROM trades").fetchone()[0]  # type: ignore[index]
    loaded = r.extra["bars_1m"]["trades"]
    assert 0 < loaded < stored / 5, (loaded, stored)
    assert np.datetime64(r.extra["bars_1m"]["tail_from"][:19]) >= np.datetime64(
        pd.Timestamp(OPEN_NS + 180 * MIN, tz="UTC").isoformat()[:19])


def test_trade_signals_of_a_chunked_day_equal_the_full_recompute_in_every_causal_column(plain_dsn: str) -> None:
    """During the session only the trade signals from the tail on are written; at the end
    every causal column of every trade equals the full recompute (the whole-day columns,
    provisional, are not compared)."""
    from tickflow.derive.provisional import WHOLE_DAY_COLUMNS
    from tickflow.store.day_ticks import load_day_ticks

    dsn = plain_dsn
    _stage(dsn)
    lo, modes, written = 0, [], []
    for m in (40, 41, 200, 202):
        c = OPEN_NS + m * MIN + 17 * 1_000_000_000
        _feed(dsn, lo, c)
        lo = c
        _update(dsn, c)
        r = intraday.signals_tail_or_full(dsn, DAY, load_day_ticks(dsn, DAY), now_ns=c)
        assert not r.blocked, r.blocked
        modes.append(r.extra["trade_signals"]["update"])
        written.append((r.extra["trade_signals"].get("rows_written"), r.rows["trade_signals"]))
    assert modes[0] == "full" and modes[2:] == ["tail", "tail"], modes
    # only the tail's trades were written: after two minutes, the trades from the 15-minute boundary on
    assert 0 < written[2][0] < written[2][1] and 0 < written[3][0] < written[3][1] / 5, written
    causal = [c for c in derived.TRADE_SIGNALS.value_columns if c not in WHOLE_DAY_COLUMNS["trade_signals"]]
    live = read_day(dsn, derived.TRADE_SIGNALS, DAY)[["sym", *causal]]
    assert not entry_points.run_signals(dsn, DAY).blocked
    full = read_day(dsn, derived.TRADE_SIGNALS, DAY)[["sym", *causal]]
    assert len(live) == len(full) > 0
    pd.testing.assert_frame_equal(live, full, check_exact=True)


def test_the_tail_taken_from_the_held_day_equals_the_tail_read_from_the_store(plain_dsn: str) -> None:
    """The live session's tail comes out of the day it holds (read in the pass's snapshot),
    not from a second read: the same rows, each symbol's prevailing quote first."""
    from tickflow.store.day_ticks import load_day_ticks

    dsn = plain_dsn
    _stage(dsn)
    assert _feed(dsn, 0, OPEN_NS + 181 * MIN + 17 * 1_000_000_000) > 0
    held = load_day_ticks(dsn, DAY)
    mark = intraday.mark_of_full_day(held)
    assert mark.tail_from > OPEN_NS
    with psycopg.connect(dsn) as conn:
        assert not entry_points.run_bars(dsn, DAY).blocked
        from_store = intraday.load_tail(conn, DAY, mark)
        from_held = intraday.load_tail(conn, DAY, mark, held)
    assert not isinstance(from_store, str) and not isinstance(from_held, str)
    assert from_held.newest_ns == from_store.newest_ns and from_held.counts_now == from_store.counts_now
    np.testing.assert_array_equal(from_held.seed, from_store.seed)
    a, b = from_held.ticks, from_store.ticks
    assert (a.symbols, a.open_ns, a.close_ns) == (b.symbols, b.open_ns, b.close_ns)
    for side in ("trades", "quotes"):
        np.testing.assert_array_equal(getattr(a, side[:-1] + "_starts"), getattr(b, side[:-1] + "_starts"))
        for col, values in getattr(b, side).items():
            np.testing.assert_array_equal(getattr(a, side)[col], values, err_msg=f"{side}.{col}")
    assert a.quotes["ts_ns"].size > 0 and int(a.quotes["ts_ns"].min()) < mark.tail_from  # prevailing quotes kept
