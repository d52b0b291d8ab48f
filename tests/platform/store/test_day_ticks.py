"""A stored day comes back as the simulated session: same ticks, symbol-major, time-ordered."""

from __future__ import annotations

import datetime as dt

import numpy as np

from tickflow.kernels.grouping import group_starts
from tickflow.simulate.day import simulate_day
from tickflow.simulate.to_store import write_simulated_day
from tickflow.store.day_ticks import load_day_ticks

DAY = dt.date(2024, 6, 21)


def test_load_day_ticks_returns_the_stored_session(store_dsn: str) -> None:
    sim = simulate_day(DAY, n_symbols=3, seed=5, trades_per_symbol=800, quotes_per_symbol=1500)
    rows = write_simulated_day(store_dsn, sim)
    assert rows == {"trades": sim.trades["ts_ns"].size, "quotes": sim.quotes["ts_ns"].size}
    assert write_simulated_day(store_dsn, sim) == {"trades": 0, "quotes": 0}  # idempotent
    ticks = load_day_ticks(store_dsn, DAY)
    assert ticks.symbols == sorted(sim.symbols)
    assert ticks.n_minutes == 390
    order = np.argsort(np.argsort(sim.symbols))  # simulator index -> sorted position
    for kind, cols, ours in (("trades", ("ts_ns", "price", "size"), ("ts_ns", "price", "size")),
                             ("quotes", ("ts_ns", "bid_price", "ask_price"), ("ts_ns", "bid", "ask"))):
        src = sim.trades if kind == "trades" else sim.quotes
        codes = order[src["sym_idx"]]
        perm = np.lexsort((src["ts_ns"], codes))
        got = ticks.trades if kind == "trades" else ticks.quotes
        starts = ticks.trade_starts if kind == "trades" else ticks.quote_starts
        np.testing.assert_array_equal(starts, group_starts(codes[perm], 3))
        for a, b in zip(cols, ours, strict=True):
            np.testing.assert_allclose(got[b], src[a][perm], rtol=0, atol=1e-9 if a != "ts_ns" else 0)


def test_trades_and_quotes_are_read_in_one_snapshot(plain_dsn: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The quotes are read on a second connection, concurrently with the trades: a commit
    # that lands before that read starts must not be seen by it.
    import psycopg

    from tickflow.store import day_ticks

    write_simulated_day(plain_dsn, simulate_day(DAY, n_symbols=2, seed=5, trades_per_symbol=300,
                                                quotes_per_symbol=600))
    before = load_day_ticks(plain_dsn, DAY)
    real = day_ticks._fetch_in_snapshot

    def after_a_commit(dsn, *args):  # type: ignore[no-untyped-def]
        with psycopg.connect(dsn) as conn:
            assert conn.execute("DELETE FROM quotes").rowcount > 0
        return real(dsn, *args)

    monkeypatch.setattr(day_ticks, "_fetch_in_snapshot", after_a_commit)
    during = load_day_ticks(plain_dsn, DAY)
    np.testing.assert_array_equal(during.quote_starts, before.quote_starts)
    for k in before.quotes:
        np.testing.assert_array_equal(during.quotes[k], before.quotes[k])
    monkeypatch.setattr(day_ticks, "_fetch_in_snapshot", real)
    assert load_day_ticks(plain_dsn, DAY).quotes["ts_ns"].size == 0  # the deletion, seen by the next read


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    assert a.symbols == b.symbols
    np.testing.assert_array_equal(a.trade_starts, b.trade_starts)
    np.testing.assert_array_equal(a.quote_starts, b.quote_starts)
    for k in a.trades:
        np.testing.assert_array_equal(a.trades[k], b.trades[k], err_msg=k)
    for k in a.quotes:
        np.testing.assert_array_equal(a.quotes[k], b.quotes[k], err_msg=k)


def test_refresh_reads_the_tail_and_equals_a_whole_read(plain_dsn: str) -> None:
    """The live session keeps the day in memory and reads only its tail; the result is what
    a whole read gives, also when a symbol appears late, and late ticks before the tail make
    it read the whole day."""
    import psycopg

    from tickflow.store.day_ticks import refresh_day_ticks, tail_boundary

    day = dt.date(2024, 6, 21)
    write_simulated_day(plain_dsn, simulate_day(day, n_symbols=4, seed=21, trades_per_symbol=3000,
                                                quotes_per_symbol=3000))
    with psycopg.connect(plain_dsn) as conn:
        first_sym = conn.execute("SELECT min(sym) FROM trades").fetchone()[0]  # type: ignore[index]
        cut = conn.execute("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ts_ns) FROM trades").fetchone()[0]  # type: ignore[index]
        for t in ("trades", "quotes"):  # hold back the second half, and one symbol entirely
            conn.execute(f"CREATE TABLE {t}_held AS SELECT * FROM {t} WHERE ts_ns >= %s OR sym = %s", (cut, first_sym))  # noqa: S608
            conn.execute(f"DELETE FROM {t} WHERE ts_ns >= %s OR sym = %s", (cut, first_sym))  # noqa: S608
        conn.commit()
        prev = load_day_ticks(plain_dsn, day)
        assert first_sym not in prev.symbols
        for t in ("trades", "quotes"):  # the tail lands, with the new symbol's ticks after the cut
            conn.execute(f"INSERT INTO {t} SELECT * FROM {t}_held WHERE ts_ns >= %s", (cut,))  # noqa: S608
        conn.commit()
        refreshed, how = refresh_day_ticks(plain_dsn, prev)
        assert how == "tail"
        _same(refreshed, load_day_ticks(plain_dsn, day))
        assert refreshed.trades["ts_ns"].size > prev.trades["ts_ns"].size
        # late ticks: the symbol's first half lands before the boundary
        for t in ("trades", "quotes"):
            conn.execute(f"INSERT INTO {t} SELECT * FROM {t}_held WHERE ts_ns < %s", (cut,))  # noqa: S608
        conn.commit()
    # counting only since an earlier check (the live loop between its whole-day counts) sees
    # late ticks after that check, not before it
    boundary = tail_boundary(refreshed)
    assert refresh_day_ticks(plain_dsn, refreshed, verified_ns=boundary - 1_000_000_000)[1] == "tail"
    early = int(cut) - 600_000_000_000  # the late symbol has ticks in every minute before the cut
    assert refresh_day_ticks(plain_dsn, refreshed, verified_ns=early)[1].startswith("ticks before the tail changed")
    again, how = refresh_day_ticks(plain_dsn, refreshed)
    assert how.startswith("ticks before the tail changed")
    _same(again, load_day_ticks(plain_dsn, day))
