"""When derived partitions re-run by themselves."""

from dagster import (
    AssetExecutionContext,
    AutomationCondition,
    AutomationContext,
    AutomationResult,
    DagsterInstance,
    RunsFilter,
)
from dagster._core.scheduler.instigation import InstigatorStatus, InstigatorType, TickStatus

# eager() re-materializes a partition when an upstream partition of it updates, but by
# default only in the latest time window. Late ticks update *earlier* days' raw partitions,
# and those days' bars and signals must follow, so the latest-window clause is dropped.
every_updated_day = AutomationCondition.eager().without(
    AutomationCondition.in_latest_time_window()
).with_label("eager, any trading day")

LIVE_DAY_TAG = "tickflow/live-day"  # on a live-session run: the day it holds
LIVE_SENSOR = "live_session_sensor"


class KeptForLiveSession(AutomationCondition):  # type: ignore[type-arg]
    """True for a partition whose day the live-session sensor keeps for its live runs
    (tickflow.derive.live.kept_for_live_runs): a live day with live runs left, while that sensor
    is on (:func:`_live_sensor_on`). The automation sensor then leaves the day to it.

    Python, not a built-in condition: it reads the clock, the rehearsal days and the run counts.
    So the automation sensor is evaluated in the code location (``use_user_code_server``)."""

    @property
    def name(self) -> str:
        return "kept_for_live_session"

    @property
    def requires_cursor(self) -> bool:
        return False

    def evaluate(self, context: AutomationContext) -> AutomationResult:  # type: ignore[type-arg]
        from tickflow.config import load_settings
        from tickflow.derive import live

        instance = context.asset_graph_view.instance
        if context.candidate_subset.is_empty or not _live_sensor_on(instance):
            return AutomationResult(context, context.get_empty_subset())
        days = live.kept_for_live_runs(
            context.evaluation_time.timestamp(), load_settings().rehearsal_days,
            lambda d: instance.get_runs_count(RunsFilter(tags={LIVE_DAY_TAG: d.isoformat()})), live.LiveParams())
        keys = {d.isoformat() for d in days}
        return AutomationResult(context, context.candidate_subset.compute_intersection_with_partition_keys(keys))


def _live_sensor_on(instance: DagsterInstance) -> bool:
    """Whether the live-session sensor can start live runs: not stopped in the UI, and its
    latest tick did not fail (a sensor failing every tick would otherwise keep its days from
    both sensors). Matched by name, in every code location of the instance. An instance
    without schedule storage (an ephemeral one) holds no sensor state."""
    if instance.schedule_storage is None:
        return True
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if state.instigator_name != LIVE_SENSOR:
            continue
        if state.status == InstigatorStatus.STOPPED:
            return False
        latest = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)
        if latest and latest[0].status == TickStatus.FAILURE:
            return False
    return True


def left_to_live_session(condition: AutomationCondition) -> AutomationCondition:  # type: ignore[type-arg]
    """``condition``, except on the days the live session keeps (assets of the live-session job)."""
    return (condition & ~KeptForLiveSession()).with_label("unless kept for the live session")


# The assets of the live-session job (sensors/live_session.py): bars, signals and features.
every_updated_day_unless_live = left_to_live_session(every_updated_day)


def backfill_reason(context: AssetExecutionContext) -> str | None:
    """A backfill recomputes its days whole (the intraday tail path is for the live session)."""
    return "a backfill" if context.run.tags.get("dagster/backfill") else None
