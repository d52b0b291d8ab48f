"""The offset ledger: which Kafka offset ranges are in the store.

A range's rows and its ledger row are committed in one transaction, and a writer holds a
transaction-scoped advisory lock per (topic, partition) while it checks and extends the
ledger, so a range is in the store exactly once however often it is retried."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

_LOCK_NS = 7263100  # advisory lock namespace for ledger partitions


@dataclass(frozen=True)
class LedgerRow:
    topic: str
    partition: int
    start_offset: int
    end_offset: int
    messages: int
    trades: int
    quotes: int
    duplicates: int
    dead_letters: int
    run_id: str | None = None


def lock_partitions(conn: psycopg.Connection, topic: str, partitions: list[int]) -> None:
    """Transaction-scoped locks, taken in sorted order so two writers cannot deadlock."""
    for p in sorted(partitions):
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s), %s)", (f"{_LOCK_NS}:{topic}", p))


def covered(conn: psycopg.Connection, topic: str, partition: int, start: int, end: int) -> list[tuple[int, int]]:
    """Ledger ranges overlapping [start, end), sorted."""
    rows = conn.execute(
        "SELECT start_offset, end_offset FROM offset_ledger WHERE topic = %s AND partition = %s "
        "AND start_offset < %s AND end_offset > %s ORDER BY start_offset",
        (topic, partition, end, start),
    ).fetchall()
    return [(int(a), int(b)) for a, b in rows]


def subtract(start: int, end: int, taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Parts of [start, end) not inside any of the sorted ranges `taken`."""
    out: list[tuple[int, int]] = []
    cur = start
    for a, b in taken:
        if b <= cur:
            continue
        if a >= end:
            break
        if a > cur:
            out.append((cur, min(a, end)))
        cur = max(cur, b)
        if cur >= end:
            break
    if cur < end:
        out.append((cur, end))
    return out


def record(conn: psycopg.Connection, rows: list[LedgerRow]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO offset_ledger (topic, partition, start_offset, end_offset, messages, trades, quotes, "
            "duplicates, dead_letters, run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(r.topic, r.partition, r.start_offset, r.end_offset, r.messages, r.trades, r.quotes,
              r.duplicates, r.dead_letters, r.run_id) for r in rows],
        )


def heads(conn: psycopg.Connection, topic: str) -> dict[int, int]:
    """Per partition, the end of the contiguous run of ledger ranges from the lowest offset."""
    rows = conn.execute(
        "SELECT partition, start_offset, end_offset FROM offset_ledger WHERE topic = %s "
        "ORDER BY partition, start_offset", (topic,)).fetchall()
    out: dict[int, int] = {}
    stuck: set[int] = set()
    for p, a, b in rows:
        if p not in out:
            out[p] = int(b)
        elif p not in stuck:
            if a <= out[p]:
                out[p] = max(out[p], int(b))
            else:
                stuck.add(p)
    return out


def last_ranges(conn: psycopg.Connection) -> dict[tuple[str, int], int]:
    """Per (topic, partition), the end of its highest ledger range (ranges never overlap, so
    the last by start ends highest). A walk of the primary key, one index probe per
    partition: the ledger gains a row per partition and commit (some 200,000 a trading day,
    never pruned), and the follower and the live loop ask this every second or more often,
    so a scan of it would cost more each hour of the day and each day of the year."""
    rows = conn.execute(
        "WITH RECURSIVE parts(topic, partition) AS ("
        " (SELECT topic, partition FROM offset_ledger ORDER BY topic, partition LIMIT 1)"
        " UNION ALL"
        " SELECT n.topic, n.partition FROM parts p CROSS JOIN LATERAL (SELECT l.topic, l.partition"
        "  FROM offset_ledger l WHERE (l.topic, l.partition) > (p.topic, p.partition)"
        "  ORDER BY l.topic, l.partition LIMIT 1) n)"
        " SELECT p.topic, p.partition, (SELECT l.end_offset FROM offset_ledger l WHERE l.topic = p.topic"
        "  AND l.partition = p.partition ORDER BY l.start_offset DESC LIMIT 1) FROM parts p").fetchall()
    return {(str(t), int(p)): int(e) for t, p, e in rows}


def ends(conn: psycopg.Connection, topic: str) -> dict[int, int]:
    """Per partition of ``topic``, the end of the highest ledger range: nothing below it
    needs a new run, holes are ``gaps``' business."""
    return {p: e for (t, p), e in last_ranges(conn).items() if t == topic}


def gaps(conn: psycopg.Connection, topic: str) -> list[tuple[int, int, int]]:
    """(partition, start, end) holes between ledger ranges: offsets never ingested below the
    highest ingested offset, e.g. a run that failed and was not retried."""
    rows = conn.execute(
        "SELECT partition, start_offset, end_offset FROM offset_ledger WHERE topic = %s "
        "ORDER BY partition, start_offset", (topic,)).fetchall()
    out: list[tuple[int, int, int]] = []
    prev: dict[int, int] = {}
    for p, a, b in rows:
        if p in prev and a > prev[p]:
            out.append((int(p), prev[p], int(a)))
        prev[p] = max(prev.get(p, int(b)), int(b))
    return out
