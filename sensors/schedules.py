"""The retraining schedule: each XNYS trading day at 18:30 New York, train the model as of
that day (the ``price_model`` partition of the day, whose window ends with it).

The cron fires every weekday; an exchange holiday is skipped with a reason shown in the
UI, and an early-close day still trains at 18:30 (its data is complete by then)."""


import datetime as dt
from zoneinfo import ZoneInfo

from dagster import RunRequest, ScheduleEvaluationContext, SkipReason, schedule

from assets.ml import train_job
from tickflow import sessions

RETRAIN_CRON = "30 18 * * 1-5"


@schedule(cron_schedule=RETRAIN_CRON, job=train_job, execution_timezone=sessions.NY,
          description="Retrain price_model after each XNYS trading day's close (18:30 New York).")
def retrain_schedule(context: ScheduleEvaluationContext):  # type: ignore[no-untyped-def]
    day: dt.date = context.scheduled_execution_time.astimezone(ZoneInfo(sessions.NY)).date()
    if not sessions.is_trading_day(day):
        return SkipReason(f"{day} is not an XNYS trading day")
    return RunRequest(run_key=f"retrain-{day.isoformat()}", partition_key=day.isoformat())
