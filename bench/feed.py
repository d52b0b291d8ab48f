"""Live-feed benchmark (make bench-feed): the Polygon/Massive WebSocket -> Kafka service.

A local server speaking the vendor's protocol (tickflow.simulate.polygon_server, in a process
of its own) sends realistic frames -- mixed trades (30%) and quotes (70%), 3,000 symbols
with Zipf-like activity, 1-500 events per frame -- to the feed service (in this process,
against a noida-db broker started here), which routes them to Kafka as in production.

    1. sustained rate: the server sends as fast as the service takes them (WebSocket
       back-pressure) for --seconds; events/s = events delivery-ACKNOWLEDGED by Kafka over
       the time from the first frame to the last acknowledgement
    2. added latency, frame received -> delivery acknowledged, p50/p99, with the server
       paced at 25%, 50% and 90% of that rate
    3. baseline, same process, same server and broker: what a hand-rolled client does --
       the frame parsed with json.loads and every event produced as its own message
       (json.dumps), at full speed
    4. the server alone: a client that only drains the frames, so the server (frames
       encoded beforehand, sent round-robin) is shown not to be the bottleneck

The last line is `RESULT feed events_per_s=<sustained> p99_ms=<p99 at 50%>`.
Targets (issue 13): >= 150,000 events/s; p99 < 100 ms at half that rate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import random
import shutil
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
from confluent_kafka import Producer
from websockets.asyncio.client import connect

from tickflow.config import Settings
from tickflow.feed.polygon import FeedService
from tickflow.simulate.polygon_server import LocalPolygonServer
from tickflow.simulate.to_polygon_server import EventMaker
from tickflow.stack.kafka import KafkaServer, ensure_topics
from tickflow.stack.procs import free_port

KEY = "bench-key"


def server_process(conn: Connection, n_frames: int, n_symbols: int, seed: int) -> None:
    rng = random.Random(seed)
    maker = EventMaker([f"S{i:04d}" for i in range(n_symbols)], seed=seed)
    counts = [rng.randint(1, 500) for _ in range(n_frames)]
    frames = [json.dumps(maker.events(n), separators=(",", ":")).encode() for n in counts]
    server = LocalPolygonServer(api_key=KEY).start()
    conn.send(("ready", server.port, sum(len(f) for f in frames) / sum(counts)))
    while True:
        cmd = conn.recv()
        if cmd[0] == "stop":
            server.stop()
            conn.send(("stopped",))
            return
        if cmd[0] == "wait_subscribed":
            conn.send(("ok", server.wait_subscribed(cmd[1])))
        elif cmd[0] == "blast":
            _, seconds, rate = cmd
            conn.send(("done", *server.blast(frames, counts, seconds, rate)))


def ask(conn: Connection, *cmd: object) -> tuple[object, ...]:
    conn.send(cmd)
    return conn.recv()  # type: ignore[no-any-return]


async def wait_for(pred, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        await asyncio.sleep(0.01)
    return False


async def run_ours(settings: Settings, conn: Connection, seconds: float) -> dict[str, object]:
    latencies: list[int] = []
    service = FeedService(settings, latencies=latencies, record_gaps=False)
    task = asyncio.create_task(service.run_async())
    assert await wait_for(lambda: service.stats.subscribed, 60), "feed did not subscribe"
    stats = service.stats

    cpu = [0.0]
    m0 = [0]

    async def phase(rate: float | None, secs: float) -> tuple[float, list[int]]:
        await wait_for(lambda: stats.queue_events == 0, 60)
        latencies.clear()
        d0, t0, c0 = stats.events_delivered, time.perf_counter(), time.process_time()
        m0[0] = stats.messages_delivered
        _, sent, _ = await asyncio.to_thread(ask, conn, "blast", secs, rate)
        ok = await wait_for(lambda: stats.events_delivered - d0 >= int(sent), 120)  # type: ignore[call-overload]
        assert ok, f"only {stats.events_delivered - d0} of {sent} events acknowledged"
        cpu[0] = time.process_time() - c0
        return int(sent) / (time.perf_counter() - t0), list(latencies)  # type: ignore[call-overload]

    await phase(None, 2.0)  # warm-up: connections, topic metadata, allocator
    d_before = stats.events_delivered
    rate, _ = await phase(None, seconds)
    events = stats.events_delivered - d_before
    per_cpu = events / cpu[0]
    msgs_per_event = (stats.messages_delivered - m0[0]) / events
    paced = {}
    for share in (0.25, 0.5, 0.9):
        _, lat = await phase(rate * share, max(5.0, seconds / 2))
        ms = np.array(lat, dtype=np.float64) / 1e6
        paced[share] = (float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), len(ms))
    service.stop()
    assert await task == 0
    return {"rate": rate, "paced": paced, "dead": stats.dead_letters, "dropped": stats.dropped_events,
            "per_cpu": per_cpu, "msgs_per_event": msgs_per_event}


async def run_baseline(settings: Settings, port: int, conn: Connection, seconds: float) -> tuple[float, float]:
    """json.loads per frame, one Kafka message per event (json.dumps), same producer settings."""
    producer = Producer(settings.producer_config(**{"linger.ms": 5, "compression.type": "lz4"}))
    acked = [0]

    def delivered(err, _msg) -> None:  # type: ignore[no-untyped-def]
        if err is None:
            acked[0] += 1

    topics = {"T": settings.topic_trades, "Q": settings.topic_quotes}
    async with connect(f"ws://127.0.0.1:{port}/stocks", max_size=None) as ws:
        await ws.recv()
        await ws.send(json.dumps({"action": "auth", "params": KEY}))
        await ws.recv()
        await ws.send(json.dumps({"action": "subscribe", "params": "T.*,Q.*"}))
        await ws.recv()
        t0, c0 = time.perf_counter(), time.process_time()
        blast = asyncio.create_task(asyncio.to_thread(ask, conn, "blast", seconds, None))
        while not blast.done():
            try:
                frame = await asyncio.wait_for(ws.recv(), 0.2)
            except TimeoutError:
                continue
            for ev in json.loads(frame):
                while True:
                    try:
                        producer.produce(topics[ev["ev"]], json.dumps(ev).encode(), ev["sym"].encode(),
                                         on_delivery=delivered)
                        break
                    except BufferError:
                        producer.poll(0.01)
            producer.poll(0)
        _, sent, _ = blast.result()
        while acked[0] < int(sent):  # type: ignore[call-overload]
            try:
                frame = await asyncio.wait_for(ws.recv(), 0.05)
                for ev in json.loads(frame):
                    producer.produce(topics[ev["ev"]], json.dumps(ev).encode(), ev["sym"].encode(),
                                     on_delivery=delivered)
            except TimeoutError:
                pass
            producer.poll(0.01)
            if time.perf_counter() - t0 > seconds + 120:
                raise RuntimeError(f"baseline: {acked[0]} of {sent} acknowledged")
        n = int(sent)  # type: ignore[call-overload]
        return n / (time.perf_counter() - t0), n / (time.process_time() - c0)


async def run_server_alone(port: int, conn: Connection, seconds: float) -> float:
    """The server's own ceiling: a client that only drains the frames (no parsing, no
    Kafka). It must be far above the service's rate, or the benchmark measures itself."""
    async with connect(f"ws://127.0.0.1:{port}/stocks", max_size=None, compression=None) as ws:
        await ws.recv()
        await ws.send(json.dumps({"action": "auth", "params": KEY}))
        await ws.recv()
        await ws.send(json.dumps({"action": "subscribe", "params": "T.*,Q.*"}))
        await ws.recv()
        blast = asyncio.create_task(asyncio.to_thread(ask, conn, "blast", seconds, None))
        while not blast.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ws.recv(decode=False), 0.2)
        _, sent, took = blast.result()
        return int(sent) / float(took)  # type: ignore[call-overload, arg-type]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--symbols", type=int, default=3000)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tickflow-bench-feed-", dir="/tmp"))
    kafka = KafkaServer(work / "kafka", free_port())
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=server_process, args=(child, args.frames, args.symbols, 1), daemon=True)
    try:
        kafka.start()
        proc.start()
        _, port, bytes_per_event = parent.recv()
        s = Settings(home=work / "home", kafka_port=kafka.port, topic_partitions=4, feed_api_key=KEY,
                     feed_host=f"127.0.0.1:{port}", feed_secure=False, feed_silence_hours="regular",
                     feed_channels=("T", "Q"), feed_health_port=free_port())
        ensure_topics(kafka.bootstrap, (s.topic_trades, s.topic_quotes, s.topic_minute_aggs,
                                        s.topic_feed_dead_letters), s.topic_partitions)
        load = os.getloadavg()
        print(f"feed benchmark: {args.symbols} symbols, frames of 1-500 events, {bytes_per_event:.0f} bytes/event, "
              f"{os.cpu_count()} CPUs, load average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        ours = asyncio.run(run_ours(s, parent, args.seconds))
        base, base_cpu = asyncio.run(run_baseline(s.with_(topic_trades="base_trades", topic_quotes="base_quotes"), port,
                                        parent, args.seconds))
        server_alone = asyncio.run(run_server_alone(port, parent, min(args.seconds, 5.0)))
        rate = float(ours["rate"])  # type: ignore[arg-type]
        print(f"{'measure':46s} {'value':>14s}")
        print(f"{'ours: sustained events/s (delivery-acked)':46s} {rate:14,.0f}")
        print(f"{'baseline: json.loads + 1 message/event':46s} {base:14,.0f}")
        print(f"{'ratio ours / baseline':46s} {rate / base:13.2f}x")
        print(f"{'server alone (client only drains frames)':46s} {server_alone:14,.0f}")
        print(f"{'ratio ours / server alone':46s} {rate / server_alone:13.2f}x")
        print(f"{'ours: events per CPU-second of this process':46s} {ours['per_cpu']:14,.0f}")
        print(f"{'baseline: events per CPU-second':46s} {base_cpu:14,.0f}")
        print(f"{'ours: Kafka messages per event':46s} {ours['msgs_per_event']:14.2f}")
        paced: dict[float, tuple[float, float, int]] = ours["paced"]  # type: ignore[assignment]
        for share, (p50, p99, n) in paced.items():
            print(f"latency at {share:4.0%} ({rate * share:9,.0f} ev/s): p50 {p50:7.2f} ms  p99 {p99:7.2f} ms"
                  f"  ({n:,} messages)")
        print(f"dead letters {ours['dead']}, dropped {ours['dropped']}; "
              f"load average after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"RESULT feed events_per_s={rate:.0f} p99_ms={paced[0.5][1]:.2f}")
    finally:
        if proc.is_alive():
            parent.send(("stop",))
            proc.join(10)
            if proc.is_alive():
                proc.kill()
        kafka.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
