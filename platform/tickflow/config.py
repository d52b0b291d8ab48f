"""Settings, read from the environment in one place.

Every value has a default that makes the local stack (``tickflow up``) work with no
settings at all. Production sets the ``TICKFLOW_*`` variables (Kubernetes: a ConfigMap for
the plain values, a Secret for ``TICKFLOW_PG_DSN``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

# librdkafka settings the local Kafka-protocol server (noida-db) needs: it returns a whole
# partition's remainder in one fetch response, ignoring fetch size limits, so a consumer
# with librdkafka's default receive limit stalls and reconnects forever. Production Kafka
# keeps librdkafka's defaults.
LOCAL_KAFKA_CONSUMER_OVERRIDES = {
    "receive.message.max.bytes": 1_000_000_000,
    "fetch.message.max.bytes": 1_000_000_000,
    "fetch.max.bytes": 999_000_000,
}


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _find_home() -> Path:
    """The local stack's folder: $TICKFLOW_HOME, else .tickflow/ beside the repository."""
    explicit = os.environ.get("TICKFLOW_HOME")
    if explicit:
        return Path(explicit).resolve()
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "workspace.yaml").exists() and (candidate / "pyproject.toml").exists():
            return candidate / ".tickflow"
    return here / ".tickflow"


@dataclass(frozen=True)
class Settings:
    home: Path
    pg_port: int = 54329
    pg_dsn: str = ""  # empty: the local embedded server's tick database
    pg_dagster_db: str = "dagster"
    kafka_port: int = 19092
    kafka_bootstrap: str = ""  # empty: the local noida-db server
    kafka_profile: str = "local"  # "local" raises the receive limits noida-db needs
    topic_trades: str = "trades"
    topic_quotes: str = "quotes"
    topic_partitions: int = 4
    dagster_port: int = 3000
    # Larger messages are dead-lettered unparsed (below Kafka's default 1 MB message limit,
    # so the check matters on brokers configured for bigger messages too).
    max_message_bytes: int = 512 * 1024
    max_run_messages: int = 5_000_000
    extra_kafka: dict[str, str] = field(default_factory=dict)
    # XGBoost's device, "cpu" or "cuda"; empty: detected (tickflow.ml.device).
    train_device: str = ""
    # CUDA_VISIBLE_DEVICES as the process got it (None: unset); "" or "-1" hides every GPU.
    cuda_visible_devices: str | None = None
    # The image of GPU training runs (set by the chart); empty: the run launcher's image.
    gpu_image: str = ""

    @property
    def dsn(self) -> str:
        return self.pg_dsn or f"postgresql://postgres@127.0.0.1:{self.pg_port}/tickflow"

    @property
    def dagster_dsn(self) -> str:
        # dagster-postgres issues psycopg2-style statements (NOTIFY with a bound parameter);
        # SQLAlchemy 2.1 maps a bare postgresql:// URL to psycopg 3, so name the driver.
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.pg_port}/{self.pg_dagster_db}"

    @property
    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    @property
    def topics(self) -> tuple[str, str]:
        return (self.topic_trades, self.topic_quotes)

    def consumer_config(self, **extra: object) -> dict[str, object]:
        """librdkafka consumer settings: offsets are never committed to Kafka, because the
        store's offset ledger is the only record of what was ingested."""
        conf: dict[str, object] = {
            "bootstrap.servers": self.bootstrap,
            "group.id": "tickflow-ingest",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "error",
        }
        if self.kafka_profile == "local":
            conf.update(LOCAL_KAFKA_CONSUMER_OVERRIDES)
        conf.update(self.extra_kafka)
        conf.update(extra)
        return conf

    def producer_config(self, **extra: object) -> dict[str, object]:
        conf: dict[str, object] = {
            "bootstrap.servers": self.bootstrap,
            "linger.ms": 20,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 1_000_000,
            "acks": "all",
        }
        conf.update(self.extra_kafka)
        conf.update(extra)
        return conf

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def load_settings() -> Settings:
    """Settings from TICKFLOW_* environment variables; unset means the local default."""
    extra = {
        k[len("TICKFLOW_KAFKA_CONF_") :].lower().replace("_", "."): v
        for k, v in os.environ.items()
        if k.startswith("TICKFLOW_KAFKA_CONF_")
    }
    return Settings(
        home=_find_home(),
        pg_port=int(_env("TICKFLOW_PG_PORT", "54329")),
        pg_dsn=_env("TICKFLOW_PG_DSN", ""),
        pg_dagster_db=_env("TICKFLOW_PG_DAGSTER_DB", "dagster"),
        kafka_port=int(_env("TICKFLOW_KAFKA_PORT", "19092")),
        kafka_bootstrap=_env("TICKFLOW_KAFKA_BOOTSTRAP", ""),
        kafka_profile=_env("TICKFLOW_KAFKA_PROFILE", "local"),
        topic_trades=_env("TICKFLOW_TOPIC_TRADES", "trades"),
        topic_quotes=_env("TICKFLOW_TOPIC_QUOTES", "quotes"),
        topic_partitions=int(_env("TICKFLOW_TOPIC_PARTITIONS", "4")),
        dagster_port=int(_env("TICKFLOW_DAGSTER_PORT", "3000")),
        max_message_bytes=int(_env("TICKFLOW_MAX_MESSAGE_BYTES", str(512 * 1024))),
        max_run_messages=int(_env("TICKFLOW_MAX_RUN_MESSAGES", "5000000")),
        extra_kafka=extra,
        train_device=_env("TICKFLOW_TRAIN_DEVICE", "").strip().lower(),
        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        gpu_image=_env("TICKFLOW_GPU_IMAGE", ""),
    )


def child_env(**overrides: str) -> dict[str, str]:
    """The environment for a subprocess: this process's own, plus ``overrides``. Code that
    starts a process passes this as its ``env=``; nothing changes the process environment."""
    return {**os.environ, **overrides}
