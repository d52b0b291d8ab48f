"""The local instance's run queue (dagster.yaml written by `tickflow up`) has an ingest and a
derived pool, and the runs carry the tags those pools name; a run of this code location does
not import what only some assets need (XGBoost, matplotlib, Great Expectations)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from dagster._core.run_coordinator import QueuedRunCoordinator

from assets.raw_ticks import QUEUE_TAG, ingest_job
from sensors.automation import automation_sensor
from sensors.kafka_offsets import ingest_request
from sensors.live_session import live_session_job
from tickflow.config import Settings
from tickflow.stack.local import LocalStack

REPO = Path(__file__).resolve().parents[1]


def test_local_run_queue_has_an_ingest_and_a_derived_pool(tmp_path: Path) -> None:
    stack = LocalStack(Settings(home=tmp_path))
    stack.write_dagster_yaml()
    conf = yaml.safe_load((stack.dagster_home / "dagster.yaml").read_text())["run_coordinator"]["config"]
    QueuedRunCoordinator(**conf)  # Dagster accepts it
    pools = {lim["value"]: lim["limit"] for lim in conf["tag_concurrency_limits"] if lim["key"] == QUEUE_TAG}
    assert pools == {"ingest": 2, "derived": 1, "live": 1}
    # a slot beyond the two pools, so training or a UI backfill never waits for both
    assert conf["max_concurrent_runs"] > sum(pools.values())
    request = ingest_request("t:p0=0-1", [("t", {0: (0, 1)})])
    assert {**ingest_job.tags, **request.tags}[QUEUE_TAG] == "ingest"
    assert automation_sensor.run_tags[QUEUE_TAG] == "derived"
    assert live_session_job.tags[QUEUE_TAG] == "live"


def test_a_run_does_not_import_what_only_some_assets_need() -> None:
    code = ("import sys, definitions; heavy = [m for m in ('xgboost', 'matplotlib', 'great_expectations') "
            "if m in sys.modules]; from resources.ml import MODEL_NAME; from tickflow.ml.pipeline import "
            "MODEL_NAME as M2; print(heavy, MODEL_NAME == M2)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "[] True", out.stdout + out.stderr


def test_steps_run_in_the_run_process() -> None:
    """No process (and no second import of the code location) per step."""
    import definitions

    repo = definitions.defs.get_repository_def()
    for job in repo.get_all_jobs():
        assert job.executor_def.name == "in_process", job.name
