"""The XNYS calendar and the New York day of a tick."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from tickflow import sessions


def test_ny_day_matches_pandas_across_dst_and_centuries() -> None:
    rng = np.random.default_rng(0)
    ts = rng.integers(0, 4_102_444_800_000_000_000, 200_000)
    # and the instants around the 2024 spring-forward and fall-back transitions
    edges = np.array([pd.Timestamp(x, tz="UTC").value for x in
                      ("2024-03-10 06:59:59.999999999", "2024-03-10 07:00:00", "2024-11-03 05:59:59.999999999",
                       "2024-11-03 06:00:00", "2024-06-21 03:59:59.999999999", "2024-06-21 04:00:00")])
    ts = np.concatenate([ts, edges])
    ref = (pd.DatetimeIndex(ts.astype("datetime64[ns]"), tz="UTC").tz_convert(sessions.NY)
           .tz_localize(None).normalize().asi8 // 86_400_000_000_000)
    assert np.array_equal(sessions.ny_day(ts), ref)


def test_trading_days_skip_weekends_and_holidays() -> None:
    days = sessions.trading_days(dt.date(2024, 6, 14), dt.date(2024, 6, 24))
    assert dt.date(2024, 6, 19) not in days  # Juneteenth
    assert dt.date(2024, 6, 22) not in days
    assert days[0] == dt.date(2024, 6, 14) and days[-1] == dt.date(2024, 6, 24)
    assert sessions.is_trading_day(dt.date(2012, 6, 21))  # the LOBSTER sample day
    assert not sessions.is_trading_day(dt.date(2024, 12, 25))
    assert dt.date(2024, 7, 4) in sessions.non_trading_weekdays(dt.date(2024, 7, 1), dt.date(2024, 7, 5))


def test_day_bounds_follow_new_york_time() -> None:
    lo, hi = sessions.day_bounds_ns(dt.date(2024, 6, 21))
    assert pd.Timestamp(lo, tz="UTC") == pd.Timestamp("2024-06-21 04:00", tz="UTC")
    assert (hi - lo) == 86_400_000_000_000
    lo, hi = sessions.day_bounds_ns(dt.date(2024, 11, 3))  # fall back: a 25-hour day
    assert (hi - lo) == 25 * 3_600_000_000_000


def test_next_trading_day_skips_weekends_and_holidays() -> None:
    d = dt.date
    assert sessions.next_trading_day(d(2024, 6, 18)) == d(2024, 6, 20)  # Juneteenth
    assert sessions.next_trading_day(d(2024, 6, 21)) == d(2024, 6, 24)  # a weekend
    assert sessions.next_trading_day(d(2024, 6, 22)) == d(2024, 6, 24)  # from a Saturday
    assert sessions.next_trading_day(d(2024, 7, 3)) == d(2024, 7, 5)  # Independence Day
    days = sessions.trading_days(d(2024, 1, 1), d(2024, 12, 31))
    assert [sessions.next_trading_day(x) for x in days[:-1]] == days[1:]
