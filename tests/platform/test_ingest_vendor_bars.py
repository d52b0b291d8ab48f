"""The minute-aggregates topic into vendor_bars, exactly once, with dead letters."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import psycopg

from tickflow import sessions
from tickflow.config import Settings
from tickflow.feed.minute_aggs import decode_aggs
from tickflow.ingest_vendor_bars import catch_up_aggs, ingest_agg_ranges
from tickflow.kafka.producer import produce
from tickflow.kafka.reader import watermarks
from tickflow.stack.kafka import ensure_topics

DAY = dt.date(2024, 3, 7)
S0 = sessions.session_bounds_ns(DAY)[0] // 1_000_000  # ms


def _am(sym: str, k: int, **kw: object) -> dict[str, object]:
    ev: dict[str, object] = {"ev": "AM", "sym": sym, "v": 100 + k, "av": 5000, "op": 10.0, "vw": 10.0125,
                             "o": 10.0, "c": 10.02, "h": 10.05, "l": 9.99, "a": 10.01, "z": 50,
                             "s": S0 + 60_000 * k, "e": S0 + 60_000 * (k + 1)}
    ev.update(kw)
    return ev


def test_decode_checks_each_event() -> None:
    good = _am("AAPL", 0)
    msgs = [json.dumps(good).encode(), json.dumps([_am("MSFT", 1), _am("MSFT", 2, h=9.0), {"ev": "T"}]).encode(),
            b"{not json", json.dumps(_am("aapl", 3)).encode(), json.dumps(_am("AAPL", 4, e=S0)).encode()]
    dec = decode_aggs(msgs)
    cols = dec.columns()
    assert dec.symbols == ["AAPL", "MSFT"] and cols["msg"].tolist() == [0, 1]
    assert cols["ts"].tolist() == [S0 * 1_000_000, (S0 + 60_000) * 1_000_000]
    assert cols["vwap"].tolist() == [10.0125, 10.0125] and cols["avg_size"].tolist() == [50.0, 50.0]
    reasons = {(d.msg, d.event_index): d.reason for d in dec.dead}
    assert reasons[(1, 1)].startswith("inconsistent bar")
    assert reasons[(1, 2)].startswith("invalid minute aggregate")
    assert reasons[(2, -1)].startswith("malformed JSON")
    assert reasons[(3, -1)].startswith("invalid symbol: 'aapl'")
    assert reasons[(4, -1)].startswith("not a one-minute window")
    assert json.loads(next(d.payload for d in dec.dead if d.event_index == 1))["h"] == 9.0


def test_topic_ingested_exactly_once(settings: Settings) -> None:
    s = settings.with_(topic_minute_aggs=f"aggs_{uuid.uuid4().hex[:8]}")
    ensure_topics(s.bootstrap, (s.topic_minute_aggs,), 2)
    msgs = [json.dumps([_am(sym, k) for sym in ("AAPL", "MSFT")]).encode() for k in range(5)]
    msgs.append(json.dumps(_am("IBM", 0, s=S0 + 2 * 86_400_000, e=S0 + 2 * 86_400_000 + 60_000)).encode())  # Saturday
    msgs.append(json.dumps(_am("IBM", 1, o=-1)).encode())
    produce(s, s.topic_minute_aggs, [(b"k%d" % (i % 2), m, S0) for i, m in enumerate(msgs)])
    first = catch_up_aggs(s)
    assert (first.messages, first.bars, first.dead_letters) == (7, 10, 2)
    assert first.days == {DAY}
    again = ingest_agg_ranges(s, {p: (lo, hi) for p, (lo, hi) in watermarks(s, s.topic_minute_aggs).items()})
    assert (again.messages, again.bars, again.ledger_rows) == (0, 0, [])
    with psycopg.connect(s.dsn) as conn:
        got = conn.execute("SELECT count(*), sum(volume), min(day), max(day), min(source) FROM vendor_bars").fetchone()
        dead = conn.execute("SELECT reason FROM dead_letters WHERE topic = %s ORDER BY reason",
                            (s.topic_minute_aggs,)).fetchall()
    assert got == (10, float(2 * sum(100 + k for k in range(5))), DAY, DAY, 1)
    assert dead[0][0].startswith("minute ") and "not an XNYS trading day" in dead[0][0]
    assert dead[1][0].startswith("non-positive or non-finite price")
