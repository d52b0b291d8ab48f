"""The pace of a feed and when its next minute boundary is due (tickflow.feed_pace)."""

from __future__ import annotations

from tickflow.feed_pace import (
    MIN_NS,
    QUIET_NS,
    boundary_due,
    boundary_passed,
    pace,
    quiet_window_ns,
    remember,
)

SEC = 1_000_000_000
T0 = 1_718_976_600 * SEC  # 2024-06-21 09:30 New York


def test_pace_is_read_off_the_feed_and_follows_a_change_of_pace() -> None:
    assert pace([(100.0, T0), (115.0, T0 + 30 * SEC)]) == 2.0  # a replay at 2x
    assert pace([(100.0, T0), (105.0, T0 + 30 * SEC)]) is None  # too short to tell
    assert pace([(100.0, T0), (130.0, T0)]) is None  # the feed did not move
    assert pace([]) is None
    # a catch-up (an hour in 10 s), then 1x: the latest pair 15 s apart is the reference
    burst = [(100.0, T0), (110.0, T0 + 60 * MIN_NS), (120.0, T0 + 60 * MIN_NS + 10 * SEC),
             (126.0, T0 + 60 * MIN_NS + 16 * SEC)]
    assert pace(burst) == 1.0


def test_the_next_boundary_is_due_after_the_rest_of_the_minute_at_the_pace() -> None:
    newest = T0 + 4 * MIN_NS + 58 * SEC
    assert boundary_due(newest, 200.0, 1.0) == (T0 + 5 * MIN_NS, 202.0)
    assert boundary_due(newest, 200.0, 4.0) == (T0 + 5 * MIN_NS, 200.5)
    assert boundary_due(T0 + 5 * MIN_NS, 200.0, 1.0) == (T0 + 6 * MIN_NS, 260.0)  # a tick on the boundary is past it


def test_remember_keeps_the_last_minute() -> None:
    h = remember([(10.0, 1), (50.0, 2)], 100.0, 3)
    assert h == [(50.0, 2), (100.0, 3)]


def test_a_boundary_is_passed_once_every_flowing_stream_has_reached_it() -> None:
    b = T0 + 5 * MIN_NS
    assert boundary_passed([b, b + SEC], b)  # a tick on the boundary is at it
    assert not boundary_passed([b + SEC, b - SEC], b)  # one partition's minute may be unfinished
    # a partition quiet for the 10 s before is not waited for
    assert boundary_passed([b + SEC, b - QUIET_NS - 1], b) and not boundary_passed([b + SEC, b - QUIET_NS], b)
    assert not boundary_passed([b - QUIET_NS - 1], b) and not boundary_passed([], b)  # nothing flowing
    # at 20x, 10 exchange seconds are half a wall second: the window is 10 wall seconds of the feed
    assert quiet_window_ns(20.0) == 20 * QUIET_NS and quiet_window_ns(0.5) == quiet_window_ns(None) == QUIET_NS
    assert not boundary_passed([b + SEC, b - QUIET_NS - 1], b, rate=20.0)
