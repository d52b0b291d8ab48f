"""Live-path health: tick freshness, Kafka consumer lag and dead-letter share.

Pure decisions over numbers the store and Kafka give; the Dagster checks
(assets/operations_checks.py) only call these.

- Freshness: during the XNYS regular session the newest tick of a table (today, New York
  date) must be at most ``freshness_lag_s`` old. Outside the session nothing is evaluated:
  no ticks are expected, so staleness says nothing.
- Consumer lag: per topic-partition, the high watermark minus the store's offset ledger head,
  as defined once in :mod:`tickflow.kafka.lag`; here only judged against a threshold.
- Dead-letter share: a run's dead letters over its messages, against ``dead_letter_max_share``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import psycopg

from tickflow import sessions
from tickflow.config import Settings
from tickflow.kafka.lag import consumer_lag, lag_metadata
from tickflow.store.schema import TICK_TABLES


@dataclass(frozen=True)
class Outcome:
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def session_of(now: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """The XNYS regular session ``now`` falls in, as (open, close) in UTC, or None."""
    day = pd.Timestamp(now).tz_convert(sessions.NY).date()
    if not sessions.is_trading_day(day):
        return None
    start_ns, end_ns = sessions.session_bounds_ns(day)
    open_, close = (dt.datetime.fromtimestamp(x / 1e9, tz=dt.UTC) for x in (start_ns, end_ns))
    return (open_, close) if open_ <= now < close else None


def newest_tick(dsn: str, table: str, now: dt.datetime) -> dt.datetime | None:
    """The newest tick of ``table`` on ``now``'s New York date (one day's partition scanned)."""
    if table not in TICK_TABLES:
        raise ValueError(f"not a tick table: {table!r}")
    day = pd.Timestamp(now).tz_convert(sessions.NY).date()
    start_ns, end_ns = sessions.day_bounds_ns(day)
    start, end = (dt.datetime.fromtimestamp(x / 1e9, tz=dt.UTC) for x in (start_ns, end_ns))
    with psycopg.connect(dsn) as conn:
        row = conn.execute(f"SELECT max(ts) FROM {table} WHERE ts >= %s AND ts < %s",  # noqa: S608 (checked above)
                           (start, end)).fetchone()
    return row[0] if row else None


def freshness(table: str, newest: dt.datetime | None, now: dt.datetime, max_lag_s: float) -> Outcome:
    meta: dict[str, Any] = {"max_lag_s": max_lag_s, "now": now.isoformat()}
    if newest is None:
        return Outcome(False, f"no {table} tick today during the session (limit {max_lag_s:.0f} s)", meta)
    lag = (now - newest).total_seconds()
    meta.update(newest_tick=newest.isoformat(), lag_s=round(lag, 3))
    if lag > max_lag_s:
        return Outcome(False, f"newest {table} tick is {lag:.0f} s old (limit {max_lag_s:.0f} s)", meta)
    return Outcome(True, f"newest {table} tick is {max(lag, 0):.0f} s old", meta)


def lag_outcome(topic: str, lags: dict[int, int], max_messages: int) -> Outcome:
    total = sum(lags.values())
    meta = {"lag_total": total, "lag_max_messages": max_messages, "lag": {str(p): n for p, n in lags.items()}}
    if total > max_messages:
        return Outcome(False, f"{topic}: ingest is {total:,} messages behind Kafka (limit {max_messages:,})", meta)
    return Outcome(True, f"{topic}: {total:,} messages behind Kafka", meta)


def dead_letter_outcome(label: str, messages: int, dead: int, max_share: float) -> Outcome:
    share = dead / messages if messages else 0.0
    meta = {"messages": messages, "dead_letters": dead, "share": round(share, 6), "max_share": max_share}
    if share > max_share:
        return Outcome(False, f"{label}: {dead:,} of {messages:,} messages dead-lettered ({share:.2%} > "
                              f"{max_share:.2%})", meta)
    return Outcome(True, f"{label}: {dead:,} of {messages:,} messages dead-lettered ({share:.2%})", meta)


def run_dead_letters(dsn: str, topic: str, since: dt.datetime) -> list[tuple[str, int, int, dt.datetime]]:
    """(run id, messages, dead letters, last commit) per run that committed ledger rows of
    ``topic`` after ``since``, oldest first."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT coalesce(run_id, '-'), sum(messages)::bigint, sum(dead_letters)::bigint, max(committed_at) "
            "FROM offset_ledger WHERE topic = %s AND committed_at > %s GROUP BY 1 ORDER BY 4", (topic, since)
        ).fetchall()
    return [(r[0], int(r[1]), int(r[2]), r[3]) for r in rows]


def lag_after_run(settings: Settings, topics: list[str]) -> dict[str, Any]:
    """Consumer lag metadata for an ingest run that has committed; a Kafka or store hiccup
    here is reported in the metadata, never a failure of the run that already landed."""
    try:
        return lag_metadata(consumer_lag(settings, tuple(topics)))
    except Exception as e:  # noqa: BLE001 - metadata only; the rows are committed
        return {"kafka_lag_messages": f"unavailable: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
