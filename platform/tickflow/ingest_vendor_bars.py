"""Exactly-once ingestion of the minute-aggregates topic into ``vendor_bars``.

The same contract as tick ingest (:mod:`tickflow.ingest`): a run reads exactly the given
offset ranges and commits the bars, the dead letters and the offset-ledger rows in one
transaction under the ledger's per-partition advisory lock, so a retry after a commit is a
no-op and a crash before it leaves nothing. Ledger rows count bars in ``trades``.
A bar whose minute is not on an XNYS trading day is a dead letter, as for ticks.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import numpy as np
import psycopg

from tickflow import sessions
from tickflow.config import Settings
from tickflow.feed.minute_aggs import decode_aggs
from tickflow.kafka.reader import read_range
from tickflow.store import ledger, vendor_bars
from tickflow.store.write import insert_dead_letters


@dataclass
class AggIngestReport:
    topic: str
    ledger_rows: list[ledger.LedgerRow] = field(default_factory=list)
    messages: int = 0
    bars: int = 0
    dead_letters: int = 0
    days: set[dt.date] = field(default_factory=set)
    seconds: float = 0.0


def ingest_agg_ranges(settings: Settings, ranges: dict[int, tuple[int, int]], run_id: str | None = None,
                      dsn: str | None = None, topic: str | None = None) -> AggIngestReport:
    """Ingest exactly {partition: (start, end)} of the minute-aggregates topic, exactly once."""
    t0 = time.perf_counter()
    dsn = dsn or settings.dsn
    topic = topic or settings.topic_minute_aggs
    report = AggIngestReport(topic)
    with psycopg.connect(dsn) as conn, conn.transaction():
        ledger.lock_partitions(conn, topic, list(ranges))
        for partition, (start, end) in sorted(ranges.items()):
            if end <= start:
                continue
            for a, b in ledger.subtract(start, end, ledger.covered(conn, topic, partition, start, end)):
                msgs = bars = dead_n = 0
                for chunk in read_range(settings, topic, partition, a, b):
                    dec = decode_aggs(chunk.values)
                    dead = [(topic, partition, int(chunk.offsets[d.msg]), d.event_index, d.reason, d.payload, run_id)
                            for d in dec.dead]
                    cols = dec.columns()
                    if len(dec):
                        days = sessions.ny_day(cols["ts"])
                        ok = sessions.in_session_days(days)
                        # a decoded event's dead-letter key: -2 - its position among its
                        # message's bars (stable however the range is chunked)
                        pos = np.arange(len(dec)) - np.searchsorted(cols["msg"], cols["msg"], "left")
                        for i in np.flatnonzero(~ok).tolist():
                            m = int(cols["msg"][i])
                            dead.append((topic, partition, int(chunk.offsets[m]), -2 - int(pos[i]),
                                         f"minute {int(cols['ts'][i])} falls on "
                                         f"{sessions.day_from_ordinal(int(days[i]))}, not an XNYS trading day",
                                         chunk.values[m][:65536], run_id))
                        cols = {k: v[ok] for k, v in cols.items()}
                        report.days |= {sessions.day_from_ordinal(int(d)) for d in np.unique(days[ok])}
                        n = int(cols["ts"].shape[0])
                        cols.update(transactions=np.full(n, np.nan),
                                    source=np.full(n, vendor_bars.SOURCE_FEED, dtype=np.int64),
                                    src_partition=np.full(n, partition, dtype=np.int64),
                                    src_offset=chunk.offsets[cols.pop("msg")])
                        bars += vendor_bars.write_bars(conn, cols, dec.symbols)
                    insert_dead_letters(conn, dead)
                    msgs += len(chunk)
                    dead_n += len(dead)
                report.ledger_rows.append(ledger.LedgerRow(topic, partition, a, b, msgs, bars, 0, 0, dead_n, run_id))
                report.messages += msgs
                report.bars += bars
                report.dead_letters += dead_n
        ledger.record(conn, report.ledger_rows)
    report.seconds = time.perf_counter() - t0
    return report


def catch_up_aggs(settings: Settings, dsn: str | None = None, run_id: str | None = None) -> AggIngestReport:
    """Ingest the minute-aggregates topic from the ledger head to the high watermark."""
    from tickflow.ingest import plan_ranges

    dsn = dsn or settings.dsn
    topic = settings.topic_minute_aggs
    with psycopg.connect(dsn) as conn:
        cursor = ledger.heads(conn, topic)
    return ingest_agg_ranges(settings, plan_ranges(settings, topic, cursor), run_id, dsn, topic)
