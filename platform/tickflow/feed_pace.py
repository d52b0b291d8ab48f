"""When a feed's next minute boundary is due: from the pace its exchange time has advanced at.

The ingest follower steps just after a boundary (a minute's last ticks are committed at
once, not at the next step of its grid) and the live loop holds a pass back for it
(:mod:`tickflow.derive.live`), each until the boundary has been passed by every stream (a
topic's partition) still flowing at the minute's end (:func:`boundary_passed`). The pace
is 1 for a live feed and X for a replay at X times real time; it is read off the feed
itself, so neither needs to be told which it follows.
"""

from __future__ import annotations

from collections.abc import Iterable

MIN_NS = 60_000_000_000
QUIET_NS = 10_000_000_000  # a stream with no tick this long before a boundary is not waited for (at 1x)


PACE_SPAN_S = 15.0  # the pace is measured over this much wall time (:func:`pace`)
LIVE_PACE = 1.0  # a live feed's: exchange time goes by at wall time's rate


def pace(history: list[tuple[float, int]], span_s: float = PACE_SPAN_S) -> float | None:
    """Exchange seconds per wall second the feed advanced at over the last ``span_s`` or a
    little more, from (wall time, newest tick then) pairs oldest first (the latest pair at
    least ``span_s`` older than the last is the reference, so the estimate follows a change
    of pace, such as the end of a catch-up, within about ``span_s``); None without such a
    pair or when the feed did not advance."""
    older = [h for h in history[:-1] if h[0] <= history[-1][0] - span_s] if history else []
    if not older:
        return None
    (w0, e0), (w1, e1) = older[-1], history[-1]
    rate = (e1 - e0) / 1e9 / (w1 - w0)
    return rate if rate > 0 else None


def boundary_due(newest_ns: int, at: float, rate: float) -> tuple[int, float]:
    """The next minute boundary after ``newest_ns`` (the newest tick as of wall time ``at``)
    and the wall time the feed reaches it at ``rate`` (:func:`pace`)."""
    boundary = (newest_ns // MIN_NS + 1) * MIN_NS
    return boundary, at + (boundary - newest_ns) / 1e9 / rate


def remember(history: list[tuple[float, int]], at: float, newest_ns: int,
             keep_s: float = 60.0) -> list[tuple[float, int]]:
    """``history`` with (``at``, ``newest_ns``) added and pairs older than ``keep_s`` dropped."""
    return [h for h in history if h[0] >= at - keep_s] + [(at, newest_ns)]


def quiet_window_ns(rate: float | None) -> int:
    """How far back before a boundary a stream counts as flowing: ``QUIET_NS`` of exchange
    time, or of wall time at a replay's pace ``rate`` when that is longer (at 20x, 10
    exchange seconds go by between two steps of the follower)."""
    return int(QUIET_NS * max(1.0, rate or 1.0))


def boundary_passed(heads: Iterable[int], boundary_ns: int, rate: float | None = None) -> bool:
    """Whether every stream that advanced within :func:`quiet_window_ns` before
    ``boundary_ns`` has reached it, from each stream's newest tick (``heads``, epoch ns; a
    stream is a topic's partition). False while no stream is that recent.

    Ticks are in order within a partition only: acknowledgements, reads of the watermarks
    and commits of two partitions (or two topics) interleave, so one partition past the
    boundary says nothing of another's last ticks of the minute. Once each has a tick at or
    past it, all of the minute's ticks are in. A stream quiet for that window (a sparse
    partition, a symbol that stopped trading) is unlikely to have a tick of the minute still
    on its way, and its next tick may be far off: it is not waited for."""
    flowing = [h for h in heads if h >= boundary_ns - quiet_window_ns(rate)]
    return bool(flowing) and all(h >= boundary_ns for h in flowing)
