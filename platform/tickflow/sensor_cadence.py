"""How often the Kafka offset sensor looks for new data.

A run costs seconds to start, and a sensor tick costs a watermark round trip and a ledger
query, so the sensor looks often only when it can find something: every ``ACTIVE_S``
seconds while data has been arriving in the last ``RECENT_S`` seconds, every
``SESSION_S`` seconds during the extended trading day (pre-market to after-hours, New York)
otherwise, and every ``IDLE_S`` seconds outside it (late ticks, replays and backfills at
night still get picked up within a minute). The daemon evaluates the sensor every
``ACTIVE_S`` seconds; an evaluation that is not due returns at once without touching Kafka.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from tickflow import sessions

ACTIVE_S = 5
SESSION_S = 15
IDLE_S = 60
RECENT_S = 120
_NY = ZoneInfo("America/New_York")
_EXTENDED = (dt.time(4, 0), dt.time(20, 0))  # pre-market to after-hours


@dataclass(frozen=True)
class PollState:
    last_poll_s: float = 0.0  # when Kafka was last read (epoch seconds)
    last_data_s: float = 0.0  # when that read last found new offsets


def in_extended_session(now_s: float) -> bool:
    t = dt.datetime.fromtimestamp(now_s, tz=_NY)
    return sessions.is_trading_day(t.date()) and _EXTENDED[0] <= t.time() < _EXTENDED[1]


def interval_s(state: PollState, now_s: float) -> int:
    """Seconds between looks at Kafka in the current regime."""
    if now_s - state.last_data_s < RECENT_S:
        return ACTIVE_S
    return SESSION_S if in_extended_session(now_s) else IDLE_S


def due(state: PollState, now_s: float) -> bool:
    # a little slack so a daemon tick that lands a fraction early is not skipped
    return now_s - state.last_poll_s >= interval_s(state, now_s) - 0.5


def after_poll(state: PollState, now_s: float, found_data: bool) -> PollState:
    return PollState(last_poll_s=now_s, last_data_s=now_s if found_data else state.last_data_s)


# A following ingest run's successor is requested this long before the follower's time is
# up: a run takes ~5 s to start quiet and ~20-30 s under a live session's load (queue,
# process, imports), and the follower keeps ingesting until the successor has started.
FOLLOW_LEAD_S = 60.0


def follower_covers(started_s: float | None, now_s: float, follow_s: float) -> bool:
    """Whether an in-flight following ingest run (started at ``started_s``, None while it
    is still queued or starting) needs no successor yet."""
    return started_s is None or now_s < started_s + follow_s - FOLLOW_LEAD_S
