"""The live feed's health over HTTP: probes for Kubernetes and Prometheus metrics.

    GET /healthz   200 while the service's event loop is turning (liveness: a wedged loop
                   is restarted), else 503
    GET /readyz    200 while connected to the vendor with every subscription acknowledged,
                   else 503 (readiness; the Deployment's one replica is never load-balanced,
                   so this only marks the pod not-ready in ``kubectl get pods``)
    GET /metrics   Prometheus text format: connected, last message age, events/s,
                   reconnects, gap seconds today, producer queue depth, totals

Metrics are read from the service's plain counters at scrape time (a custom collector),
so the hot path does no metric bookkeeping. Served from a daemon thread.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from tickflow.feed.polygon import FeedStats

LIVENESS_S = 15.0


class _Rate:
    """Events/s over the last ~10 s, from (time, total) samples taken at scrape time."""

    def __init__(self) -> None:
        self.samples: deque[tuple[float, int]] = deque(maxlen=64)

    def __call__(self, total: int) -> float:
        now = time.monotonic()
        self.samples.append((now, total))
        while len(self.samples) > 2 and now - self.samples[1][0] >= 10.0:
            self.samples.popleft()
        t0, n0 = self.samples[0]
        return (total - n0) / (now - t0) if now > t0 else 0.0


class FeedCollector(Collector):
    def __init__(self, stats: FeedStats) -> None:
        self.stats = stats
        self.rate = _Rate()

    def snapshot(self) -> dict[str, float]:
        s = self.stats
        age = time.monotonic() - s.last_rx_monotonic if s.last_rx_monotonic else float("inf")
        return {
            "connected": float(s.connected),
            "subscribed": float(s.subscribed),
            "last_message_age_seconds": age,
            "events_per_second": self.rate(s.events_delivered),
            "reconnects": float(s.reconnects),
            "gap_seconds_today": s.gap_seconds_today,
            "producer_queue_events": float(s.queue_events),
        }

    def collect(self) -> Iterator[Metric]:
        s = self.stats
        snap = self.snapshot()
        p = "tickflow_feed_"
        yield GaugeMetricFamily(p + "connected", "1 while connected to the vendor", value=snap["connected"])
        yield GaugeMetricFamily(p + "subscribed", "1 once every subscription is acknowledged",
                                value=snap["subscribed"])
        yield GaugeMetricFamily(p + "last_message_age_seconds", "seconds since the last frame",
                                value=snap["last_message_age_seconds"])
        yield GaugeMetricFamily(p + "events_per_second", "events delivered to Kafka per second (10 s window)",
                                value=snap["events_per_second"])
        yield GaugeMetricFamily(p + "gap_seconds_today", "seconds of recorded gap since start (UTC today)",
                                value=snap["gap_seconds_today"])
        yield GaugeMetricFamily(p + "producer_queue_events", "events held, not yet acknowledged by Kafka",
                                value=snap["producer_queue_events"])
        for name, doc, value in (
            ("reconnects", "reconnects to the vendor", s.reconnects),
            ("events_received", "events received from the vendor", s.events_received),
            ("events_delivered", "events acknowledged by Kafka", s.events_delivered),
            ("dead_letters", "messages sent to the dead-letter topic", s.dead_letters),
            ("dropped_events", "events dropped (buffer full during a Kafka outage)", s.dropped_events),
            ("delivery_failures", "messages Kafka refused", s.delivery_failures),
            ("server_errors", "error statuses from the vendor", s.server_errors),
        ):
            yield CounterMetricFamily(p + name, doc, value=value)


def serve_health(stats: FeedStats, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:  # noqa: S104
    """Start the endpoint on a daemon thread; ``.shutdown()`` stops it."""
    registry = CollectorRegistry()
    collector = FeedCollector(stats)
    registry.register(collector)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                alive = time.monotonic() - stats.heartbeat_monotonic < LIVENESS_S
                self._send(200 if alive else 503, b"ok\n" if alive else b"event loop stalled\n")
            elif path == "/readyz":
                ok = stats.connected and stats.subscribed
                body = json.dumps({k: v if v != float("inf") else None for k, v in collector.snapshot().items()})
                self._send(200 if ok else 503, body.encode() + b"\n", "application/json")
            else:
                self._send(404, b"not found\n")

        def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - probes every few seconds
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="feed-health", daemon=True).start()
    return server
