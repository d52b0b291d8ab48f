"""Exactly-once ingestion of Kafka offset ranges into the tick store.

``ingest_ranges`` reads exactly the given offset ranges of one topic and commits the
rows, the dead letters and the offset-ledger rows in ONE database transaction, holding a
per-(topic, partition) advisory lock while it checks the ledger. A crash before the
commit leaves nothing behind; a retry after the commit finds the ranges in the ledger and
does nothing. Offsets are never committed to Kafka.

``reingest_day`` is the backfill path for one New York trading day: it finds the day's
first offsets by timestamp, reads to the high watermark (late ticks for the day may sit
anywhere after), keeps the day's rows and relies on the natural keys for idempotence.

Reading, decoding and COPY run as a three-stage pipeline (``_pipeline``): a thread reads
chunks from Kafka, a second thread decodes, validates and encodes them into binary COPY
streams (``prepare_batch``, numba kernels that release the GIL), and the calling thread,
which owns the one database connection and its transaction, streams them to PostgreSQL
(``write_batch``; psycopg waits on the socket without the GIL). The stages overlap, so a
run costs about its slowest stage rather than their sum. Only the calling thread touches
the transaction, so the exactly-once argument above is unchanged: nothing is committed
before every chunk of every range and the ledger rows are written.

``prepare_batch`` and ``write_batch`` are the validation / dead-letter / idempotent
writer for any decoded source (they take a ``DecodedBatch`` of column arrays and the
source position of each message), not only Kafka.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import psycopg

from tickflow import sessions
from tickflow.config import Settings
from tickflow.crash_points import crash_point
from tickflow.feed.decode import decode_batch
from tickflow.feed.events import DecodedBatch, symbol_keys
from tickflow.kafka.reader import Chunk, offsets_for_times, read_range, watermarks
from tickflow.read_ahead import read_ahead
from tickflow.store import ledger
from tickflow.store.pgcopy import encode_quotes, encode_trades
from tickflow.store.schema import Capabilities, detect, ensure_day_partitions
from tickflow.store.write import copy_rows, insert_dead_letters

T = TypeVar("T")
U = TypeVar("U")

# Messages per chunk handed between the pipeline's stages: small enough that the stages
# overlap within one partition's range, large enough that per-chunk costs (a savepoint,
# a COPY statement, numba dispatch) stay small against the rows. 50k measured best here
# among 25k / 50k / 100k / 250k (see bench/ingest.py).
CHUNK_MESSAGES = 50_000
_DEPTH = 2  # chunks queued between two stages (bounds the memory held in flight)


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
        self.merge(kind, int(ts_ns.shape[0]), int(ts_ns.min()), int(ts_ns.max()), unique_keys(keys))

    def merge(self, kind: str, rows: int, lo: int, hi: int, keys: set[tuple[int, int]]) -> None:
        if rows == 0:
            return
        if kind == "trades":
            self.trades += rows
        else:
            self.quotes += rows
        self.first_ns = lo if self.first_ns == 0 else min(self.first_ns, lo)
        self.last_ns = max(self.last_ns, hi)
        self.symbol_keys |= keys


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
    # partition -> its newest tick ingested (epoch ns; duplicates included, they are stored):
    # a minute is complete once every partition flowing has a tick past it (feed_pace.boundary_passed)
    newest: dict[int, int] = field(default_factory=dict)
    # Batches the decoder's fast path failed on (an internal error; see decode_batch): the
    # rows are still right, but a non-zero count is a performance regression to look at.
    fast_path_fallbacks: int = 0
    seconds: float = 0.0
    # Busy seconds per pipeline stage (read: Kafka; decode: decode + validate + encode;
    # write: COPY and dead letters). They overlap, so their sum exceeds ``seconds``.
    stage_seconds: dict[str, float] = field(default_factory=lambda: {"read": 0.0, "decode": 0.0, "write": 0.0})

    @property
    def rows(self) -> int:
        return self.trades + self.quotes


@dataclass
class PreparedBatch:
    """A decoded batch validated and encoded for COPY: everything the writer needs except
    the database, so it is built off the connection's thread."""

    messages: int
    copies: list[tuple[str, bytes, int]]  # (table, binary COPY stream, rows)
    dead: list[tuple[object, ...]]  # dead_letters rows (see store.write.insert_dead_letters)
    # (table, NY day ordinal) -> (rows, first ns, last ns, distinct symbol keys)
    day_stats: dict[tuple[str, int], tuple[int, int, int, set[tuple[int, int]]]]
    symbols: set[tuple[int, int]]
    partition: int  # the Kafka partition its messages came from
    fast_path_fallbacks: int = 0
    seconds: float = 0.0  # time spent building it (decoding included when the pipeline built it)

    @property
    def days(self) -> set[int]:
        return {d for _, d in self.day_stats}


def prepare_batch(batch: DecodedBatch, source: str, partition: int, offsets: np.ndarray,
                  values: Sequence[bytes], run_id: str | None = None,
                  only_day: int | None = None) -> PreparedBatch:
    """Validate a decoded batch against the trading calendar and encode its rows.

    Message m of the batch came from ``source`` (a topic), ``partition`` at ``offsets[m]``
    with raw payload ``values[m]``; those name its rows (``src_partition``,
    ``src_offset``) and its dead letters. Events whose New York day is not an XNYS
    trading day become dead letters; with ``only_day`` (a backfill) rows of other days are
    dropped silently, since they belong to other partitions."""
    t0 = time.perf_counter()
    dead: list[tuple[object, ...]] = [
        (source, partition, int(offsets[d.msg]), d.event_index, d.reason, d.payload, run_id) for d in batch.dead]
    copies: list[tuple[str, bytes, int]] = []
    day_stats: dict[tuple[str, int], tuple[int, int, int, set[tuple[int, int]]]] = {}
    symbols: set[tuple[int, int]] = set()
    for kind, cols in (("trades", batch.trades), ("quotes", batch.quotes)):
        if len(cols) == 0:
            continue
        days = sessions.ny_day(cols.ts_ns)
        ok = sessions.in_session_days(days)
        if only_day is not None:
            ok &= days == only_day
        if not ok.all():
            if only_day is None:
                # Dead-letter key of a decoded event: -2 - its position among the message's
                # decoded events (trades first), stable across re-reads and disjoint from
                # the decoder's own indexes (>= -1).
                pos = np.arange(len(cols)) - np.searchsorted(cols.msg, cols.msg, "left")
                if kind == "quotes":
                    tm = batch.trades.msg
                    pos = pos + np.searchsorted(tm, cols.msg, "right") - np.searchsorted(tm, cols.msg, "left")
                for i in np.flatnonzero(~ok):
                    m = int(cols.msg[i])
                    dead.append((source, partition, int(offsets[m]), -2 - int(pos[i]),
                                 f"timestamp {int(cols.ts_ns[i])} falls on {sessions.day_from_ordinal(int(days[i]))}, "
                                 "not an XNYS trading day", values[m][:65536], run_id))
            cols = cols.take(ok)
            days = days[ok]
        if len(cols) == 0:
            continue
        src_p = np.full(len(cols), partition, dtype=np.int64)
        src_o = np.asarray(offsets)[cols.msg]
        enc = encode_trades if kind == "trades" else encode_quotes
        copies.append((kind, enc(cols, batch.text, batch.cond, src_p, src_o), len(cols)))  # type: ignore[arg-type]
        keys = symbol_keys(batch.text, cols.sym_start, cols.sym_len)
        symbols |= unique_keys(keys)
        for d in np.unique(days).tolist():
            sel = days == d
            ts = cols.ts_ns[sel]
            day_stats[(kind, int(d))] = (int(ts.shape[0]), int(ts.min()), int(ts.max()), unique_keys(keys[sel]))
    return PreparedBatch(len(values), copies, dead, day_stats, symbols, partition, batch.fast_path_fallbacks,
                         time.perf_counter() - t0)


class DayPartitions:
    """Creates the NY-day partitions rows need, once per day per writer."""

    def __init__(self, dsn: str, caps: Capabilities) -> None:
        self.dsn, self.caps = dsn, caps
        self.made: set[int] = set()

    def ensure(self, days: set[int]) -> None:
        new = days - self.made
        if new:
            ensure_day_partitions(self.dsn, self.caps, [sessions.day_from_ordinal(d) for d in sorted(new)])
            self.made |= new


def write_batch(conn: psycopg.Connection, prepared: PreparedBatch, partitions: DayPartitions,
                report: IngestReport) -> tuple[int, int, int, int]:
    """Write one prepared batch inside the caller's transaction and add it to ``report``.
    Returns (trades, quotes, duplicates, dead letters) written; a row already in the store
    (same natural key) is counted as a duplicate, never written twice."""
    t0 = time.perf_counter()
    partitions.ensure(prepared.days)
    out = [0, 0, 0]
    for table, payload, n in prepared.copies:
        inserted, dups = copy_rows(conn, table, payload, n)
        out[0 if table == "trades" else 1] += inserted
        out[2] += dups
    insert_dead_letters(conn, prepared.dead)
    for (table, d), (n, lo, hi, keys) in prepared.day_stats.items():
        report.days.setdefault(sessions.day_from_ordinal(d), DayStats()).merge(table, n, lo, hi, keys)
    if prepared.day_stats:
        newest = max(hi for _, _, hi, _ in prepared.day_stats.values())
        report.newest[prepared.partition] = max(report.newest.get(prepared.partition, 0), newest)
    report.symbols |= prepared.symbols
    for row in prepared.dead:
        reason = str(row[4]).split(":")[0].split(" (")[0][:60]
        report.dead_reasons[reason] = report.dead_reasons.get(reason, 0) + 1
    report.messages += prepared.messages
    report.trades += out[0]
    report.quotes += out[1]
    report.duplicates += out[2]
    report.dead_letters += len(prepared.dead)
    report.fast_path_fallbacks += prepared.fast_path_fallbacks
    report.stage_seconds["decode"] += prepared.seconds
    report.stage_seconds["write"] += time.perf_counter() - t0
    return out[0], out[1], out[2], len(prepared.dead)


def _timed(items: Iterator[T], report: IngestReport, stage: str) -> Iterator[T]:
    """Adds the time spent producing each item to the report's stage seconds."""
    while True:
        t0 = time.perf_counter()
        try:
            item = next(items)
        except StopIteration:
            return
        finally:
            report.stage_seconds[stage] += time.perf_counter() - t0
        yield item


def _mapped(fn: Callable[[T], U], items: Iterator[T]) -> Generator[U, None, None]:
    """``map`` as a closable generator, so closing it closes ``items``."""
    try:
        for item in items:
            yield fn(item)
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()


def _pipeline(settings: Settings, topic: str, todo: list[tuple[int, int, int]], report: IngestReport,
              run_id: str | None, only_day: int | None, chunk_messages: int
              ) -> contextlib.closing[Generator[tuple[int, PreparedBatch], None, None]]:
    """(index into ``todo``, prepared chunk) for every chunk of the (partition, start, end)
    ranges in ``todo``, in order: read and prepared in two threads ahead of the caller."""

    def read() -> Iterator[tuple[int, Chunk]]:
        for k, (p, a, b) in enumerate(todo):
            for chunk in _timed(read_range(settings, topic, p, a, b, chunk_messages), report, "read"):
                yield k, chunk

    def prepare(item: tuple[int, Chunk]) -> tuple[int, PreparedBatch]:
        k, chunk = item
        t0 = time.perf_counter()
        batch = decode_batch(chunk.values, max_message_bytes=settings.max_message_bytes)
        prepared = prepare_batch(batch, topic, chunk.partition, chunk.offsets, chunk.values, run_id, only_day)
        prepared.seconds = time.perf_counter() - t0  # decoding included
        return k, prepared

    chunks = read_ahead(read(), "ingest-read", _DEPTH)
    return contextlib.closing(read_ahead(_mapped(prepare, chunks), "ingest-decode", _DEPTH))


def ingest_ranges(settings: Settings, topic: str, ranges: dict[int, tuple[int, int]],
                  run_id: str | None = None, dsn: str | None = None,
                  chunk_messages: int = CHUNK_MESSAGES) -> IngestReport:
    """Ingest exactly {partition: (start, end)} of `topic`, exactly once."""
    t0 = time.perf_counter()
    dsn = dsn or settings.dsn
    report = IngestReport(topic=topic)
    with psycopg.connect(dsn) as conn:
        caps = detect(conn)
        conn.commit()
        with conn.transaction():
            ledger.lock_partitions(conn, topic, list(ranges))
            todo: list[tuple[int, int, int]] = []
            for partition, (start, end) in sorted(ranges.items()):
                if end <= start:
                    continue
                taken = ledger.covered(conn, topic, partition, start, end)
                for a, b in taken:
                    report.already.append((partition, max(a, start), min(b, end)))
                todo += [(partition, a, b) for a, b in ledger.subtract(start, end, taken)]
            totals = [[0, 0, 0, 0, 0] for _ in todo]  # messages, trades, quotes, duplicates, dead
            partitions = DayPartitions(dsn, caps)
            with _pipeline(settings, topic, todo, report, run_id, None, chunk_messages) as prepared:
                for k, batch in prepared:
                    written = write_batch(conn, batch, partitions, report)
                    totals[k][0] += batch.messages
                    for j, v in enumerate(written):
                        totals[k][j + 1] += v
                    crash_point(settings, "after_copy", f"{report.rows} rows copied, not committed")
            for (partition, a, b), (msgs, trades, quotes, dups, dead) in zip(todo, totals, strict=True):
                report.ledger_rows.append(ledger.LedgerRow(topic, partition, a, b, msgs, trades, quotes, dups, dead,
                                                           run_id))
            ledger.record(conn, report.ledger_rows)
            crash_point(settings, "before_commit", f"{report.rows} rows and {len(report.ledger_rows)} ledger rows "
                        "written, not committed")
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


def extend_to_high_watermark(settings: Settings, topic: str, ranges: dict[int, tuple[int, int]],
                             max_messages: int | None = None) -> dict[int, tuple[int, int]]:
    """Each range's end moved up to its partition's high watermark now (at most `max_messages`
    past its start). An ingest run is planned when the sensor looks, but starts seconds later
    (queue, process, imports): extended when its step starts, it takes the ticks that arrived
    meanwhile instead of leaving them to the next run's start-up. Exactly once still holds:
    ``ingest_ranges`` subtracts what the ledger has under the partition locks, so a later run
    asked for an overlapping range writes only the rest."""
    cap = max_messages or settings.max_run_messages
    marks = watermarks(settings, topic)
    return {p: (s, max(e, min(marks[p][1], s + cap)) if p in marks else e) for p, (s, e) in ranges.items()}


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
                todo = [(p, start, highs[p]) for p, start in sorted(starts.items()) if highs[p] > start]
                partitions = DayPartitions(dsn, caps)
                with _pipeline(settings, topic, todo, report, run_id, sessions.ordinal(day),
                               CHUNK_MESSAGES) as prepared:
                    for _, batch in prepared:
                        write_batch(conn, batch, partitions, report)
        report.seconds = time.perf_counter() - t0
        reports.append(report)
    return reports


def fold_reports(reports: Iterable[IngestReport]) -> list[IngestReport]:
    """``reports`` as one report per topic with the same :func:`summarize` and heads
    (``newest``): counts summed, days and symbols merged, each partition's contiguous ledger
    ranges joined into one. A run that follows the feed keeps this, not a report per step:
    each step's symbol sets, ~1,800 steps in 15 minutes, would hold gigabytes on a full feed."""
    out: dict[str, IngestReport] = {}
    for r in reports:
        f = out.setdefault(r.topic, IngestReport(r.topic))
        for lr in r.ledger_rows:
            last = next((i for i, x in enumerate(f.ledger_rows) if x.partition == lr.partition
                         and x.end_offset == lr.start_offset), None)
            if last is None:
                f.ledger_rows.append(lr)
                continue
            x = f.ledger_rows[last]
            f.ledger_rows[last] = dataclasses.replace(
                x, end_offset=lr.end_offset, messages=x.messages + lr.messages, trades=x.trades + lr.trades,
                quotes=x.quotes + lr.quotes, duplicates=x.duplicates + lr.duplicates,
                dead_letters=x.dead_letters + lr.dead_letters)
        f.already += r.already
        for d, st in r.days.items():
            mine = f.days.setdefault(d, DayStats())
            for kind, n in (("trades", st.trades), ("quotes", st.quotes)):
                mine.merge(kind, n, st.first_ns, st.last_ns, st.symbol_keys)
        f.messages += r.messages
        f.trades += r.trades
        f.quotes += r.quotes
        f.duplicates += r.duplicates
        f.dead_letters += r.dead_letters
        for k, v in r.dead_reasons.items():
            f.dead_reasons[k] = f.dead_reasons.get(k, 0) + v
        f.symbols |= r.symbols
        for p, ns in r.newest.items():
            f.newest[p] = max(f.newest.get(p, 0), ns)
        f.fast_path_fallbacks += r.fast_path_fallbacks
        f.seconds += r.seconds
        for stage, busy in r.stage_seconds.items():
            f.stage_seconds[stage] = f.stage_seconds.get(stage, 0.0) + busy
    return list(out.values())


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
        "decoder_fast_path_fallbacks": sum(r.fast_path_fallbacks for r in reports),
        "duration_s": round(sum(r.seconds for r in reports), 3),
        "stage_busy_s": {k: round(sum(r.stage_seconds[k] for r in reports), 3) for k in ("read", "decode", "write")},
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
    watermark; a partition the ledger holds past the cursor (an earlier run took more than
    it was asked for) starts at the ledger's end. Returns the requests and the advanced cursor."""
    requests = []
    new_cursor = {t: dict(c) for t, c in cursor.items()}
    with psycopg.connect(dsn or settings.dsn) as conn:
        stored = {topic: (ledger.ends(conn, topic), None if topic in cursor else ledger.heads(conn, topic))
                  for topic in settings.topics}
    for topic in settings.topics:
        ends, heads = stored[topic]
        if heads is not None:
            start = heads
        else:
            # a run takes everything up to the high watermark when its step starts
            # (extend_to_high_watermark), so the ledger can be ahead of the cursor
            mine = cursor[topic]
            start = {p: max(mine.get(p, 0), ends.get(p, 0)) for p in mine.keys() | ends.keys()}
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
