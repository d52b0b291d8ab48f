"""`tickflow replay`: a simulated day into Kafka, paced, in exchange-time order."""

from __future__ import annotations

import datetime as dt
import json
import time

import numpy as np
import pytest

from tickflow.config import Settings
from tickflow.kafka.reader import read_range, watermarks
from tickflow.simulate.day import simulate_day
from tickflow.simulate.replay import ny_time_ms, replay

DAY = dt.date(2024, 6, 21)


def _exchange_times(settings: Settings, topic: str) -> list[list[int]]:
    """Per partition, the exchange times of its messages in offset order."""
    out = []
    for p, (lo, hi) in watermarks(settings, topic).items():
        ts = []
        for chunk in read_range(settings, topic, p, lo, hi):
            ts += [json.loads(v)["t"] for v in chunk.values]
        out.append(ts)
    return out


def test_replay_paces_a_window_and_catches_up_before_it(settings: Settings) -> None:
    sim = simulate_day(DAY, n_symbols=3, seed=4, trades_per_symbol=3000, quotes_per_symbol=3000)
    lo, hi = ny_time_ms(DAY, "09:40"), ny_time_ms(DAY, "09:42")
    t0 = time.monotonic()
    rep = replay(settings, sim, speed=60.0, start="09:40", until="09:42", catch_up=True, progress=False)
    took = time.monotonic() - t0
    ms = np.concatenate([sim.trades["ts_ns"], sim.quotes["ts_ns"]]) // 1_000_000
    assert rep.caught_up == int((ms < lo).sum())
    assert rep.messages == int((ms < hi).sum()) and rep.messages > rep.caught_up > 0
    # two exchange minutes at 60x take two seconds, not less (and not much more here)
    assert 1.9 <= took <= 30, took
    assert rep.max_behind_s < 5
    # every paced minute's acknowledgement was recorded, after the catch-up
    assert set(rep.acked) >= {lo, lo + 60_000}
    # in Kafka: everything sent, each partition in exchange-time order
    got = 0
    for topic in settings.topics:
        for ts in _exchange_times(settings, topic):
            got += len(ts)
            assert all(a <= b for a, b in zip(ts, ts[1:], strict=False)), topic
    assert got == rep.messages


def test_speed_must_be_positive(settings: Settings) -> None:
    sim = simulate_day(DAY, n_symbols=1, seed=1, trades_per_symbol=10, quotes_per_symbol=10)
    with pytest.raises(ValueError, match="speed"):
        replay(settings, sim, speed=0, progress=False)


def test_a_stored_day_replays_as_its_events_in_exchange_time_order(settings: Settings) -> None:
    """``--source store``: the tick store's day -> Kafka -> the same events, each partition in
    exchange-time order, the trade ids and sub-penny prices as stored."""
    import psycopg

    from tickflow.simulate.to_store import write_simulated_day
    from tickflow.store.day_events import StoredDay

    write_simulated_day(settings.dsn, simulate_day(DAY, n_symbols=3, seed=6, trades_per_symbol=400,
                                                   quotes_per_symbol=400))
    with psycopg.connect(settings.dsn) as conn:  # a sub-penny price, as real tapes carry
        conn.execute("UPDATE trades SET price = price + 0.0037 WHERE trade_id = (SELECT min(trade_id) FROM trades)")
        stored = {
            "T": sorted(conn.execute("SELECT sym, ts_ns, price, size, exchange, trade_id, conditions, tape, seq "
                                     "FROM trades").fetchall()),
            "Q": sorted(conn.execute("SELECT sym, ts_ns, bid_price, bid_size, ask_price, ask_size, bid_exchange, "
                                     "ask_exchange, conditions, tape, seq FROM quotes").fetchall())}
        first_sym = conn.execute("SELECT min(sym) FROM trades").fetchone()[0]  # type: ignore[index]
    rep = replay(settings, StoredDay(settings.dsn, DAY), speed=1e6, progress=False)
    assert rep.messages == len(stored["T"]) + len(stored["Q"])
    got: dict[str, list[tuple]] = {"T": [], "Q": []}  # type: ignore[type-arg]
    for topic in settings.topics:
        for p, (lo, hi) in watermarks(settings, topic).items():
            ts = []
            for chunk in read_range(settings, topic, p, lo, hi):
                for v in chunk.values:
                    e = json.loads(v)
                    ts.append(e["t"])
                    if e["ev"] == "T":
                        got["T"].append((e["sym"], e["t"], e["p"], e["s"], e["x"], e["i"], e["c"], e["z"], e["q"]))
                    else:
                        got["Q"].append((e["sym"], e["t"], e["bp"], e["bs"], e["ap"], e["as"], e["bx"], e["ax"],
                                         e["c"], e["z"], e["q"]))
            assert ts == sorted(ts), (topic, p)
    for kind in ("T", "Q"):
        assert sorted(got[kind]) == [tuple(row) for row in stored[kind]], kind
    # only the first N stored symbols; an empty day is a clear error
    assert all(k == first_sym.encode() for _, _, k, _ in StoredDay(settings.dsn, DAY, 1).messages(settings))
    with pytest.raises(ValueError, match="holds no trades or quotes"):
        list(StoredDay(settings.dsn, DAY + dt.timedelta(days=3)).messages(settings))
