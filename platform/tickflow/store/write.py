"""Writing ticks and dead letters inside the caller's transaction.

Rows go in by binary COPY straight into the table, inside a savepoint. The natural
primary keys make a repeated row a unique violation; only then is the same stream copied
into a temporary staging table and merged with ``INSERT ... ON CONFLICT DO NOTHING``, so
the common path (new data) pays nothing for idempotence and a re-ingest is a no-op whose
duplicates are counted, never silently lost or doubled."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

from tickflow.store.schema import COPY_COLUMNS

_COPY_CHUNK = 8 << 20


def _copy(conn: psycopg.Connection, kind: str, target: str, payload: bytes) -> None:
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in COPY_COLUMNS[kind])
    stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(sql.Identifier(target), cols)
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        view = memoryview(payload)
        for i in range(0, len(view), _COPY_CHUNK):
            copy.write(view[i : i + _COPY_CHUNK])


def copy_rows(conn: psycopg.Connection, table: str, payload: bytes, n_rows: int) -> tuple[int, int]:
    """COPY a binary stream of n_rows into `table`; returns (inserted, duplicates)."""
    if n_rows == 0:
        return 0, 0
    try:
        with conn.transaction():
            _copy(conn, table, table, payload)
        return n_rows, 0
    except psycopg.errors.UniqueViolation:
        pass
    stage = f"_stage_{table}"
    conn.execute(sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS").format(
        sql.Identifier(stage), sql.Identifier(table)))
    conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(stage)))
    _copy(conn, table, stage, payload)
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in COPY_COLUMNS[table])
    # DO NOTHING also skips a row repeated within the batch itself.
    cur = conn.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING").format(
        sql.Identifier(table), cols, cols, sql.Identifier(stage)))
    inserted = cur.rowcount
    conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(stage)))
    return inserted, n_rows - inserted


def insert_dead_letters(conn: psycopg.Connection, rows: Sequence[tuple[object, ...]]) -> int:
    """rows: (topic, partition, offset, event_index, reason, payload, run_id). Re-ingesting the
    same message records its dead letter once (keyed by topic, partition, offset, index)."""
    if not rows:
        return 0
    with conn.cursor() as cur:
        cur.executemany(
            'INSERT INTO dead_letters (topic, partition, "offset", event_index, reason, payload, run_id) '
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            list(rows),
        )
    return len(rows)
