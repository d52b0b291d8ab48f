"""Following the feed: an ingest run that, once its requested ranges are in, keeps taking
new offsets every second until a newer following run has started, the feed goes quiet, or
its time is up.

Why: a Dagster run costs ~4 s of process start-up quiet and ~20 s under a live session's
load (tickflow's issue 12 measurements), and a run per sensor tick spends most of the
machine on start-ups while a tick waits for the next one. A run that follows the feed
starts once every quarter of an hour (``TICKFLOW_INGEST_FOLLOW_S``) and takes each
second's ticks within about a second. The sensor requests the successor shortly before a
follower's time is up, and the follower hands over when the successor is following
(``handed_over``; in the Dagster layer, the successor's ``tickflow/following`` tag), so
one run is always following.

Exactly once is ``ingest_ranges``' own argument, unchanged: every step is one transaction
that writes rows and ledger rows together under the partitions' advisory locks, and plans
from the ledger's end, so a follower and a run that overlaps it write each offset once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psycopg

from tickflow.config import Settings
from tickflow.feed_pace import LIVE_PACE, PACE_SPAN_S, boundary_due, boundary_passed, pace, remember
from tickflow.ingest import IngestReport, ingest_ranges, plan_ranges
from tickflow.store import ledger


@dataclass(frozen=True)
class FollowParams:
    follow_s: float  # follow at most this long
    idle_s: float = 5.0  # stop after this long without a new message (the feed is quiet)
    poll_s: float = 1.0  # look for new offsets at most this often
    report_s: float = 10.0  # hand the reports gathered so far to ``on_reports`` this often


@dataclass
class FollowReport:
    steps: int = 0  # looks at Kafka
    ingests: int = 0  # steps that found new offsets (each topic's a transaction)
    messages: int = 0
    seconds: float = 0.0
    stopped: str = ""  # why following ended


def ingest_new(settings: Settings, run_id: str | None = None, dsn: str | None = None) -> list[IngestReport]:
    """Ingest every topic from the ledger's end to the high watermark (capped per run), one
    transaction per topic with new offsets; the reports of the topics that had any."""
    dsn = dsn or settings.dsn
    with psycopg.connect(dsn) as conn:
        last = ledger.last_ranges(conn)  # one walk of the ledger for every topic
    ends = {topic: {p: e for (t, p), e in last.items() if t == topic} for topic in settings.topics}
    reports = []
    for topic in settings.topics:
        ranges = plan_ranges(settings, topic, ends[topic])
        if ranges:
            reports.append(ingest_ranges(settings, topic, ranges, run_id=run_id, dsn=dsn))
    # a range another run wrote first (under the same locks) comes back with no messages
    return [r for r in reports if r.messages]


def merge_heads(heads: dict[tuple[str, int], int], reports: Iterable[IngestReport]) -> dict[tuple[str, int], int]:
    """``heads`` ((topic, partition) -> its newest tick ingested, epoch ns) moved on by
    ``reports``. A partition of one topic is not the other's: each is its own stream."""
    out = dict(heads)
    for r in reports:
        for p, ns in r.newest.items():
            out[r.topic, p] = max(out.get((r.topic, p), 0), ns)
    return out


def next_step(now: float, started: float, poll_s: float, history: list[tuple[float, int]],
              heads: Iterable[int], chase: tuple[int, float] | None, chase_s: float = 0.05,
              give_up_s: float = 1.0) -> tuple[float, tuple[int, float] | None]:
    """When the follower steps next, and the minute boundary it is stepping for (None: none).

    Steps keep to a fixed grid of ``poll_s`` (a step that overran, from ``started``, goes
    again at once), except around a minute boundary: when the feed's pace says the next one
    is due before the next grid step, the step is taken just after it is due, and again
    every ``chase_s`` until every partition still flowing has passed it (``heads``: each
    partition's newest tick ingested; :func:`tickflow.feed_pace.boundary_passed`), at most
    ``give_up_s`` past its due time. A minute's last ticks are then committed within a step's
    time of the minute's end, not up to ``poll_s`` later at whatever phase the grid has.
    Given up, the grid is kept until the feed has passed the boundary (it is late), and a
    partition that stopped short of it (its symbols halted) is not waited for again: the
    next boundary is stepped for. Until the feed's pace is known (``history`` shorter than
    :data:`~tickflow.feed_pace.PACE_SPAN_S`), it is taken as a live feed's."""
    grid = now if now - started >= poll_s else now + poll_s - now % poll_s
    newest = history[-1][1] if history else 0
    rate = pace(history)
    if rate is None and history and history[-1][0] - history[0][0] < PACE_SPAN_S:
        # A follower's first seconds (after each handover): too little of the feed seen to
        # tell its pace, so a live feed's is assumed. Left unknown, a boundary in these seconds
        # waited for the grid's phase (up to a second); a replay at another pace only puts
        # the boundary's due time off, and then a step is late or early by that, no worse.
        rate = LIVE_PACE
    if chase is not None and not boundary_passed(heads, chase[0], rate):
        if now < chase[1]:
            return min(now + chase_s, grid), chase
        if newest < chase[0]:
            return grid, chase
    if rate is None:
        return grid, None
    boundary, due = boundary_due(newest, history[-1][0], rate)
    if due >= grid:
        return grid, None
    return max(due + 0.02, now), (boundary, due + give_up_s)


def follow(settings: Settings, params: FollowParams, handed_over: Callable[[], bool],
           on_reports: Callable[[list[IngestReport]], None], run_id: str | None = None,
           dsn: str | None = None, clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> FollowReport:
    """Take new offsets every ``poll_s`` until ``handed_over()`` (a newer follower has
    started), ``idle_s`` without new messages, or ``follow_s``. ``on_reports`` gets the
    reports of the steps that wrote something, at most every ``report_s`` and at the end."""
    out = FollowReport()
    t0 = last_data = last_report = clock()
    pending: list[IngestReport] = []
    history: list[tuple[float, int]] = []  # (clock, newest tick ingested then): the feed's pace
    heads: dict[tuple[str, int], int] = {}  # (topic, partition) -> its newest tick ingested
    chase: tuple[int, float] | None = None  # a minute boundary stepped for, and when to give it up
    while True:
        t = clock()
        if handed_over():
            out.stopped = "a newer following run has started"
        elif t - t0 >= params.follow_s:
            out.stopped = f"followed for {params.follow_s:g}s"
        elif t - last_data >= params.idle_s:
            out.stopped = f"no new message for {params.idle_s:g}s"
        if out.stopped:
            break
        reports = ingest_new(settings, run_id, dsn)
        out.steps += 1
        if reports:
            out.ingests += 1
            out.messages += sum(r.messages for r in reports)
            pending += reports
            last_data = clock()
            heads = merge_heads(heads, reports)
            newest = max(heads.values(), default=0)
            if newest and (not history or newest > history[-1][1]):
                history = remember(history, t, newest)
        if pending and clock() - last_report >= params.report_s:
            on_reports(pending)
            pending, last_report = [], clock()
        wake, chase = next_step(clock(), t, params.poll_s, history, heads.values(), chase)
        sleep(max(0.0, wake - clock()))
    if pending:
        on_reports(pending)
    out.seconds = clock() - t0
    return out
