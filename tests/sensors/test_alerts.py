"""Run alerts: real failed and successful Dagster runs, a local HTTP server that records what
it receives, and webhooks that are down or hang."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import pytest
from dagster import AssetKey, DagsterInstance, DagsterRun, build_run_status_sensor_context

import definitions
from sensors.alerts import job_label, run_failure_alert, run_recovery_alert
from tests.webhook_recorder import WebhookRecorder
from tickflow.ops.alerts import KeyState, after_post, decide
from tickflow.stack.procs import free_port

BARS = [AssetKey("bars_1m"), AssetKey("bars_5m"), AssetKey("bars_15m")]
DOWN_DSN = "postgresql://postgres@127.0.0.1:1/tickflow"  # nothing listens on port 1




@pytest.fixture
def recorder() -> Iterator[WebhookRecorder]:
    r = WebhookRecorder("/hooks/T000/secret")
    yield r
    r.close()


def _bars_run(instance: DagsterInstance, day: str, dsn: str):  # type: ignore[no-untyped-def]
    """A real run of the derived assets (the automation's and backfills' asset job)."""
    job = definitions.defs.resolve_implicit_global_asset_job_def()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TICKFLOW_PG_DSN", dsn)
        return job.execute_in_process(asset_selection=BARS, partition_key=day, instance=instance,
                                      raise_on_error=False)


def _on_failure(instance: DagsterInstance, res) -> None:  # type: ignore[no-untyped-def]
    assert not res.success
    run_failure_alert(build_run_status_sensor_context(
        sensor_name="run_failure_alert", dagster_instance=instance, dagster_run=res.dagster_run,
        dagster_event=res.get_run_failure_event()).for_run_failure())


def _on_success(instance: DagsterInstance, res) -> None:  # type: ignore[no-untyped-def]
    assert res.success
    run_recovery_alert(build_run_status_sensor_context(
        sensor_name="run_recovery_alert", dagster_instance=instance, dagster_run=res.dagster_run,
        dagster_event=res.get_run_success_event()))


def test_cooldown_and_recovery_rules() -> None:
    s, now = KeyState(), 1000.0
    kind, s = decide(s, False, now, 600)
    assert kind == "failure" and s.failing and s.last_sent == now
    kind, s = decide(s, False, now + 10, 600)
    assert kind is None and s.suppressed == 1 and s.failures == 2
    kind, s2 = decide(s, False, now + 601, 600)  # the window passed: alert again, naming the suppressed one
    assert kind == "failure" and s2.alerted == 2 and s2.failures == 3
    kind, s3 = decide(s2, True, now + 700, 600)
    assert kind == "recovery" and s3 == KeyState()
    assert decide(s3, True, now + 800, 600)[0] is None  # success after success: silent
    # a failure alert that did not get through is not counted as sent: the next one retries
    old = KeyState()
    kind, new = decide(old, False, now, 600)
    kept = after_post(old, kind, new, delivered=False)
    assert kept.last_sent == 0 and decide(kept, False, now + 1, 600)[0] == "failure"


def test_every_job_is_named() -> None:
    assert job_label(DagsterRun(job_name="ingest_job", run_id="a")) == "ingest_job"
    assert job_label(DagsterRun(job_name="train_job", run_id="b")) == "train_job"
    asset_run = DagsterRun(job_name="__ASSET_JOB", run_id="c", asset_selection=frozenset(BARS))
    assert job_label(asset_run) == "derived"
    pred = DagsterRun(job_name="__ASSET_JOB", run_id="d", asset_selection=frozenset({AssetKey("predictions")}))
    assert job_label(pred) == "predictions"
    # the sensors are registered without a job list: they watch the whole code location
    names = {s.name for s in definitions.defs.sensors or []}
    assert {"run_failure_alert", "run_recovery_alert"} <= names


def test_failures_alert_once_per_cooldown_then_recovery(recorder: WebhookRecorder, plain_dsn: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKFLOW_ALERT_WEBHOOK_URL", recorder.url)
    monkeypatch.setenv("TICKFLOW_ALERT_COOLDOWN_S", "3600")
    monkeypatch.setenv("TICKFLOW_UI_URL", "http://dagster.example:3000/")
    with DagsterInstance.ephemeral() as instance:
        first = _bars_run(instance, "2024-06-21", DOWN_DSN)
        _on_failure(instance, first)
        [body] = recorder.bodies
        a = body["tickflow"]
        # in process the resources start with the run, so the run fails before its step
        assert (a["kind"], a["job"], a["partition"], a["run_id"], a["step"]) == (
            "failure", "derived", "2024-06-21", first.run_id, "run")
        assert a["error"].startswith("PostgreSQL (tick store) unreachable at postgresql://postgres@127.0.0.1:1/")
        assert "`tickflow up`" in a["error"] and "\n" not in a["error"]
        assert a["url"] == f"http://dagster.example:3000/runs/{first.run_id}"
        assert body["text"].startswith(f"ALERT derived run {first.run_id} (partition 2024-06-21) failed: run: ")
        assert {f["title"] for f in body["attachments"][0]["fields"]} >= {"job", "partition", "run id", "failed step",
                                                                           "error"}

        _on_failure(instance, _bars_run(instance, "2024-06-21", DOWN_DSN))  # same key, in the window: silent
        assert len(recorder.bodies) == 1
        _on_failure(instance, _bars_run(instance, "2024-06-20", DOWN_DSN))  # another partition: its own alert
        assert [b["tickflow"]["partition"] for b in recorder.bodies] == ["2024-06-21", "2024-06-20"]

        ok = _bars_run(instance, "2024-06-21", plain_dsn)  # the store is back
        _on_success(instance, ok)
        rec = recorder.bodies[-1]["tickflow"]
        assert (rec["kind"], rec["partition"], rec["run_id"], rec["failures"]) == ("recovery", "2024-06-21",
                                                                                  ok.run_id, 2)
        _on_success(instance, _bars_run(instance, "2024-06-21", plain_dsn))  # nothing to recover from
        assert len(recorder.bodies) == 3

        monkeypatch.setenv("TICKFLOW_ALERT_COOLDOWN_S", "0")  # no window: every failure alerts
        _on_failure(instance, _bars_run(instance, "2024-06-21", DOWN_DSN))
        _on_failure(instance, _bars_run(instance, "2024-06-21", DOWN_DSN))
        assert [b["tickflow"]["kind"] for b in recorder.bodies[3:]] == ["failure", "failure"]


def test_a_webhook_that_is_down_or_hangs_neither_crashes_nor_blocks(
        recorder: WebhookRecorder, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    refused = f"http://127.0.0.1:{free_port()}/hook"
    hanging = socket.socket()  # accepts the connection (backlog), never answers
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(8)
    monkeypatch.setenv("TICKFLOW_ALERT_TIMEOUT_S", "1")
    try:
        with DagsterInstance.ephemeral() as instance, caplog.at_level(logging.ERROR, logger="tickflow.alerts"):
            for url in (refused, f"http://127.0.0.1:{hanging.getsockname()[1]}/hook"):
                monkeypatch.setenv("TICKFLOW_ALERT_WEBHOOK_URL", url)
                res = _bars_run(instance, "2024-06-21", DOWN_DSN)
                t0 = time.monotonic()
                _on_failure(instance, res)
                assert time.monotonic() - t0 < 3.0
            lines = [r.getMessage() for r in caplog.records if r.name == "tickflow.alerts"]
            assert sum(line.startswith("ALERT derived run") for line in lines) == 2  # logged, though undelivered
            assert any("did not take the alert (URLError: [Errno 111] Connection refused)" in m for m in lines)
            assert any("did not take the alert" in m and "timed out" in m for m in lines)
            assert not any("secret" in m for m in lines)
            # the webhook is back: the next failure is alerted (the lost ones did not start a cooldown)
            monkeypatch.setenv("TICKFLOW_ALERT_WEBHOOK_URL", recorder.url)
            _on_failure(instance, _bars_run(instance, "2024-06-21", DOWN_DSN))
            [body] = recorder.bodies
            assert body["tickflow"]["suppressed"] == 2
    finally:
        hanging.close()


def test_without_a_url_alerts_are_logged(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("TICKFLOW_ALERT_WEBHOOK_URL", raising=False)
    with DagsterInstance.ephemeral() as instance, caplog.at_level(logging.ERROR, logger="tickflow.alerts"):
        res = _bars_run(instance, "2024-06-21", DOWN_DSN)
        _on_failure(instance, res)
    [line] = [r.getMessage() for r in caplog.records if r.name == "tickflow.alerts"]
    assert line.startswith(f"ALERT derived run {res.run_id} (partition 2024-06-21) failed: run: PostgreSQL")
