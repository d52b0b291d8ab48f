"""The Kafka offset sensor: one ingest run per new offset range, never two for the same."""


import json
import time

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from assets.raw_ticks import ingest_job
from resources.tickflow import TickflowResource
from tickflow.ingest import plan_repairs, plan_runs, run_key

IN_FLIGHT = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
             DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


def decode_cursor(raw: str | None) -> dict[str, dict[int, int]]:
    data = json.loads(raw) if raw else {}
    return {t: {int(p): int(o) for p, o in parts.items()} for t, parts in data.items()}


def encode_cursor(cursor: dict[str, dict[int, int]]) -> str:
    return json.dumps({t: {str(p): o for p, o in sorted(parts.items())} for t, parts in sorted(cursor.items())})


@sensor(job=ingest_job, minimum_interval_seconds=15, default_status=DefaultSensorStatus.RUNNING,
        description="Reads high watermarks; requests one ingest run per topic for each new offset range. "
                    "The cursor holds the next offset per topic-partition; the run_key names the topic, "
                    "partitions and ranges, so a range is never ingested by two runs.")
def kafka_offset_sensor(context: SensorEvaluationContext, tickflow: TickflowResource) -> SensorResult:
    settings = tickflow.settings()
    requests, cursor = plan_runs(settings, decode_cursor(context.cursor))
    keys = [run_key(topic, ranges) for topic, ranges in requests]
    if not requests:
        # Nothing new and nothing running: re-request offsets the cursor passed but the
        # ledger lacks (a run that failed after its retries), under a new run key.
        busy = context.instance.get_runs_count(RunsFilter(job_name=ingest_job.name, statuses=IN_FLIGHT))
        if not busy:
            requests = plan_repairs(settings, cursor)
            keys = [f"{run_key(topic, ranges)}#repair@{int(time.time())}" for topic, ranges in requests]
            if requests:
                context.log.warning(f"re-requesting offsets missing from the ledger: {keys}")
    runs = [
        RunRequest(
            run_key=key,
            run_config={"ops": {"ingest_offsets": {"config": {
                "topic": topic, "ranges": {str(p): [s, e] for p, (s, e) in ranges.items()}}}}},
            tags={"tickflow/topic": topic},
        )
        for key, (topic, ranges) in zip(keys, requests, strict=True)
    ]
    return SensorResult(run_requests=runs, cursor=encode_cursor(cursor))
