"""The feed-gap ledger: a gap belongs to each trading day its New York window overlaps,
open gaps extend to now, and repair is recorded with the rows it added."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import psycopg
import pytest

from tickflow.stack.postgres import PgServer
from tickflow.store import gaps

NY = ZoneInfo("America/New_York")


def ny(y: int, m: int, d: int, hh: int, mm: int) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=NY)


def test_gap_days_open_and_repair(plain_dsn: str) -> None:
    fri, sat, mon = dt.date(2024, 6, 21), dt.date(2024, 6, 22), dt.date(2024, 6, 24)
    weekend = gaps.record_gap(plain_dsn, ny(2024, 6, 21, 15, 50), ny(2024, 6, 24, 9, 40),
                              ["T", "Q"], None, "disconnect")
    with psycopg.connect(plain_dsn) as conn:
        mon_only = gaps.record_gap(conn, ny(2024, 6, 24, 11, 0), None, ["AM"], ["AAPL"], "silent")
        # Inside the caller's transaction: rolled back together with it.
        gaps.record_gap(conn, ny(2024, 6, 24, 12, 0), ny(2024, 6, 24, 12, 1), ["T"], None, "rolled back")
        conn.rollback()
        mon_only = gaps.record_gap(conn, ny(2024, 6, 24, 11, 0), None, ["AM"], ["AAPL"], "silent")
        conn.commit()

    assert [g.id for g in gaps.gaps_for_day(plain_dsn, fri)] == [weekend]
    assert gaps.gaps_for_day(plain_dsn, sat) == []  # not a trading day
    mon_gaps = gaps.gaps_for_day(plain_dsn, mon)
    assert [g.id for g in mon_gaps] == [weekend, mon_only]
    g = mon_gaps[1]
    assert g.is_open and g.symbols == ["AAPL"] and g.channels == ["AM"] and g.reason == "silent"
    assert mon_gaps[0].symbols is None and mon_gaps[0].ended_at == ny(2024, 6, 24, 9, 40)
    # The open gap still overlaps every later day (it extends to now) until closed.
    assert [x.id for x in gaps.gaps_for_day(plain_dsn, dt.date(2024, 6, 25))] == [mon_only]

    gaps.close_gap(plain_dsn, mon_only, ny(2024, 6, 24, 11, 5))
    with pytest.raises(LookupError):
        gaps.close_gap(plain_dsn, mon_only, ny(2024, 6, 24, 11, 6))
    assert gaps.gaps_for_day(plain_dsn, dt.date(2024, 6, 25)) == []
    # Friday 15:50 -> midnight is 8h10m; Monday: midnight -> 09:40 plus five minutes.
    assert gaps.gap_seconds(plain_dsn, fri) == pytest.approx(8 * 3600 + 10 * 60)
    assert gaps.gap_seconds(plain_dsn, mon) == pytest.approx(9 * 3600 + 40 * 60 + 300)

    with psycopg.connect(plain_dsn) as conn:
        gaps.mark_repaired(conn, weekend, 1234)
    assert [x.id for x in gaps.open_gaps(plain_dsn, mon)] == [mon_only]
    assert gaps.open_gaps(plain_dsn, fri) == []
    repaired = gaps.gaps_for_day(plain_dsn, fri)[0]
    assert repaired.is_repaired and repaired.repaired_rows == 1234

    with pytest.raises(ValueError):
        gaps.record_gap(plain_dsn, ny(2024, 6, 24, 11, 0), ny(2024, 6, 24, 10, 0), ["T"], None, "backwards")
    with pytest.raises(ValueError):
        gaps.record_gap(plain_dsn, dt.datetime(2024, 6, 24, 11, 0), None, ["T"], None, "naive")


def test_close_open_gaps_ends_only_the_open_ones(plain_dsn: str) -> None:
    closed = gaps.record_gap(plain_dsn, ny(2024, 6, 24, 10, 0), ny(2024, 6, 24, 10, 1), ["T"], None, "disconnect")
    left_open = gaps.record_gap(plain_dsn, ny(2024, 6, 24, 11, 0), None, ["Q"], None, "silent")
    gaps.close_open_gaps(plain_dsn)
    by_id = {g.id: g for g in gaps.gaps_for_day(plain_dsn, dt.date(2024, 6, 24))}
    assert by_id[closed].ended_at == ny(2024, 6, 24, 10, 1)  # untouched
    assert by_id[left_open].ended_at is not None and by_id[left_open].ended_at > ny(2024, 6, 24, 11, 0)


def test_the_feed_brings_a_new_store_to_the_schema_before_its_first_gap(pg_plain: PgServer) -> None:
    """The feed may be the first process to reach a store: a gap it records there lands."""
    from tickflow.feed.polygon import GapRecorder

    dsn = pg_plain.ensure_database(f"t_{uuid.uuid4().hex[:12]}", ())
    try:
        recorder = GapRecorder(dsn)
        recorder.submit(lambda: gaps.record_gap(dsn, ny(2024, 6, 24, 11, 0), None, ["T"], None, "silent"))
        assert recorder.close() == 0
        assert [g.reason for g in gaps.gaps_for_day(dsn, dt.date(2024, 6, 24))] == ["silent"]
    finally:
        with psycopg.connect(pg_plain.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dsn.rsplit("/", 1)[1]}" WITH (FORCE)')
