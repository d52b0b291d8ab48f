"""The tick store on both layouts: binary COPY round trip, idempotent writes, day
partitions created beside an open writer, ledger arithmetic, retention."""

from __future__ import annotations

import datetime as dt

import numpy as np
import psycopg
import pytest

from tests.platform.event_batches import batch_from_events
from tickflow import sessions
from tickflow.store import ledger
from tickflow.store.pgcopy import encode_quotes, encode_trades
from tickflow.store.schema import detect, drop_days_before, ensure_day_partitions
from tickflow.store.write import copy_rows, insert_dead_letters

DAY = dt.date(2024, 6, 21)
NEXT = dt.date(2024, 6, 24)


def ns(day: dt.date, hh: int, mm: int, extra_ns: int = 0) -> int:
    return sessions.day_bounds_ns(day)[0] + (hh * 3600 + mm * 60) * 1_000_000_000 + extra_ns


TRADES = [
    {"ev": "T", "sym": "AAPL", "t": ns(DAY, 9, 30, 123_456_789), "p": 189.5, "s": 100, "x": 4, "i": "1001",
     "c": [12, 37], "z": 3, "q": 7},
    {"ev": "T", "sym": "AAPL", "t": ns(DAY, 9, 31), "p": 189.25, "s": 0.5, "x": 11, "i": "1002", "c": [], "z": 3,
     "q": 8},
    {"ev": "T", "sym": "BRK.B", "t": ns(DAY, 15, 59, 999), "p": 412.01, "s": 3, "x": 1, "i": "x-9", "c": [1], "z": 1,
     "q": 9},
]
QUOTES = [
    {"ev": "Q", "sym": "AAPL", "t": ns(DAY, 9, 30, 5), "bp": 189.49, "bs": 300, "ap": 189.51, "as": 200, "bx": 11,
     "ax": 12, "c": [], "z": 3, "q": 1},
    {"ev": "Q", "sym": "MSFT", "t": ns(DAY, 10, 0), "bp": 450.0, "bs": 100, "ap": 450.02, "as": 100, "bx": 1,
     "ax": 4, "c": [602], "z": 3, "q": 2},
]


def _encode(events: list[dict], kind: str) -> tuple[bytes, int]:
    b = batch_from_events(events)
    cols = b.trades if kind == "trades" else b.quotes
    part = np.zeros(len(cols), dtype=np.int64)
    off = np.arange(len(cols), dtype=np.int64) + 100
    enc = encode_trades if kind == "trades" else encode_quotes
    return enc(cols, b.text, b.cond, part, off), len(cols)  # type: ignore[arg-type]


def _write(dsn: str, events: list[dict], kind: str) -> tuple[int, int]:
    payload, n = _encode(events, kind)
    with psycopg.connect(dsn) as conn:
        caps = detect(conn)
        days = sorted({sessions.day_from_ordinal(d) for d in sessions.ny_day(np.array([e["t"] for e in events]))})
        ensure_day_partitions(dsn, caps, days)
        with conn.transaction():
            return copy_rows(conn, kind, payload, n)


def test_binary_copy_round_trips_every_column(store_dsn: str) -> None:
    assert _write(store_dsn, TRADES, "trades") == (3, 0)
    assert _write(store_dsn, QUOTES, "quotes") == (2, 0)
    with psycopg.connect(store_dsn) as conn:
        rows = conn.execute("SELECT sym, trade_id, exchange, price, size, tape, seq, conditions, ts_ns, "
                            "extract(epoch FROM ts)::numeric * 1000000, src_offset FROM trades ORDER BY ts_ns").fetchall()
        quotes = conn.execute("SELECT sym, bid_price, bid_size, ask_price, ask_size, bid_exchange, ask_exchange, "
                              "conditions, ts_ns FROM quotes ORDER BY ts_ns").fetchall()
    for row, e in zip(rows, TRADES, strict=True):
        assert row[:9] == (e["sym"], e["i"], e["x"], e["p"], e["s"], e["z"], e["q"], e["c"], e["t"])
        assert int(row[9]) == e["t"] // 1000  # timestamptz keeps microseconds
    assert [r[10] for r in rows] == [100, 101, 102]
    for row, e in zip(quotes, QUOTES, strict=True):
        assert row == (e["sym"], e["bp"], e["bs"], e["ap"], e["as"], e["bx"], e["ax"], e["c"], e["t"])


def test_repeated_write_is_a_counted_no_op(store_dsn: str) -> None:
    assert _write(store_dsn, TRADES, "trades") == (3, 0)
    assert _write(store_dsn, TRADES, "trades") == (0, 3)
    more = TRADES[:1] + [dict(TRADES[1], i="2001"), dict(TRADES[2], i="2002")]
    assert _write(store_dsn, more, "trades") == (2, 1)
    with psycopg.connect(store_dsn) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT (sym, trade_id)) FROM trades").fetchone() == (5, 5)


def test_layout_matches_the_server(store_dsn: str) -> None:
    _write(store_dsn, TRADES, "trades")
    with psycopg.connect(store_dsn) as conn:
        caps = detect(conn)
        if caps.timescaledb:
            n = conn.execute("SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'trades'"
                             ).fetchone()[0]
            assert n >= 1
        else:
            parts = [r[0] for r in conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'trades'").fetchall()]
            assert parts == ["trades_20240621"]


def test_new_day_partition_while_a_writer_holds_the_table(store_dsn: str) -> None:
    """A transaction that has written day A can still write day B: the partition for B is
    attached from another connection without waiting for the open transaction."""
    a, n_a = _encode(TRADES, "trades")
    late = [dict(e, t=e["t"] + (NEXT - DAY).days * 86_400_000_000_000) for e in TRADES]
    b, n_b = _encode(late, "trades")
    with psycopg.connect(store_dsn) as conn:
        caps = detect(conn)
        ensure_day_partitions(store_dsn, caps, [DAY])
        conn.execute("SET lock_timeout = '20s'")
        with conn.transaction():
            assert copy_rows(conn, "trades", a, n_a) == (3, 0)
            ensure_day_partitions(store_dsn, caps, [NEXT])
            assert copy_rows(conn, "trades", b, n_b) == (3, 0)
        assert conn.execute("SELECT count(*) FROM trades").fetchone()[0] == 6


def test_retention_drops_whole_days(store_dsn: str) -> None:
    _write(store_dsn, TRADES, "trades")
    late = [dict(e, t=e["t"] + (NEXT - DAY).days * 86_400_000_000_000) for e in TRADES]
    _write(store_dsn, late, "trades")
    assert drop_days_before(store_dsn, NEXT) >= 1
    with psycopg.connect(store_dsn) as conn:
        days = conn.execute("SELECT DISTINCT (ts AT TIME ZONE 'America/New_York')::date FROM trades").fetchall()
    assert days == [(NEXT,)]


def test_dead_letters_are_recorded_once(store_dsn: str) -> None:
    row = ("trades", 0, 17, -1, "malformed JSON: truncated", b'{"ev":', "run-1")
    with psycopg.connect(store_dsn) as conn:
        insert_dead_letters(conn, [row])
        insert_dead_letters(conn, [row])
        assert conn.execute('SELECT count(*), min(reason), min("offset") FROM dead_letters').fetchone() == (
            1, "malformed JSON: truncated", 17)


@pytest.mark.parametrize(
    ("taken", "todo"),
    [
        ([], [(10, 20)]),
        ([(0, 10)], [(10, 20)]),
        ([(0, 15)], [(15, 20)]),
        ([(12, 14), (16, 18)], [(10, 12), (14, 16), (18, 20)]),
        ([(5, 25)], []),
        ([(10, 20)], []),
    ],
)
def test_ledger_subtract(taken: list[tuple[int, int]], todo: list[tuple[int, int]]) -> None:
    assert ledger.subtract(10, 20, taken) == todo


def test_ledger_heads_and_gaps(plain_dsn: str) -> None:
    rows = [ledger.LedgerRow("t", 0, 0, 10, 10, 10, 0, 0, 0), ledger.LedgerRow("t", 0, 10, 20, 10, 10, 0, 0, 0),
            ledger.LedgerRow("t", 0, 30, 40, 10, 10, 0, 0, 0), ledger.LedgerRow("t", 1, 0, 5, 5, 5, 0, 0, 0)]
    with psycopg.connect(plain_dsn) as conn:
        ledger.record(conn, rows)
        assert ledger.heads(conn, "t") == {0: 20, 1: 5}
        assert ledger.gaps(conn, "t") == [(0, 20, 30)]
        assert ledger.covered(conn, "t", 0, 15, 35) == [(10, 20), (30, 40)]


def test_ledger_last_ranges_walk_the_key_and_match_a_scan(plain_dsn: str) -> None:
    rng = np.random.default_rng(3)
    rows, want = [], {}
    for topic in ("lr.quotes", "lr.trades", "lr.trades.bars"):
        for partition in range(4 if topic != "lr.trades.bars" else 1):
            cuts = np.cumsum(rng.integers(1, 50, size=int(rng.integers(1, 30))))
            starts = np.concatenate([[0], cuts[:-1]])
            for a, b in zip(starts.tolist(), cuts.tolist(), strict=True):
                rows.append(ledger.LedgerRow(topic, partition, a, b, b - a, b - a, 0, 0, 0))
            want[(topic, partition)] = int(cuts[-1])
    rng.shuffle(rows)  # committed in any order
    with psycopg.connect(plain_dsn) as conn:
        ledger.record(conn, rows)
        assert {k: e for k, e in ledger.last_ranges(conn).items() if k[0].startswith("lr.")} == want
        assert ledger.ends(conn, "lr.trades") == {p: e for (t, p), e in want.items() if t == "lr.trades"}
        assert ledger.ends(conn, "lr.nothing") == {}
