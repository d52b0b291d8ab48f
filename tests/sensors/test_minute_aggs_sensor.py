"""The minute-aggregates sensor requests one raw_vendor_bars run per new offset range."""

from __future__ import annotations

import json
import uuid

import pytest
from dagster import SensorResult, SkipReason, build_sensor_context

from resources.tickflow import TickflowResource
from sensors.vendor_bars import minute_aggs_sensor
from tickflow.config import Settings
from tickflow.kafka.producer import produce
from tickflow.stack.kafka import ensure_topics


def test_one_run_per_new_range(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    topic = f"aggs_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("TICKFLOW_TOPIC_MINUTE_AGGS", topic)
    ensure_topics(settings.bootstrap, (topic,), 1)
    res = TickflowResource(pg_dsn=settings.dsn, kafka_bootstrap=settings.bootstrap)
    produce(settings, topic, [(b"AAPL", json.dumps({"ev": "AM"}).encode(), 0) for _ in range(3)])

    first = minute_aggs_sensor(build_sensor_context(resources={"tickflow": res}))
    assert isinstance(first, SensorResult) and len(first.run_requests or []) == 1
    run = first.run_requests[0]  # type: ignore[index]
    assert run.run_key == f"{topic}:p0=0-3"
    assert run.run_config == {"ops": {"raw_vendor_bars": {"config": {"source": "kafka"}}}}
    assert first.cursor == json.dumps({"0": 3})
    again = minute_aggs_sensor(build_sensor_context(cursor=first.cursor, resources={"tickflow": res}))
    assert isinstance(again, SkipReason)
