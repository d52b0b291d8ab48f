"""The tickflow code location: assets, checks, sensors, schedules, resources."""

from __future__ import annotations

import warnings

from dagster import BetaWarning, Definitions

# observable_source_asset is beta in this Dagster release; the Kafka topics depend on it.
warnings.filterwarnings("ignore", category=BetaWarning)

from assets.bars import bars, indicators  # noqa: E402
from assets.kafka_topics import kafka_quotes, kafka_trades  # noqa: E402
from assets.ml import features, model_evaluation, predictions, price_model, train_job  # noqa: E402
from assets.raw_ticks import ingest_job, raw_ticks  # noqa: E402
from assets.signals import anomalies, signals  # noqa: E402
from resources.ml import MlResource  # noqa: E402
from resources.tickflow import TickflowResource  # noqa: E402
from sensors.alerts import training_failure_alert  # noqa: E402
from sensors.automation import automation_sensor  # noqa: E402
from sensors.kafka_offsets import kafka_offset_sensor  # noqa: E402
from sensors.schedules import retrain_schedule  # noqa: E402

defs = Definitions(
    assets=[kafka_trades, kafka_quotes, raw_ticks, bars, indicators, signals, anomalies, features, price_model,
            predictions, model_evaluation],
    jobs=[ingest_job, train_job],
    schedules=[retrain_schedule],
    sensors=[kafka_offset_sensor, automation_sensor, training_failure_alert],
    resources={"tickflow": TickflowResource(), "ml": MlResource()},
)
