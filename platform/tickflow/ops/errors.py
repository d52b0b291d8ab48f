"""One line an operator can act on when a component cannot be reached.

Every CLI command and every run that cannot reach PostgreSQL, Kafka, the Dagster webserver
or the feed ends with a :class:`ComponentUnreachable`: which component, where (a DSN with
its password masked, or host:port), the setting that changes it and the command that fixes
it locally. The original exception is chained (``raise ... from e``), so run logs keep it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

import psycopg

from tickflow.config import Settings


class ComponentUnreachable(RuntimeError):
    def __init__(self, component: str, where: str, setting: str, fix: str, reason: str = "") -> None:
        self.component, self.where, self.setting, self.fix, self.reason = component, where, setting, fix, reason
        why = f" ({reason})" if reason else ""
        super().__init__(f"{component} unreachable at {where}{why}; set {setting} to point elsewhere, "
                         f"or start it locally with `{fix}`")


def mask_dsn(dsn: str) -> str:
    """A DSN (URL or key=value form) with its password replaced by ***."""
    if "://" in dsn:
        parts = urlsplit(dsn)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
            return urlunsplit(parts._replace(netloc=netloc))
        return dsn
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", dsn)


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    line = text[0] if text else type(e).__name__
    if "Connection refused" in str(e):
        return "connection refused"
    return line[:200]


def postgres_down(dsn: str, e: BaseException) -> ComponentUnreachable:
    return ComponentUnreachable("PostgreSQL (tick store)", mask_dsn(dsn), "TICKFLOW_PG_DSN (local: TICKFLOW_PG_PORT)",
                                "tickflow up", _reason(e))


def kafka_down(bootstrap: str, reason: str) -> ComponentUnreachable:
    return ComponentUnreachable("Kafka", bootstrap, "TICKFLOW_KAFKA_BOOTSTRAP (local: TICKFLOW_KAFKA_PORT)",
                                "tickflow up", reason)


def webserver_down(url: str, e: BaseException | str) -> ComponentUnreachable:
    return ComponentUnreachable("Dagster webserver", url, "TICKFLOW_UI_URL (local: TICKFLOW_DAGSTER_PORT)",
                                "tickflow dev", e if isinstance(e, str) else _reason(e))


def check_postgres(dsn: str, timeout_s: int = 5) -> None:
    """Raise :class:`ComponentUnreachable` if the store does not answer."""
    try:
        with psycopg.connect(dsn, connect_timeout=timeout_s) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as e:
        raise postgres_down(dsn, e) from e


def check_kafka(settings: Settings, timeout_s: float = 5.0) -> None:
    """Raise :class:`ComponentUnreachable` if no broker answers a metadata request."""
    from confluent_kafka.admin import AdminClient

    # log_level 0: the client would print each failed connection attempt on stderr too
    admin = AdminClient({"bootstrap.servers": settings.bootstrap, **settings.extra_kafka, "log_level": 0})
    try:
        admin.list_topics(timeout=timeout_s)
    except Exception as e:  # noqa: BLE001 - KafkaException with a transport error
        raise kafka_down(settings.bootstrap, _reason(e)) from e
