"""Ingest benchmark (make bench-ingest): our Kafka -> PostgreSQL path against the loader
hand-rolled pipelines use, and against two ceilings, on the same data in one process.

    (a) ours: consume, decode (numba), validate, binary COPY, ledger, one transaction; the
        three stages overlap (tickflow.ingest._pipeline), so each stage's busy time is printed
    (b) baseline: the same range consumed, decoded with orjson, written by executemany
        INSERT ... ON CONFLICT DO NOTHING in batches of 500
    (c) ceiling: binary COPY of the same rows into the same table (same keys), no Kafka
    (d) ceiling: consuming the range, no decode, no database

Both message forms are measured: one event per message, and arrays of 100 events. The
servers (embedded PostgreSQL 18, noida-db) are started here under a temporary folder.
The last line is `RESULT ingest rows_per_s=<a> vs_batch500=<a/b>x vs_ceiling=<a/min(c,d)>`
for the one-event-per-message form.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
import psycopg
from confluent_kafka import Consumer, TopicPartition

from tickflow.config import Settings
from tickflow.feed.decode import decode_batch
from tickflow.ingest import ingest_ranges
from tickflow.kafka.producer import produce
from tickflow.kafka.reader import read_range, watermarks
from tickflow.simulate.day import render_messages, simulate_day
from tickflow.stack.kafka import KafkaServer, ensure_topics
from tickflow.stack.postgres import PgServer, wheel_bin_dir
from tickflow.stack.procs import free_port
from tickflow.store.pgcopy import encode_trades
from tickflow.store.schema import ensure_day_partitions, ensure_schema
from tickflow.store.write import copy_rows

DAY = dt.date(2024, 6, 21)
INSERT = ("INSERT INTO trades (ts, sym, trade_id, exchange, price, size, tape, seq, conditions, ts_ns, "
          "src_partition, src_offset) VALUES (to_timestamp(%s / 1e9), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
          "ON CONFLICT DO NOTHING")


def fresh_store(pg: PgServer, name: str) -> str:
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    dsn = pg.ensure_database(name)
    caps = ensure_schema(dsn)
    ensure_day_partitions(dsn, caps, [DAY])
    return dsn


def ours(settings: Settings, dsn: str, topic: str) -> tuple[float, int]:
    ranges = {p: (lo, hi) for p, (lo, hi) in watermarks(settings, topic).items() if hi > lo}
    t0 = time.perf_counter()
    report = ingest_ranges(settings, topic, ranges, dsn=dsn)
    secs = time.perf_counter() - t0
    busy = ", ".join(f"{k} {v:.2f}s" for k, v in report.stage_seconds.items())
    print(f"  (a) pipeline stages busy: {busy}; wall {secs:.2f}s")
    return secs, report.trades


def batch500(settings: Settings, dsn: str, topic: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    rows = 0
    with psycopg.connect(dsn) as conn:
        for p, (lo, hi) in watermarks(settings, topic).items():
            for chunk in read_range(settings, topic, p, lo, hi):
                buf: list[tuple[object, ...]] = []
                for off, value in zip(chunk.offsets.tolist(), chunk.values, strict=True):
                    doc = orjson.loads(value)
                    for e in doc if isinstance(doc, list) else [doc]:
                        buf.append((e["t"], e["sym"], e["i"], e["x"], e["p"], e["s"], e["z"], e["q"], e["c"],
                                    e["t"], p, off))
                        if len(buf) == 500:
                            with conn.cursor() as cur:
                                cur.executemany(INSERT, buf)
                            conn.commit()
                            rows += len(buf)
                            buf = []
                if buf:
                    with conn.cursor() as cur:
                        cur.executemany(INSERT, buf)
                    conn.commit()
                    rows += len(buf)
    return time.perf_counter() - t0, rows


def copy_ceiling(settings: Settings, dsn: str, topic: str) -> tuple[float, int]:
    payloads = []
    for p, (lo, hi) in watermarks(settings, topic).items():
        for chunk in read_range(settings, topic, p, lo, hi):
            b = decode_batch(chunk.values)
            src = np.full(len(b.trades), p, dtype=np.int64)
            payloads.append((encode_trades(b.trades, b.text, b.cond, src, chunk.offsets[b.trades.msg]),
                             len(b.trades)))
    with psycopg.connect(dsn) as conn:
        t0 = time.perf_counter()
        rows = 0
        with conn.transaction():
            for payload, n in payloads:
                rows += copy_rows(conn, "trades", payload, n)[0]
        return time.perf_counter() - t0, rows


def consume_ceiling(settings: Settings, topic: str, trades: int) -> tuple[float, int]:
    """Consume every message of the topic and touch its value; rows are the trades they carry."""
    marks = watermarks(settings, topic)
    total = sum(hi - lo for lo, hi in marks.values())
    c = Consumer(settings.consumer_config())
    c.assign([TopicPartition(topic, p, lo) for p, (lo, _) in marks.items()])
    t0 = time.perf_counter()
    n = 0
    nbytes = 0
    while n < total:
        msgs = c.consume(num_messages=250_000, timeout=1.0)
        for m in msgs:
            if m.error() is None:
                v = m.value()
                nbytes += len(v)
                n += 1
    dt_ = time.perf_counter() - t0
    c.close()
    assert n == total and nbytes > 0
    return dt_, trades


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trades", type=int, default=2_000_000)
    ap.add_argument("--keep", action="store_true", help="keep the temporary servers' folder")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tickflow-bench-", dir="/tmp"))
    work.chmod(0o755)
    (work / "xdg").mkdir(mode=0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(work / "xdg")
    pg = PgServer(wheel_bin_dir(), work / "pg", free_port())
    kafka = KafkaServer(work / "kafka", free_port())
    try:
        pg.start()
        kafka.start()
        settings = Settings(home=work, kafka_port=kafka.port, topic_partitions=4)
        forms = {"single": ("bench_single", 1), "array100": ("bench_array100", 100)}
        ensure_topics(kafka.bootstrap, tuple(t for t, _ in forms.values()), 4)
        n_sym = 20
        sim = simulate_day(DAY, n_symbols=n_sym, seed=1, trades_per_symbol=args.trades // n_sym, quotes_per_symbol=10)
        n = len(sim.trades["ts_ns"])
        for topic, batch in forms.values():
            t0 = time.perf_counter()
            msgs = produce(settings, topic, render_messages(sim, "T", batch=batch))
            print(f"produced {n:,} trades in {msgs:,} messages to {topic} in {time.perf_counter() - t0:.1f}s")
        # warm the numba kernels (compile/cache load) outside the timings
        warm = fresh_store(pg, "warm")
        ingest_ranges(settings, forms["single"][0], {0: (0, 10)}, dsn=warm)
        results = {}
        print(f"\n{'form':10s} {'path':34s} {'rows':>10s} {'seconds':>8s} {'rows/s':>12s}")
        for form, (topic, _) in forms.items():
            r = {}
            r["a"] = ours(settings, fresh_store(pg, f"ours_{form}"), topic)
            r["b"] = batch500(settings, fresh_store(pg, f"b500_{form}"), topic)
            r["c"] = copy_ceiling(settings, fresh_store(pg, f"copy_{form}"), topic)
            r["d"] = consume_ceiling(settings, topic, n)
            names = {"a": "(a) ours: consume+decode+COPY+ledger", "b": "(b) executemany batches of 500",
                     "c": "(c) ceiling: binary COPY only", "d": "(d) ceiling: consume only"}
            for k, (secs, rows) in r.items():
                print(f"{form:10s} {names[k]:34s} {rows:>10,d} {secs:>8.2f} {rows / secs:>12,.0f}")
                if k in "abc":
                    assert rows == n, f"{form} {k}: {rows} rows, expected {n}"
            results[form] = {k: rows / secs for k, (secs, rows) in r.items()}
        print()
        for form, rate in results.items():
            ceiling = min(rate["c"], rate["d"])
            print(f"{form:10s} ours/batch500 = {rate['a'] / rate['b']:.1f}x   ours/min(copy, consume) = "
                  f"{rate['a'] / ceiling:.2f}   (targets >= 4x and >= 0.5)")
        head = results["single"]
        print(f"RESULT ingest rows_per_s={head['a']:.0f} vs_batch500={head['a'] / head['b']:.1f}x "
              f"vs_ceiling={head['a'] / min(head['c'], head['d']):.2f}")
    finally:
        kafka.stop()
        pg.destroy()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
