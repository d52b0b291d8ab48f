"""Simulated trading days straight into the store, with their bars and signals: the history
the model pipeline needs, for tests, the demo and the training benchmark."""

from __future__ import annotations

import datetime as dt

from tickflow.derive.daily import run_bars, run_indicators, run_signals
from tickflow.feed.simulate import simulate_day
from tickflow.store.simulated import write_simulated_day


def simulate_history(dsn: str, days: list[dt.date], n_symbols: int, trades_per_symbol: int, seed: int = 0) -> None:
    """Write each day's simulated ticks (seed ``seed + i`` for the i-th day) and derive its
    bars, indicators and signals, oldest day first (indicators warm up from the day before)."""
    for i, day in enumerate(sorted(days)):
        write_simulated_day(dsn, simulate_day(day, n_symbols=n_symbols, seed=seed + i,
                                              trades_per_symbol=trades_per_symbol,
                                              quotes_per_symbol=2 * trades_per_symbol))
        run_bars(dsn, day)
        run_indicators(dsn, day)
        run_signals(dsn, day)
