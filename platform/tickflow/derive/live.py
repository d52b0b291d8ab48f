"""The live session: one long-lived process that keeps an open day's derived tables current.

A Dagster run costs seconds before its first step (a process, the code location's imports,
Great Expectations' ~4 s import on the first check), and on this project's 2-core reference
machine those seconds, paid by one derived run after another, were most of the tick-to-bar
lag (README, "The live session"). So while a day's session is open, one run holds the day's
derived assets and updates them in a loop, warm: each time an ingest commit lands in the
offset ledger it runs the same intraday updates a single run would (bars and indicators
from the tail, trade signals written from the tail, anomalies, features), and reports each
update through ``on_update`` (the Dagster layer logs them as observations of the assets). It stops when
the session closes (or the day has been quiet for ``idle_exit_s``, which also ends a
rehearsal of a past day); the run's ordinary steps then recompute the day whole.

A day whose bar checks fail keeps its previous rows and nothing is built on it in that
pass (the rule of the blocking checks); the next commit tries again.

Passes are timed to the minute. A bar, its indicators and most features are per minute:
what a user waits for is the pass after a minute has closed. Started back to back, passes
meet a minute's close at a random point of the pass in progress, and the minute then
waits for that pass to end and the next to reach it: a lag spread over a whole pass.
So a pass that would still be running when the next minute boundary reaches the store
is not started; the loop waits until the boundary's ticks are in from every partition
still flowing at the minute's end, in both tables, and starts the pass then
(:func:`boundary_wait`, :func:`boundary_stored`). Ticks within a minute wait for
at most one pass more. When the boundary is due is told by the pace the stored day has
been advancing at (1 for a live feed, X for a replay at X times real time).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
import psycopg.errors
from psycopg import sql

from tickflow import sessions
from tickflow.derive import intraday
from tickflow.derive.entry_points import SIGNAL_TABLES, DayReport, run_anomalies
from tickflow.derive.provisional import provisional_metadata
from tickflow.feed_pace import MIN_NS, boundary_due, boundary_passed, pace, quiet_window_ns, remember
from tickflow.heap import retain_freed_memory
from tickflow.store import ledger
from tickflow.store.day_ticks import (
    DayTicks,
    day_snapshot,
    load_day_ticks,
    newest_ns,
    refresh_day_ticks,
    tail_boundary,
)

BAR_TABLES = intraday.BAR_TABLES
# What one pass updates, in order: the assets of a derived run of the day.
ASSETS = (*BAR_TABLES, "indicators", *SIGNAL_TABLES, "anomalies", "features")


@dataclass(frozen=True)
class LiveParams:
    poll_s: float = 0.25  # how often the ledger is looked at between passes
    idle_exit_s: float = 600.0  # a day with no commit for this long ends the loop
    max_attempts: int = 3  # live runs a day gets (a failed one is restarted this often)
    # how often a pass counts the whole day's stored ticks against the ones it holds (late
    # ticks); in between it counts only those since the last check (refresh_day_ticks). Not
    # in a minute's boundary pass unless twice this has gone by (run_session).
    full_check_s: float = 60.0
    align: bool = True  # time passes to the minute (module docstring)
    boundary_poll_s: float = 0.1  # how often the store is probed for a due minute boundary
    boundary_grace_s: float = 2.0  # how long past its due time a boundary is waited for at most
    boundary_margin_s: float = 0.25  # a pass is held back when the boundary is due within its length + this


@dataclass
class SessionReport:
    passes: int = 0
    skipped: list[str] = field(default_factory=list)  # why a pass built nothing downstream
    stopped_because: str = ""
    seconds: list[float] = field(default_factory=list)  # per pass
    reloads: list[str] = field(default_factory=list)  # why a pass read the whole day again
    heap_retained: bool = False  # freed memory is kept for the next pass (tickflow.heap)
    # passes started on a minute boundary they had waited for, and waits that ran out first
    on_boundary: int = 0
    boundary_missed: int = 0


Update = list[tuple[str, dict[str, Any]]]  # (asset, metadata) of one pass
# The features of the day: given its symbols and trade signals as the pass left them (the
# features aggregate those per bar in memory, not from the stored rows), returns metadata.
Features = Callable[[tuple[list[str], dict[str, np.ndarray]] | None], dict[str, Any]]


Head = tuple[tuple[tuple[str, int], int], ...]  # ((topic, partition), end of its last ledger range) each


def ledger_head(conn: psycopg.Connection) -> Head:
    """Where the offset ledger ends, per partition: every commit of the feed moves it (an
    index probe per partition, however long the ledger; a range re-ingested below the
    ends, a repair, does not, and its ticks are found by the whole-day count)."""
    return tuple(sorted(ledger.last_ranges(conn).items()))


def has_ticks(conn: psycopg.Connection, day: dt.date) -> bool:
    """Whether any trade of ``day``'s session is stored (one indexed probe)."""
    lo, hi = sessions.session_bounds_ns(day)
    return conn.execute("SELECT EXISTS (SELECT 1 FROM trades WHERE ts >= to_timestamp(%s / 1e9) "
                        "AND ts < to_timestamp(%s / 1e9))", (lo, hi)).fetchone()[0]  # type: ignore[index]


def live_days(now_s: float, rehearsal_days: Iterable[str]) -> list[dt.date]:
    """The days that may have a live session now: today in New York while its regular
    session is open, and the rehearsed past days (``TICKFLOW_REHEARSAL_DAYS``) that are
    trading days (a weekend or a holiday has no session to rehearse)."""
    today = dt.datetime.fromtimestamp(now_s, ZoneInfo(sessions.NY)).date()
    days = [d for d in map(dt.date.fromisoformat, rehearsal_days) if sessions.is_trading_day(d)]
    if intraday.is_open(today, int(now_s * 1e9)) and today not in days:
        days.append(today)
    return sorted(days)


def kept_for_live_runs(now_s: float, rehearsal_days: Iterable[str], attempts: Callable[[dt.date], int],
                       params: LiveParams) -> list[dt.date]:
    """The :func:`live_days` whose derived runs are the live-session sensor's: those with live
    runs left (``attempts(day)``, started so far, under ``params.max_attempts``).

    The automation sensor leaves these days alone. Were it to request a derived run of the day
    when its first ticks land, before the live run, the live run would wait for it, and the two
    would pay the kernels' first compile one after the other at the open (issue 12's benchmark:
    bars up to 92 s late in the session's first minutes, against 24 s when the live run came
    first). Past the limit the day is the automation sensor's again."""
    return [d for d in live_days(now_s, rehearsal_days) if attempts(d) < params.max_attempts]


def start_reason(ticks: bool, in_flight: int, attempts: int, params: LiveParams,
                 quiet_since_last: bool = False) -> str | None:
    """``None`` when a live run should start for one of :func:`live_days`, else why not.

    ``quiet_since_last``: the day's last live run succeeded (it ended when the day went quiet,
    a rehearsal's replay having stopped) and no tick of the day has landed since. Another live
    run would wait ``idle_exit_s`` for nothing and recompute the day again; the next one
    starts when ticks land."""
    if not ticks:
        return "no ticks stored for the day yet"
    if in_flight:
        return "a derived or live run of the day is in flight"
    if attempts >= params.max_attempts:
        return f"the day has had {attempts} live runs; derived runs follow the automation sensor"
    if quiet_since_last:
        return "its last live run ended with the day quiet, and no tick has landed since"
    return None


@dataclass
class Pass:
    """What one pass made: each asset's metadata, why it stopped short (when checks failed),
    and the day's trade-signal columns it left (the next pass computes only their tail)."""

    update: Update
    skipped: str = ""
    suite: dict[str, np.ndarray] | None = None


def update_once(dsn: str, day: dt.date, ticks: DayTicks, snapshot: str, live: bool,
                features: Features | None = None, now_ns: int | None = None,
                suite: dict[str, np.ndarray] | None = None) -> Pass:
    """One pass over the day's derived assets, as a run of them would do it during the
    session, on ``ticks`` (the day as read in ``snapshot``, which is still open); ``suite``:
    the trade signals the previous pass left."""
    out: Update = []
    bars = intraday.bars_tail_or_full(dsn, day, now_ns=now_ns, live=live, ticks=ticks, snapshot=snapshot)
    out += [(t, bars.metadata(t)) for t in BAR_TABLES if not bars.blocked]
    if bars.blocked:
        return Pass(out, f"bars not written, failed: {bars.blocked}", suite)
    ind = intraday.indicators_tail_or_full(dsn, day, now_ns=now_ns, live=live)
    if ind.blocked:
        return Pass(out, f"indicators not written, failed: {ind.blocked}", suite)
    out.append(("indicators", ind.metadata("indicators")))
    sig: DayReport = intraday.signals_tail_or_full(dsn, day, ticks, now_ns=now_ns, live=live, prev_suite=suite)
    if not sig.blocked:
        # a rehearsed day is judged as of its open: its whole-day fits are as provisional as a live day's
        as_of = sessions.session_bounds_ns(day)[0] if live else now_ns
        out += [(t, {**sig.metadata(t), **provisional_metadata(t, [day], as_of)}) for t in SIGNAL_TABLES]
    out.append(("anomalies", run_anomalies(dsn, day).metadata("anomalies")))
    if features is not None:
        out.append(("features", features(None if sig.blocked or sig.suite is None else (ticks.symbols, sig.suite))))
    if sig.blocked:
        return Pass(out, f"signals not written, failed: {sig.blocked}", suite)
    return Pass(out, "", sig.suite)


def boundary_wait(newest_ns: int, read_at: float, rate: float | None, now: float, pass_s: float,
                  ) -> tuple[int, float] | None:
    """The next minute boundary after ``newest_ns`` (held as of wall time ``read_at``) and the
    wall time it is due in the store, when a pass of ``pass_s`` started at ``now`` would still
    be running then (so the pass should wait for it); None otherwise (or the pace unknown)."""
    if rate is None:
        return None
    boundary, due = boundary_due(newest_ns, read_at, rate)
    return (boundary, due) if due < now + pass_s else None


def boundary_stored(conn: psycopg.Connection, ticks: DayTicks, boundary_ns: int, rate: float | None = None) -> bool:
    """Whether the store holds all of the minute before ``boundary_ns``: in each table that
    had ticks in the minute, every Kafka partition still flowing at its end has a row at or
    after the boundary (:func:`tickflow.feed_pace.boundary_passed`, ``rate`` the feed's pace).

    Per table: each of ``ticks``' symbols with rows in the window before the boundary, its
    partition and newest tick there, and whether it has a row at or past the boundary (one
    index probe each): bounded by the window and the symbols, however far the store is ahead."""
    since = dt.datetime.fromtimestamp((boundary_ns - quiet_window_ns(rate)) // 1000 / 1e6, tz=dt.UTC)
    at = dt.datetime.fromtimestamp(boundary_ns // 1000 / 1e6, tz=dt.UTC)
    close = dt.datetime.fromtimestamp(ticks.close_ns / 1e9, tz=dt.UTC)
    for table, cols in (("trades", ticks.trades), ("quotes", ticks.quotes)):
        if not cols["ts_ns"].size or int(cols["ts_ns"].max()) < boundary_ns - MIN_NS:
            continue  # no flow in this table: nothing to wait for
        query = sql.SQL(
            "SELECT max(r.ts_ns), bool_or(EXISTS (SELECT 1 FROM {t} x WHERE x.sym = r.sym "
            "AND x.src_partition = r.src_partition AND x.ts >= %s AND x.ts < %s)) "
            "FROM (SELECT sym, src_partition, max(ts_ns) AS ts_ns FROM {t} WHERE sym = ANY(%s) "
            "AND ts >= %s AND ts < %s GROUP BY 1, 2) r GROUP BY r.src_partition").format(t=sql.Identifier(table))
        rows = conn.execute(query, (at, close, ticks.symbols, since, at)).fetchall()
        if not rows:
            continue  # flowing in the minute, but quiet at its end
        if not boundary_passed([boundary_ns if passed else int(ns) for ns, passed in rows], boundary_ns, rate):
            return False
    return True


def run_session(dsn: str, day: dt.date, on_update: Callable[[Update], None], live: bool = False,
                features: Features | None = None, params: LiveParams | None = None,
                clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                timer: Callable[[], float] = time.perf_counter) -> SessionReport:
    """Update ``day``'s derived tables after every ingest commit while its session is open.

    ``live``: the day is rehearsed (open whatever the clock). Returns when the session has
    closed or no commit has landed for ``params.idle_exit_s``. ``timer`` times the passes."""
    # One connection for the loop's probes of the ledger and the store, several a second: a
    # connection each started and ended a PostgreSQL backend every time, beside the ingest
    # commits the loop waits for.
    with psycopg.connect(dsn, autocommit=True) as probe:
        return _session(dsn, day, on_update, live, features, params or LiveParams(), clock, sleep, timer, probe)


def _session(dsn: str, day: dt.date, on_update: Callable[[Update], None], live: bool, features: Features | None,
             p: LiveParams, clock: Callable[[], float], sleep: Callable[[float], None], timer: Callable[[], float],
             probe: psycopg.Connection) -> SessionReport:
    report = SessionReport()
    # every pass allocates arrays of the whole day again: reuse the pages instead of faulting them in
    report.heap_retained = retain_freed_memory()
    seen: Head | None = None  # the ledger's ends the last pass started from
    probed: Head | None = None  # and when the store was last probed for a minute boundary
    ticks: DayTicks | None = None
    suite: dict[str, np.ndarray] | None = None
    verified_ns, checked_at = 0, 0.0  # held ticks before verified_ns are the store's as of checked_at
    last_change = clock()
    history: list[tuple[float, int]] = []  # (wall time of a read, newest tick held then), the last minute
    waiting: tuple[int, float] | None = None  # a minute boundary the next pass waits for, and when it is due
    after_boundary = False  # the pass about to run is the one a minute boundary waited for
    boundary_seen = ""  # and whether the boundary's ticks had arrived when it started
    while True:
        now = clock()
        if not intraday.is_open(day, int(now * 1e9), live):
            report.stopped_because = "the session has closed"
            return report
        head = ledger_head(probe)
        if waiting is not None and ticks is not None:
            # ticks reach the store only in an ingest commit: with none since the last probe,
            # the store has nothing new to show
            arrived = head != probed and boundary_stored(probe, ticks, waiting[0], pace(history))
            probed = head
            if not arrived and now < waiting[1] + p.boundary_grace_s:
                sleep(p.boundary_poll_s)
                continue
            report.on_boundary += arrived
            report.boundary_missed += not arrived
            waiting, after_boundary, boundary_seen = None, True, "arrived" if arrived else "missed"
        fresh = head != seen and has_ticks(probe, day)
        if not fresh:
            if now - last_change >= p.idle_exit_s:
                report.stopped_because = f"no ingest commit for {p.idle_exit_s:.0f}s"
                return report
            sleep(p.poll_s)
            continue
        seen, last_change = head, now
        t0 = timer()
        # The pass reads the day and sums the store for its checks in one snapshot: an ingest
        # commit meanwhile is the next pass's, never a difference between the two sides.
        with day_snapshot(dsn) as snapshot:
            read_at = clock()
            # the day stays in memory between passes; a pass reads only its new tail
            if ticks is None:
                ticks, how = load_day_ticks(dsn, day, snapshot), "read whole"
            else:
                # The whole day's count costs a scan of the day (~6M rows by the afternoon):
                # a minute's first pass is what its bars wait for, so it is left to a later
                # pass of the minute unless none came for twice the period.
                whole = now - checked_at >= p.full_check_s * (2 if after_boundary else 1)
                boundary = tail_boundary(ticks)
                ticks, how = refresh_day_ticks(dsn, ticks, verified_ns=None if whole else verified_ns,
                                               snapshot=snapshot)
                if how == "tail":
                    verified_ns, checked_at = boundary, now if whole else checked_at
                else:
                    report.reloads.append(how)
                    suite = None
            if how != "tail":
                verified_ns, checked_at = tail_boundary(ticks), now
            try:
                done = update_once(dsn, day, ticks, snapshot, live, features, suite=suite)
            except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as e:
                # another writer of the day's tables (a backfill) won; the next look tries again
                report.skipped.append(f"pass retried: {type(e).__name__}")
                seen = None
                sleep(p.poll_s)
                continue
        # what the pass was, for whoever reads the observations (the freshness bench, on call)
        seconds = timer() - t0
        shape = {"read_at": round(read_at, 3), "seconds": round(seconds, 3), "read": how,
                 "boundary": boundary_seen if after_boundary else "", "whole_count": how != "tail" or checked_at == now}
        suite, after_boundary = done.suite, False
        report.passes += 1
        report.seconds.append(seconds)
        if done.skipped:
            report.skipped.append(done.skipped)
        history = remember(history, read_at, newest_ns(ticks))
        if p.align:
            waiting, probed = boundary_wait(history[-1][1], read_at, pace(history), clock(),
                                            max(report.seconds[-3:]) + p.boundary_margin_s), None
            if waiting is not None and waiting[0] >= ticks.close_ns:
                waiting = None  # the close: no tick will come past it
        on_update([(asset, {**meta, "live_pass": shape}) for asset, meta in done.update])
