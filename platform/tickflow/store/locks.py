"""The tick store's advisory lock keys, one named constant each, and the one way to hold one.

Schema changes run concurrently (every run ensures its tables), so each kind takes its own
session-level advisory lock. The keys used to be literals scattered over five modules, and two
of them had picked the same number; a name per key makes a clash visible in one place.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum

import psycopg


class Lock(IntEnum):
    TICK_TABLES = 7263001
    TICK_PARTITIONS = 7263002
    DERIVED_TABLES = 7263003
    VENDOR_BARS = 7263004
    MODEL_REGISTRY = 7263005
    CHAMPION_DECISION = 7263006  # transaction-level: one champion decision at a time
    FEED_GAPS = 7263007
    # with a second int4 key per (table, day), a separate key space: one replacement of a day at a time
    DAY_REPLACE = 7263008


@contextmanager
def holding(conn: psycopg.Connection, lock: Lock) -> Iterator[None]:
    """Hold ``lock`` (session level, on an autocommit connection) for the ``with`` block."""
    conn.execute("SELECT pg_advisory_lock(%s)", (int(lock),))
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (int(lock),))


def apply_ddl(dsn: str, lock: Lock, ddl: str) -> None:
    """Run idempotent DDL under ``lock``."""
    with psycopg.connect(dsn, autocommit=True) as conn, holding(conn, lock):
        conn.execute(ddl)  # type: ignore[arg-type]  # a module constant, no data in it
