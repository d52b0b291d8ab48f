"""The minute-aggregates sensor: a raw_vendor_bars run whenever the topic has new offsets."""


import datetime as dt
import json
from zoneinfo import ZoneInfo

import psycopg
from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor

from assets.vendor_bars import raw_vendor_bars
from resources.tickflow import TickflowResource
from tickflow import sessions
from tickflow.ingest import plan_ranges, run_key
from tickflow.store import ledger
from tickflow.store.schema import ensure_current


def latest_trading_day(today: dt.date) -> dt.date:
    return sessions.trading_days(today - dt.timedelta(days=10), today)[-1]


@sensor(asset_selection=[raw_vendor_bars], minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING,
        description="Reads the minute-aggregates topic's high watermarks; for each new offset range requests one "
                    "raw_vendor_bars run (source kafka) of the current trading day. The run ingests from the "
                    "ledger head, exactly once; the run_key names the ranges, so none is requested twice.")
def minute_aggs_sensor(context: SensorEvaluationContext, tickflow: TickflowResource) -> SensorResult | SkipReason:
    settings = tickflow.settings()
    topic = settings.topic_minute_aggs
    if context.cursor:
        cursor = {int(p): int(o) for p, o in json.loads(context.cursor).items()}
    else:
        ensure_current(settings.dsn)
        with psycopg.connect(settings.dsn) as conn:
            cursor = ledger.heads(conn, topic)
    try:
        ranges = plan_ranges(settings, topic, cursor)
    except Exception as e:  # no broker or no topic yet: try again on the next tick
        return SkipReason(f"minute-aggregates topic {topic!r} not readable: {e}")
    if not ranges:
        return SkipReason(f"no new offsets on {topic!r}")
    cursor.update({p: e for p, (_, e) in ranges.items()})
    day = latest_trading_day(dt.datetime.now(ZoneInfo(sessions.NY)).date())
    run = RunRequest(run_key=run_key(topic, ranges), partition_key=day.isoformat(),
                     run_config={"ops": {"raw_vendor_bars": {"config": {"source": "kafka"}}}},
                     tags={"tickflow/topic": topic})
    return SensorResult(run_requests=[run], cursor=json.dumps({str(p): o for p, o in sorted(cursor.items())}))
