"""Simulated days straight into the tick store, bypassing Kafka.

For the demo's history, tests and benchmarks of the derived layer, which start from stored
ticks: a day is rendered to Polygon JSON and decoded by the same decoder and COPY encoder as the ingest
path (so the stored rows are exactly what ingest would store), then copied in one
transaction. Offsets are synthetic (partition -1, the event's position)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import psycopg

from tickflow.derive.entry_points import run_bars, run_indicators, run_signals
from tickflow.feed.decode import decode_batch
from tickflow.simulate.day import SimulatedDay, render_messages, simulate_day
from tickflow.store.pgcopy import encode_quotes, encode_trades
from tickflow.store.schema import ensure_day_partitions, ensure_schema
from tickflow.store.write import copy_rows


def write_simulated_day(dsn: str, day: SimulatedDay, batch: int = 200) -> dict[str, int]:
    """Store ``day``'s trades and quotes; returns rows inserted per table (re-writing is a no-op)."""
    caps = ensure_schema(dsn)
    ensure_day_partitions(dsn, caps, [day.date])
    out = {"trades": 0, "quotes": 0}
    base = 0
    with psycopg.connect(dsn) as conn, conn.transaction():
        for kind, table, enc in (("T", "trades", encode_trades), ("Q", "quotes", encode_quotes)):
            values = [v for _, v, _ in render_messages(day, kind, batch=batch)]  # type: ignore[arg-type]
            for i in range(0, len(values), 2000):
                decoded = decode_batch(values[i : i + 2000])
                if decoded.dead:
                    raise RuntimeError(f"simulated messages failed to decode: {decoded.dead[0].reason}")
                cols = decoded.trades if kind == "T" else decoded.quotes
                n = len(cols)
                payload = enc(cols, decoded.text, decoded.cond,  # type: ignore[arg-type]
                              np.full(n, -1, np.int64), base + np.arange(n, dtype=np.int64))
                base += n
                out[table] += copy_rows(conn, table, payload, n)[0]
    return out


def simulate_history(dsn: str, days: list[dt.date], n_symbols: int, trades_per_symbol: int = 25_000, seed: int = 0,
                     derive: bool = True) -> dict[str, int]:
    """Write each day's simulated ticks (seed ``seed + i`` for the i-th day, oldest first, two
    quotes per trade) and, with ``derive``, its bars, indicators and signals in day order
    (indicators warm up from the day before). Without it the caller derives, e.g. through
    Dagster runs as the demo does. Returns the rows inserted per table over all days."""
    total = {"trades": 0, "quotes": 0}
    for i, day in enumerate(sorted(days)):
        rows = write_simulated_day(dsn, simulate_day(day, n_symbols=n_symbols, seed=seed + i,
                                                     trades_per_symbol=trades_per_symbol,
                                                     quotes_per_symbol=2 * trades_per_symbol))
        total = {k: total[k] + rows[k] for k in total}
        if derive:
            run_bars(dsn, day)
            run_indicators(dsn, day)
            run_signals(dsn, day)
    return total
