"""Reading exact offset ranges from Kafka.

The consumer is assigned partitions at explicit offsets and never commits: the store's
offset ledger is the only record of progress. Messages at or past a range's end are
discarded, so a run reads exactly its range whatever the broker returns per fetch (the
local server returns a partition's whole remainder in one response)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import numpy as np
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from tickflow.config import Settings


@dataclass
class Chunk:
    """Consecutive messages of one partition."""

    partition: int
    offsets: np.ndarray  # int64
    values: list[bytes]  # a tombstone arrives as None; decode_batch dead-letters non-bytes

    def __len__(self) -> int:
        return len(self.values)


def watermarks(settings: Settings, topic: str, timeout: float = 10.0) -> dict[int, tuple[int, int]]:
    """{partition: (low, high)} for a topic; high is the next offset to be written."""
    c = Consumer(settings.consumer_config())
    try:
        md = c.list_topics(topic, timeout=timeout)
        tmd = md.topics.get(topic)
        if tmd is None or tmd.error is not None:
            raise RuntimeError(f"topic {topic!r} not found on {settings.bootstrap}")
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
                for p in sorted(tmd.partitions)}
    finally:
        c.close()


def offsets_for_times(settings: Settings, topic: str, ts_ms: int, timeout: float = 10.0) -> dict[int, int]:
    """{partition: first offset whose timestamp >= ts_ms} (the high watermark if none)."""
    marks = watermarks(settings, topic, timeout)
    c = Consumer(settings.consumer_config())
    try:
        res = c.offsets_for_times([TopicPartition(topic, p, ts_ms) for p in marks], timeout=timeout)
        out = {}
        for tp in res:
            out[tp.partition] = tp.offset if tp.offset >= 0 else marks[tp.partition][1]
        return out
    finally:
        c.close()


def read_range(settings: Settings, topic: str, partition: int, start: int, end: int,
               chunk_messages: int = 250_000, timeout: float = 60.0) -> Iterator[Chunk]:
    """Yield the messages with start <= offset < end of one partition, in chunks."""
    if end <= start:
        return
    c = Consumer(settings.consumer_config())
    try:
        c.assign([TopicPartition(topic, partition, start)])
        nxt = start
        deadline = time.monotonic() + timeout
        while nxt < end:
            msgs = c.consume(num_messages=min(chunk_messages, max(end - nxt, 1)), timeout=1.0)
            if not msgs:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{topic}[{partition}]: no data at offset {nxt} (range ends at {end})")
                continue
            deadline = time.monotonic() + timeout
            eof = False
            # map over the C methods: this loop runs once per message on the hot path
            errors = list(filter(None, map(Message.error, msgs)))
            if errors:
                hard = [e for e in errors if e is not None and e.code() != KafkaError._PARTITION_EOF]
                if hard:
                    raise KafkaException(hard[0])
                eof = True
                msgs = [m for m in msgs if m.error() is None]
            if msgs:
                first_off, last_off = int(msgs[0].offset() or 0), int(msgs[-1].offset() or 0)
                if last_off - first_off + 1 == len(msgs):
                    offsets = np.arange(first_off, last_off + 1, dtype=np.int64)
                else:  # gaps (compaction, transaction markers)
                    offsets = np.fromiter((m.offset() for m in msgs), dtype=np.int64, count=len(msgs))
                keep = int(np.searchsorted(offsets, end))
                reached_end = keep < len(msgs) or int(offsets[-1]) >= end - 1
                msgs, offsets = msgs[:keep], offsets[:keep]
                if msgs:
                    # A null value (tombstone) is dead-lettered by the decoder, not a crash.
                    yield Chunk(partition, offsets, cast(list[bytes], list(map(Message.value, msgs))))
                    nxt = int(offsets[-1]) + 1
                if reached_end:
                    break
            if eof and nxt < end:
                high = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
                if high <= nxt:
                    raise RuntimeError(f"{topic}[{partition}]: range end {end} is past the high watermark {high}")
    finally:
        c.close()
