"""Simulated days straight into the store (tickflow.simulate.to_store.simulate_history): the
i-th day (oldest first) is simulate_day with seed + i, and derive=False leaves the deriving
to the caller (the demo derives through Dagster runs)."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from tickflow.simulate.day import simulate_day
from tickflow.simulate.to_store import simulate_history

DAYS = [dt.date(2024, 6, 21), dt.date(2024, 6, 20)]  # out of order on purpose


def test_history_without_deriving_stores_each_days_own_simulation(plain_dsn: str) -> None:
    rows = simulate_history(plain_dsn, DAYS, n_symbols=2, trades_per_symbol=300, seed=40, derive=False)
    want = {d: simulate_day(d, n_symbols=2, seed=40 + i, trades_per_symbol=300, quotes_per_symbol=600)
            for i, d in enumerate(sorted(DAYS))}
    assert rows == {"trades": sum(s.trades["ts_ns"].size for s in want.values()),
                    "quotes": sum(s.quotes["ts_ns"].size for s in want.values())}
    with psycopg.connect(plain_dsn) as conn:
        for d, sim in want.items():
            got = conn.execute("SELECT count(*), sum(price * size) FROM trades WHERE ts >= %s::date::timestamp "
                               "AT TIME ZONE 'America/New_York' AND ts < (%s::date + 1)::timestamp AT TIME ZONE "
                               "'America/New_York'", (d, d)).fetchone()
            assert got is not None and got[0] == sim.trades["ts_ns"].size
            # the day's own seed: another seed gives other prices and sizes
            assert float(got[1]) == pytest.approx(float((sim.trades["price"] * sim.trades["size"]).sum()), rel=1e-12)
        bars = conn.execute("SELECT to_regclass('bars') IS NOT NULL").fetchone()
        assert bars is not None
        if bars[0]:  # nothing derived
            assert conn.execute("SELECT count(*) FROM bars").fetchone() == (0,)
