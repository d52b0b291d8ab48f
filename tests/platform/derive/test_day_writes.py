"""A range run's signal writes overlap the next day's work (DayWrites): every day is
written as when the days run one after another, a day that fails its checks is not
written while the others are, and a failed write is raised by ``drain``."""

from __future__ import annotations

import datetime as dt

import numpy as np
import psycopg
import pytest

from tickflow.derive import entry_points
from tickflow.simulate.day import simulate_day
from tickflow.simulate.to_store import write_simulated_day

DAYS = [dt.date(2024, 6, 18), dt.date(2024, 6, 20), dt.date(2024, 6, 21)]


def _stored(dsn: str, day: dt.date) -> tuple[int, float]:
    with psycopg.connect(dsn) as conn:
        n, total = conn.execute("SELECT count(*), coalesce(sum(std_return), 0) FROM trade_signals WHERE day = %s",
                                (day,)).fetchone()  # type: ignore[misc]
    return int(n), float(total)


def test_pipelined_writes_store_every_day_and_skip_only_the_failed_one(plain_dsn: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for i, day in enumerate(DAYS):
        write_simulated_day(plain_dsn, simulate_day(day, n_symbols=2, seed=11 + i, trades_per_symbol=400,
                                                    quotes_per_symbol=800))
        assert not entry_points.run_bars(plain_dsn, day).blocked
    for day in DAYS:  # one after another: the reference
        assert not entry_points.run_signals(plain_dsn, day).blocked
    reference = {day: _stored(plain_dsn, day) for day in DAYS}
    assert all(n > 0 for n, _ in reference.values())
    with psycopg.connect(plain_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE trade_signals, bar_measures, daily_measures, jump_events")

    real = entry_points.signal_checks
    per_trade_suites: list[int] = []

    def bad_on_the_middle_day(frame, finite, probabilities):  # type: ignore[no-untyped-def]
        if "log_return" in frame:  # the per-trade suite: once per day, in day order
            per_trade_suites.append(1)
            if len(per_trade_suites) == 2:
                frame = frame.assign(log_return=np.inf)
        return real(frame, finite, probabilities)

    monkeypatch.setattr(entry_points, "signal_checks", bad_on_the_middle_day)
    writes = entry_points.DayWrites()
    reports = [entry_points.run_signals(plain_dsn, day, writes=writes) for day in DAYS]
    writes.drain()
    assert [bool(r.blocked) for r in reports] == [False, True, False]
    assert reports[1].blocked == ["trade_signals.finite_where_defined"]
    assert _stored(plain_dsn, DAYS[0]) == reference[DAYS[0]]
    assert _stored(plain_dsn, DAYS[1]) == (0, 0.0)
    assert _stored(plain_dsn, DAYS[2]) == reference[DAYS[2]]
    assert all(r.seconds["write"] > 0 for r in reports)


def test_a_failed_write_is_raised_by_drain_after_the_later_days(plain_dsn: str) -> None:
    missing = plain_dsn.rsplit("/", 1)[0] + "/no_such_database"
    writes = entry_points.DayWrites()
    joins = []
    for dsn in (missing, plain_dsn):  # the first day's write fails, the second's runs
        written, checked = entry_points._write_when_checked(entry_points.DayReport(DAYS[0], []), dsn, [], writes=writes)
        checked.set()
        joins.append(written)
    with pytest.raises(psycopg.OperationalError, match="no_such_database"):
        writes.drain()
    assert joins[1]() is True
