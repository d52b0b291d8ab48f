"""Point the Dagster layer (which reads TICKFLOW_* like production) at the test servers."""

from __future__ import annotations

import pytest

from tickflow.config import Settings


def use_settings(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("TICKFLOW_PG_DSN", settings.dsn)
    monkeypatch.setenv("TICKFLOW_KAFKA_PORT", str(settings.kafka_port))
    monkeypatch.setenv("TICKFLOW_TOPIC_TRADES", settings.topic_trades)
    monkeypatch.setenv("TICKFLOW_TOPIC_QUOTES", settings.topic_quotes)
    monkeypatch.setenv("TICKFLOW_TOPIC_PARTITIONS", str(settings.topic_partitions))
    monkeypatch.setenv("TICKFLOW_HOME", str(settings.home))
