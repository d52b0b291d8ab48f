"""Settings, read from the environment in one place.

Every value has a default that makes the local stack (``tickflow up``) work with no
settings at all. Production sets the ``TICKFLOW_*`` variables (Kubernetes: a ConfigMap for
the plain values, a Secret for ``TICKFLOW_PG_DSN``).
"""

from __future__ import annotations

import datetime as dt
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
    topic_minute_aggs: str = "minute_aggs"
    topic_partitions: int = 4
    dagster_port: int = 3000
    # Larger messages are dead-lettered unparsed (below Kafka's default 1 MB message limit,
    # so the check matters on brokers configured for bigger messages too).
    max_message_bytes: int = 512 * 1024
    max_run_messages: int = 5_000_000
    # A sensor-requested ingest run follows the feed for up to this long once its ranges are
    # in (tickflow.ingest_follow); 0: each run takes its ranges and ends. It stops earlier
    # after ingest_follow_idle_s without a new message.
    ingest_follow_s: float = 900.0
    ingest_follow_idle_s: float = 5.0
    extra_kafka: dict[str, str] = field(default_factory=dict)
    # The vendor's daily flat files: a local folder or an s3:// prefix laid out as
    # <root>/<kind>_v1/YYYY/MM/YYYY-MM-DD.csv.gz; S3 through pyarrow's own filesystem.
    flatfiles_root: str = "s3://flatfiles/us_stocks_sip"
    s3_endpoint: str = "https://files.massive.com"
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = field(default="", repr=False)
    # Operations (alerts and checks; docs/oncall.md). Empty webhook URL: alerts are logged only.
    alert_webhook_url: str = ""
    alert_cooldown_s: int = 3600  # one alert per job and partition per window, then one on recovery
    alert_timeout_s: float = 5.0  # a webhook that hangs must not hold the sensor daemon
    ui_url: str = ""  # empty: the local `tickflow dev` (http://127.0.0.1:$TICKFLOW_DAGSTER_PORT)
    freshness_lag_s: int = 900  # during the session, the newest tick may be at most this old
    # Trading days (YYYY-MM-DD) whose session counts as open whatever the clock says: a
    # rehearsal replaying a past day (tickflow replay) takes the intraday path of a live day.
    rehearsal_days: tuple[str, ...] = ()
    # The live session run (tickflow.derive.live): it ends after this long without an ingest
    # commit (a rehearsal's end, a halted market); the next commit of an open day starts another.
    live_idle_exit_s: float = 600.0
    consumer_lag_max: int = 100_000  # messages behind the high watermark, summed per topic
    dead_letter_max_share: float = 0.01  # of a run's messages

    @property
    def ui_base(self) -> str:
        return (self.ui_url or f"http://127.0.0.1:{self.dagster_port}").rstrip("/")
    # Test-only fault injection: "<point>:<n>" makes the process SIGKILL itself at the n-th
    # time it reaches that crash point (tickflow.crash_points). Empty in production.
    crash_at: str = ""
    # The live feed (tickflow.feed.polygon): minute aggregates and events of unknown type
    # get topics of their own; the key comes from a Secret in production.
    topic_feed_dead_letters: str = "feed_dead_letters"
    feed_api_key: str = field(default="", repr=False)
    feed_host: str = "socket.massive.com"  # delayed.massive.com (15 min), or any host:port
    feed_secure: bool = True  # wss://; False for a plain ws:// host such as a local server
    feed_market: str = "stocks"
    feed_channels: tuple[str, ...] = ("T", "Q", "AM")
    feed_symbols: tuple[str, ...] = ()  # empty: every symbol ("T.*")
    feed_buffer_events: int = 2_000_000  # events held while Kafka is down; oldest dropped past it
    feed_silence_s: float = 30.0  # no data and no ping this long during market hours: a fault
    feed_silence_hours: str = "extended"  # when silence is a fault: extended | regular | always
    feed_backoff_max_s: float = 30.0
    feed_health_port: int = 9108
    # The live feed's timestamp unit: the vendor's stock WebSocket sends ms, its flat files ns.
    # Flat-file times are truncated to this unit, so a tick from either source has one key.
    flatfiles_ts_unit: str = "ns"
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


def _dates(name: str) -> tuple[str, ...]:
    """A comma-separated list of ISO dates; a malformed one is a clear error here rather than
    a failure of whichever sensor or run reads it first."""
    days = tuple(x.strip() for x in _env(name, "").split(",") if x.strip())
    for d in days:
        try:
            dt.date.fromisoformat(d)
        except ValueError:
            raise ValueError(f"{name}: {d!r} is not a date (YYYY-MM-DD, comma-separated)") from None
    return days


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
        topic_minute_aggs=_env("TICKFLOW_TOPIC_MINUTE_AGGS", "minute_aggs"),
        topic_partitions=int(_env("TICKFLOW_TOPIC_PARTITIONS", "4")),
        dagster_port=int(_env("TICKFLOW_DAGSTER_PORT", "3000")),
        max_message_bytes=int(_env("TICKFLOW_MAX_MESSAGE_BYTES", str(512 * 1024))),
        max_run_messages=int(_env("TICKFLOW_MAX_RUN_MESSAGES", "5000000")),
        ingest_follow_s=float(_env("TICKFLOW_INGEST_FOLLOW_S", "900")),
        ingest_follow_idle_s=float(_env("TICKFLOW_INGEST_FOLLOW_IDLE_S", "5")),
        extra_kafka=extra,
        flatfiles_root=_env("TICKFLOW_FLATFILES_ROOT", "s3://flatfiles/us_stocks_sip"),
        s3_endpoint=_env("TICKFLOW_S3_ENDPOINT", "https://files.massive.com"),
        s3_region=_env("TICKFLOW_S3_REGION", "us-east-1"),
        s3_access_key=_env("TICKFLOW_S3_ACCESS_KEY_ID", ""),
        s3_secret_key=_env("TICKFLOW_S3_SECRET_ACCESS_KEY", ""),
        alert_webhook_url=_env("TICKFLOW_ALERT_WEBHOOK_URL", ""),
        alert_cooldown_s=int(_env("TICKFLOW_ALERT_COOLDOWN_S", "3600")),
        alert_timeout_s=float(_env("TICKFLOW_ALERT_TIMEOUT_S", "5")),
        ui_url=_env("TICKFLOW_UI_URL", ""),
        freshness_lag_s=int(_env("TICKFLOW_FRESHNESS_LAG_S", "900")),
        rehearsal_days=_dates("TICKFLOW_REHEARSAL_DAYS"),
        live_idle_exit_s=float(_env("TICKFLOW_LIVE_IDLE_EXIT_S", "600")),
        consumer_lag_max=int(_env("TICKFLOW_CONSUMER_LAG_MAX", "100000")),
        dead_letter_max_share=float(_env("TICKFLOW_DEAD_LETTER_MAX_SHARE", "0.01")),
        crash_at=_env("TICKFLOW_CRASH_AT", ""),
        topic_feed_dead_letters=_env("TICKFLOW_TOPIC_FEED_DEAD_LETTERS", "feed_dead_letters"),
        # MASSIVE_API_KEY is the vendor client's own variable; POLYGON_API_KEY its old name.
        feed_api_key=_env("TICKFLOW_FEED_API_KEY", _env("MASSIVE_API_KEY", _env("POLYGON_API_KEY", ""))),
        feed_host=_env("TICKFLOW_FEED_HOST", "socket.massive.com"),
        feed_secure=_env("TICKFLOW_FEED_SECURE", "true").lower() in ("1", "true", "yes"),
        feed_market=_env("TICKFLOW_FEED_MARKET", "stocks"),
        feed_channels=_csv(_env("TICKFLOW_FEED_CHANNELS", "T,Q,AM")),
        feed_symbols=_csv(_env("TICKFLOW_FEED_SYMBOLS", "*")),
        feed_buffer_events=int(_env("TICKFLOW_FEED_BUFFER_EVENTS", "2000000")),
        feed_silence_s=float(_env("TICKFLOW_FEED_SILENCE_S", "30")),
        feed_silence_hours=_env("TICKFLOW_FEED_SILENCE_HOURS", "extended"),
        feed_backoff_max_s=float(_env("TICKFLOW_FEED_BACKOFF_MAX_S", "30")),
        feed_health_port=int(_env("TICKFLOW_FEED_HEALTH_PORT", "9108")),
        flatfiles_ts_unit=_env("TICKFLOW_FLATFILES_TS_UNIT", "ns"),
        train_device=_env("TICKFLOW_TRAIN_DEVICE", "").strip().lower(),
        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        gpu_image=_env("TICKFLOW_GPU_IMAGE", ""),
    )


def _csv(value: str) -> tuple[str, ...]:
    """A comma list; "*" (all symbols) is the empty tuple."""
    items = tuple(x.strip() for x in value.split(",") if x.strip())
    return () if items == ("*",) else items


def child_env(**overrides: str) -> dict[str, str]:
    """The environment for a subprocess: this process's own, plus ``overrides``. Code that
    starts a process passes this as its ``env=``; nothing changes the process environment."""
    return {**os.environ, **overrides}
