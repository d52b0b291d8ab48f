"""Run alerts for every job of the code location: failures, and recovery after them.

``run_failure_alert`` fires for every failed run (ingest_job, train_job, and the runs the
automation sensor and backfills launch for the derived and ml assets); ``run_recovery_alert``
for every successful one, which only speaks when the same job and partition had alerted
failures. Each logs one line (daemon log and the sensor's tick log in the UI) and, when
TICKFLOW_ALERT_WEBHOOK_URL is set, posts it (Slack-compatible JSON) with a link to the run.
Dedup and cooldown (tickflow.ops.alerts.decide) keep their state per job and partition in
the Dagster instance's key-value store, so they survive daemon restarts. A webhook that is
down or hangs costs at most TICKFLOW_ALERT_TIMEOUT_S and is logged; the sensor never raises.
"""


import logging
import time
from typing import Any
from urllib.parse import urlsplit

from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunStatusSensorContext,
    run_failure_sensor,
    run_status_sensor,
)

from tickflow.config import Settings, load_settings
from tickflow.ops.alerts import Alert, KeyState, after_post, decide, first_line, post, slack_body

log = logging.getLogger("tickflow.alerts")
_KV_PREFIX = "tickflow/alerts/"
# Raised by the engine with the one line an operator acts on; preferred over its cause.
_OPERATOR_ERRORS = {"ComponentUnreachable"}


def job_label(run: DagsterRun) -> str:
    """The job's name; runs of asset selections (automation, backfills, the UI's Materialize)
    are named by what they compute."""
    if not run.job_name.startswith("__ASSET_JOB"):
        return run.job_name
    names = {k.path[-1] for k in (run.asset_selection or ())}
    if names & {"predictions", "model_evaluation"}:
        return "predictions"
    if "price_model" in names:
        return "train"
    if names and names <= {"raw_trades", "raw_quotes"}:
        return "raw_backfill"
    return "derived"


def partition_label(run: DagsterRun) -> str:
    tags = run.tags
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    start, end = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    if start and end:
        return start if start == end else f"{start}...{end}"
    for key in ("tickflow/topics", "tickflow/topic"):  # an ingest run, a minute-aggregates run
        if key in tags:
            return f"topics {tags[key]}"
    return "-"


def _operator_line(err: Any) -> str:
    """The first line of the operator error in a chain, else of its innermost cause."""
    chosen = err
    while err is not None:
        chosen = err
        if err.cls_name in _OPERATOR_ERRORS:
            break
        err = err.cause
    if chosen is None:
        return ""
    line = first_line(chosen.message)
    head, sep, rest = line.partition(": ")
    return rest if sep and head.endswith(chosen.cls_name) else line  # drop "module.Class: "


def failure_details(context: RunFailureSensorContext) -> tuple[str, str]:
    """The first failed step and the first line of its error (the user code's exception, or
    the operator line the engine raised, not Dagster's wrapper)."""
    for ev in context.get_step_failure_events():
        err = ev.event_specific_data.error if ev.event_specific_data else None  # type: ignore[union-attr]
        return ev.step_key or "-", _operator_line(err) or "failed"
    ev = context.failure_event
    err = getattr(ev.event_specific_data, "error", None)  # a run that failed before any step (resources)
    msg = _operator_line(err) if err is not None else ""
    if not msg and ev.event_type == DagsterEventType.RUN_FAILURE:
        msg = first_line(ev.message or "")
    return "run", msg or "run failed"


def _host(url: str) -> str:
    """Where a webhook points, without its path (Slack's carries the secret token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else "(invalid URL)"


def handle(instance: DagsterInstance, run: DagsterRun, succeeded: bool, settings: Settings,
           step: str = "", error: str = "", now: float | None = None) -> Alert | None:
    """Decide, log and post the alert for one finished run; return what was due (or None)."""
    job, partition = job_label(run), partition_label(run)
    key = f"{_KV_PREFIX}{job}/{partition}"
    storage = instance.run_storage
    state = KeyState.from_json(storage.get_cursor_values({key}).get(key))
    kind, new = decide(state, succeeded, time.time() if now is None else now, settings.alert_cooldown_s)
    if kind is None and new == state:
        return None
    alert = None
    delivered = True
    if kind is not None:
        alert = Alert(kind=kind, job=job, partition=partition, run_id=run.run_id, step=step, error=error,
                      url=f"{settings.ui_base}/runs/{run.run_id}",
                      suppressed=state.suppressed if kind == "failure" else 0, failures=state.failures)
        line = alert.line()
        (log.warning if kind == "recovery" else log.error)(line)
        if settings.alert_webhook_url:
            why = post(settings.alert_webhook_url, slack_body(alert), settings.alert_timeout_s)
            delivered = why is None
            if why:
                log.error(f"alert webhook {_host(settings.alert_webhook_url)} did not take the alert ({why}); "
                          "set TICKFLOW_ALERT_WEBHOOK_URL to a reachable endpoint")
    storage.set_cursor_values({key: after_post(state, kind, new, delivered).to_json()})
    return alert


@run_failure_sensor(name="run_failure_alert", default_status=DefaultSensorStatus.RUNNING,
                    description="Every failed run of this code location: one line in the log and, with "
                                "TICKFLOW_ALERT_WEBHOOK_URL, a webhook post; once per job and partition per "
                                "cooldown (TICKFLOW_ALERT_COOLDOWN_S).")
def run_failure_alert(context: RunFailureSensorContext) -> None:
    step, error = failure_details(context)
    alert = handle(context.instance, context.dagster_run, False, load_settings(), step, error)
    if alert is not None:
        context.log.error(alert.line())
    else:
        context.log.info(f"{context.dagster_run.run_id} failed again within the cooldown: not alerted")


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, name="run_recovery_alert",
                   default_status=DefaultSensorStatus.RUNNING,
                   description="A success of a job and partition whose failures were alerted: one recovery alert.")
def run_recovery_alert(context: RunStatusSensorContext) -> None:
    alert = handle(context.instance, context.dagster_run, True, load_settings())
    if alert is not None:
        context.log.warning(alert.line())
