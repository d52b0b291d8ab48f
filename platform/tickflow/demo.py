"""`tickflow demo`: simulate a trading day, ingest it through real Dagster runs requested
by the Kafka offset sensor's logic, and print what was made.

The runs are executed in-process against the local stack's Dagster instance (PostgreSQL
storage), tagged with the sensor's run keys, so `tickflow dev` shows them afterwards and
the daemon never requests the same range again."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

import psycopg

from tickflow.config import Settings
from tickflow.kafka.reader import watermarks
from tickflow.simulate_feed import recorded, simulate_to_kafka

DEMO_DATE = dt.date(2024, 6, 21)
DEMO_BAD_MESSAGES = 24
REPO = Path(__file__).resolve().parents[2]


def _dagster_ingest(settings: Settings, log=print) -> int:  # type: ignore[no-untyped-def]
    """Evaluate the sensor until it requests nothing; execute each request as a run."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter, SensorResult, build_sensor_context

    import definitions
    from resources.tickflow import TickflowResource

    instance = DagsterInstance.get()
    defs = definitions.defs
    sensor = defs.resolve_sensor_def("kafka_offset_sensor")
    job = defs.resolve_job_def("ingest_job")
    cursor_file = settings.home / "demo" / "sensor_cursor.json"
    cursor_file.parent.mkdir(parents=True, exist_ok=True)
    cursor = cursor_file.read_text() if cursor_file.exists() else None
    runs = 0
    while True:
        ctx = build_sensor_context(instance=instance, cursor=cursor, sensor_name=sensor.name,
                                   resources={"tickflow": TickflowResource()})
        result = sensor(ctx)
        assert isinstance(result, SensorResult)
        if not result.run_requests:
            cursor_file.write_text(result.cursor or "")
            return runs
        for rr in result.run_requests:
            # No sensor-name tag: the daemon would take such a run for one it created and try
            # to launch it. The ledger keeps the daemon from re-requesting these ranges.
            tags = {**rr.tags, "dagster/run_key": rr.run_key or ""}
            # A run key that already succeeded is skipped, as the daemon would; one whose run
            # failed is run again (the daemon's run retries do the same).
            if instance.get_runs(filters=RunsFilter(tags={"dagster/run_key": rr.run_key or ""},
                                                    statuses=[DagsterRunStatus.SUCCESS]), limit=1):
                log(f"  run_key {rr.run_key} already ran; skipped")
                continue
            t0 = time.perf_counter()
            config = {**rr.run_config, "loggers": {"console": {"config": {"log_level": "WARNING"}}}}
            res = job.execute_in_process(run_config=config, instance=instance, tags=tags, raise_on_error=False)
            runs += 1
            log(f"  run {res.run_id[:8]} {rr.run_key}: {'ok' if res.success else 'FAILED'} "
                f"in {time.perf_counter() - t0:.1f}s")
            if not res.success:
                raise RuntimeError(f"ingest run {res.run_id} failed")
        # Like the daemon, advance the cursor only once its requests are launched.
        cursor = result.cursor
        cursor_file.write_text(cursor or "")


def run_demo(settings: Settings, day: dt.date, n_symbols: int, seed: int) -> int:
    t0 = time.perf_counter()
    done = [r for r in recorded(settings) if (r.date, r.seed, r.symbols) == (day.isoformat(), seed, n_symbols)]
    if done:
        print(f"[1/3] {day} (seed {seed}, {n_symbols} symbols) already simulated into Kafka; not sending it twice")
    else:
        print(f"[1/3] simulating {day}: {n_symbols} symbols, seed {seed}, plus {DEMO_BAD_MESSAGES} malformed messages")
        rec = simulate_to_kafka(settings, day, n_symbols, seed, bad_messages=DEMO_BAD_MESSAGES)
        print(f"      {rec.events:,} events in {rec.messages:,} messages in {rec.seconds:.1f}s")
    print("[2/3] Kafka offset sensor -> ingest runs (Dagster)")
    t1 = time.perf_counter()
    runs = _dagster_ingest(settings)
    ingest_s = time.perf_counter() - t1
    print(f"      {runs} run(s) in {ingest_s:.1f}s")
    print("[3/3] summary")
    ok = print_summary(settings, day)
    print(f"total time {time.perf_counter() - t0:.1f}s")
    return 0 if ok else 1


def print_summary(settings: Settings, day: dt.date) -> bool:
    recs = recorded(settings)
    sent_events = sum(r.events for r in recs)
    sent_bad = sum(r.bad_messages for r in recs)
    with psycopg.connect(settings.dsn) as conn:
        counts: dict[str, tuple] = {}  # type: ignore[type-arg]
        for table in ("trades", "quotes"):
            counts[table] = conn.execute(
                f"SELECT count(*), count(DISTINCT sym), min(ts), max(ts) FROM {table}"  # noqa: S608 (fixed names)
            ).fetchone() or (0, 0, None, None)
        day_rows = {t: conn.execute(
            f"SELECT count(*) FROM {t} WHERE ts >= %s::date::timestamp AT TIME ZONE 'America/New_York' "  # noqa: S608
            f"AND ts < (%s::date + 1)::timestamp AT TIME ZONE 'America/New_York'", (day, day)).fetchone()[0]  # type: ignore[index]
            for t in ("trades", "quotes")}
        dead = conn.execute("SELECT reason, count(*) FROM dead_letters GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
        led = conn.execute("SELECT topic, partition, max(end_offset), count(*) FROM offset_ledger "
                           "GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
    n_dead = sum(int(c) for _, c in dead)
    print(f"  {'table':8s} {'rows':>12s} {'symbols':>8s}  first .. last (UTC)")
    for t, (n, syms, lo, hi) in counts.items():
        print(f"  {t:8s} {n:>12,d} {syms:>8d}  {lo} .. {hi}   ({day_rows[t]:,} on {day})")
    print(f"  dead letters {n_dead}")
    for reason, c in dead:
        print(f"    {c:>5d}  {reason[:100]}")
    print("  offsets (ledger end / Kafka high watermark)")
    all_caught_up = True
    for topic in settings.topics:
        marks = watermarks(settings, topic)
        for p, (_, high) in marks.items():
            end = next((int(e) for tp, pp, e, _ in led if tp == topic and pp == p), 0)
            all_caught_up &= end == high
            print(f"    {topic}[{p}] {end:>10,d} / {high:,d}")
    stored = counts["trades"][0] + counts["quotes"][0]
    balanced = stored + n_dead == sent_events + sent_bad
    print(f"  simulated {sent_events:,} events + {sent_bad} malformed = {sent_events + sent_bad:,}; "
          f"stored {stored:,} rows + {n_dead} dead letters = {stored + n_dead:,}  "
          f"{'OK' if balanced else 'MISMATCH'}")
    print(json.dumps({"rows": stored, "dead_letters": n_dead, "sent": sent_events + sent_bad,
                      "balanced": balanced, "caught_up": all_caught_up}))
    return balanced and all_caught_up
