"""Freshness, consumer lag and dead-letter share: each driven to pass and to fail on real
Kafka and store, and none firing outside the XNYS session."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from dagster import AssetCheckEvaluation, DagsterInstance, SkipReason, build_sensor_context

import assets.operations_checks as oc
import definitions
from resources.tickflow import TickflowResource
from tests.dagster_env import use_settings
from tickflow.config import Settings
from tickflow.ingest import ingest_ranges
from tickflow.kafka.producer import produce
from tickflow.kafka.reader import watermarks
from tickflow.ops import health
from tickflow.simulate.bad_input import bad_messages
from tickflow.simulate.day import render_messages, simulate_day

DAY = dt.date(2024, 6, 21)  # a Friday session
NY = ZoneInfo("America/New_York")


def _ny(day: dt.date, h: int, m: int, s: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, h, m, s, tzinfo=NY).astimezone(dt.UTC)


def _ingest_all(settings: Settings, topic: str) -> None:
    ingest_ranges(settings, topic, {p: (lo, hi) for p, (lo, hi) in watermarks(settings, topic).items() if hi > lo})


def _sensor(monkeypatch: pytest.MonkeyPatch, now: dt.datetime, cursor: str | None = None):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(oc, "utcnow", lambda: now)
    with DagsterInstance.ephemeral() as instance:
        ctx = build_sensor_context(instance=instance, cursor=cursor, resources={"tickflow": TickflowResource()})
        return oc.operations_checks_sensor(ctx)


def _by_check(result) -> dict[tuple[str, str], AssetCheckEvaluation]:  # type: ignore[no-untyped-def]
    return {(e.asset_key.path[-1], e.check_name): e for e in result.asset_events}


def test_session_bounds() -> None:
    assert health.session_of(_ny(DAY, 9, 30)) is not None
    assert health.session_of(_ny(DAY, 9, 29, 59)) is None
    assert health.session_of(_ny(DAY, 16, 0)) is None
    assert health.session_of(_ny(dt.date(2024, 6, 19), 12, 0)) is None  # Juneteenth
    assert health.session_of(_ny(dt.date(2024, 7, 3), 13, 30)) is None  # early close at 13:00


def test_checks_pass_fail_and_stay_quiet_outside_the_session(settings: Settings,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    use_settings(monkeypatch, settings)
    monkeypatch.setenv("TICKFLOW_FRESHNESS_LAG_S", "300")
    monkeypatch.setenv("TICKFLOW_CONSUMER_LAG_MAX", "100")
    monkeypatch.setenv("TICKFLOW_DEAD_LETTER_MAX_SHARE", "0.02")
    sim = simulate_day(DAY, n_symbols=2, seed=3, trades_per_symbol=400, quotes_per_symbol=400)
    n_trades = produce(settings, settings.topic_trades, render_messages(sim, "T"))
    produce(settings, settings.topic_quotes, render_messages(sim, "Q"))
    # Nothing ingested yet, in the middle of the session: no tick today, and all of Kafka is lag.
    noon = _ny(DAY, 12, 0)
    first = _by_check(_sensor(monkeypatch, noon))
    assert set(first) == {(a, c) for a in ("raw_trades", "raw_quotes") for c in (oc.FRESH, oc.LAG)}
    assert not first["raw_trades", oc.FRESH].passed
    lag = first["raw_trades", oc.LAG]
    assert not lag.passed and lag.severity.value == "WARN" and lag.metadata["lag_total"].value == n_trades

    _ingest_all(settings, settings.topic_trades)
    _ingest_all(settings, settings.topic_quotes)
    newest = health.newest_tick(settings.dsn, "trades", noon)
    assert newest is not None and newest.astimezone(NY).date() == DAY
    # A minute after the newest tick (or before the close): fresh, no lag, no dead letters.
    probe = min(newest + dt.timedelta(seconds=60), _ny(DAY, 15, 59))
    fresh = _by_check(_sensor(monkeypatch, probe, cursor=_ny(DAY, 9, 0).isoformat()))
    assert all(e.passed for e in fresh.values()), {k: e.description for k, e in fresh.items()}
    assert fresh["raw_trades", oc.DEAD].metadata["dead_letters"].value == 0
    # Monday, 10:00: the store still ends on Friday: stale.
    monday = _by_check(_sensor(monkeypatch, _ny(dt.date(2024, 6, 24), 10, 0)))
    assert not monday["raw_quotes", oc.FRESH].passed and monday["raw_quotes", oc.FRESH].severity.value == "ERROR"
    assert "no quotes tick today" in (monday["raw_quotes", oc.FRESH].description or "")

    # A run whose dead letters exceed the share; the lag check passes again once ingested.
    before = dt.datetime.now(dt.UTC)
    produce(settings, settings.topic_trades, bad_messages(DAY, 150))
    assert not _by_check(_sensor(monkeypatch, probe))["raw_trades", oc.LAG].passed
    _ingest_all(settings, settings.topic_trades)
    after = _by_check(_sensor(monkeypatch, probe, cursor=before.isoformat()))
    dead = after["raw_trades", oc.DEAD]
    assert not dead.passed and dead.metadata["dead_letters"].value == 150 and dead.metadata["runs"].value == 1
    assert after["raw_trades", oc.LAG].passed

    # Outside the session nothing fires, though the store is stale and dead letters are there.
    for when in (_ny(DAY, 17, 0), _ny(dt.date(2024, 6, 22), 12, 0), _ny(DAY, 8, 0)):
        assert isinstance(_sensor(monkeypatch, when), SkipReason)


def test_ingest_runs_report_consumer_lag(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    use_settings(monkeypatch, settings)
    sim = simulate_day(DAY, n_symbols=2, seed=4, trades_per_symbol=300, quotes_per_symbol=10)
    produce(settings, settings.topic_trades, render_messages(sim, "T"))
    marks = watermarks(settings, settings.topic_trades)
    part = max(marks, key=lambda p: marks[p][1])
    half = marks[part][1] // 2
    job = definitions.defs.resolve_job_def("ingest_job")
    with DagsterInstance.ephemeral() as instance:
        res = job.execute_in_process(instance=instance, run_config={"ops": {"ingest_offsets": {"config": {
            # exactly half the partition (a run would otherwise take all there is when it starts)
            "ranges": {settings.topic_trades: {str(part): [0, half]}}, "up_to_now": False}}}})
    [mat] = [e for e in res.all_events if e.event_type_value == "STEP_OUTPUT"]
    out_meta = mat.event_specific_data.metadata  # type: ignore[union-attr]
    expected = sum(hi - lo for lo, hi in marks.values()) - half
    assert out_meta["kafka_lag_messages"].value == expected
    assert out_meta["kafka_lag_by_partition"].value[f"{settings.topic_trades}[{part}]"] == marks[part][1] - half
