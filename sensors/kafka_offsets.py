"""The Kafka offset sensor: one ingest run per new offset range, never two for the same."""


import json

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, sensor

from assets.raw_ticks import ingest_job
from resources.tickflow import TickflowResource
from tickflow.ingest import plan_runs, run_key


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
    requests, cursor = plan_runs(tickflow.settings(), decode_cursor(context.cursor))
    runs = [
        RunRequest(
            run_key=run_key(topic, ranges),
            run_config={"ops": {"ingest_offsets": {"config": {
                "topic": topic, "ranges": {str(p): [s, e] for p, (s, e) in ranges.items()}}}}},
            tags={"tickflow/topic": topic},
        )
        for topic, ranges in requests
    ]
    return SensorResult(run_requests=runs, cursor=encode_cursor(cursor))
