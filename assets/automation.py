"""When derived partitions re-run by themselves."""


from dagster import AssetExecutionContext, AutomationCondition

# eager() re-materializes a partition when an upstream partition of it updates, but by
# default only in the latest time window. Late ticks update *earlier* days' raw partitions,
# and those days' bars and signals must follow, so the latest-window clause is dropped.
every_updated_day = AutomationCondition.eager().without(
    AutomationCondition.in_latest_time_window()
).with_label("eager, any trading day")


def backfill_reason(context: AssetExecutionContext) -> str | None:
    """A backfill recomputes its days whole (the intraday tail path is for the live session)."""
    return "a backfill" if context.run.tags.get("dagster/backfill") else None
