"""When a feed's next minute boundary is due: from the pace its exchange time has advanced at.

The ingest follower steps just after a boundary (a minute's last ticks are committed at
once, not at the next step of its grid) and the live loop holds a pass back for it
(:mod:`tickflow.derive.live`). The pace is 1 for a live feed and X for a replay at X times
real time; it is read off the feed itself, so neither needs to be told which it follows.
"""

from __future__ import annotations

MIN_NS = 60_000_000_000


def pace(history: list[tuple[float, int]], span_s: float = 15.0) -> float | None:
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
