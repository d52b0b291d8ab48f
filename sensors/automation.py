"""The sensor that evaluates the assets' automation conditions.

Bars and signals follow their upstream partitions (late data included) by themselves, so
this sensor runs from the start instead of waiting to be switched on in the UI. Its runs are
tagged for the run queue's derived pool (dagster.yaml ``tag_concurrency_limits``): one derived
run at a time, beside the ingest pool, so a burst of ingest runs never holds derived work back
and the reverse. A day gets no second derived run while one is queued: the eager condition
skips an asset partition that is already in progress, queued runs included.

A live day is the live-session sensor's (assets.automation.KeptForLiveSession): its derived
assets get no run from here while that sensor has live runs left for the day, so the live
run is the day's first derived run, not the second one after a race at the open. That
condition is Python, so this sensor is evaluated in the code location, not in the daemon
(``use_user_code_server``; Dagster caps such a sensor at 500 assets and checks, and this
code location has about 50)."""


from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus

automation_sensor = AutomationConditionSensorDefinition(
    "tickflow_automation", target=AssetSelection.all(), default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30, run_tags={"tickflow/queue": "derived"}, use_user_code_server=True,
)
