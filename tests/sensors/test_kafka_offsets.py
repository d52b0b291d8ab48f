"""The Kafka offset sensor: one run request per tick for every topic with new data, never the
same range twice, no new run while one is queued or follows the feed, repairs keyed by the
ledger, an adaptive cadence, and the consumer lag it observes."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from dagster import (
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    SensorResult,
    SkipReason,
    build_sensor_context,
)
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from assets.raw_ticks import FOLLOW_TAG, ingest_job
from resources.tickflow import TickflowResource
from sensors.kafka_offsets import decode_cursor, encode_cursor, kafka_offset_sensor
from tests.dagster_env import use_settings
from tickflow import sensor_cadence
from tickflow.config import Settings, load_settings
from tickflow.ingest import ingest_ranges
from tickflow.kafka.lag import consumer_lag, partition_lag
from tickflow.kafka.producer import produce
from tickflow.kafka.reader import watermarks
from tickflow.simulate.day import render_messages, simulate_day

DAY = dt.date(2024, 6, 21)


def _due(cursor: str | None) -> str | None:
    """The cursor as the next tick that is due sees it (the poll times are tested apart)."""
    return encode_cursor(decode_cursor(cursor)) if cursor else None


def _evaluate(cursor: str | None, instance: DagsterInstance | None = None) -> SensorResult | SkipReason:
    if instance is not None:
        ctx = build_sensor_context(cursor=_due(cursor), instance=instance, resources={"tickflow": TickflowResource()})
        return kafka_offset_sensor(ctx)
    with DagsterInstance.ephemeral() as fresh:
        ctx = build_sensor_context(cursor=_due(cursor), instance=fresh, resources={"tickflow": TickflowResource()})
        return kafka_offset_sensor(ctx)


def _origin() -> RemoteJobOrigin:
    """Where a queued run's job comes from (the daemon needs it; here nothing launches it)."""
    location = InProcessCodeLocationOrigin(LoadableTargetOrigin(python_file="definitions.py"))
    return RemoteJobOrigin(repository_origin=RemoteRepositoryOrigin(location, "__repository__"),
                           job_name=ingest_job.name)


def _ranges(request) -> dict[str, dict[str, list[int]]]:  # type: ignore[no-untyped-def]
    return request.run_config["ops"]["ingest_offsets"]["config"]["ranges"]


def _run(requests) -> None:  # type: ignore[no-untyped-def]
    """What the requested runs do (the job itself is tested in tests/assets)."""
    for r in requests:
        for topic, parts in _ranges(r).items():
            ingest_ranges(load_settings(), topic, {int(p): (s, e) for p, (s, e) in parts.items()})


def test_one_run_per_tick_for_all_topics(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    use_settings(monkeypatch, settings)
    sim = simulate_day(DAY, n_symbols=3, seed=5, trades_per_symbol=300, quotes_per_symbol=600)
    n_t = produce(settings, settings.topic_trades, render_messages(sim, "T"))
    n_q = produce(settings, settings.topic_quotes, render_messages(sim, "Q"))

    first = _evaluate(None)
    assert isinstance(first, SensorResult) and len(first.run_requests) == 1
    req = first.run_requests[0]
    ranges = _ranges(req)
    assert set(ranges) == set(settings.topics)
    assert sum(e - s for s, e in ranges[settings.topic_trades].values()) == n_t
    assert sum(e - s for s, e in ranges[settings.topic_quotes].values()) == n_q
    assert all(s == 0 for parts in ranges.values() for s, _ in parts.values())
    assert req.run_key == "|".join(
        t + ":" + ",".join(f"p{p}={s}-{e}" for p, (s, e) in sorted((int(k), v) for k, v in ranges[t].items()))
        for t in sorted(ranges))
    assert req.tags["tickflow/topics"] == ",".join(sorted(settings.topics))
    cur = decode_cursor(first.cursor)
    assert sum(cur[settings.topic_quotes].values()) == n_q
    # the lag it observed: everything produced, nothing ingested yet
    lag = {e.asset_key.path[-1]: e.metadata["kafka_lag_messages"].value for e in first.asset_events}
    assert lag == {"kafka_trades": n_t, "kafka_quotes": n_q}

    _run(first.run_requests)
    again = _evaluate(first.cursor)
    assert isinstance(again, SensorResult) and again.run_requests == []  # nothing new: nothing requested
    assert all(e.metadata["kafka_lag_messages"].value == 0 for e in again.asset_events)

    produce(settings, settings.topic_trades, render_messages(sim, "T", batch=50))
    second = _evaluate(first.cursor)
    assert isinstance(second, SensorResult) and len(second.run_requests) == 1
    new = _ranges(second.run_requests[0])
    assert list(new) == [settings.topic_trades]
    for p, (s, _) in new[settings.topic_trades].items():
        assert s == cur[settings.topic_trades][int(p)]
    assert second.run_requests[0].run_key != req.run_key


def test_a_new_sensor_starts_at_the_ledger_head(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    use_settings(monkeypatch, settings)
    sim = simulate_day(DAY, n_symbols=2, seed=6, trades_per_symbol=200, quotes_per_symbol=10)
    produce(settings, settings.topic_trades, render_messages(sim, "T"))
    marks = watermarks(settings, settings.topic_trades)
    part = max(marks, key=lambda p: marks[p][1])
    ingest_ranges(settings, settings.topic_trades, {part: (0, 50)})
    result = _evaluate(None)
    assert isinstance(result, SensorResult)
    assert _ranges(result.run_requests[0])[settings.topic_trades][str(part)][0] == 50
    # lag = high watermark - ledger head, per partition
    assert consumer_lag(settings, (settings.topic_trades,))[settings.topic_trades][part] == marks[part][1] - 50


def test_offsets_of_a_failed_run_are_requested_again_once(settings: Settings,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The cursor passed a range whose run failed for good: once no ingest run is in flight,
    the sensor asks again for what the ledger lacks, under a key made of the ledger state:
    the same key while the ledger is unchanged (Dagster never launches a run key twice)."""
    use_settings(monkeypatch, settings)
    sim = simulate_day(DAY, n_symbols=2, seed=7, trades_per_symbol=200, quotes_per_symbol=10)
    n_t = produce(settings, settings.topic_trades, render_messages(sim, "T"))
    first = _evaluate(None)  # its run "fails": nothing reaches the ledger
    assert isinstance(first, SensorResult) and first.run_requests
    again = _evaluate(first.cursor)
    assert isinstance(again, SensorResult) and len(again.run_requests) == 1
    repair = again.run_requests[0]
    assert repair.run_key.endswith("#repair")
    ranges = _ranges(repair)[settings.topic_trades]
    assert sum(e - s for s, e in ranges.values()) == n_t
    assert all(s == 0 for s, _ in ranges.values())
    time.sleep(1.1)  # a key with the wall clock in it would change now
    later = _evaluate(again.cursor)
    assert isinstance(later, SensorResult) and [r.run_key for r in later.run_requests] == [repair.run_key]
    # half of it lands: the ledger changed, so does the key, and it asks only for the rest
    part, (s, e) = next(iter((int(p), v) for p, v in ranges.items() if v[1] > v[0]))
    mid = s + (e - s) // 2
    ingest_ranges(settings, settings.topic_trades, {part: (s, mid)})
    rest = _evaluate(again.cursor)
    assert isinstance(rest, SensorResult) and len(rest.run_requests) == 1
    assert rest.run_requests[0].run_key != repair.run_key
    assert _ranges(rest.run_requests[0])[settings.topic_trades][str(part)] == [mid, e]


@pytest.mark.parametrize("status", [DagsterRunStatus.QUEUED, DagsterRunStatus.STARTED])
def test_no_repair_while_an_ingest_run_is_in_flight(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                                    status: DagsterRunStatus) -> None:
    """Against an instance holding an ingest run (queued, or started): the offsets it will
    write are not in the ledger yet, and must not be requested a second time."""
    use_settings(monkeypatch, settings)
    sim = simulate_day(DAY, n_symbols=2, seed=8, trades_per_symbol=200, quotes_per_symbol=10)
    produce(settings, settings.topic_trades, render_messages(sim, "T"))
    with DagsterInstance.ephemeral() as instance:
        first = _evaluate(None, instance)
        assert isinstance(first, SensorResult) and len(first.run_requests) == 1
        # positive control: with no run in flight the same cursor gets a repair
        assert _evaluate(first.cursor, instance).run_requests  # type: ignore[union-attr]
        # the run record as the daemon leaves it in the queue (or after launching it)
        run = instance.run_storage.add_run(DagsterRun(job_name=ingest_job.name, status=status,
                                                      run_config=first.run_requests[0].run_config,
                                                      remote_job_origin=_origin()))
        assert instance.get_run_by_id(run.run_id).status == status  # type: ignore[union-attr]
        held = _evaluate(first.cursor, instance)
        if status == DagsterRunStatus.QUEUED:
            assert isinstance(held, SkipReason)  # not even a new range: the queued run's successor takes it
        else:
            assert isinstance(held, SensorResult) and held.run_requests == []


def test_a_following_run_is_left_to_follow_until_its_time_is_nearly_up(settings: Settings,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests ask the run to follow the feed (TICKFLOW_INGEST_FOLLOW_S); while such a run is
    queued, starting, or started and not within FOLLOW_LEAD_S of its end, new offsets are its
    business; near its end the successor is requested, and it hands over when that starts."""
    use_settings(monkeypatch, settings)
    monkeypatch.setenv("TICKFLOW_INGEST_FOLLOW_S", "300")
    sim = simulate_day(DAY, n_symbols=2, seed=9, trades_per_symbol=200, quotes_per_symbol=10)
    produce(settings, settings.topic_trades, render_messages(sim, "T"))
    with DagsterInstance.ephemeral() as instance:
        first = _evaluate(None, instance)
        assert isinstance(first, SensorResult) and len(first.run_requests) == 1
        req = first.run_requests[0]
        config = req.run_config["ops"]["ingest_offsets"]["config"]
        assert (config["follow_s"], req.tags[FOLLOW_TAG]) == (300.0, "300")
        run = instance.run_storage.add_run(DagsterRun(job_name=ingest_job.name, status=DagsterRunStatus.STARTING,
                                                      run_config=req.run_config, tags=req.tags,
                                                      remote_job_origin=_origin()))
        produce(settings, settings.topic_trades, render_messages(sim, "T", batch=50))  # new offsets
        starting = _evaluate(first.cursor, instance)
        assert isinstance(starting, SkipReason) and "follows the feed once started" in str(starting.skip_message)

        def started(seconds_ago: float) -> None:
            when = dt.datetime.fromtimestamp(time.time() - seconds_ago, dt.UTC)
            instance.run_storage.handle_run_event(
                run.run_id, DagsterEvent(DagsterEventType.PIPELINE_START.value, job_name=ingest_job.name), when)

        started(300 - sensor_cadence.FOLLOW_LEAD_S - 30)
        held = _evaluate(first.cursor, instance)
        assert isinstance(held, SkipReason) and f"follows the feed for {sensor_cadence.FOLLOW_LEAD_S + 30:.0f}s more" in str(held.skip_message)
        started(300 - sensor_cadence.FOLLOW_LEAD_S + 1)
        successor = _evaluate(first.cursor, instance)
        assert isinstance(successor, SensorResult) and len(successor.run_requests) == 1
        assert _ranges(successor.run_requests[0])[settings.topic_trades]
        # a follower keeps the ledger at the high watermark, so near its end there is usually
        # nothing new to ask for: the successor is requested anyway, with no range, once
        _run(successor.run_requests)
        handover = _evaluate(successor.cursor, instance)
        assert isinstance(handover, SensorResult)
        assert [r.run_key for r in handover.run_requests] == [f"after:{run.run_id}"]
        assert _ranges(handover.run_requests[0]) == {} and handover.run_requests[0].tags[FOLLOW_TAG] == "300"
    # a run requested with following off takes its ranges and ends
    monkeypatch.setenv("TICKFLOW_INGEST_FOLLOW_S", "0")
    produce(settings, settings.topic_trades, render_messages(sim, "T", batch=50))
    plain = _evaluate(None)
    assert isinstance(plain, SensorResult) and FOLLOW_TAG not in plain.run_requests[0].tags
    assert "follow_s" not in plain.run_requests[0].run_config["ops"]["ingest_offsets"]["config"]


def test_cadence_skips_kafka_until_due(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    use_settings(monkeypatch, settings)
    now = time.time()
    just_polled = json.dumps({"offsets": {}, "poll": {"last_poll_s": now, "last_data_s": now}})
    with DagsterInstance.ephemeral() as instance:
        ctx = build_sensor_context(cursor=just_polled, instance=instance, resources={"tickflow": TickflowResource()})
        assert isinstance(kafka_offset_sensor(ctx), SkipReason)
    # old cursors (offsets only) still decode
    assert decode_cursor(json.dumps({"trades": {"0": 5}})) == {"trades": {0: 5}}


def test_cadence_regimes() -> None:
    c = sensor_cadence
    # 2024-06-21 (Friday): 11:00 New York, and 23:00; 2024-06-22 is a Saturday
    noon = dt.datetime(2024, 6, 21, 15, 0, tzinfo=dt.UTC).timestamp()
    night = dt.datetime(2024, 6, 22, 3, 0, tzinfo=dt.UTC).timestamp()
    saturday = dt.datetime(2024, 6, 22, 15, 0, tzinfo=dt.UTC).timestamp()
    flowing = c.PollState(last_poll_s=noon - 5, last_data_s=noon - 5)
    assert c.interval_s(flowing, noon) == c.ACTIVE_S and c.due(flowing, noon)
    quiet = c.PollState(last_poll_s=noon - 5, last_data_s=noon - 600)
    assert c.interval_s(quiet, noon) == c.SESSION_S and not c.due(quiet, noon)
    assert c.interval_s(c.PollState(0, 0), night) == c.IDLE_S
    assert c.interval_s(c.PollState(0, 0), saturday) == c.IDLE_S
    # data arriving at night (a replay, late ticks) makes it frequent again
    assert c.interval_s(c.after_poll(c.PollState(0, 0), night, True), night + 1) == c.ACTIVE_S


def test_partition_lag() -> None:
    marks = {0: (0, 100), 1: (40, 90), 2: (0, 0)}
    assert partition_lag(marks, {0: 60, 1: 10}) == {0: 40, 1: 50, 2: 0}
