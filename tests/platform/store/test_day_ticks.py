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
