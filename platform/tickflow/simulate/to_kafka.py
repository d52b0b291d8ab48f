"""`tickflow simulate`: a simulated trading day produced to Kafka, with a record of it.

Every simulation writes ``.tickflow/simulations/<date>-s<seed>-n<symbols>.json`` (counts)
and the jumps' ground truth beside it, so the demo can reconcile what was sent with what
was stored."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from tqdm import tqdm

from tickflow.config import Settings
from tickflow.kafka.producer import produce
from tickflow.simulate.bad_input import bad_messages as make_bad
from tickflow.simulate.day import render_messages, simulate_day, write_ground_truth

KIND_T: Literal["T"] = "T"
KIND_Q: Literal["Q"] = "Q"


@dataclass
class SimulationRecord:
    date: str
    seed: int
    symbols: int
    trades: int
    quotes: int
    events: int
    messages: int
    bad_messages: int
    seconds: float
    ground_truth: str


def simulations_dir(settings: Settings) -> Path:
    return settings.home / "simulations"


def simulate_to_kafka(settings: Settings, day: dt.date, n_symbols: int, seed: int, batch: int = 1,
                      batch_ms: int | None = None, trades_per_symbol: int = 25_000,
                      bad_messages: int = 0) -> SimulationRecord:
    t0 = time.perf_counter()
    sim = simulate_day(day, n_symbols=n_symbols, seed=seed, trades_per_symbol=trades_per_symbol,
                       quotes_per_symbol=2 * trades_per_symbol)
    n_trades, n_quotes = len(sim.trades["ts_ns"]), len(sim.quotes["ts_ns"])
    out = simulations_dir(settings)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{day.isoformat()}-s{seed}-n{n_symbols}"
    truth = out / f"{stem}-jumps.csv"
    write_ground_truth(sim, truth)
    messages = 0
    # Progress in events; disable=None hides the bar when stdout is not a terminal.
    with tqdm(total=n_trades + n_quotes, unit="ev", unit_scale=True, desc=f"simulate {day}", disable=None,
              mininterval=0.5) as bar:
        for kind, topic in ((KIND_T, settings.topic_trades), (KIND_Q, settings.topic_quotes)):
            # Progress counts messages; a micro-batch by time is shown as if it held `batch`.
            sent = produce(settings, topic, render_messages(sim, kind, batch=batch, batch_ms=batch_ms),
                           on_progress=lambda k: bar.update(min(k * batch, bar.total - bar.n)))
            messages += sent
        bar.update(max(0, bar.total - bar.n))
    if bad_messages:
        messages += produce(settings, settings.topic_trades, make_bad(day, bad_messages))
    rec = SimulationRecord(day.isoformat(), seed, n_symbols, n_trades, n_quotes, n_trades + n_quotes,
                           messages, bad_messages, round(time.perf_counter() - t0, 2), str(truth))
    (out / f"{stem}-{int(time.time() * 1000)}.record.json").write_text(json.dumps(asdict(rec), indent=1))
    return rec


def recorded(settings: Settings) -> list[SimulationRecord]:
    """Every simulation produced into this stack's Kafka."""
    recs = []
    for f in sorted(simulations_dir(settings).glob("*.record.json")):
        recs.append(SimulationRecord(**json.loads(f.read_text())))
    return recs
