"""One real deployment for the browser and on-call tests: the local stack (PostgreSQL,
Kafka), a small simulated history, one day ingested through Dagster, two models trained,
and `tickflow dev` (dagster webserver + daemon) in its own session, stopped by `tickflow down`.

Usable by hand too:  .venv/bin/python -m tests.ui.live_stack /tmp/live 55600
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.webhook_recorder import WebhookRecorder
from tickflow.config import Settings, load_settings
from tickflow.ops.dagster_api import Dagster

REPO = Path(__file__).resolve().parents[2]
ML_DAYS = [dt.date(2024, 6, d) for d in (10, 11, 12, 13, 14, 17, 18)]  # XNYS sessions
TRAIN_DAYS = [dt.date(2024, 6, 17), dt.date(2024, 6, 18)]  # two models: v1, v2
LIVE_DAY = dt.date(2024, 6, 21)  # streamed through Kafka and an ingest run
BACKFILL_DAYS = (dt.date(2024, 6, 13), dt.date(2024, 6, 14))  # ticks stored, bars recomputed from the UI
FAIL_DAY = LIVE_DAY  # no features stored: training for it fails on purpose




@dataclass
class Live:
    settings: Settings
    env: dict[str, str]
    recorder: WebhookRecorder
    dev: subprocess.Popen  # type: ignore[type-arg]
    reused: bool = False
    retrain: subprocess.Popen | None = None  # type: ignore[type-arg]  # `tickflow retrain --wait` of FAIL_DAY
    timings: dict[str, float] = field(default_factory=dict)
    ui_backfill: dict | None = None  # type: ignore[type-arg]  # launched from the UI's Materialize dialog
    ui_backfill_done: threading.Event = field(default_factory=threading.Event)  # followed to its end

    @property
    def url(self) -> str:
        return self.settings.ui_base

    @property
    def api(self) -> Dagster:
        return Dagster(self.url)

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tickflow.cli", *args], capture_output=True, text=True,
                              env={**os.environ, **self.env}, cwd=REPO, timeout=timeout)


def _wait_webserver(api: Dagster, dev: subprocess.Popen, timeout: float) -> None:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if dev.poll() is not None:
            raise RuntimeError(f"tickflow dev exited with {dev.returncode}")
        try:
            with urllib.request.urlopen(f"{api.base_url}/server_info", timeout=2):  # noqa: S310
                pass
            api.repository()
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(1)
    raise TimeoutError("the Dagster webserver did not load the code location")


def _stream_and_ingest(settings: Settings) -> None:
    """One day streamed to Kafka and ingested through a Dagster run (in this process, on the
    deployment's own instance), before the daemon starts: its offset sensor then finds
    nothing left to ingest and requests no run of its own."""
    from dagster import DagsterInstance

    import definitions
    from tickflow.kafka.reader import watermarks
    from tickflow.simulate.to_kafka import simulate_to_kafka

    simulate_to_kafka(settings, LIVE_DAY, 3, seed=5, trades_per_symbol=400, bad_messages=12)
    ingest = definitions.defs.resolve_job_def("ingest_job")
    # one run for every topic, as the offset sensor asks for it
    ranges = {topic: {str(p): [lo, hi] for p, (lo, hi) in watermarks(settings, topic).items() if hi > lo}
              for topic in settings.topics}
    cfg = {"ops": {"ingest_offsets": {"config": {"ranges": ranges}}}}
    assert ingest.execute_in_process(run_config=cfg, instance=DagsterInstance.get(),
                                     tags={"tickflow/topics": ",".join(sorted(settings.topics))}).success


def _history_and_models(settings: Settings) -> None:
    """A simulated history and two models trained on it (in this process, on the
    deployment's own instance), while `tickflow dev` starts: both take tens of seconds."""
    from dagster import AssetMaterialization, DagsterInstance

    import definitions
    from tickflow.ml import pipeline
    from tickflow.simulate.to_store import simulate_history

    dsn = settings.dsn
    simulate_history(dsn, ML_DAYS, n_symbols=3, trades_per_symbol=1000, seed=11)
    instance = DagsterInstance.get()
    for day in ML_DAYS:  # the ticks are in the store: record them as the raw partitions
        for name in ("raw_trades", "raw_quotes"):
            instance.report_runless_asset_event(AssetMaterialization(
                name, partition=day.isoformat(), description="simulated history", metadata={"source": "simulator"}))
    for day in ML_DAYS:
        pipeline.run_features(dsn, day)
    train = definitions.defs.resolve_job_def("train_job")
    for day in TRAIN_DAYS:
        assert train.execute_in_process(partition_key=day.isoformat(), instance=instance).success


@contextmanager
def live_stack(home: Path, base_port: int | None = None) -> Iterator[Live]:
    from tickflow.stack.local import LocalStack
    from tickflow.stack.procs import free_port

    ports = [base_port + i for i in range(3)] if base_port else [free_port() for _ in range(3)]
    recorder = WebhookRecorder()
    env = {"TICKFLOW_HOME": str(home), "TICKFLOW_PG_PORT": str(ports[0]), "TICKFLOW_KAFKA_PORT": str(ports[1]),
           "TICKFLOW_DAGSTER_PORT": str(ports[2]), "TICKFLOW_ALERT_WEBHOOK_URL": recorder.url,
           "TICKFLOW_TOPIC_PARTITIONS": "2", "DAGSTER_HOME": str(home / "dagster_home")}
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        mp.delenv("TICKFLOW_PG_DSN", raising=False)
        settings = load_settings()
        stack = LocalStack(settings)
        stack.up(log=lambda _: None)
        # The tests drive every run themselves: no automation (eager re-runs would compete
        # for the two cores) and no retries (the failed run must stay failed).
        yaml = stack.dagster_home / "dagster.yaml"
        # Queued runs are looked at every second, not five: the tests wait on a few runs.
        yaml.write_text(yaml.read_text().replace("run_retries:\n  enabled: true", "run_retries:\n  enabled: false")
                        .replace("    max_concurrent_runs: 3\n",
                                 "    max_concurrent_runs: 3\n    dequeue_interval_seconds: 1\n")
                        + "auto_materialize:\n  enabled: false\n  use_sensors: false\n")
        assert "dequeue_interval_seconds: 1" in yaml.read_text() and "enabled: false" in yaml.read_text()
        timings["stack_up_s"] = time.monotonic() - t0
        dev = None
        live = None
        try:
            _stream_and_ingest(settings)
            timings["ingest_s"] = time.monotonic() - t0 - timings["stack_up_s"]
            log = (home / "dev.log").open("w")
            # `tickflow dev` starts `dagster dev` in a session of its own and writes its pid file
            dev = subprocess.Popen([sys.executable, "-m", "tickflow.cli", "dev"], cwd=REPO, env={**os.environ},
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            live = Live(settings, env, recorder, dev, timings=timings)
            t1 = time.monotonic()
            _history_and_models(settings)  # while the webserver and the daemon start
            timings["data_s"] = time.monotonic() - t1
            _wait_webserver(live.api, dev, timeout=180)
            # made to fail on purpose (no features for the day), launched now so that it runs
            # while the other tests do; test_failed_run_and_its_alert waits for it
            live.retrain = subprocess.Popen(
                [sys.executable, "-m", "tickflow.cli", "retrain", "--as-of", FAIL_DAY.isoformat(), "--wait",
                 "--timeout", "600"], cwd=REPO, env={**os.environ}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True)
            timings["dev_up_s"] = time.monotonic() - t1  # history and models included
            yield live
        finally:
            if live is not None and live.retrain is not None and live.retrain.poll() is None:
                live.retrain.kill()
                live.retrain.communicate()
            stack.down(log=lambda _: None)  # `tickflow down`: stops dagster dev too
            if dev is not None:
                try:
                    dev.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    dev.kill()
                    dev.wait()
            recorder.close()


def reused(home: Path, base_port: int) -> Live:
    """A Live for a deployment started by hand (its webhook recorder is in that process)."""
    env = {"TICKFLOW_HOME": str(home), "TICKFLOW_PG_PORT": str(base_port), "TICKFLOW_KAFKA_PORT": str(base_port + 1),
           "TICKFLOW_DAGSTER_PORT": str(base_port + 2), "TICKFLOW_TOPIC_PARTITIONS": "2",
           "DAGSTER_HOME": str(home / "dagster_home")}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        settings = load_settings()
    return Live(settings, env, WebhookRecorder(), subprocess.Popen(["true"]), reused=True)


if __name__ == "__main__":  # by hand: keep a live deployment up until Ctrl-C
    import shutil
    import tempfile

    home = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="tickflow-live-"))
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    home.chmod(0o755)
    (home / "xdg").mkdir(mode=0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(home / "xdg")
    with live_stack(home, int(sys.argv[2]) if len(sys.argv) > 2 else None) as live:
        print(f"UI at {live.url}; webhook {live.recorder.url}; timings {live.timings}", flush=True)
        try:
            while True:
                time.sleep(5)
        except KeyboardInterrupt:
            pass
