"""An ingest run following the feed (tickflow.ingest_follow): each second's ticks taken as
they arrive, exactly once even beside another run, and the three ways following ends."""

from __future__ import annotations

import datetime as dt
import threading
import time

import psycopg

from tickflow.config import Settings
from tickflow.ingest import IngestReport, catch_up
from tickflow.ingest_follow import FollowParams, follow
from tickflow.kafka.producer import produce
from tickflow.simulate.day import render_messages, simulate_day
from tickflow.store import ledger

DAY = dt.date(2024, 6, 21)


def _messages(seed: int, n_symbols: int = 3, trades: int = 400) -> list[tuple[bytes, bytes, int]]:
    sim = simulate_day(DAY, n_symbols=n_symbols, seed=seed, trades_per_symbol=trades, quotes_per_symbol=10)
    return list(render_messages(sim, "T"))  # one trade a message


def _trickle(settings: Settings, messages: list[tuple[bytes, bytes, int]], pieces: int, every_s: float) -> threading.Thread:
    """A producer sending `messages` in `pieces` parts, one every `every_s` seconds."""
    def run() -> None:
        step = -(-len(messages) // pieces)
        for i in range(0, len(messages), step):
            produce(settings, settings.topic_trades, iter(messages[i:i + step]))
            time.sleep(every_s)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _stored(settings: Settings) -> tuple[int, int, int]:
    """(trade rows, distinct natural keys, distinct Kafka offsets)."""
    with psycopg.connect(settings.dsn) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT (sym, trade_id, exchange)), "
                           "count(DISTINCT (src_partition, src_offset)) FROM trades").fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def test_a_follower_takes_each_pieces_ticks_as_they_arrive_until_the_feed_goes_quiet(settings: Settings) -> None:
    messages = _messages(seed=21)
    landed: list[tuple[float, int]] = []  # (when, trades) of each report handed over

    def on_reports(reports: list[IngestReport]) -> None:
        landed.append((time.monotonic(), sum(r.trades for r in reports)))

    producer = _trickle(settings, messages, pieces=6, every_s=0.7)
    t0 = time.monotonic()
    out = follow(settings, FollowParams(follow_s=60, idle_s=2.0, poll_s=0.2, report_s=0.0),
                 handed_over=lambda: False, on_reports=on_reports)
    producer.join()
    assert out.stopped == "no new message for 2s"
    assert out.messages == len(messages) and sum(n for _, n in landed) == len(messages)
    assert _stored(settings) == (len(messages),) * 3
    # it followed: the pieces landed in several steps while the producer was still sending,
    # and it ended soon after the last piece instead of running to follow_s
    assert out.ingests >= 3, out
    assert landed[0][0] - t0 < 5.0
    assert out.seconds < 20, out


def test_following_ends_when_handed_over_or_when_its_time_is_up(settings: Settings) -> None:
    messages = _messages(seed=22, n_symbols=2, trades=200)
    looks = iter(range(1000))
    out = follow(settings, FollowParams(follow_s=60, idle_s=30, poll_s=0.05),
                 handed_over=lambda: next(looks) >= 3, on_reports=lambda r: None)
    assert out.stopped == "a newer following run has started" and out.steps == 3 and out.messages == 0

    producer = _trickle(settings, messages, pieces=40, every_s=0.1)  # still sending when time is up
    out = follow(settings, FollowParams(follow_s=1.5, idle_s=30, poll_s=0.1),
                 handed_over=lambda: False, on_reports=lambda r: None)
    assert out.stopped == "followed for 1.5s" and 0 < out.messages < len(messages)
    producer.join()


def test_a_follower_beside_another_ingest_writes_every_offset_once(settings: Settings) -> None:
    """The follower and a catch-up loop (another run's ranges) take the same partitions at
    the same time: the ledger's locks and ranges make each offset land once."""
    messages = _messages(seed=23, n_symbols=4, trades=500)
    producer = _trickle(settings, messages, pieces=8, every_s=0.3)
    other: list[IngestReport] = []
    stop = threading.Event()

    def rival() -> None:
        # from the follower's first commit on: started together, on a loaded machine the rival
        # (stepping twice as often) once took every piece, and the test saw no contention
        while not stop.is_set():
            with psycopg.connect(settings.dsn) as conn:
                if ledger.ends(conn, settings.topic_trades):
                    break
            time.sleep(0.02)
        while not stop.is_set():
            other.extend(catch_up(settings, settings.topic_trades, max_messages=300))
            time.sleep(0.05)

    def all_in() -> bool:  # ends the follower (the rival may leave it idle for a while)
        if producer.is_alive():
            return False
        with psycopg.connect(settings.dsn) as conn:
            return sum(ledger.heads(conn, settings.topic_trades).values()) >= len(messages)

    thread = threading.Thread(target=rival, daemon=True)
    thread.start()
    out = follow(settings, FollowParams(follow_s=120, idle_s=60, poll_s=0.1),
                 handed_over=all_in, on_reports=lambda r: None)
    stop.set()
    thread.join()
    producer.join()
    assert sum(r.messages for r in other) > 0 and out.messages > 0  # both took a share
    assert out.messages + sum(r.messages for r in other) == len(messages)
    assert _stored(settings) == (len(messages),) * 3
    with psycopg.connect(settings.dsn) as conn:
        assert ledger.gaps(conn, settings.topic_trades) == []


def test_steps_keep_to_the_grid_but_for_a_minute_boundary() -> None:
    from tickflow.ingest_follow import next_step

    sec, t0 = 1_000_000_000, 1_718_976_600 * 1_000_000_000  # 09:30 New York
    # nothing seen yet: the next point of the 1 s grid; a step that overran: at once
    assert next_step(100.3, 100.0, 1.0, [], [], None) == (101.0, None)
    assert next_step(101.4, 100.0, 1.0, [], [], None) == (101.4, None)
    # at 1x, the newest tick 09:30:59.6 as of 120.0: 09:31 is due at 120.4, before the grid's 121.0
    history = [(100.0, t0 + 39 * sec + 600_000_000), (120.0, t0 + 59 * sec + 600_000_000)]
    heads = [t0 + 59 * sec + 600_000_000, t0 + 59 * sec + 200_000_000]  # two partitions
    wake, chase = next_step(120.1, 120.0, 1.0, history, heads, None)
    assert abs(wake - 120.42) < 1e-9 and chase is not None and chase[0] == t0 + 60 * sec
    # stepped, 09:31 not in yet: again every 0.05 s until a second past its due time, then the grid
    assert next_step(120.5, 120.42, 1.0, history, heads, chase) == (120.55, chase)
    # one partition past 09:31, the other not: its last ticks of 09:30 may still be on the way
    crossed = [*history, (120.42, t0 + 60 * sec + 100_000_000)]
    one = [t0 + 60 * sec + 100_000_000, t0 + 59 * sec + 900_000_000]
    assert next_step(120.5, 120.42, 1.0, crossed, one, chase) == (120.55, chase)
    # both past it (a partition quiet all of 09:30 is not waited for): back to the grid
    both = [t0 + 60 * sec + 100_000_000, t0 + 60 * sec + 5_000_000, t0 - 30 * sec]
    assert next_step(120.6, 120.42, 1.0, crossed, both, chase) == (121.0, None)
    # given up on a partition that stopped short of 09:31 (its symbol halted): the grid, and
    # 09:32 is stepped for in its turn, not 09:31 again
    halted = [t0 + 61 * sec + 500_000_000, t0 + 59 * sec + 900_000_000]
    later = [*history, (121.0, t0 + 60 * sec + 600_000_000), (161.0, t0 + 100 * sec + 600_000_000)]  # 1x
    assert next_step(161.2, 161.0, 1.0, later, halted, chase) == (162.0, None)
    wake, nxt = next_step(180.1, 180.0, 1.0, [*later, (180.0, t0 + 119 * sec + 600_000_000)], halted, chase)
    assert nxt is not None and nxt[0] == t0 + 120 * sec and abs(wake - 180.42) < 1e-9
    # given up while the whole feed is short of 09:31 (it is late): the grid, still for 09:31
    assert next_step(121.5, 121.4, 1.0, history, heads, chase) == (122.0, chase)
    # a follower's first seconds (under 15 s of the feed seen, as after a handover): the pace
    # of a live feed is assumed, so 09:31 is still stepped for, not met at the grid's phase
    young = [(119.0, t0 + 58 * sec + 600_000_000), (120.0, t0 + 59 * sec + 600_000_000)]
    for seen in (young, young[-1:], [(119.0, t0 + 39 * sec + 600_000_000), young[-1]]):  # 1x, one look, 20x
        wake, chase = next_step(120.1, 120.0, 1.0, seen, heads, None)
        assert abs(wake - 120.42) < 1e-9 and chase is not None and chase[0] == t0 + 60 * sec
    # mid-minute at 1x: the grid
    assert next_step(120.1, 120.0, 1.0, [(100.0, t0), (120.0, t0 + 20 * sec)], [t0 + 20 * sec], None) == (121.0, None)


def test_heads_are_per_topic_and_partition() -> None:
    from tickflow.ingest import IngestReport
    from tickflow.ingest_follow import merge_heads

    first = [IngestReport("trades", newest={0: 5, 1: 7}), IngestReport("quotes", newest={0: 9})]
    heads = merge_heads({}, first)
    assert heads == {("trades", 0): 5, ("trades", 1): 7, ("quotes", 0): 9}
    # a partition only moves forward; the other topic's partition 0 is its own stream
    assert merge_heads(heads, [IngestReport("trades", newest={0: 4, 1: 8})]) == {
        ("trades", 0): 5, ("trades", 1): 8, ("quotes", 0): 9}
