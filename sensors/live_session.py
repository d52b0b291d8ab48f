"""The live session: while a day's session is open and its ticks are landing, one run holds
the day's derived assets and keeps them current (tickflow.derive.live), instead of a derived
run started, one after another, for every few ingest commits.

The run is a run of the derived assets for the day, so the automation sensor sees them in
progress and asks for no other derived run of the day while it lasts; its first step loops
until the session closes (or the day has had no commit for ``TICKFLOW_LIVE_IDLE_EXIT_S``),
logging each pass as observations of the assets, then every step recomputes the day as usual. It runs
in a pool of its own (``tickflow/queue: live``), so it never holds the ingest or derived slot.
A day gets at most ``LiveParams.max_attempts`` live runs; after a failure the next starts on
the sensor's next tick, after a run that ended with the day quiet (a rehearsal's replay
stopped) once new ticks of the day land, and past the limit the automation sensor's runs
carry on alone."""


import time

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    sensor,
)

from assets.automation import LIVE_DAY_TAG, LIVE_SENSOR
from assets.partitions import trading_days
from assets.raw_ticks import QUEUE_TAG
from resources.tickflow import TickflowResource
from sensors.kafka_offsets import IN_FLIGHT
from tickflow.derive import live

DAY_TAG = LIVE_DAY_TAG

live_session_job = define_asset_job(
    "live_session",
    selection=AssetSelection.groups("bars", "signals") | AssetSelection.assets("features"),
    partitions_def=trading_days,
    tags={QUEUE_TAG: "live", "tickflow/kind": "live"},
    config={"ops": {"bars": {"config": {"live_session": True}}}},
    description="An open day's derived assets kept current while its ticks land; then the day recomputed whole.",
)


def _runs(context: SensorEvaluationContext, tags: dict[str, str], statuses: list[DagsterRunStatus] | None) -> int:
    return context.instance.get_runs_count(RunsFilter(tags=tags, statuses=statuses or []))


def _quiet_since_last(context: SensorEvaluationContext, key: str) -> bool:
    """Whether the day's last live run succeeded and no raw partition of the day has been
    materialized (an ingest commit of its ticks) since it ended."""
    last = context.instance.get_run_records(RunsFilter(tags={DAY_TAG: key}), limit=1)
    if not last or last[0].dagster_run.status != DagsterRunStatus.SUCCESS:
        return False
    ended = last[0].end_time or last[0].update_timestamp.timestamp()
    return not any(context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(k), asset_partitions=[key], after_timestamp=ended),
        limit=1).records for k in ("raw_trades", "raw_quotes"))


@sensor(name=LIVE_SENSOR, job=live_session_job, minimum_interval_seconds=10, default_status=DefaultSensorStatus.RUNNING,
        description="Starts the live session run of a day whose session is open (or is rehearsed: "
                    "TICKFLOW_REHEARSAL_DAYS) once its ticks are stored and no derived run of it is in flight.")
def live_session_sensor(context: SensorEvaluationContext, tickflow: TickflowResource) -> SensorResult | SkipReason:
    import psycopg

    settings = tickflow.settings()
    params = live.LiveParams(idle_exit_s=settings.live_idle_exit_s)
    now = time.time()
    requests, skipped = [], []
    for day in live.live_days(now, settings.rehearsal_days):
        key = day.isoformat()
        with psycopg.connect(settings.dsn) as conn:
            ticks = live.has_ticks(conn, day)
        in_flight = sum(_runs(context, {"dagster/partition": key, QUEUE_TAG: q}, IN_FLIGHT) for q in ("live", "derived"))
        attempts = _runs(context, {DAY_TAG: key}, None)
        why = live.start_reason(ticks, in_flight, attempts, params, _quiet_since_last(context, key))
        if why:
            skipped.append(f"{key}: {why}")
            continue
        requests.append(RunRequest(run_key=f"live-{key}-{attempts}", partition_key=key, tags={DAY_TAG: key}))
    if not requests:
        return SkipReason("; ".join(skipped) or "no open session")
    return SensorResult(run_requests=requests)
