"""The live session loop: a pass after each ingest commit while the session is open, each pass
the intraday update a derived run would make; what it leaves equals the full recompute."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import psycopg
import pytest

from tests.platform.derive.test_intraday import (
    DAY,
    MIN,
    OPEN_NS,
    _assert_same,
    _feed,
    _full_recompute,
    _stage,
    _stored,
)
from tickflow.derive import live
from tickflow.derive.entry_points import SIGNAL_TABLES
from tickflow.ml import pipeline
from tickflow.ml.feature_store import read_features
from tickflow.ml.features import FeatureParams


class _Session:
    """A session's ingest: each wait of the loop lands the next chunk of ticks and its
    offset-ledger row, as an ingest run's transaction would; the clock moves with the waits."""

    def __init__(self, dsn: str, cuts: list[int], chunks: list[tuple[int, int, str]] | None = None) -> None:
        """``cuts``: each commit the ticks up to the next cut; or ``chunks``: (from, to, filter)."""
        self.dsn, self.now, self.commits = dsn, 1_000.0, 0
        self.cuts = chunks or [(lo, hi, "") for lo, hi in zip([0, *cuts], cuts, strict=False)]

    def commit_next(self) -> None:
        lo, hi, where = self.cuts.pop(0)
        assert _feed(self.dsn, lo, hi, where) > 0
        self.commits += 1
        with psycopg.connect(self.dsn) as conn:
            conn.execute("INSERT INTO offset_ledger (topic, partition, start_offset, end_offset, messages, trades, "
                         "quotes, duplicates, dead_letters) VALUES ('t', 0, %s, %s, 1, 1, 0, 0, 0)",
                         (self.commits, self.commits + 1))

    def sleep(self, s: float) -> None:
        self.now += s
        if self.cuts and self.now % 30 < s:  # a commit about every 30 s of the fake clock
            self.commit_next()

    def clock(self) -> float:
        return self.now


def test_a_pass_per_commit_until_idle_and_the_day_equals_the_full_recompute(plain_dsn: str) -> None:
    dsn = plain_dsn
    _stage(dsn)
    session = _Session(dsn, [OPEN_NS + m * MIN + 7_000_000_000 for m in (5, 33, 34, 120, 250)])
    session.commit_next()
    updates: list[live.Update] = []
    held: list[bool] = []

    def features(signals):  # type: ignore[no-untyped-def]
        held.append(signals is not None)
        return pipeline.run_features(dsn, DAY, FeatureParams(), signals)

    report = live.run_session(dsn, DAY, updates.append, live=True, features=features,
                              params=live.LiveParams(poll_s=1.0, idle_exit_s=60.0),
                              clock=session.clock, sleep=session.sleep)
    assert report.stopped_because == "no ingest commit for 60s"
    assert report.passes == session.commits == 5 and report.skipped == []
    assert [[a for a, _ in u] for u in updates] == [list(live.ASSETS)] * 5
    modes = [dict(u)["bars_1m"]["update"] for u in updates]
    assert modes[0] == "full" and modes[-1] == "tail", modes
    # every pass wrote the trade signals of all stored trades
    last = dict(updates[-1])
    with psycopg.connect(dsn) as conn:
        stored = conn.execute("SELECT count(*) FROM trades").fetchone()[0]  # type: ignore[index]
        signals = conn.execute("SELECT count(*) FROM trade_signals").fetchone()[0]  # type: ignore[index]
    assert signals == stored and last["trade_signals"]["update"] == "tail"
    # after the first pass, each computed only the trades of its tail (the rest kept from the pass before)
    assert [dict(u)["trade_signals"].get("computed_from_tail") for u in updates] == [None] + [True] * 4
    # the features aggregated the trade signals in memory: the same rows as from the stored table
    assert held == [True] * 5
    fp = FeatureParams()
    live_features = read_features(dsn, [DAY], fp.interval_min, fp.horizon)
    assert pipeline.run_features(dsn, DAY, fp)["rows"] == len(live_features) > 0
    assert all(live_features[c].notna().mean() > 0.5 for c in ("lm_max_abs", "lr_imbalance", "intensity_z"))
    pd.testing.assert_frame_equal(live_features, read_features(dsn, [DAY], fp.interval_min, fp.horizon),
                                  check_exact=True)
    assert all(last[t]["provisional"] is (t != "jump_events") for t in SIGNAL_TABLES)
    _assert_same(_stored(dsn), _full_recompute(dsn))


def test_late_ticks_make_the_loop_read_the_day_again_and_recompute_it(plain_dsn: str) -> None:
    """One symbol's ticks of an hour arrive after later ones were processed: the loop reads the
    day whole again, the next pass is a full update, and the day equals the full recompute."""
    from tests.platform.derived_reading import read_day
    from tickflow.derive import entry_points
    from tickflow.derive.provisional import WHOLE_DAY_COLUMNS
    from tickflow.store import derived

    dsn = plain_dsn
    _stage(dsn)
    late = "sym NOT IN (SELECT min(sym) FROM trades_all)"
    hour, first = OPEN_NS + 60 * MIN, OPEN_NS + 120 * MIN
    session = _Session(dsn, [], chunks=[(0, hour, ""), (hour, first, f" AND {late}"), (first, first + 5 * MIN, ""),
                                        (hour, first, f" AND NOT ({late})"), (first + 5 * MIN, first + 7 * MIN, "")])
    session.commit_next()
    updates: list[live.Update] = []
    # every pass counts the whole day (full_check_s=0); between whole counts a late tick waits for the next one
    report = live.run_session(dsn, DAY, updates.append, live=True,
                              params=live.LiveParams(idle_exit_s=60.0, full_check_s=0.0),
                              clock=session.clock, sleep=session.sleep)
    assert report.passes == 5 and report.skipped == []
    assert len(report.reloads) == 1 and "late data" in report.reloads[0]
    bars = [dict(u)["bars_1m"] for u in updates]
    assert [b["update"] for b in bars] == ["full", "tail", "tail", "full", "tail"], bars
    assert "before the tail changed" in bars[3]["full_because"]
    signals = [dict(u)["trade_signals"] for u in updates]
    assert signals[3]["update"] == "full" and signals[4].get("computed_from_tail") is True
    _assert_same(_stored(dsn), _full_recompute(dsn))
    causal = [c for c in derived.TRADE_SIGNALS.value_columns if c not in WHOLE_DAY_COLUMNS["trade_signals"]]
    kept = read_day(dsn, derived.TRADE_SIGNALS, DAY)[["sym", *causal]]
    assert not entry_points.run_signals(dsn, DAY).blocked
    pd.testing.assert_frame_equal(kept, read_day(dsn, derived.TRADE_SIGNALS, DAY)[["sym", *causal]],
                                  check_exact=True)


def test_commits_between_the_read_and_the_reconciliation_do_not_block_a_pass(plain_dsn: str,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Before each bars update (full, then tail) an ingest commit lands after the loop read
    the day. The volume reconciliation sums the store in the snapshot the day was read in,
    so no pass is blocked, and each commit is taken by the next pass."""
    from tickflow.derive import intraday

    dsn = plain_dsn
    _stage(dsn)
    session = _Session(dsn, [OPEN_NS + m * MIN for m in (5, 6, 40, 41, 42)])
    session.commit_next()
    real = intraday.bars_tail_or_full
    calls: list[str] = []

    def bars_after_a_commit(*args, **kwargs):  # type: ignore[no-untyped-def]
        if session.cuts:
            session.commit_next()  # lands after the loop read the day
        report = real(*args, **kwargs)
        calls.append("blocked" if report.blocked else report.extra["bars_1m"]["update"])
        return report

    monkeypatch.setattr(intraday, "bars_tail_or_full", bars_after_a_commit)
    report = live.run_session(dsn, DAY, lambda u: None, live=True, params=live.LiveParams(idle_exit_s=60.0),
                              clock=session.clock, sleep=session.sleep)
    # the tail starts at the open until the day has a quarter hour: full passes, then tails
    assert calls == ["full", "full", "full", "tail", "tail"], calls
    assert report.skipped == [] and report.passes == session.commits == 5
    _assert_same(_stored(dsn), _full_recompute(dsn))


def test_a_derived_runs_full_bars_of_an_open_day_read_and_reconcile_in_one_snapshot(
        plain_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A derived run (not the live loop) that rebuilds an open day's bars whole: the feed
    commits right after the day is read. The volume reconciliation sums the store as of the
    read, so the check holds, and the commit is the next update's."""
    from tickflow.derive import entry_points, intraday
    from tickflow.store import day_ticks

    dsn = plain_dsn
    _stage(dsn)
    session = _Session(dsn, [OPEN_NS + m * MIN for m in (40, 41)])
    session.commit_next()
    real = day_ticks.load_day_ticks

    def read_then_commit(*args, **kwargs):  # type: ignore[no-untyped-def]
        ticks = real(*args, **kwargs)
        session.commit_next()  # lands between the read and the reconciliation
        return ticks

    for module in (intraday, entry_points):  # whichever reads the day for a full update
        monkeypatch.setattr(module, "load_day_ticks", read_then_commit)
    report = intraday.bars_tail_or_full(dsn, DAY, run_id="derived-run", force_full="a derived run", live=True)
    assert not report.blocked, report.blocked
    assert report.extra["bars_1m"]["trades"] < _feed_total(dsn)
    monkeypatch.undo()
    assert intraday.bars_tail_or_full(dsn, DAY, live=True).extra["bars_1m"]["update"] == "tail"
    bars = {"bars": _stored(dsn)["bars"]}
    _assert_same(bars, {"bars": _full_recompute(dsn)["bars"]})


def _feed_total(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SELECT count(*) FROM trades").fetchone()[0])  # type: ignore[index]


def test_the_boundary_a_pass_waits_for() -> None:
    sec = 1_000_000_000
    newest = OPEN_NS + 4 * MIN + 59 * sec  # one exchange second before 09:35
    # at 1x the boundary is due 1 s after the read: a 3 s pass started now would straddle it
    assert live.boundary_wait(newest, 200.0, 1.0, 200.5, 3.0) == (OPEN_NS + 5 * MIN, 201.0)
    assert live.boundary_wait(newest - 20 * sec, 200.0, 1.0, 200.5, 3.0) is None  # 21 s away: pass now
    assert live.boundary_wait(newest - 20 * sec, 200.0, 10.0, 200.5, 3.0) is not None  # 2.1 s away at 10x
    assert live.boundary_wait(newest, 200.0, None, 200.5, 3.0) is None  # pace unknown: passes back to back


def test_a_boundary_is_stored_once_every_partition_flowing_is_past_it(plain_dsn: str) -> None:
    """Kafka partitions are committed in no order among themselves: a row of one partition
    past a minute boundary says nothing of another's last ticks of the minute before. The
    boundary is stored once each partition flowing at the minute's end has a row at or past
    it, in each table."""
    from tickflow.feed_pace import QUIET_NS
    from tickflow.store.day_ticks import load_day_ticks

    dsn = plain_dsn
    _stage(dsn)
    with psycopg.connect(dsn) as conn:
        first = conn.execute("SELECT min(sym) FROM trades_all").fetchone()[0]  # type: ignore[index]
        for t in ("trades", "quotes"):  # the first symbol's ticks on partition 1, the others' on 0
            conn.execute(f"UPDATE {t}_all SET src_partition = (sym = %s)::int", (first,))  # noqa: S608

        def flowing(b: int) -> bool:  # both partitions have trades and quotes in the 10 s before b and after it
            return all(conn.execute(f"SELECT count(DISTINCT src_partition) FROM {t}_all "  # noqa: S608
                                    "WHERE ts_ns >= %s AND ts_ns < %s", (lo, hi)).fetchone()[0] == 2  # type: ignore[index]
                       for t in ("trades", "quotes") for lo, hi in ((b - QUIET_NS, b), (b, b + MIN)))

        b = next(OPEN_NS + m * MIN for m in range(30, 300) if flowing(OPEN_NS + m * MIN))
    _feed(dsn, 0, b)
    ticks = load_day_ticks(dsn, DAY)

    def stored() -> bool:
        with psycopg.connect(dsn) as conn:
            return live.boundary_stored(conn, ticks, b)

    # the next minute: partition 0 of both tables, then partition 1 of trades, then of quotes
    for table, partition in (("", 0), ("trades", 1), ("quotes", 1)):
        assert not stored()
        with psycopg.connect(dsn) as conn:
            for t in ("trades", "quotes") if not table else (table,):
                assert conn.execute(f"INSERT INTO {t} SELECT * FROM {t}_all WHERE ts_ns >= %s "  # noqa: S608
                                    "AND ts_ns < %s AND src_partition = %s", (b, b + MIN, partition)).rowcount > 0
    assert stored()


def _across_ten(dsn: str, params: live.LiveParams) -> tuple[live.SessionReport, _Session]:
    """Commits of 10 exchange seconds every 10 s (1x) from 09:59:00 to 10:00:30; every pass
    takes 2 s (the timer is read at its start and end)."""
    _stage(dsn)
    sec = 1_000_000_000
    start = OPEN_NS + 29 * MIN
    cuts = [start + k * 10 * sec for k in range(10)]  # 09:59:00 ... 10:00:30
    session = _Session(dsn, [], chunks=[(0, cuts[0], ""), *zip(cuts, cuts[1:], [""] * 9, strict=False)])

    due = [session.now + 10]

    def sleep(s: float) -> None:
        session.now += s
        if session.cuts and session.now >= due[0]:
            session.commit_next()
            due[0] += 10

    session.sleep = sleep  # type: ignore[method-assign]
    session.commit_next()
    passes: list[live.Update] = []
    ticks = iter(range(0, 10_000, 2))
    report = live.run_session(dsn, DAY, passes.append, live=True, params=params,
                              clock=session.clock, sleep=session.sleep, timer=lambda: float(next(ticks)))
    return report, session


BOUNDARY_PARAMS = live.LiveParams(idle_exit_s=30.0, boundary_grace_s=15.0, boundary_margin_s=5.0)


def test_a_pass_waits_for_the_minute_boundary_and_starts_when_it_is_stored(plain_dsn: str) -> None:
    """After the commit that ends just before 10:00 the next pass would straddle the
    boundary, so the loop waits for 10:00's ticks and passes on them; no commit goes without
    a pass and the day equals the full recompute."""
    report, session = _across_ten(plain_dsn, BOUNDARY_PARAMS)
    assert report.on_boundary >= 1 and report.boundary_missed == 0, report
    assert report.passes == session.commits == 10 and report.skipped == []
    _assert_same(_stored(plain_dsn), _full_recompute(plain_dsn))


def test_the_whole_day_count_is_left_to_a_later_pass_than_the_boundarys(plain_dsn: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The pass a minute boundary waited for is what the minute's bars wait for: the periodic
    count of the whole day's ticks (here due every 6 s; a commit lands every 10 s) skips it and
    falls on the next pass."""
    from tickflow.store import day_ticks

    refreshes: list[tuple[bool, bool]] = []  # (the boundary's pass, counted the whole day)
    boundary = [False]
    real_stored, real_refresh = live.boundary_stored, live.refresh_day_ticks

    def stored(*a, **k):  # type: ignore[no-untyped-def]
        boundary[0] = real_stored(*a, **k)
        return boundary[0]

    def refresh(dsn, prev, *a, verified_ns=None, **k):  # type: ignore[no-untyped-def]
        refreshes.append((boundary[0], verified_ns is None))
        boundary[0] = False
        return real_refresh(dsn, prev, *a, verified_ns=verified_ns, **k)

    monkeypatch.setattr(live, "boundary_stored", stored)
    monkeypatch.setattr(live, "refresh_day_ticks", refresh)
    assert day_ticks.refresh_day_ticks is real_refresh
    report, _ = _across_ten(plain_dsn, live.LiveParams(**{**BOUNDARY_PARAMS.__dict__, "full_check_s": 6.0}))
    assert report.on_boundary >= 1 and report.boundary_missed == 0, report
    at = refreshes.index((True, False))  # the boundary's pass counted only since the last count
    assert refreshes[at + 1] == (False, True), refreshes  # and the next pass the whole day
    assert sum(whole for _, whole in refreshes) >= len(refreshes) - 2, refreshes
    _assert_same(_stored(plain_dsn), _full_recompute(plain_dsn))


def test_a_failed_reconciliation_is_a_skipped_pass(plain_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reconciliation that fails is real (the pass read and summed one snapshot): the
    pass is reported as skipped, nothing downstream of the bars is built in it."""
    from tickflow.derive import intraday
    from tickflow.derive.entry_points import DayReport
    from tickflow.quality.expectations import RECONCILIATION, CheckOutcome

    dsn = plain_dsn
    _stage(dsn)
    session = _Session(dsn, [OPEN_NS + 5 * MIN])
    session.commit_next()
    lost = DayReport(DAY, [], checks={"bars_1m": [CheckOutcome(RECONCILIATION, False, "rows lost on load")]})
    monkeypatch.setattr(intraday, "bars_tail_or_full", lambda *a, **k: lost)
    report = live.run_session(dsn, DAY, lambda u: None, live=True, params=live.LiveParams(idle_exit_s=5.0),
                              clock=session.clock, sleep=session.sleep)
    assert report.passes == 1
    assert report.skipped == [f"bars not written, failed: ['bars_1m.{RECONCILIATION}']"]


def test_the_loop_ends_when_the_session_closes(plain_dsn: str) -> None:
    """A past day, not rehearsed: closed whatever it holds, so no pass at all."""
    passes: list[live.Update] = []
    report = live.run_session(plain_dsn, DAY, passes.append, live=False, sleep=lambda s: None)
    assert report.stopped_because == "the session has closed" and passes == []


def test_no_pass_before_the_day_has_ticks(plain_dsn: str) -> None:
    t = [0.0]

    def sleep(s: float) -> None:
        t[0] += s

    report = live.run_session(plain_dsn, DAY, lambda u: pytest.fail("a pass without ticks"), live=True,
                              params=live.LiveParams(idle_exit_s=5.0), clock=lambda: t[0], sleep=sleep)
    assert report.passes == 0 and report.stopped_because == "no ingest commit for 5s"


def test_which_days_are_live_and_when_a_live_run_starts() -> None:
    p = live.LiveParams(max_attempts=2)
    friday_noon = dt.datetime(2024, 6, 21, 16, 0, tzinfo=dt.UTC).timestamp()  # 12:00 New York
    friday_night = dt.datetime(2024, 6, 22, 1, 0, tzinfo=dt.UTC).timestamp()
    assert live.live_days(friday_noon, []) == [DAY]
    assert live.live_days(friday_night, []) == []
    assert live.live_days(friday_night, ["2024-06-20"]) == [dt.date(2024, 6, 20)]
    # a weekend or a holiday has no session to rehearse (and Dagster would map it to the next day)
    assert live.live_days(friday_night, ["2024-06-22", "2024-07-04", "2024-06-20"]) == [dt.date(2024, 6, 20)]
    assert live.start_reason(True, 0, 0, p) is None
    assert "no ticks" in (live.start_reason(False, 0, 0, p) or "")
    assert "in flight" in (live.start_reason(True, 1, 0, p) or "")
    assert "2 live runs" in (live.start_reason(True, 0, 2, p) or "")
    assert "no tick has landed since" in (live.start_reason(True, 0, 1, p, quiet_since_last=True) or "")
    # the days whose derived runs the automation sensor leaves to the live runs: attempts left
    started = {DAY: 1, dt.date(2024, 6, 20): 2}
    assert live.kept_for_live_runs(friday_noon, ["2024-06-20"], lambda d: started.get(d, 0), p) == [DAY]
    assert live.kept_for_live_runs(friday_night, ["2024-06-20"], lambda d: started.get(d, 0), p) == []
    assert live.kept_for_live_runs(friday_night, ["2024-06-18"], lambda d: started.get(d, 0), p) == [
        dt.date(2024, 6, 18)]
