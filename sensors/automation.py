"""The sensor that evaluates the assets' automation conditions.

Bars and signals follow their upstream partitions (late data included) by themselves, so
this sensor runs from the start instead of waiting to be switched on in the UI. Its runs are
tagged for the run queue's derived pool (dagster.yaml ``tag_concurrency_limits``): one derived
run at a time, beside the ingest pool, so a burst of ingest runs never holds derived work back
and the reverse. A day gets no second derived run while one is queued: the eager condition
skips an asset partition that is already in progress, queued runs included."""


from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus

automation_sensor = AutomationConditionSensorDefinition(
    "tickflow_automation", target=AssetSelection.all(), default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30, run_tags={"tickflow/queue": "derived"},
)
