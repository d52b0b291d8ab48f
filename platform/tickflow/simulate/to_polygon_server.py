"""Simulated events for the local Polygon-protocol server, and the live path end to end on
one machine: :func:`stream_local_feed` has the local protocol server stream a trading
day's worth of ticks for a while to the real feed service (``tickflow feed polygon``, a
subprocess), which produces them to the local stack's Kafka -- the hook behind
``make demo FEED=local``.

The demo calls :func:`stream_local_feed` instead of simulating straight into Kafka, then
lets the Kafka offset sensor ingest as usual. Events are stamped from ``day``'s regular
session open on, so they land in that trading day's partition whatever today is."""

from __future__ import annotations

import datetime as dt
import random
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tickflow import sessions
from tickflow.config import Settings, child_env
from tickflow.simulate.polygon_server import LocalPolygonServer, quote, trade
from tickflow.stack.procs import free_port

KEY = "local-demo-key"


class EventMaker:
    """Realistic-looking T/Q events for many symbols, stamped with the wall clock."""

    def __init__(self, symbols: Sequence[str], seed: int = 1, base_ms: int | None = None) -> None:
        """``base_ms``: stamp events from this exchange time on, advancing with the wall
        clock (a past trading day for the demo); None: the wall clock itself."""
        self.symbols = list(symbols)
        self.offset_ms = 0 if base_ms is None else base_ms - int(time.time() * 1000)
        self.rng = random.Random(seed)
        self.px = {s: 50.0 + 10 * i for i, s in enumerate(self.symbols)}
        self.seq = 0
        # Zipf-like activity: a few names carry most of the tape.
        self.weights = [1.0 / (i + 1) for i in range(len(self.symbols))]

    def events(self, n: int, quote_share: float = 0.7) -> list[dict[str, Any]]:
        out = []
        now = int(time.time() * 1000) + self.offset_ms
        syms = self.rng.choices(self.symbols, self.weights, k=n)
        for sym in syms:
            self.seq += 1
            p = self.px[sym] = round(max(1.0, self.px[sym] + self.rng.choice((-0.01, 0.0, 0.01))), 2)
            if self.rng.random() < quote_share:
                out.append(quote(sym, now, round(p - 0.01, 2), round(p + 0.01, 2), self.seq))
            else:
                out.append(trade(sym, now, p, self.rng.choice((1, 10, 100, 200)), self.seq, self.seq))
        return out


@dataclass(frozen=True)
class LocalFeedResult:
    events: int  # written to the feed's socket
    trades: int
    quotes: int
    frames: int
    seconds: float
    exit_code: int  # of the feed service after SIGTERM (0: flushed everything)
    log: Path


def stream_local_feed(settings: Settings, day: dt.date, n_symbols: int = 20, seed: int = 7,
                      seconds: float = 20.0, frames_per_s: float = 20.0, events_per_frame: int = 200,
                      log_dir: Path | None = None) -> LocalFeedResult:
    """Run the local server and the feed service for ``seconds``; returns what was sent."""
    open_ns, _ = sessions.session_bounds_ns(day)
    maker = EventMaker([f"SYM{i:03d}" for i in range(n_symbols)], seed=seed, base_ms=open_ns // 1_000_000)
    log_dir = log_dir or settings.home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "feed-polygon-local.log"
    with LocalPolygonServer(api_key=KEY) as server:
        env = child_env(TICKFLOW_KAFKA_BOOTSTRAP=settings.bootstrap, TICKFLOW_PG_DSN=settings.dsn,
                        TICKFLOW_TOPIC_TRADES=settings.topic_trades, TICKFLOW_TOPIC_QUOTES=settings.topic_quotes,
                        TICKFLOW_FEED_API_KEY=KEY, TICKFLOW_FEED_HOST=server.host_port,
                        TICKFLOW_FEED_SECURE="false", TICKFLOW_FEED_HEALTH_PORT=str(free_port()))
        with log.open("ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "tickflow.cli", "feed", "polygon"], env=env,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            if not server.wait_subscribed(60):
                raise RuntimeError(f"the feed service did not subscribe; see {log}")
            t0 = time.perf_counter()
            frames = 0
            while time.perf_counter() - t0 < seconds:
                frames += server.send(maker.events(events_per_frame))
                time.sleep(max(0.0, t0 + frames / frames_per_s - time.perf_counter()))
            elapsed = time.perf_counter() - t0
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        sent = server.sent
    return LocalFeedResult(events=len(sent), trades=sum(e["ev"] == "T" for e in sent),
                           quotes=sum(e["ev"] == "Q" for e in sent), frames=frames, seconds=elapsed,
                           exit_code=code, log=log)
