"""Exactly-once ingestion of Kafka offset ranges into the tick store.

``ingest_ranges`` reads exactly the given offset ranges of one topic and commits the
rows, the dead letters and the offset-ledger rows in ONE database transaction, holding a
per-(topic, partition) advisory lock while it checks the ledger. A crash before the
commit leaves nothing behind; a retry after the commit finds the ranges in the ledger and
does nothing. Offsets are never committed to Kafka.

``reingest_day`` is the backfill path for one New York trading day: it finds the day's
first offsets by timestamp, reads to the high watermark (late ticks for the day may sit
anywhere after), keeps the day's rows and relies on the natural keys for idempotence.

Reading, decoding and COPY overlap: a thread fetches the next chunk from Kafka while the
current one is decoded (numba, GIL released) and streamed to PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import psycopg

from tickflow import sessions
from tickflow.config import Settings
from tickflow.feed.decode import decode_batch
from tickflow.feed.events import DecodedBatch, symbol_keys
from tickflow.kafka.reader import Chunk, offsets_for_times, read_range, watermarks
from tickflow.store import ledger
from tickflow.store.pgcopy import encode_quotes, encode_trades
from tickflow.store.schema import Capabilities, detect, ensure_day_partitions
from tickflow.store.write import copy_rows, insert_dead_letters


def unique_keys(keys: np.ndarray) -> set[tuple[int, int]]:
    """Distinct rows of an (n, 2) uint64 symbol-key array (hash-based, O(n))."""
    frame = pd.DataFrame({"a": keys[:, 0], "b": keys[:, 1]}).drop_duplicates()
    return set(zip(frame["a"].tolist(), frame["b"].tolist(), strict=True))


@dataclass
class DayStats:
    trades: int = 0
    quotes: int = 0
    first_ns: int = 0
    last_ns: int = 0
    symbol_keys: set[tuple[int, int]] = field(default_factory=set)

    @property
    def symbols(self) -> int:
        return len(self.symbol_keys)

    def add(self, kind: str, ts_ns: np.ndarray, keys: np.ndarray) -> None:
        if ts_ns.shape[0] == 0:
            return
        if kind == "trades":
            self.trades += int(ts_ns.shape[0])
        else:
            self.quotes += int(ts_ns.shape[0])
        lo, hi = int(ts_ns.min()), int(ts_ns.max())
        self.first_ns = lo if self.first_ns == 0 else min(self.first_ns, lo)
        self.last_ns = max(self.last_ns, hi)
        self.symbol_keys.update(unique_keys(keys))


@dataclass
class IngestReport:
    topic: str
    ledger_rows: list[ledger.LedgerRow] = field(default_factory=list)
    already: list[tuple[int, int, int]] = field(default_factory=list)  # (partition, start, end) skipped
    days: dict[dt.date, DayStats] = field(default_factory=dict)
    messages: int = 0
    trades: int = 0
    quotes: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    dead_reasons: dict[str, int] = field(default_factory=dict)
    symbols: set[tuple[int, int]] = field(default_factory=set)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return self.trades + self.quotes

    def first_last(self) -> tuple[int, int]:
        firsts = [d.first_ns for d in self.days.values() if d.first_ns]
        lasts = [d.last_ns for d in self.days.values() if d.last_ns]
        return (min(firsts) if firsts else 0, max(lasts) if lasts else 0)


def _prefetch(it: Iterator[Chunk], depth: int = 2) -> Iterator[Chunk]:
    """Run a chunk iterator in a thread, `depth` chunks ahead."""
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def pump() -> None:
        try:
            for item in it:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as e:  # handed to the consumer, re-raised there
            q.put(e)

    t = threading.Thread(target=pump, daemon=True, name="kafka-prefetch")
    t.start()
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


@dataclass
class _Writer:
    """Writes decoded chunks into the open transaction and accumulates the report."""

    conn: psycopg.Connection
    dsn: str
    caps: Capabilities
    settings: Settings
    report: IngestReport
    run_id: str | None
    only_day: int | None = None  # backfill: keep only this NY day's rows
    partitions_made: set[int] = field(default_factory=set)

    def write(self, chunk: Chunk) -> tuple[int, int, int, int]:
        """Returns (trades, quotes, duplicates, dead letters) written for the chunk."""
        batch: DecodedBatch = decode_batch(chunk.values, max_message_bytes=self.settings.max_message_bytes)
        topic = self.report.topic
        dead = [(topic, chunk.partition, int(chunk.offsets[d.msg]), d.event_index, d.reason, d.payload, self.run_id)
                for d in batch.dead]
        out = [0, 0, 0]
        for kind, cols in (("trades", batch.trades), ("quotes", batch.quotes)):
            if len(cols) == 0:
                continue
            days = sessions.ny_day(cols.ts_ns)
            ok = sessions.in_session_days(days)
            if self.only_day is not None:
                ok &= days == self.only_day
            if not ok.all():
                if self.only_day is None:
                    # Dead-letter key of a decoded event: -2 - its position among the message's
                    # decoded events (trades first), stable across re-reads and disjoint from
                    # the decoder's own indexes (>= -1).
                    pos = np.arange(len(cols)) - np.searchsorted(cols.msg, cols.msg, "left")
                    if kind == "quotes":
                        tm = batch.trades.msg
                        pos = pos + np.searchsorted(tm, cols.msg, "right") - np.searchsorted(tm, cols.msg, "left")
                    for i in np.flatnonzero(~ok):
                        m = int(cols.msg[i])
                        dead.append((topic, chunk.partition, int(chunk.offsets[m]), -2 - int(pos[i]),
                                     f"timestamp {int(cols.ts_ns[i])} falls on {sessions.day_from_ordinal(int(days[i]))}, "
                                     "not an XNYS trading day", chunk.values[m][:65536], self.run_id))
                cols = cols.take(ok)
                days = days[ok]
            if len(cols) == 0:
                continue
            new_days = set(np.unique(days).tolist()) - self.partitions_made
            if new_days:
                ensure_day_partitions(self.dsn, self.caps, [sessions.day_from_ordinal(d) for d in new_days])
                self.partitions_made |= new_days
            src_p = np.full(len(cols), chunk.partition, dtype=np.int64)
            src_o = chunk.offsets[cols.msg]
            enc = encode_trades if kind == "trades" else encode_quotes
            payload = enc(cols, batch.text, batch.cond, src_p, src_o)  # type: ignore[arg-type]
            inserted, dups = copy_rows(self.conn, kind, payload, len(cols))
            out[0 if kind == "trades" else 1] += inserted
            out[2] += dups
            keys = symbol_keys(batch.text, cols.sym_start, cols.sym_len)
            self.report.symbols.update(unique_keys(keys))
            for d in np.unique(days):
                sel = days == d
                self.report.days.setdefault(sessions.day_from_ordinal(int(d)), DayStats()).add(
                    kind, cols.ts_ns[sel], keys[sel])
        insert_dead_letters(self.conn, dead)
        for row in dead:
            reason = str(row[4]).split(":")[0].split(" (")[0][:60]
            self.report.dead_reasons[reason] = self.report.dead_reasons.get(reason, 0) + 1
        self.report.messages += len(chunk)
        self.report.trades += out[0]
        self.report.quotes += out[1]
        self.report.duplicates += out[2]
        self.report.dead_letters += len(dead)
        return out[0], out[1], out[2], len(dead)


def ingest_ranges(settings: Settings, topic: str, ranges: dict[int, tuple[int, int]],
                  run_id: str | None = None, dsn: str | None = None,
                  chunk_messages: int = 250_000) -> IngestReport:
    """Ingest exactly {partition: (start, end)} of `topic`, exactly once."""
    t0 = time.perf_counter()
    dsn = dsn or settings.dsn
    report = IngestReport(topic=topic)
    with psycopg.connect(dsn) as conn:
        caps = detect(conn)
        conn.commit()
        with conn.transaction():
            ledger.lock_partitions(conn, topic, list(ranges))
            w = _Writer(conn, dsn, caps, settings, report, run_id)
            for partition, (start, end) in sorted(ranges.items()):
                if end <= start:
                    continue
                taken = ledger.covered(conn, topic, partition, start, end)
                todo = ledger.subtract(start, end, taken)
                for a, b in taken:
                    report.already.append((partition, max(a, start), min(b, end)))
                for a, b in todo:
                    totals = [0, 0, 0, 0]
                    msgs = 0
                    for chunk in _prefetch(read_range(settings, topic, partition, a, b, chunk_messages)):
                        for k, v in enumerate(w.write(chunk)):
                            totals[k] += v
                        msgs += len(chunk)
                    report.ledger_rows.append(ledger.LedgerRow(
                        topic, partition, a, b, msgs, totals[0], totals[1], totals[2], totals[3], run_id))
            ledger.record(conn, report.ledger_rows)
    report.seconds = time.perf_counter() - t0
    return report


def plan_ranges(settings: Settings, topic: str, cursor: dict[int, int],
                max_messages: int | None = None) -> dict[int, tuple[int, int]]:
    """New offset ranges past `cursor` ({partition: next offset}), capped per run."""
    cap = max_messages or settings.max_run_messages
    out = {}
    for p, (low, high) in watermarks(settings, topic).items():
        start = max(cursor.get(p, low), low)
        if high > start:
            out[p] = (start, min(high, start + cap))
    return out


def catch_up(settings: Settings, topic: str, dsn: str | None = None, max_messages: int = 200_000,
             run_id: str | None = None) -> list[IngestReport]:
    """Ingest from the ledger head to the high watermark, one transaction per step
    (the loop the fault-injection test kills and restarts)."""
    dsn = dsn or settings.dsn
    reports: list[IngestReport] = []
    while True:
        with psycopg.connect(dsn) as conn:
            cursor = ledger.heads(conn, topic)
        todo = plan_ranges(settings, topic, cursor, max_messages)
        if not todo:
            return reports
        reports.append(ingest_ranges(settings, topic, todo, run_id=run_id, dsn=dsn))


def reingest_day(settings: Settings, day: dt.date, topics: tuple[str, ...] | None = None,
                 run_id: str | None = None, dsn: str | None = None) -> list[IngestReport]:
    """Backfill one trading day from Kafka by timestamp, idempotently (natural keys)."""
    dsn = dsn or settings.dsn
    lo_ns, _ = sessions.day_bounds_ns(day)
    reports = []
    for topic in topics or settings.topics:
        t0 = time.perf_counter()
        report = IngestReport(topic=topic)
        starts = offsets_for_times(settings, topic, lo_ns // 1_000_000)
        highs = {p: h for p, (_, h) in watermarks(settings, topic).items()}
        with psycopg.connect(dsn) as conn:
            caps = detect(conn)
            conn.commit()
            with conn.transaction():
                w = _Writer(conn, dsn, caps, settings, report, run_id, only_day=sessions.ordinal(day))
                for p, start in sorted(starts.items()):
                    for chunk in _prefetch(read_range(settings, topic, p, start, highs[p])):
                        w.write(chunk)
        report.seconds = time.perf_counter() - t0
        reports.append(report)
    return reports


def summarize(reports: list[IngestReport], table: str, day: dt.date | None = None) -> dict[str, Any]:
    """Plain metadata for one table (optionally one day) across reports: rows, symbols,
    first/last timestamp, offsets, dead letters, duplicates and timing."""
    rows = 0
    symbols: set[tuple[int, int]] = set()
    first = last = 0
    for r in reports:
        for d, st in r.days.items():
            if day is not None and d != day:
                continue
            n = st.trades if table == "trades" else st.quotes
            if n == 0:
                continue
            rows += n
            symbols |= st.symbol_keys
            first = st.first_ns if first == 0 else min(first, st.first_ns)
            last = max(last, st.last_ns)
    offsets = {f"{r.topic}[{lr.partition}]": f"{lr.start_offset}-{lr.end_offset}"
               for r in reports for lr in r.ledger_rows}
    return {
        "rows": rows,
        "symbols": len(symbols),
        "first_ts": _iso(first),
        "last_ts": _iso(last),
        "offsets": offsets or "none (backfill by timestamp or already ingested)",
        "messages": sum(r.messages for r in reports),
        "dead_letters": sum(r.dead_letters for r in reports),
        "dead_letter_reasons": {k: v for r in reports for k, v in r.dead_reasons.items()},
        "duplicates_skipped": sum(r.duplicates for r in reports),
        "already_ingested_ranges": len([a for r in reports for a in r.already]),
        "duration_s": round(sum(r.seconds for r in reports), 3),
    }


def _iso(ns: int) -> str:
    if not ns:
        return ""
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC).isoformat()


def plan_runs(settings: Settings, cursor: dict[str, dict[int, int]], dsn: str | None = None
              ) -> tuple[list[tuple[str, dict[int, tuple[int, int]]]], dict[str, dict[int, int]]]:
    """The offset sensor's decision: for each topic with new data past the cursor, one
    offset range per partition. A topic missing from the cursor starts at the ledger's
    head (so a new Dagster instance does not re-request what the store has) or at the low
    watermark. Returns the requests and the advanced cursor."""
    requests = []
    new_cursor = {t: dict(c) for t, c in cursor.items()}
    for topic in settings.topics:
        start = cursor.get(topic)
        if start is None:
            with psycopg.connect(dsn or settings.dsn) as conn:
                start = ledger.heads(conn, topic)
        ranges = plan_ranges(settings, topic, start)
        if ranges:
            requests.append((topic, ranges))
            merged = dict(start)
            merged.update({p: e for p, (_, e) in ranges.items()})
            new_cursor[topic] = merged
        else:
            new_cursor[topic] = dict(start)
    return requests, new_cursor


def run_key(topic: str, ranges: dict[int, tuple[int, int]]) -> str:
    return f"{topic}:" + ",".join(f"p{p}={s}-{e}" for p, (s, e) in sorted(ranges.items()))


def plan_repairs(settings: Settings, cursor: dict[str, dict[int, int]], dsn: str | None = None
                 ) -> list[tuple[str, dict[int, tuple[int, int]]]]:
    """Offsets the cursor has passed but the ledger does not hold: ranges whose run failed
    for good (after Dagster's run retries). Only meaningful while no ingest run is in
    flight; the range is re-read from the ledger's head, and the ledger makes the parts
    already stored a no-op."""
    out = []
    with psycopg.connect(dsn or settings.dsn) as conn:
        for topic, parts in cursor.items():
            heads = ledger.heads(conn, topic)
            lows = {p: lo for p, (lo, _) in watermarks(settings, topic).items()}
            holes = {int(p): (max(heads.get(p, lows.get(p, 0)), lows.get(p, 0)), int(c))
                     for p, c in parts.items()}
            holes = {p: (s, e) for p, (s, e) in holes.items() if e > s}
            for p, a, b in ledger.gaps(conn, topic):
                s, e = holes.get(p, (a, b))
                holes[p] = (min(s, a), max(e, b))
            if holes:
                out.append((topic, holes))
    return out


def run_key_all(requests: list[tuple[str, dict[int, tuple[int, int]]]]) -> str:
    """One run for every topic with new data: the topics' keys joined, ``trades:p0=..|quotes:p0=..``."""
    return "|".join(run_key(topic, ranges) for topic, ranges in sorted(requests))


def repair_run_key(requests: list[tuple[str, dict[int, tuple[int, int]]]]) -> str:
    """The key of a repair run: the ranges it re-reads, which follow from the ledger (its heads
    and holes) and the cursor alone. A repair is requested once per ledger state: while the
    ledger does not change the same key comes back, and Dagster does not launch a run key twice."""
    return run_key_all(requests) + "#repair"
