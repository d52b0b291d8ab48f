"""The live path end to end on one machine: the local protocol server streams a trading
day's worth of ticks for a while to the real feed service (``tickflow feed polygon``, a
subprocess), which produces them to the local stack's Kafka -- the hook behind
``make demo FEED=local``.

The demo calls :func:`stream_local_feed` instead of simulating straight into Kafka, then
lets the Kafka offset sensor ingest as usual. Events are stamped from ``day``'s regular
session open on, so they land in that trading day's partition whatever today is."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tickflow import sessions
from tickflow.config import Settings, child_env
from tickflow.feed.polygon_server import EventMaker, LocalPolygonServer
from tickflow.stack.procs import free_port

KEY = "local-demo-key"


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
