"""Run-failure alerting: a failed training run is reported, never silent.

The sensor logs one ERROR line per failed run of a monitored job (job, partition, run id
and the failing steps' messages) in the daemon's log, which cluster logging collects, and in
the sensor's tick log, visible on the sensor's page in the UI."""


import logging

from dagster import (
    DagsterEventType,
    DefaultSensorStatus,
    RunFailureSensorContext,
    run_failure_sensor,
)

from assets.ml import train_job

log = logging.getLogger("tickflow.alerts")


def failure_message(context: RunFailureSensorContext) -> str:
    run = context.dagster_run
    steps = []
    for ev in context.get_step_failure_events():
        err = ev.event_specific_data.error if ev.event_specific_data else None  # type: ignore[union-attr]
        while err is not None and err.cause is not None:  # the user code's exception, not Dagster's wrapper
            err = err.cause
        steps.append(f"{ev.step_key}: {err.message.strip() if err else 'failed'}")
    if not steps and context.failure_event.event_type == DagsterEventType.RUN_FAILURE:
        steps.append(context.failure_event.message or "run failed")
    partition = run.tags.get("dagster/partition", "-")
    return f"ALERT {run.job_name} run {run.run_id} (partition {partition}) failed: " + "; ".join(steps)


@run_failure_sensor(monitored_jobs=[train_job], default_status=DefaultSensorStatus.RUNNING,
                    name="training_failure_alert", description="Logs an ERROR for every failed training run.")
def training_failure_alert(context: RunFailureSensorContext) -> None:
    msg = failure_message(context)
    log.error(msg)
    context.log.error(msg)
