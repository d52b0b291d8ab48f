"""The live ingest path the way the daemon runs it: the sensor daemon's iterations evaluate
the Kafka offset sensor, the run queue's iterations launch the runs, and each run is its own
process following the feed. While ticks keep arriving each follower's successor is requested
before its time is up and takes over; every tick lands exactly once."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from pathlib import Path

import psycopg
import pytest
from dagster import DagsterRunStatus, RunsFilter
from dagster._core.instance_for_test import instance_for_test
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon
from dagster._daemon.sensor import execute_sensor_iteration

from assets.raw_ticks import FOLLOW_TAG, FOLLOWING_TAG, QUEUE_TAG, ingest_job
from tests.dagster_env import use_settings
from tickflow import sensor_cadence
from tickflow.config import Settings
from tickflow.kafka.producer import produce
from tickflow.simulate.day import render_messages, simulate_day
from tickflow.store import ledger

REPO = Path(__file__).resolve().parents[2]
DAY = dt.date(2024, 6, 21)
FOLLOW_S = sensor_cadence.FOLLOW_LEAD_S + 3  # the successor is asked for 3 s after a run starts


def _step_metadata(instance, run_id: str) -> dict:  # type: ignore[no-untyped-def]
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is not None and event.event_type_value == "STEP_OUTPUT":
            return {k: v.value for k, v in event.event_specific_data.metadata.items()}
    raise AssertionError(f"run {run_id} has no step output")


def test_followers_hand_over_while_ticks_arrive_and_take_each_once(settings: Settings,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    use_settings(monkeypatch, settings)
    monkeypatch.setenv("TICKFLOW_INGEST_FOLLOW_S", f"{FOLLOW_S:g}")
    monkeypatch.setenv("TICKFLOW_INGEST_FOLLOW_IDLE_S", "4")
    sim = simulate_day(DAY, n_symbols=3, seed=31, trades_per_symbol=1000, quotes_per_symbol=10)
    messages = list(render_messages(sim, "T"))

    def trickle() -> None:  # ~35 s of ticks, a piece a second
        step = -(-len(messages) // 35)
        for i in range(0, len(messages), step):
            produce(settings, settings.topic_trades, iter(messages[i:i + step]))
            time.sleep(1.0)

    producer = threading.Thread(target=trickle, daemon=True)
    overrides = {
        "run_coordinator": {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator",
                            "config": {"max_concurrent_runs": 3, "tag_concurrency_limits": [
                                {"key": QUEUE_TAG, "value": "ingest", "limit": 2}]}},
        "auto_materialize": {"enabled": False, "use_sensors": False},
    }
    quiet = logging.getLogger("tests.following_runs")
    quiet.setLevel(logging.WARNING)
    with instance_for_test(overrides=overrides) as instance, \
            WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(REPO / "workspace.yaml")])) as ctx:
        producer.start()
        deadline = time.monotonic() + 300
        while True:
            list(execute_sensor_iteration(ctx, quiet, None, None))
            list(QueuedRunCoordinatorDaemon(interval_seconds=1).run_iteration(ctx))
            runs = instance.get_runs(RunsFilter(job_name=ingest_job.name))
            if not producer.is_alive() and runs and all(r.is_finished for r in runs):
                with psycopg.connect(settings.dsn) as conn:
                    if sum(ledger.heads(conn, settings.topic_trades).values()) >= len(messages):
                        break
            assert time.monotonic() < deadline, [(r.run_id[:8], r.status) for r in runs]
            time.sleep(1.0)
        runs = sorted(instance.get_runs(RunsFilter(job_name=ingest_job.name)), key=lambda r: r.run_id)
        assert all(r.status == DagsterRunStatus.SUCCESS for r in runs), [(r.run_id, r.status) for r in runs]
        assert all(r.tags.get(FOLLOW_TAG) == f"{FOLLOW_S:g}" for r in runs)
        # each marked itself when its follow loop began: its predecessor handed over then
        assert all(r.tags.get(FOLLOWING_TAG) == "1" for r in runs)
        stopped = [_step_metadata(instance, r.run_id)["follow"]["stopped"] for r in runs]
    # each follower ran until its successor was following, the last until the feed went quiet
    assert 2 <= len(runs) <= 12, stopped
    assert stopped.count("a newer following run has started") >= 1, stopped
    assert stopped.count("no new message for 4s") >= 1, stopped
    with psycopg.connect(settings.dsn) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT (sym, trade_id, exchange)), "
                           "count(DISTINCT (src_partition, src_offset)) FROM trades").fetchone()
        assert row == (len(messages),) * 3
        assert ledger.gaps(conn, settings.topic_trades) == []
