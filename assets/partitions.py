"""The trading-day partitions shared by every partitioned asset."""


import datetime as dt

from dagster import TimeWindowPartitionsDefinition

from tickflow import sessions

# One partition per XNYS session: weekdays less exchange holidays. A partition holds the
# ticks whose exchange time falls on that New York date (the window of a Friday runs to
# Monday; nothing relies on the window's end).
trading_days = TimeWindowPartitionsDefinition(
    start=sessions.FIRST_DAY.isoformat(),
    fmt="%Y-%m-%d",
    cron_schedule="0 0 * * 1-5",
    timezone=sessions.NY,
    end_offset=1,
    exclusions=[
        dt.datetime.combine(d, dt.time())
        for d in sessions.non_trading_weekdays(sessions.FIRST_DAY, dt.date.today() + dt.timedelta(days=400))
    ],
)
