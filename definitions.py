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
from assets.raw_ticks import ingest_job, raw_ticks  # noqa: E402
from assets.signals import anomalies, signals  # noqa: E402
from resources.tickflow import TickflowResource  # noqa: E402
from sensors.automation import automation_sensor  # noqa: E402
from sensors.kafka_offsets import kafka_offset_sensor  # noqa: E402

defs = Definitions(
    assets=[kafka_trades, kafka_quotes, raw_ticks, bars, indicators, signals, anomalies],
    jobs=[ingest_job],
    sensors=[kafka_offset_sensor, automation_sensor],
    resources={"tickflow": TickflowResource()},
)
