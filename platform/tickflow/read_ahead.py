"""An iterator run ahead in a thread: the stages of a pipeline overlap (Kafka reads,
decoding, pyarrow parsing and COPY release the GIL) while memory stays bounded by ``depth``
items in flight. Used by the Kafka ingest pipeline and the flat-file reader."""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")


def read_ahead(items: Iterator[T], name: str, depth: int = 2) -> Generator[T, None, None]:
    """Run an iterator in a daemon thread, up to ``depth`` items ahead. Its exception is
    re-raised here; closing this generator stops the thread at its next item and closes
    ``items`` (a Kafka reader closes its consumer)."""
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(done)
        except BaseException as e:  # handed to the consumer, re-raised there
            put(e)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    threading.Thread(target=pump, daemon=True, name=name).start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
