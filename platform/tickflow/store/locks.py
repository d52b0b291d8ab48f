"""The tick store's advisory lock keys, one named constant each, and the one way to hold one.

The keys used to be literals scattered over five modules, and two of them had picked the same
number; a name per key makes a clash visible in one place. Every schema change takes the one
``SCHEMA`` lock (tickflow.store.schema.migrate); 7263001 and 7263003-7263005, 7263007 were the
per-module DDL locks before the schema had one home: not to be reused while an older release
may still run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum

import psycopg


class Lock(IntEnum):
    TICK_PARTITIONS = 7263002
    CHAMPION_DECISION = 7263006  # transaction-level: one champion decision at a time
    # with a second int4 key per (table, day), a separate key space: one replacement of a day at a time
    DAY_REPLACE = 7263008
    SCHEMA = 7263009  # session-level, held by migrate(): one schema migration at a time


@contextmanager
def holding(conn: psycopg.Connection, lock: Lock) -> Iterator[None]:
    """Hold ``lock`` (session level, on an autocommit connection) for the ``with`` block."""
    conn.execute("SELECT pg_advisory_lock(%s)", (int(lock),))
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (int(lock),))

