"""Kafka -> tick store through the real servers: exact ranges, exactly once, dead letters,
late data, both message forms, and the by-timestamp backfill of a day."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from tickflow import sessions
from tickflow.config import Settings
from tickflow.ingest import catch_up, fold_reports, ingest_ranges, plan_ranges, reingest_day, summarize
from tickflow.ingest_follow import merge_heads
from tickflow.kafka.producer import produce
from tickflow.kafka.reader import watermarks
from tickflow.simulate.bad_input import bad_messages
from tickflow.simulate.day import render_messages, simulate_day

DAY = dt.date(2024, 6, 21)


def _produce_day(settings: Settings, day: dt.date = DAY, seed: int = 1, batch: int = 1) -> tuple[int, int]:
    sim = simulate_day(day, n_symbols=3, seed=seed, trades_per_symbol=1500, quotes_per_symbol=3000)
    produce(settings, settings.topic_trades, render_messages(sim, "T", batch=batch))
    produce(settings, settings.topic_quotes, render_messages(sim, "Q", batch=batch))
    return len(sim.trades["ts_ns"]), len(sim.quotes["ts_ns"])


def _count(dsn: str, table: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


def test_ingest_reads_exactly_its_range_once(settings: Settings) -> None:
    n_trades, _ = _produce_day(settings)
    topic = settings.topic_trades
    marks = watermarks(settings, topic)
    assert sum(h for _, h in marks.values()) == n_trades
    part = max(marks, key=lambda p: marks[p][1])
    assert marks[part][1] >= 40
    first = ingest_ranges(settings, topic, {part: (10, 30)})
    assert (first.messages, first.trades, first.dead_letters) == (20, 20, 0)
    with psycopg.connect(settings.dsn) as conn:
        offs = conn.execute("SELECT min(src_offset), max(src_offset), count(*) FROM trades").fetchone()
        assert offs == (10, 29, 20)
        assert conn.execute("SELECT start_offset, end_offset FROM offset_ledger").fetchall() == [(10, 30)]
        assert first.newest == dict(conn.execute("SELECT src_partition, max(ts_ns) FROM trades GROUP BY 1").fetchall())
    again = ingest_ranges(settings, topic, {part: (0, 40)})  # overlaps the ingested range
    assert again.already == [(part, 10, 30)]
    assert again.trades == 20 and again.duplicates == 0
    assert _count(settings.dsn, "trades") == 40
    rest = catch_up(settings, topic)
    assert sum(r.trades for r in rest) == n_trades - 40
    assert sum(len(r.already) for r in rest) == 0  # catch-up never re-reads the ledger's ranges
    assert _count(settings.dsn, "trades") == n_trades
    # each partition's newest tick, as the follower tells a minute complete by (feed_pace.boundary_passed)
    newest = merge_heads({}, [first, again, *rest])
    with psycopg.connect(settings.dsn) as conn:
        stored = conn.execute("SELECT src_partition, max(ts_ns) FROM trades GROUP BY 1").fetchall()
    assert newest == {(topic, p): ns for p, ns in stored}
    assert catch_up(settings, topic) == []


def test_a_follower_keeps_its_steps_folded_into_one_report_per_topic(settings: Settings) -> None:
    """A run that follows the feed folds each step's reports (``fold_reports``) instead of
    keeping them all: the metadata and heads are the same, and a partition's contiguous
    ranges are one."""
    _produce_day(settings)
    steps = []
    for topic in (settings.topic_trades, settings.topic_quotes):
        marks = watermarks(settings, topic)
        part = max(marks, key=lambda p: marks[p][1])
        for lo, hi in ((0, 10), (10, 25), (25, 40), (50, 60)):  # [40, 60) is someone else's
            steps.append(ingest_ranges(settings, topic, {part: (lo, hi)}))
    folded = fold_reports(steps)
    assert [r.topic for r in folded] == [settings.topic_trades, settings.topic_quotes]
    for table in ("trades", "quotes"):
        want, got = summarize(steps, table), summarize(folded, table)
        want.pop("offsets"), got.pop("offsets")
        assert got == want and got["rows"] == 50  # the 50 messages of its topic, one event each
        assert summarize(folded, table, DAY)["rows"] == summarize(steps, table, DAY)["rows"]
    assert merge_heads({}, folded) == merge_heads({}, steps)
    assert [[(r.start_offset, r.end_offset, r.messages) for r in f.ledger_rows] for f in folded] == [
        [(0, 40, 40), (50, 60, 10)]] * 2
    assert fold_reports([*folded, *steps[:1]])[0].messages == folded[0].messages + 10


def test_bad_input_becomes_dead_letters_and_the_run_continues(settings: Settings) -> None:
    n_trades, _ = _produce_day(settings)
    bad = bad_messages(DAY, 12)
    produce(settings, settings.topic_trades, bad)
    reports = catch_up(settings, settings.topic_trades)
    assert sum(r.trades for r in reports) == n_trades
    assert sum(r.dead_letters for r in reports) == len(bad)
    assert summarize(reports, "trades")["decoder_fast_path_fallbacks"] == 0  # bad input is no internal error
    with psycopg.connect(settings.dsn) as conn:
        reasons = [r[0] for r in conn.execute("SELECT reason FROM dead_letters ORDER BY \"offset\"").fetchall()]
        payloads = conn.execute("SELECT payload FROM dead_letters ORDER BY \"offset\"").fetchall()
    joined = " | ".join(reasons).lower()
    for word in ("malformed", "missing", "type", "price", "size", "unknown event", "timestamp",
                 "trading day", "oversize"):
        assert word in joined, f"no dead letter mentions {word!r}: {reasons}"
    assert bytes(payloads[0][0]) == bad[0][1]


@pytest.mark.parametrize("batch", [1, 100])
def test_single_and_array_messages_store_the_same_rows(settings: Settings, batch: int) -> None:
    n_trades, n_quotes = _produce_day(settings, batch=batch)
    for topic in settings.topics:
        catch_up(settings, topic)
    assert _count(settings.dsn, "trades") == n_trades
    assert _count(settings.dsn, "quotes") == n_quotes


def test_late_ticks_report_their_own_day(settings: Settings) -> None:
    _produce_day(settings, DAY)
    catch_up(settings, settings.topic_trades)
    earlier = dt.date(2024, 6, 20)
    _produce_day(settings, earlier, seed=2)  # arrives after DAY's ticks
    reports = catch_up(settings, settings.topic_trades)
    days = {d for r in reports for d in r.days}
    assert days == {earlier}


def test_backfill_reingests_a_day_by_timestamp_idempotently(settings: Settings) -> None:
    n_trades, n_quotes = _produce_day(settings, DAY)
    _produce_day(settings, dt.date(2024, 6, 24), seed=3)
    for topic in settings.topics:
        catch_up(settings, topic)
    total = _count(settings.dsn, "trades")
    lo, hi = (dt.datetime.fromtimestamp(x / 1e9, tz=dt.UTC) for x in sessions.day_bounds_ns(DAY))
    with psycopg.connect(settings.dsn) as conn:
        conn.execute("DELETE FROM trades WHERE ts >= %s AND ts < %s AND sym IN "
                     "(SELECT DISTINCT sym FROM trades LIMIT 1)", (lo, hi))
    assert _count(settings.dsn, "trades") < total
    reports = reingest_day(settings, DAY)
    assert _count(settings.dsn, "trades") == total
    assert {d for r in reports for d in r.days} == {DAY}
    again = reingest_day(settings, DAY)
    assert sum(r.trades + r.quotes for r in again) == 0
    assert sum(r.duplicates for r in again) == n_trades + n_quotes


def test_plan_ranges_caps_run_size(settings: Settings) -> None:
    _produce_day(settings)
    plan = plan_ranges(settings, settings.topic_trades, {}, max_messages=100)
    assert plan and all(e - s == 100 for s, e in plan.values())


def test_each_event_of_an_array_on_a_non_trading_day_is_its_own_dead_letter(settings: Settings) -> None:
    sat = sessions.day_bounds_ns(dt.date(2024, 6, 22))[0] + 12 * 3_600_000_000_000
    events = ",".join([
        f'{{"ev":"T","sym":"AAA","t":{sat},"p":10.0,"s":100,"i":"1"}}',
        f'{{"ev":"Q","sym":"AAA","t":{sat},"bp":9.9,"bs":1,"ap":10.1,"as":1}}',
        f'{{"ev":"T","sym":"AAA","t":{sat + 1},"p":10.0,"s":100,"i":"2"}}',
    ])
    produce(settings, settings.topic_trades, [(b"AAA", f"[{events}]".encode(), sat // 1_000_000)])
    reports = catch_up(settings, settings.topic_trades)
    assert sum(r.dead_letters for r in reports) == 3
    with psycopg.connect(settings.dsn) as conn:
        rows = conn.execute("SELECT event_index, reason FROM dead_letters ORDER BY event_index").fetchall()
    assert len({i for i, _ in rows}) == 3 and all("not an XNYS trading day" in r for _, r in rows)


def test_decoder_fast_path_fallbacks_are_counted_in_the_ingest_metadata(settings: Settings,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import tickflow.feed.decode as dec

    n_trades, _ = _produce_day(settings)

    failures: list[int] = []

    def boom(*args: object) -> None:
        failures.append(1)
        raise RuntimeError("kernel failure")

    monkeypatch.setattr(dec, "_scan", boom)  # the fast path fails on every batch
    topic = settings.topic_trades
    ranges = {p: (lo, hi) for p, (lo, hi) in watermarks(settings, topic).items() if hi > lo}
    report = ingest_ranges(settings, topic, ranges, chunk_messages=1000)
    assert len(failures) >= sum(-(-(hi - lo) // 1000) for lo, hi in ranges.values()) > len(ranges)
    assert report.trades == n_trades  # the slow path still stores every row
    meta = summarize([report], "trades")
    assert meta["decoder_fast_path_fallbacks"] == report.fast_path_fallbacks == len(failures)
    assert meta["rows"] == n_trades and set(meta["stage_busy_s"]) == {"read", "decode", "write"}
