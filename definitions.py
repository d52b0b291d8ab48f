"""The tickflow code location: assets, checks, sensors, schedules, resources."""

from __future__ import annotations

import sys
from pathlib import Path

# The engine lives in platform/tickflow and is installed in editable mode; this fallback
# lets `dagster dev -f definitions.py` work from a bare checkout too.
_platform = Path(__file__).resolve().parent / "platform"
if str(_platform) not in sys.path:
    sys.path.append(str(_platform))

import warnings  # noqa: E402

from dagster import BetaWarning, Definitions  # noqa: E402

# observable_source_asset is beta in this Dagster release; the Kafka topics depend on it.
warnings.filterwarnings("ignore", category=BetaWarning)

from assets.bars import bars, indicators  # noqa: E402
from assets.kafka_topics import kafka_quotes, kafka_trades  # noqa: E402
from assets.ml import features, model_evaluation, predictions, price_model, train_job  # noqa: E402
from assets.raw_ticks import ingest_job, raw_ticks  # noqa: E402
from assets.signals import anomalies, signals  # noqa: E402
from assets.vendor_bars import matches_vendor_minute_bars, raw_vendor_bars  # noqa: E402
from resources.ml import MlResource  # noqa: E402
from resources.tickflow import TickflowResource  # noqa: E402
from sensors.alerts import training_failure_alert  # noqa: E402
from sensors.automation import automation_sensor  # noqa: E402
from sensors.kafka_offsets import kafka_offset_sensor  # noqa: E402
from sensors.schedules import retrain_schedule  # noqa: E402
from sensors.vendor_bars import minute_aggs_sensor  # noqa: E402

defs = Definitions(
    assets=[kafka_trades, kafka_quotes, raw_ticks, bars, indicators, signals, anomalies, features, price_model,
            predictions, model_evaluation, raw_vendor_bars],
    asset_checks=[matches_vendor_minute_bars],
    jobs=[ingest_job, train_job],
    schedules=[retrain_schedule],
    sensors=[kafka_offset_sensor, automation_sensor, training_failure_alert, minute_aggs_sensor],
    resources={"tickflow": TickflowResource(), "ml": MlResource()},
)
