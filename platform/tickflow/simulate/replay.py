"""`tickflow replay`: a simulated or stored trading day produced to Kafka at X times real time.

How a user rehearses a live day against the platform, and what ``bench/freshness.py``
drives. Trades and quotes of every symbol are merged into one stream in exchange-time order
and each message is sent when the replay clock reaches its exchange time:

    ``send_at = wall_start + (t_exchange - t_from) / speed``

so ``speed = 1`` is real time. Messages before ``--from`` are either skipped or, with
``catch_up``, sent at once before the paced part starts (the rest of a day "already
happened"). The producer is polled while waiting, so acknowledgements arrive on time; each
exchange minute's last acknowledgement time is recorded (``ReplayReport.acked``), the
reference of every freshness figure. A progress bar shows the exchange time reached and how
far the replay runs behind its schedule (the producer, or this process, not keeping up).

``--source store`` replays a day of the tick store instead (its raw trades and quotes, as
events, in exchange-time order: :mod:`tickflow.store.day_events`), e.g. a real day into a
fresh stack, or a stored day against a changed pipeline.
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from tickflow.config import Settings
from tickflow.store.day_events import StoredDay

if TYPE_CHECKING:  # imported where used: every `tickflow` command builds this parser, and
    # the simulator pulls in numpy, pandas and numba (seconds of start-up for `tickflow status`)
    from tickflow.simulate.day import SimulatedDay

_NY = ZoneInfo("America/New_York")
MINUTE_MS = 60_000


@dataclass
class ReplayReport:
    messages: int = 0
    caught_up: int = 0  # sent at once before the paced window
    seconds: float = 0.0
    max_behind_s: float = 0.0
    # exchange minute (epoch ms of its start) -> wall time (epoch s) its last message was acknowledged
    acked: dict[int, float] = field(default_factory=dict)
    sent_per_minute: dict[int, int] = field(default_factory=dict)


def ny_time_ms(day: dt.date, hhmm: str) -> int:
    """Epoch ms of ``HH:MM`` New York time on ``day``."""
    h, m = (int(x) for x in hhmm.split(":"))
    return int(dt.datetime.combine(day, dt.time(h, m), tzinfo=_NY).timestamp() * 1000)


def merged_messages(sim: SimulatedDay, settings: Settings, batch_ms: int | None = None
                    ) -> Iterator[tuple[int, str, bytes, bytes]]:
    """``(exchange ms, topic, key, value)`` of the day's trades and quotes, in exchange-time order."""
    from tickflow.simulate.day import render_messages

    def tagged(kind: str, topic: str) -> Iterator[tuple[int, str, bytes, bytes]]:
        for key, value, ts_ms in render_messages(sim, kind, batch_ms=batch_ms):  # type: ignore[arg-type]
            yield ts_ms, topic, key, value

    return heapq.merge(tagged("T", settings.topic_trades), tagged("Q", settings.topic_quotes), key=lambda m: m[0])


def replay(settings: Settings, sim: SimulatedDay | StoredDay, speed: float, start: str | None = None, until: str | None = None,
           catch_up: bool = False, batch_ms: int | None = None, progress: bool | None = None,
           skip_before: str | None = None, report: ReplayReport | None = None,
           clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> ReplayReport:
    """Produce ``sim`` (simulated, or a day of the tick store) to Kafka paced at ``speed`` x real time from ``start`` (HH:MM New York,
    default the first message) to ``until`` (exclusive, default the end of the day); with
    ``catch_up``, what lies before ``start`` (from ``skip_before`` on) is sent at once first.
    ``report``: filled as the replay goes (another thread may watch its ``acked``)."""
    from confluent_kafka import Producer
    from tqdm import tqdm

    if not speed > 0:
        raise ValueError("speed must be > 0")
    if isinstance(sim, StoredDay) and batch_ms is not None:
        raise ValueError("batch_ms applies to a simulated day only (a stored day is replayed one event a message)")
    messages = sim.messages(settings) if isinstance(sim, StoredDay) else merged_messages(sim, settings, batch_ms)
    report = report if report is not None else ReplayReport()
    t_from = ny_time_ms(sim.date, start) if start else None
    t_until = ny_time_ms(sim.date, until) if until else None
    t_skip = ny_time_ms(sim.date, skip_before) if skip_before else None
    producer = Producer(settings.producer_config(**{"linger.ms": 5}))
    failures: list[str] = []

    def on_ack(minute: int) -> Callable[..., None]:
        def cb(err, _msg) -> None:  # type: ignore[no-untyped-def]
            if err is not None:
                failures.append(str(err))
            else:
                report.acked[minute] = clock()
        return cb

    def send(ts_ms: int, topic: str, key: bytes, value: bytes) -> None:
        minute = ts_ms - ts_ms % MINUTE_MS
        while True:
            try:
                producer.produce(topic, value=value, key=key, timestamp=ts_ms, on_delivery=on_ack(minute))
                break
            except BufferError:
                producer.poll(0.05)
        report.sent_per_minute[minute] = report.sent_per_minute.get(minute, 0) + 1
        report.messages += 1

    t0 = time.perf_counter()
    wall0 = None
    first_ms = None
    # progress None: a bar only on a terminal (tqdm's disable=None)
    bar = tqdm(total=None, unit="msg", unit_scale=True, desc=f"replay {sim.date} x{speed:g}",
               disable=None if progress is None else not progress, mininterval=0.5)
    last_shown = 0.0
    for ts_ms, topic, key, value in messages:
        if t_until is not None and ts_ms >= t_until:
            break
        if t_skip is not None and ts_ms < t_skip:
            continue
        if t_from is not None and ts_ms < t_from:
            if catch_up:
                send(ts_ms, topic, key, value)
                report.caught_up += 1
                if report.caught_up % 10_000 == 0:
                    producer.poll(0)
            continue
        if wall0 is None:
            if catch_up and report.caught_up:
                producer.flush(120)  # the past is acknowledged before the paced part starts
            wall0 = clock()
            first_ms = t_from if t_from is not None else ts_ms
        due = wall0 + (ts_ms - first_ms) / 1000.0 / speed  # type: ignore[operator]
        now = clock()
        while now < due:
            producer.poll(min(due - now, 0.05))
            now = clock()
        behind = now - due
        report.max_behind_s = max(report.max_behind_s, behind)
        send(ts_ms, topic, key, value)
        producer.poll(0)
        if now - last_shown > 0.5:
            last_shown = now
            bar.update(report.messages - bar.n)
            shown = dt.datetime.fromtimestamp(ts_ms / 1000, tz=_NY).strftime("%H:%M:%S")
            bar.set_postfix_str(f"exchange {shown} NY, behind schedule {behind:.2f}s", refresh=False)
    remaining = producer.flush(120)
    bar.update(report.messages - bar.n)
    bar.close()
    report.seconds = time.perf_counter() - t0
    if remaining or failures:
        raise RuntimeError(f"replay: {remaining} undelivered, {len(failures)} failed: {failures[:3]}")
    return report


def replay_simulated(settings: Settings, day: dt.date, speed: float, start: str | None = None,
                     until: str | None = None, n_symbols: int = 20, seed: int = 0, trades_per_symbol: int = 25_000,
                     catch_up: bool = False, batch_ms: int | None = None, progress: bool | None = None
                     ) -> tuple[SimulatedDay, ReplayReport]:
    """Simulate ``day`` (as ``tickflow simulate`` does) and replay it; returns both."""
    from tickflow.simulate.day import simulate_day

    sim = simulate_day(day, n_symbols=n_symbols, seed=seed, trades_per_symbol=trades_per_symbol,
                       quotes_per_symbol=2 * trades_per_symbol)
    return sim, replay(settings, sim, speed, start, until, catch_up, batch_ms, progress)


def cmd_replay(args: argparse.Namespace) -> int:
    from tickflow.config import load_settings

    settings, day = load_settings(), dt.date.fromisoformat(args.date)
    if args.source == "store":
        rep = replay(settings, StoredDay(settings.dsn, day, args.symbols), args.speed, args.start, args.until,
                     catch_up=args.catch_up, batch_ms=args.batch_ms)
    else:
        _, rep = replay_simulated(settings, day, args.speed, args.start, args.until,
                                  n_symbols=args.symbols or 20, seed=args.seed,
                                  trades_per_symbol=args.trades_per_symbol, catch_up=args.catch_up,
                                  batch_ms=args.batch_ms)
    print(f"replayed {rep.messages:,} messages ({rep.caught_up:,} at once before --from) in {rep.seconds:.1f}s; "
          f"at most {rep.max_behind_s:.2f}s behind schedule")
    return 0


def add_cli(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The ``replay`` subcommand of ``tickflow``."""
    r = sub.add_parser("replay", help="produce a simulated or stored day to Kafka at X times real time")
    r.add_argument("--source", choices=("simulated", "store"), default="simulated",
                   help="simulate the day, or replay the day held in the tick store (raw trades and quotes)")
    r.add_argument("--date", required=True, help="trading day, YYYY-MM-DD")
    r.add_argument("--speed", type=float, default=1.0, help="1 = real time, 30 = a session minute every 2 s")
    r.add_argument("--from", dest="start", default=None, help="HH:MM New York: start of the paced replay")
    r.add_argument("--until", default=None, help="HH:MM New York: stop before this time")
    r.add_argument("--catch-up", action="store_true", help="send the day before --from at once first")
    r.add_argument("--symbols", type=int, default=None,
                   help="simulated: how many (default 20); store: only the first N stored symbols (default all)")
    r.add_argument("--seed", type=int, default=7)
    r.add_argument("--trades-per-symbol", type=int, default=25_000)
    r.add_argument("--batch-ms", type=int, default=None, help="micro-batch a symbol's events by time window")
    r.set_defaults(fn=cmd_replay)
