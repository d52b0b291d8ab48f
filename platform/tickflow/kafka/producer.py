"""Producing messages to Kafka, keyed by symbol, stamped with exchange time."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from confluent_kafka import KafkaException, Producer

from tickflow.config import Settings


def produce(settings: Settings, topic: str, messages: Iterable[tuple[bytes, bytes, int]],
            on_progress: Callable[[int], None] | None = None) -> int:
    """Send (key, value, timestamp_ms) messages; returns how many the broker acknowledged.

    Raises if any delivery failed, so a caller never believes an unacknowledged message
    was sent."""
    failures: list[str] = []

    def delivered(err, _msg) -> None:  # type: ignore[no-untyped-def]
        if err is not None:
            failures.append(str(err))

    p = Producer(settings.producer_config())
    sent = 0
    for key, value, ts_ms in messages:
        while True:
            try:
                p.produce(topic, value=value, key=key, timestamp=ts_ms, on_delivery=delivered)
                break
            except BufferError:
                p.poll(0.05)
        sent += 1
        if sent % 10_000 == 0:
            p.poll(0)
            if on_progress:
                on_progress(10_000)
    remaining = p.flush(120)
    if on_progress:
        on_progress(sent % 10_000)
    if remaining or failures:
        raise KafkaException(f"{topic}: {remaining} undelivered, {len(failures)} failed: {failures[:3]}")
    return sent
