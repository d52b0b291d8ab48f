"""The XNYS trading calendar: which New York dates are trading days.

A partition is one trading day; its data is the ticks whose exchange timestamp falls on
that date in New York time (extended hours included), so ``ny_day`` is the one function
that assigns a tick to a partition.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np
import pandas as pd

NY = "America/New_York"
CALENDAR = "XNYS"
# First trading day covered; the real sample day in shared/data/lobster is 2012-06-21.
FIRST_DAY = dt.date(2010, 1, 4)
_EPOCH = dt.date(1970, 1, 1)


@lru_cache(maxsize=1)
def _calendar():  # type: ignore[no-untyped-def]
    import exchange_calendars as xcals

    last = dt.date.today().replace(month=12, day=31) + dt.timedelta(days=366)
    return xcals.get_calendar(CALENDAR, start=FIRST_DAY.isoformat(), end=last.isoformat())


@lru_cache(maxsize=1)
def _session_ordinals() -> np.ndarray:
    """Sorted int32 day numbers (days since 1970-01-01) of every XNYS session."""
    sessions = _calendar().sessions
    days = np.array([(d.date() - _EPOCH).days for d in sessions], dtype=np.int32)
    return days


def trading_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """XNYS sessions with start <= day <= end."""
    ords = _session_ordinals()
    lo, hi = (start - _EPOCH).days, (end - _EPOCH).days
    sel = ords[(ords >= lo) & (ords <= hi)]
    return [_EPOCH + dt.timedelta(days=int(d)) for d in sel]


def next_trading_day(day: dt.date) -> dt.date:
    """The first XNYS session after ``day`` (where a model promoted on or for ``day`` takes effect)."""
    ords = _session_ordinals()
    return _EPOCH + dt.timedelta(days=int(ords[np.searchsorted(ords, (day - _EPOCH).days, side="right")]))


def is_trading_day(day: dt.date) -> bool:
    ords = _session_ordinals()
    d = (day - _EPOCH).days
    i = int(np.searchsorted(ords, d))
    return i < ords.shape[0] and int(ords[i]) == d


def non_trading_weekdays(start: dt.date, end: dt.date) -> list[dt.date]:
    """Weekdays that are not sessions (exchange holidays) in [start, end]."""
    weekdays = pd.bdate_range(start, end)
    sessions = set(trading_days(start, end))
    return [d.date() for d in weekdays if d.date() not in sessions]


def ny_day(ts_ns: np.ndarray) -> np.ndarray:
    """New York calendar day (int32 days since 1970-01-01) of each UTC ns timestamp.

    New York's UTC offset only changes on whole UTC hours, so the offset is looked up once
    per distinct hour (a handful per batch) and broadcast back."""
    if ts_ns.shape[0] == 0:
        return np.empty(0, dtype=np.int32)
    hours, inverse = np.unique(ts_ns // _HOUR_NS, return_inverse=True)
    idx = pd.DatetimeIndex((hours * _HOUR_NS).astype("datetime64[ns]"), tz="UTC").tz_convert(NY)
    offsets = idx.tz_localize(None).asi8 - idx.asi8
    local_ns = ts_ns + offsets[inverse.reshape(-1)]
    return (local_ns // 86_400_000_000_000).astype(np.int32)


_HOUR_NS = 3_600_000_000_000


def in_session_days(day_ordinals: np.ndarray) -> np.ndarray:
    """Boolean mask: is each day number an XNYS trading day."""
    return np.isin(day_ordinals, _session_ordinals())


def day_from_ordinal(n: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=int(n))


def ordinal(day: dt.date) -> int:
    return (day - _EPOCH).days


def day_bounds_ns(day: dt.date) -> tuple[int, int]:
    """[start, end) of a New York calendar day in UTC ns."""
    start = pd.Timestamp(day, tz=NY)
    end = pd.Timestamp(day + dt.timedelta(days=1), tz=NY)
    return int(start.value), int(end.value)


def session_bounds_ns(day: dt.date) -> tuple[int, int]:
    """[open, close) of the XNYS regular session of ``day`` in UTC ns (early closes included).

    Raises ValueError for a day that is not a session."""
    if not is_trading_day(day):
        raise ValueError(f"{day} is not an XNYS trading day")
    cal = _calendar()
    label = pd.Timestamp(day)
    return int(cal.session_open(label).value), int(cal.session_close(label).value)
