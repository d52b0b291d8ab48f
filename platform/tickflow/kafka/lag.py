"""Consumer lag of the tick store: how far the offset ledger is behind Kafka.

Per topic-partition, ``lag = high watermark - ledger head``, where the ledger head is the end
of the contiguous run of ingested ranges from the partition's lowest offset
(:func:`tickflow.store.ledger.heads`) and, for a partition the ledger has never seen, the
low watermark (messages before it are gone and can never be ingested). A hole in the ledger
(a range whose run failed) keeps the head at the hole, so the lag counts it until it is
repaired. This is the one definition of lag: the offset sensor reports it on each tick and
the ingest runs on their metadata.
"""

from __future__ import annotations

from typing import Any

import psycopg

from tickflow.config import Settings
from tickflow.kafka.reader import watermarks
from tickflow.store import ledger

__all__ = ["partition_lag", "consumer_lag", "lag_metadata"]


def partition_lag(marks: dict[int, tuple[int, int]], heads: dict[int, int]) -> dict[int, int]:
    """``{partition: high - max(head, low)}`` from ``{partition: (low, high)}`` and ledger heads."""
    return {p: max(high - max(heads.get(p, low), low), 0) for p, (low, high) in sorted(marks.items())}


def consumer_lag(settings: Settings, topics: tuple[str, ...] | None = None, dsn: str | None = None,
                 marks: dict[str, dict[int, tuple[int, int]]] | None = None) -> dict[str, dict[int, int]]:
    """``{topic: {partition: lag in messages}}``; ``marks`` reuses watermarks already read."""
    out = {}
    with psycopg.connect(dsn or settings.dsn) as conn:
        for topic in topics or settings.topics:
            m = marks[topic] if marks and topic in marks else watermarks(settings, topic)
            out[topic] = partition_lag(m, ledger.heads(conn, topic))
    return out


def lag_metadata(lag: dict[str, dict[int, int]]) -> dict[str, Any]:
    """Plain metadata: the total, the worst partition and every ``topic[partition]``."""
    flat = {f"{t}[{p}]": n for t, parts in lag.items() for p, n in parts.items()}
    worst = max(flat, key=lambda k: flat[k]) if flat else ""
    return {"kafka_lag_messages": sum(flat.values()), "kafka_lag_worst_partition": worst,
            "kafka_lag_by_partition": flat}
