"""The feed-gap ledger: every moment the live feed was not delivering, as a row.

The live feed service records a row for each disconnect, silent socket, buffer overflow
(oldest events dropped while Kafka was down) or other outage: its window
``[started_at, ended_at)``, the channels and symbols it affects (``symbols`` NULL = all)
and the reason. A gap is *open* while ``ended_at`` is NULL (the outage is still going on)
and *unrepaired* while ``repaired_at`` is NULL; flat-file gap repair fills the window from
the vendor's daily files and calls ``mark_repaired``.

A gap belongs to every XNYS trading day its window overlaps in New York time (a gap
from 15:50 on Friday to 09:40 on Monday belongs to Friday and Monday, not to the
weekend). A still-running gap (``ended_at`` NULL) extends to now.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import psycopg

from tickflow import sessions

_FOR_DAY = (
    "SELECT id, started_at, ended_at, channels, symbols, reason, repaired_at, repaired_rows "
    "FROM feed_gaps WHERE started_at < %s AND coalesce(ended_at, now()) > %s "
    "AND (%s OR repaired_at IS NULL) ORDER BY started_at, id"
)


@dataclass(frozen=True)
class Gap:
    id: int
    started_at: dt.datetime
    ended_at: dt.datetime | None  # None while the outage is still going on
    channels: list[str]
    symbols: list[str] | None  # None: every symbol
    reason: str
    repaired_at: dt.datetime | None
    repaired_rows: int | None

    @property
    def is_open(self) -> bool:
        return self.ended_at is None

    @property
    def is_repaired(self) -> bool:
        return self.repaired_at is not None

    def seconds(self, now: dt.datetime | None = None) -> float:
        end = self.ended_at or now or dt.datetime.now(dt.UTC)
        return max(0.0, (end - self.started_at).total_seconds())


ConnOrDsn = psycopg.Connection | str


def _run(conn_or_dsn: ConnOrDsn, query: str, params: tuple[object, ...]) -> list[tuple[object, ...]]:
    """Run one statement on the caller's connection (inside the caller's transaction) or on
    a short autocommit connection of our own."""
    if isinstance(conn_or_dsn, str):
        with psycopg.connect(conn_or_dsn, autocommit=True) as conn:
            cur = conn.execute(query, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []
    cur = conn_or_dsn.execute(query, params)  # type: ignore[arg-type]
    return cur.fetchall() if cur.description else []


def _utc(ts: dt.datetime) -> dt.datetime:
    if ts.tzinfo is None:
        raise ValueError(f"gap timestamps must be timezone-aware, got {ts!r}")
    return ts


def record_gap(
    conn_or_dsn: ConnOrDsn,
    started_at: dt.datetime,
    ended_at: dt.datetime | None,
    channels: list[str] | tuple[str, ...],
    symbols: list[str] | tuple[str, ...] | None,
    reason: str,
) -> int:
    """Insert a gap (``ended_at`` None: still open) and return its id."""
    if not channels:
        raise ValueError("a gap must name at least one channel")
    if ended_at is not None and _utc(ended_at) < _utc(started_at):
        raise ValueError(f"gap ends before it starts: {started_at} .. {ended_at}")
    rows = _run(
        conn_or_dsn,
        "INSERT INTO feed_gaps (started_at, ended_at, channels, symbols, reason) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (_utc(started_at), ended_at, list(channels), None if symbols is None else list(symbols), reason),
    )
    return int(rows[0][0])  # type: ignore[call-overload]


def close_gap(conn_or_dsn: ConnOrDsn, gap_id: int, ended_at: dt.datetime) -> None:
    """Set the end of an open gap; closing an already closed gap is an error."""
    rows = _run(
        conn_or_dsn,
        "UPDATE feed_gaps SET ended_at = greatest(%s, started_at) WHERE id = %s AND ended_at IS NULL "
        "RETURNING id",
        (_utc(ended_at), gap_id),
    )
    if not rows:
        raise LookupError(f"no open gap with id {gap_id}")


def close_open_gaps(conn_or_dsn: ConnOrDsn) -> None:
    """End every open gap now. The feed calls it once subscribed: one feed process per key
    writes every gap, so a gap still open is one a previous run left (its shutdown, or an
    outage it never saw end)."""
    _run(conn_or_dsn, "UPDATE feed_gaps SET ended_at = greatest(now(), started_at) WHERE ended_at IS NULL", ())


def _day_window(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    lo, hi = sessions.day_bounds_ns(day)
    return (dt.datetime.fromtimestamp(lo / 1e9, tz=dt.UTC), dt.datetime.fromtimestamp(hi / 1e9, tz=dt.UTC))


def _gap(row: tuple[object, ...]) -> Gap:
    return Gap(
        id=int(row[0]),  # type: ignore[call-overload]
        started_at=row[1],  # type: ignore[arg-type]
        ended_at=row[2],  # type: ignore[arg-type]
        channels=list(row[3]),  # type: ignore[call-overload]
        symbols=None if row[4] is None else list(row[4]),  # type: ignore[call-overload]
        reason=str(row[5]),
        repaired_at=row[6],  # type: ignore[arg-type]
        repaired_rows=None if row[7] is None else int(row[7]),  # type: ignore[call-overload]
    )


def gaps_for_day(dsn: str, day: dt.date, *, unrepaired_only: bool = False) -> list[Gap]:
    """Gaps whose window overlaps New York day ``day``; none on a non-trading day."""
    if not sessions.is_trading_day(day):
        return []
    lo, hi = _day_window(day)
    return [_gap(r) for r in _run(dsn, _FOR_DAY, (hi, lo, not unrepaired_only))]


def open_gaps(dsn: str, day: dt.date) -> list[Gap]:
    """The day's gaps not yet repaired (whether or not the outage has ended)."""
    return gaps_for_day(dsn, day, unrepaired_only=True)


def mark_repaired(conn: ConnOrDsn, gap_id: int, rows: int) -> None:
    """Record that gap ``gap_id`` was filled from the vendor's history with ``rows`` new rows.

    Pass the connection whose transaction wrote the rows, so the two commit together."""
    done = _run(
        conn,
        "UPDATE feed_gaps SET repaired_at = now(), repaired_rows = %s WHERE id = %s RETURNING id",
        (int(rows), gap_id),
    )
    if not done:
        raise LookupError(f"no gap with id {gap_id}")


def gap_seconds(dsn: str, day: dt.date, now: dt.datetime | None = None) -> float:
    """Seconds of recorded gap inside New York day ``day`` (overlaps counted once per gap)."""
    lo, hi = _day_window(day)
    now = now or dt.datetime.now(dt.UTC)
    total = 0.0
    for g in gaps_for_day(dsn, day):
        start = max(g.started_at, lo)
        end = min(g.ended_at or now, hi)
        total += max(0.0, (end - start).total_seconds())
    return total


def unrepaired_for_channel(dsn: str, day: dt.date, channel: str) -> list[Gap]:
    """The day's unrepaired gaps that cover ``channel`` ("T" trades, "Q" quotes, "AM")."""
    return [g for g in open_gaps(dsn, day) if channel in g.channels]
