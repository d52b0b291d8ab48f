"""The tickflow code location: assets, checks, sensors, schedules, resources."""

from __future__ import annotations

import warnings

from dagster import BetaWarning, Definitions, in_process_executor

# observable_source_asset is beta in this Dagster release; the Kafka topics depend on it.
warnings.filterwarnings("ignore", category=BetaWarning)

from assets.bars import bars, indicators  # noqa: E402
from assets.feed_health import feed_gap_checks  # noqa: E402
from assets.kafka_topics import kafka_quotes, kafka_trades  # noqa: E402
from assets.ml import features, model_evaluation, predictions, price_model, train_job  # noqa: E402
from assets.operations_checks import operations_checks, operations_checks_sensor  # noqa: E402
from assets.raw_ticks import ingest_job, raw_ticks  # noqa: E402
from assets.signals import anomalies, signals  # noqa: E402
from assets.vendor_bars import matches_vendor_minute_bars, raw_vendor_bars  # noqa: E402
from resources.ml import ML  # noqa: E402
from resources.tickflow import TickflowResource  # noqa: E402
from sensors.alerts import run_failure_alert, run_recovery_alert  # noqa: E402
from sensors.automation import automation_sensor  # noqa: E402
from sensors.kafka_offsets import kafka_offset_sensor  # noqa: E402
from sensors.live_session import live_session_job, live_session_sensor  # noqa: E402
from sensors.schedules import retrain_schedule  # noqa: E402
from sensors.vendor_bars import minute_aggs_sensor  # noqa: E402

defs = Definitions(
    assets=[kafka_trades, kafka_quotes, raw_ticks, bars, indicators, signals, anomalies, features, price_model,
            predictions, model_evaluation, raw_vendor_bars],
    asset_checks=[matches_vendor_minute_bars, operations_checks, *feed_gap_checks],
    jobs=[ingest_job, train_job, live_session_job],
    schedules=[retrain_schedule],
    sensors=[kafka_offset_sensor, automation_sensor, live_session_sensor, minute_aggs_sensor, run_failure_alert, run_recovery_alert,
             operations_checks_sensor],
    resources={"tickflow": TickflowResource(), "ml": ML},
    # Steps run inside the run's process. Dagster's default (multiprocess) starts a process per
    # step, and each one imports this code location again: seconds per step, paid by every
    # ingest run and by every step of a derived run during the session. Our steps are sequential
    # by their dependencies and parallel inside (numba), so a process per step buys nothing.
    executor=in_process_executor,
)
