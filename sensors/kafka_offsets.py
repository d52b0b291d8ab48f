"""The Kafka offset sensor: one ingest run per tick for every topic with new data, never two
for the same range, no new run while one is still waiting in the queue, and none while a
run follows the feed (tickflow.ingest_follow) unless its time is nearly up."""


import json
import time

from dagster import (
    AssetKey,
    AssetObservation,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRecord,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from assets.raw_ticks import FOLLOW_TAG, ingest_job
from resources.tickflow import TickflowResource
from tickflow import sensor_cadence
from tickflow.ingest import plan_repairs, plan_runs, repair_run_key, run_key_all
from tickflow.kafka.lag import consumer_lag, lag_metadata

IN_FLIGHT = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
             DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
# A run that has not started yet will be followed by the next tick's run anyway: asking for
# another while one waits would only lengthen the queue. The waiting run's range is fixed,
# so the next request simply covers more.
WAITING = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED]


def decode_cursor(raw: str | None) -> dict[str, dict[int, int]]:
    """The next offset per topic-partition (also from a cursor written before ``poll`` existed)."""
    data = json.loads(raw) if raw else {}
    offsets = data.get("offsets", data) if "poll" in data or "offsets" in data else data
    return {t: {int(p): int(o) for p, o in parts.items()} for t, parts in offsets.items()}


def decode_poll(raw: str | None) -> sensor_cadence.PollState:
    data = json.loads(raw) if raw else {}
    poll = data.get("poll", {}) if isinstance(data, dict) else {}
    return sensor_cadence.PollState(float(poll.get("last_poll_s", 0.0)), float(poll.get("last_data_s", 0.0)))


def encode_cursor(cursor: dict[str, dict[int, int]], poll: sensor_cadence.PollState | None = None) -> str:
    offsets = {t: {str(p): o for p, o in sorted(parts.items())} for t, parts in sorted(cursor.items())}
    p = poll or sensor_cadence.PollState()
    return json.dumps({"offsets": offsets, "poll": {"last_poll_s": p.last_poll_s, "last_data_s": p.last_data_s}})


def ingest_request(key: str, requests: list[tuple[str, dict[int, tuple[int, int]]]],
                   follow_s: float = 0.0, follow_idle_s: float = 5.0) -> RunRequest:
    ranges = {topic: {str(p): [s, e] for p, (s, e) in parts.items()} for topic, parts in requests}
    config: dict[str, object] = {"ranges": ranges}
    tags = {"tickflow/topics": ",".join(sorted(ranges))}
    if follow_s > 0:
        config.update(follow_s=follow_s, follow_idle_s=follow_idle_s)
        tags[FOLLOW_TAG] = f"{follow_s:g}"
    return RunRequest(run_key=key, run_config={"ops": {"ingest_offsets": {"config": config}}}, tags=tags)


def followers(context: SensorEvaluationContext) -> list[RunRecord]:
    """In-flight ingest runs that follow the feed (tickflow.ingest_follow)."""
    return [r for r in context.instance.get_run_records(RunsFilter(job_name=ingest_job.name, statuses=IN_FLIGHT))
            if float(r.dagster_run.tags.get(FOLLOW_TAG, 0) or 0) > 0]


def covered(runs: list[RunRecord], now: float) -> str | None:
    """Why no run is needed: a follower that is starting, or not yet near its end; or None."""
    for r in runs:
        follow_s = float(r.dagster_run.tags[FOLLOW_TAG])
        if sensor_cadence.follower_covers(r.start_time, now, follow_s):
            until = "once started" if r.start_time is None else \
                f"for {r.start_time + follow_s - now:.0f}s more (its successor is requested " \
                f"{sensor_cadence.FOLLOW_LEAD_S:.0f}s before its end)"
            return f"run {r.dagster_run.run_id[:8]} follows the feed {until}"
    return None


def _count(context: SensorEvaluationContext, statuses: list[DagsterRunStatus]) -> int:
    return context.instance.get_runs_count(RunsFilter(job_name=ingest_job.name, statuses=statuses))


@sensor(job=ingest_job, minimum_interval_seconds=sensor_cadence.ACTIVE_S, default_status=DefaultSensorStatus.RUNNING,
        description="Reads high watermarks; requests one ingest run for all topics with new data (none while one "
                    "is still queued, or while a run follows the feed and its time is not nearly up: such a run "
                    "takes new offsets every second, TICKFLOW_INGEST_FOLLOW_S). The cursor holds the next offset per topic-partition and the poll times "
                    "(every 5 s while data flows, 15 s in the trading day, 60 s otherwise); the run_key names "
                    "every topic-partition range, so a range is never requested twice, and the run extends it to "
                    "the high watermark when it starts (the ledger writes any overlap once). Logs and observes "
                    "the consumer lag (high watermark - ledger head) on the kafka_* source assets.")
def kafka_offset_sensor(context: SensorEvaluationContext, tickflow: TickflowResource) -> SensorResult | SkipReason:
    now = time.time()
    poll = decode_poll(context.cursor)
    if not sensor_cadence.due(poll, now):
        return SkipReason(f"next look at Kafka in {sensor_cadence.interval_s(poll, now) - (now - poll.last_poll_s):.0f}s")
    if _count(context, WAITING):
        return SkipReason("an ingest run is still queued; its successor will take the new offsets")
    settings = tickflow.settings()
    following = followers(context) if settings.ingest_follow_s > 0 else []
    if why := covered(following, now):
        return SkipReason(why)
    offsets = decode_cursor(context.cursor)
    requests, cursor = plan_runs(settings, offsets)
    follow = (settings.ingest_follow_s, settings.ingest_follow_idle_s)
    runs = [ingest_request(run_key_all(requests), requests, *follow)] if requests else []
    if not requests and following:
        # A follower near its end has kept the ledger at the high watermark, so there is
        # nothing new to ask for: its successor starts with no range and takes over the
        # following (one successor per follower: the key names it).
        runs = [ingest_request(f"after:{following[0].dagster_run.run_id}", [], *follow)]
    elif not requests and not _count(context, IN_FLIGHT):
        # Nothing new and nothing running: re-request offsets the cursor passed but the
        # ledger lacks (a run that failed after its retries), keyed by that ledger state.
        repairs = plan_repairs(settings, cursor)
        if repairs:
            key = repair_run_key(repairs)
            context.log.warning(f"re-requesting offsets missing from the ledger: {key}")
            runs = [ingest_request(key, repairs)]
    lag = consumer_lag(settings)
    meta = lag_metadata(lag)
    context.log.info(f"kafka lag {meta['kafka_lag_messages']} messages; worst {meta['kafka_lag_worst_partition']}")
    observations = [AssetObservation(asset_key=AssetKey(f"kafka_{name}"), metadata=lag_metadata({topic: parts}))
                    for name, topic in (("trades", settings.topic_trades), ("quotes", settings.topic_quotes))
                    if (parts := lag.get(topic)) is not None]
    # a follower in flight means data is flowing, even when it left the sensor nothing to ask for
    poll = sensor_cadence.after_poll(poll, now, bool(requests or following))
    return SensorResult(run_requests=runs, cursor=encode_cursor(cursor, poll), asset_events=observations)
