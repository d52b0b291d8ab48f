"""The Kafka offset sensor: one run request per topic per new range, never the same twice."""

from __future__ import annotations

import datetime as dt

import pytest
from dagster import DagsterInstance, build_sensor_context

from resources.tickflow import TickflowResource
from sensors.kafka_offsets import decode_cursor, kafka_offset_sensor
from tests.dagster_env import use_settings
from tickflow.config import Settings, load_settings
from tickflow.feed.simulate import render_messages, simulate_day
from tickflow.ingest import ingest_ranges
from tickflow.kafka.producer import produce
from tickflow.kafka.reader import watermarks

DAY = dt.date(2024, 6, 21)


def _evaluate(cursor: str | None):  # type: ignore[no-untyped-def]
    with DagsterInstance.ephemeral() as instance:
        ctx = build_sensor_context(cursor=cursor, instance=instance, resources={"tickflow": TickflowResource()})
        return kafka_offset_sensor(ctx)


def _run(requests) -> None:  # type: ignore[no-untyped-def]
    """What the requested runs do (the job itself is tested in tests/assets)."""
    for r in requests:
        cfg = r.run_config["ops"]["ingest_offsets"]["config"]
        ingest_ranges(load_settings(), cfg["topic"], {int(p): (s, e) for p, (s, e) in cfg["ranges"].items()})


def test_sensor_requests_each_new_range_once(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    use_settings(monkeypatch, settings)
    sim = simulate_day(DAY, n_symbols=3, seed=5, trades_per_symbol=300, quotes_per_symbol=600)
    n_t = produce(settings, settings.topic_trades, render_messages(sim, "T"))
    n_q = produce(settings, settings.topic_quotes, render_messages(sim, "Q"))

    first = _evaluate(None)
    by_topic = {r.tags["tickflow/topic"]: r for r in first.run_requests}
    assert set(by_topic) == set(settings.topics)
    trades_req = by_topic[settings.topic_trades]
    ranges = trades_req.run_config["ops"]["ingest_offsets"]["config"]["ranges"]
    assert sum(e - s for s, e in ranges.values()) == n_t
    assert all(s == 0 for s, _ in ranges.values())
    assert trades_req.run_key == settings.topic_trades + ":" + ",".join(
        f"p{p}={s}-{e}" for p, (s, e) in sorted((int(k), v) for k, v in ranges.items()))
    cur = decode_cursor(first.cursor)
    assert sum(cur[settings.topic_quotes].values()) == n_q

    _run(first.run_requests)
    assert _evaluate(first.cursor).run_requests == []  # nothing new: nothing requested

    produce(settings, settings.topic_trades, render_messages(sim, "T", batch=50))
    second = _evaluate(first.cursor)
    assert [r.tags["tickflow/topic"] for r in second.run_requests] == [settings.topic_trades]
    new = second.run_requests[0].run_config["ops"]["ingest_offsets"]["config"]["ranges"]
    for p, (s, _) in new.items():
        assert s == cur[settings.topic_trades][int(p)]
    assert second.run_requests[0].run_key != trades_req.run_key


def test_a_new_sensor_starts_at_the_ledger_head(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    use_settings(monkeypatch, settings)
    sim = simulate_day(DAY, n_symbols=2, seed=6, trades_per_symbol=200, quotes_per_symbol=10)
    produce(settings, settings.topic_trades, render_messages(sim, "T"))
    marks = watermarks(settings, settings.topic_trades)
    part = max(marks, key=lambda p: marks[p][1])
    ingest_ranges(settings, settings.topic_trades, {part: (0, 50)})
    result = _evaluate(None)
    trades = [r for r in result.run_requests if r.tags["tickflow/topic"] == settings.topic_trades][0]
    ranges = trades.run_config["ops"]["ingest_offsets"]["config"]["ranges"]
    assert ranges[str(part)][0] == 50


def test_offsets_of_a_failed_run_are_requested_again(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cursor passed a range whose run failed for good: once no ingest run is in flight,
    the sensor asks again for what the ledger lacks, under a new run key."""
    use_settings(monkeypatch, settings)
    sim = simulate_day(DAY, n_symbols=2, seed=7, trades_per_symbol=200, quotes_per_symbol=10)
    n_t = produce(settings, settings.topic_trades, render_messages(sim, "T"))
    first = _evaluate(None)  # its runs "fail": nothing reaches the ledger
    assert first.run_requests
    again = _evaluate(first.cursor)
    repairs = {r.tags["tickflow/topic"]: r for r in again.run_requests}
    assert settings.topic_trades in repairs and "#repair@" in repairs[settings.topic_trades].run_key
    ranges = repairs[settings.topic_trades].run_config["ops"]["ingest_offsets"]["config"]["ranges"]
    assert sum(e - s for s, e in ranges.values()) == n_t
    assert all(s == 0 for s, _ in ranges.values())
