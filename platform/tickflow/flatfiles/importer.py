"""Importing a day's flat file into the raw tables, and repairing feed gaps from it.

The rows go through the Kafka path's own pieces: the decoder's value checks
(:func:`tickflow.feed.decode`: symbol, timestamp, finite positive prices and sizes), dead
letters with the reason (``dead_letters``, keyed by ``flatfiles/<kind>/<day>``, partition 0
and the file's row number, so a re-import records each once; partition 1 holds CSV lines
the parser rejected, by line number), the binary COPY encoder and the idempotent writer
(:func:`tickflow.store.write.copy_rows`): the natural keys make a day imported twice store
each tick once, the second import counting duplicates. A row whose New York day is not the
file's day is a dead letter. Times are the SIP timestamps, truncated to
``Settings.flatfiles_ts_unit`` (``ms`` for the vendor's live stock feed) so a tick that
arrived live and is imported again keeps one key. Trades and quotes keep ``src_partition = -1`` and
``src_offset`` = the row number (no Kafka offset exists).

One database transaction per import (per repair), taken under an advisory lock on the
(kind, day), so a crash leaves nothing and two imports of a day do not interleave. Memory
is bounded by the reader's block and batch sizes (:mod:`tickflow.flatfiles.read`), not the
file's: each batch is written while the next is parsed.

Gap repair (:func:`repair_gaps`): for each unrepaired gap of the day, the rows of the
gap's channels whose time lies in ``[started_at, ended_at)`` (and whose symbol is in the
gap's list, if it has one) are written, and the gap is marked repaired with the number of
rows it added, in the same transaction. A gap still going on is left alone; a gap that
runs past the day's end gets this day's rows but stays unrepaired until its last day is
imported; a gap whose channel's file is not published yet stays unrepaired too.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc

from tickflow import sessions
from tickflow.config import Settings
from tickflow.feed.decode import DEFAULT_MIN_TS_NS, _reason, _value_checks
from tickflow.feed.events import symbol_keys
from tickflow.flatfiles.read import BATCH_BYTES, BLOCK_SIZE, BadLine, Batch, iter_batches
from tickflow.flatfiles.source import KINDS, resolve
from tickflow.ingest import DayStats, IngestReport
from tickflow.store import gaps as gap_store
from tickflow.store import vendor_bars
from tickflow.store.pgcopy import encode_quotes, encode_trades
from tickflow.store.schema import detect, ensure_day_partitions
from tickflow.store.write import copy_rows, insert_dead_letters

_DAY_NS = 86_400 * 1_000_000_000
_LOCK_NS = 7263200
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Channel names a gap may use for each kind (the feed's names and the vendor's event codes).
CHANNELS = {"trades": {"trades", "T"}, "quotes": {"quotes", "Q"}, "minute_aggs": {"minute_aggs", "AM"}}


@dataclass(frozen=True)
class Window:
    """Rows to take in a gap repair: ``lo <= ts < hi`` (ns) and the symbol in ``symbols``."""

    gap_id: int
    lo_ns: int
    hi_ns: int
    symbols: tuple[str, ...] | None


@dataclass
class ImportReport:
    kind: str
    day: dt.date
    url: str
    rows_read: int = 0
    inserted: int = 0
    duplicates: int = 0
    skipped_outside_gaps: int = 0
    dead_letters: int = 0
    dead_reasons: dict[str, int] = field(default_factory=dict)
    per_gap: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0
    ingest: IngestReport = field(default_factory=lambda: IngestReport(topic=""))

    def metadata(self) -> dict[str, Any]:
        return {"kind": self.kind, "day": self.day.isoformat(), "source": self.url, "rows_read": self.rows_read,
                "rows_inserted": self.inserted, "duplicates_skipped": self.duplicates,
                "rows_skipped_outside_gaps": self.skipped_outside_gaps,
                "dead_letters": self.dead_letters, "dead_letter_reasons": dict(self.dead_reasons),
                "rows_per_gap": {str(k): v for k, v in self.per_gap.items()},
                "duration_s": round(self.seconds, 3)}


def dead_letter_topic(kind: str, day: dt.date) -> str:
    return f"flatfiles/{kind}/{day.isoformat()}"


class _Import:
    """Writes one file's batches inside the caller's transaction."""

    def __init__(self, conn: psycopg.Connection, dsn: str, settings: Settings, kind: str, day: dt.date,
                 url: str, run_id: str | None, windows: list[Window] | None) -> None:
        self.conn, self.dsn, self.settings, self.kind, self.day = conn, dsn, settings, kind, day
        self.run_id, self.windows = run_id, windows
        self.report = ImportReport(kind, day, url, ingest=IngestReport(topic=dead_letter_topic(kind, day)))
        self.topic = dead_letter_topic(kind, day)
        self.day_ord = sessions.ordinal(day)
        self.lo, self.hi = DEFAULT_MIN_TS_NS, time.time_ns() + _DAY_NS
        self.partitions_made = False
        units = {"ns": 1, "us": 1_000, "ms": 1_000_000}
        if settings.flatfiles_ts_unit not in units:
            raise ValueError(f"flatfiles_ts_unit must be one of {', '.join(units)}, not {settings.flatfiles_ts_unit!r}")
        self.ts_step = units[settings.flatfiles_ts_unit]

    def _dead(self, rows: list[tuple[object, ...]]) -> None:
        insert_dead_letters(self.conn, rows)
        for row in rows:
            reason = str(row[4]).split(":")[0].split(" (")[0][:60]
            self.report.dead_reasons[reason] = self.report.dead_reasons.get(reason, 0) + 1
        self.report.dead_letters += len(rows)

    def bad_lines(self, lines: list[BadLine]) -> None:
        self._dead([(self.topic, 1, int(b.line if b.line is not None else -1), -1, b.reason,
                     b.text.encode()[:65536], self.run_id) for b in lines])

    def _checked(self, b: Batch) -> tuple[np.ndarray, np.ndarray]:
        """(ns timestamps, ok mask) after parse errors, value checks and the day check;
        failures become dead letters."""
        reasons: dict[int, str] = dict(b.bad)
        if self.kind == "minute_aggs":
            ns, ok, checks = _value_checks("T", {**b.cols, "price": b.cols["open"], "size": b.cols["open"]},
                                           b.text, self.lo, self.hi)
            c = b.cols
            sane = ((c["high"] >= np.maximum(c["open"], c["close"])) & (c["low"] <= np.minimum(c["open"], c["close"]))
                    & (c["low"] > 0) & np.isfinite(c["high"]) & (c["volume"] >= 0) & np.isfinite(c["volume"]))
            for i in np.flatnonzero(ok & ~sane).tolist():
                reasons.setdefault(i, "inconsistent bar: needs 0 < low <= open, close <= high and volume >= 0")
            ok &= sane
        else:
            ns, ok, checks = _value_checks("T" if self.kind == "trades" else "Q", b.cols, b.text, self.lo, self.hi)
        for i in np.flatnonzero(~ok).tolist():
            if i not in reasons:
                check = next(name for name, m in checks if not m[i])
                reasons[i] = _reason(check, i, b.cols, b.text, self.lo, self.hi)
        ok[[i for i in reasons]] = False
        ns = ns // self.ts_step * self.ts_step
        days = sessions.ny_day(ns)
        wrong_day = ok & (days != self.day_ord)
        for i in np.flatnonzero(wrong_day).tolist():
            reasons[i] = (f"timestamp {int(ns[i])} falls on {sessions.day_from_ordinal(int(days[i]))}, "
                          f"not the file's day {self.day}")
        ok &= ~wrong_day
        if reasons:
            self._dead([(self.topic, 0, b.first_row + i, -1, r, b.payload(i), self.run_id)
                        for i, r in sorted(reasons.items())])
        return ns, ok

    def _gap_of_rows(self, b: Batch, ns: np.ndarray) -> np.ndarray:
        """Index into ``windows`` of the first gap each row falls in, -1 for none."""
        assert self.windows is not None
        out = np.full(b.n, -1, dtype=np.int64)
        for k, w in enumerate(self.windows):
            hit = (out < 0) & (ns >= w.lo_ns) & (ns < w.hi_ns)
            if w.symbols is not None and hit.any():
                hit &= pc.is_in(b.symbols, value_set=pa.array(list(w.symbols), pa.string())).to_numpy(
                    zero_copy_only=False)
            out[hit] = k
        return out

    def write(self, b: Batch) -> None:
        self.report.rows_read += b.n
        ns, ok = self._checked(b)
        b.cols["ts"] = ns
        groups: list[tuple[int | None, np.ndarray]]
        if self.windows is None:
            groups = [(None, ok)]
        else:
            gap = self._gap_of_rows(b, ns)
            self.report.skipped_outside_gaps += int((ok & (gap < 0)).sum())
            groups = [(k, ok & (gap == k)) for k in range(len(self.windows))]
        for k, sel in groups:
            if not sel.any():
                continue
            inserted = self._write_rows(b, np.flatnonzero(sel))
            if k is not None:
                gid = self.windows[k].gap_id  # type: ignore[index]
                self.report.per_gap[gid] = self.report.per_gap.get(gid, 0) + inserted

    def _write_rows(self, b: Batch, idx: np.ndarray) -> int:
        if self.kind == "minute_aggs":
            return self._write_bars(b, idx)
        if not self.partitions_made:
            ensure_day_partitions(self.dsn, detect(self.conn), [self.day])
            self.partitions_made = True
        cols = (b.trades() if self.kind == "trades" else b.quotes()).take(idx)
        src_p = np.full(idx.shape[0], -1, dtype=np.int64)
        src_o = (b.first_row + idx).astype(np.int64)
        enc = encode_trades if self.kind == "trades" else encode_quotes
        payload = enc(cols, b.text, b.cond, src_p, src_o)  # type: ignore[arg-type]
        inserted, dups = copy_rows(self.conn, self.kind, payload, len(cols))
        self.report.inserted += inserted
        self.report.duplicates += dups
        keys = symbol_keys(b.text, cols.sym_start, cols.sym_len)
        self.report.ingest.days.setdefault(self.day, DayStats()).add(self.kind, cols.ts_ns, keys)
        return inserted

    def _write_bars(self, b: Batch, idx: np.ndarray) -> int:
        enc = pc.dictionary_encode(b.symbols.take(pa.array(idx)))
        c = b.cols
        cols = {"sym": enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), "ts": c["ts"][idx],
                **{k: c[k][idx] for k in ("open", "high", "low", "close", "volume", "transactions")},
                "vwap": np.full(idx.shape[0], np.nan), "avg_size": np.full(idx.shape[0], np.nan),
                "source": np.full(idx.shape[0], vendor_bars.SOURCE_FLATFILE, dtype=np.int64),
                "src_partition": np.full(idx.shape[0], -1, dtype=np.int64),
                "src_offset": (b.first_row + idx).astype(np.int64)}
        n = vendor_bars.write_bars(self.conn, cols, enc.dictionary.to_pylist())
        self.report.inserted += n
        self.report.duplicates += idx.shape[0] - n
        return n


def _run_import(conn: psycopg.Connection, dsn: str, settings: Settings, day: dt.date, kind: str,
                source: str | None, run_id: str | None, windows: list[Window] | None,
                block_size: int, batch_bytes: int) -> ImportReport:
    flat = resolve(settings, day, kind, source)
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s), %s)", (f"{_LOCK_NS}:{kind}", sessions.ordinal(day)))
    imp = _Import(conn, dsn, settings, kind, day, flat.url, run_id, windows)
    # filled by the reader's thread; popleft is atomic, so no line is lost between the two
    bad: deque[BadLine] = deque()

    def drain() -> None:
        lines = []
        while bad:
            lines.append(bad.popleft())
        if lines:
            imp.bad_lines(lines)

    try:
        stream = flat.open()
    except FileNotFoundError as e:
        raise FileNotFoundError(f"no {kind} flat file for {day} at {flat.url} (the vendor publishes a day's "
                                "files the next morning)") from e
    with stream:
        for batch in iter_batches(stream, kind, block_size, bad, batch_bytes):
            imp.write(batch)
            drain()
    drain()
    return imp.report


def _check_kinds(kinds: list[str]) -> None:
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown flat-file kind {kind!r} (one of {', '.join(KINDS)})")


def import_day(settings: Settings, day: dt.date, kind: str = "trades", source: str | None = None, *,
               run_id: str | None = None, dsn: str | None = None, block_size: int = BLOCK_SIZE,
               batch_bytes: int = BATCH_BYTES) -> ImportReport:
    """Import one day's flat file of ``kind`` (all its rows), idempotently, in one transaction."""
    if not sessions.is_trading_day(day):
        raise ValueError(f"{day} is not an XNYS trading day")
    dsn = dsn or settings.dsn
    _check_kinds([kind])
    t0 = time.perf_counter()
    with psycopg.connect(dsn) as conn, conn.transaction():
        report = _run_import(conn, dsn, settings, day, kind, source, run_id, None, block_size, batch_bytes)
    report.seconds = time.perf_counter() - t0
    return report


@dataclass
class RepairReport:
    day: dt.date
    repaired: dict[int, int] = field(default_factory=dict)  # gap id -> rows added
    left_open: list[int] = field(default_factory=list)  # still running, past the day, or file missing
    missing_files: list[str] = field(default_factory=list)
    imports: list[ImportReport] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "gaps_repaired": len(self.repaired),
                "rows_per_gap": {str(k): v for k, v in self.repaired.items()},
                "gaps_left_unrepaired": self.left_open, "missing_files": self.missing_files, "imports": [r.metadata() for r in self.imports]}


def _ns(ts: dt.datetime) -> int:
    return (ts - _EPOCH) // dt.timedelta(microseconds=1) * 1000


def repair_gaps(settings: Settings, day: dt.date, source: str | None = None, *, run_id: str | None = None,
                dsn: str | None = None, block_size: int = BLOCK_SIZE,
                batch_bytes: int = BATCH_BYTES) -> RepairReport:
    """Fill the day's unrepaired feed gaps from its flat files and mark them repaired."""
    dsn = dsn or settings.dsn
    out = RepairReport(day)
    day_lo, day_hi = sessions.day_bounds_ns(day)
    todo = gap_store.open_gaps(dsn, day)
    windows: dict[str, list[Window]] = {k: [] for k in KINDS}
    finishing: list[gap_store.Gap] = []
    for g in todo:
        if g.ended_at is None:
            out.left_open.append(g.id)
            continue
        lo = max(_ns(g.started_at), day_lo)
        hi_full = _ns(g.ended_at)
        w = Window(g.id, lo, min(hi_full, day_hi), None if g.symbols is None else tuple(g.symbols))
        for kind in KINDS:
            if CHANNELS[kind] & set(g.channels):
                windows[kind].append(w)
        if hi_full <= day_hi:
            finishing.append(g)
        else:
            out.left_open.append(g.id)
    kinds = [k for k in KINDS if windows[k]]
    if not kinds:
        return out
    _check_kinds(kinds)
    missing: set[str] = set()
    with psycopg.connect(dsn) as conn, conn.transaction():
        for kind in kinds:
            t0 = time.perf_counter()
            try:
                rep = _run_import(conn, dsn, settings, day, kind, source, run_id, windows[kind], block_size,
                                  batch_bytes)
            except FileNotFoundError as e:  # not published (yet): its gaps wait for it
                out.missing_files.append(str(e))
                missing.add(kind)
                continue
            rep.seconds = time.perf_counter() - t0
            out.imports.append(rep)
        for g in finishing:
            if any(CHANNELS[k] & set(g.channels) for k in missing):
                out.left_open.append(g.id)
                continue
            rows = sum(r.per_gap.get(g.id, 0) for r in out.imports)
            gap_store.mark_repaired(conn, g.id, rows)
            out.repaired[g.id] = rows
    return out
