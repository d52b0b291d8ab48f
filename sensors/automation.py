"""The sensor that evaluates the assets' automation conditions.

Bars and signals follow their upstream partitions (late data included) by themselves, so
this sensor runs from the start instead of waiting to be switched on in the UI."""


from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus

automation_sensor = AutomationConditionSensorDefinition(
    "tickflow_automation", target=AssetSelection.all(), default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
