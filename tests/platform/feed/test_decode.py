"""decode_batch: dead-letter reasons, timestamp units, and property tests against a
reference decoder written here with the stdlib ``json`` module and the same rules."""

from __future__ import annotations

import json
import math
import random
import re
import string
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickflow.feed.decode import DEAD_PAYLOAD_LIMIT, DEFAULT_MIN_TS_NS, decode_batch
from tickflow.feed.events import DecodedBatch

NOW_NS = 1_700_000_000_000_000_000  # 2023-11-14
MAX_TS = NOW_NS + 86_400 * 10**9
LIMIT = 1 << 20
I16 = (-(1 << 15), (1 << 15) - 1)
I64 = (-(1 << 63), (1 << 63) - 1)
SYM_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-/")


def trade(**kw: Any) -> dict[str, Any]:
    ev = {"ev": "T", "sym": "AAPL", "t": NOW_NS // 10**6, "p": 187.23, "s": 100, "x": 4,
          "i": "52983525029461", "c": [14, 41], "z": 3, "q": 1234567}
    ev.update(kw)
    return {k: v for k, v in ev.items() if v is not ...}


def quote(**kw: Any) -> dict[str, Any]:
    ev = {"ev": "Q", "sym": "MSFT", "t": NOW_NS // 10**6, "bp": 370.1, "bs": 2, "ap": 370.12,
          "as": 5, "bx": 11, "ax": 12, "c": [1], "z": 3, "q": 99}
    ev.update(kw)
    return {k: v for k, v in ev.items() if v is not ...}


def enc(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def decode(values: list[bytes], **kw: Any) -> DecodedBatch:
    kw.setdefault("max_ts_ns", MAX_TS)
    return decode_batch(values, **kw)


# ---------------------------------------------------------------------------------------
# reference decoder (stdlib json), the same rules as tickflow.feed.decode
# ---------------------------------------------------------------------------------------


class Bad(Exception):
    pass


def _reject_constant(name: str) -> None:
    raise ValueError(f"invalid constant {name}")


def _checked_float(text: str) -> float:
    f = float(text)
    if math.isinf(f):
        raise ValueError("number out of range")
    return f


def _no_surrogates(v: Any) -> None:
    if isinstance(v, str):
        v.encode("utf-8")  # raises on a lone surrogate
    elif isinstance(v, list):
        for x in v:
            _no_surrogates(x)
    elif isinstance(v, dict):
        for k, x in v.items():
            _no_surrogates(k)
            _no_surrogates(x)


def ref_loads(payload: bytes) -> Any:
    text = payload.decode("utf-8")
    obj = json.loads(text, parse_constant=_reject_constant, parse_float=_checked_float)
    _no_surrogates(obj)
    return obj


def _tn(v: Any) -> str:
    return {type(None): "null", bool: "bool", int: "int", float: "float", str: "str", list: "array",
            dict: "object"}[type(v)]


def _ts_reason(raw: int) -> str:
    ns = raw * 10**6 if raw < 10**13 else raw * 1000 if raw < 10**16 else raw
    return f"implausible timestamp: t={raw} -> {ns} ns, outside [{DEFAULT_MIN_TS_NS}, {MAX_TS}]"


def _num(ev: dict, k: str) -> float:
    if k not in ev:
        raise Bad(f"missing field '{k}'")
    v = ev[k]
    if type(v) is float:
        return v
    if type(v) is int:
        try:
            return float(v)
        except OverflowError:
            return math.copysign(math.inf, v)
    raise Bad(f"field '{k}' has type {_tn(v)}, expected number")


def _int(ev: dict, k: str, rng: tuple[int, int]) -> int:
    v = ev.get(k, 0)
    if type(v) is not int:
        raise Bad(f"field '{k}' has type {_tn(v)}, expected int")
    if not rng[0] <= v <= rng[1]:
        raise Bad(f"field '{k}' out of range: {v} not in [{rng[0]}, {rng[1]}]")
    return v


def ref_event(ev: Any) -> tuple[str, tuple]:
    """('T'|'Q', row) or raise Bad(reason). Row: (ts_ns, floats..., ints..., sym, [id], codes)."""
    if not isinstance(ev, dict):
        raise Bad(f"not an event object: got {_tn(ev)}")
    if "ev" not in ev:
        raise Bad("missing field 'ev'")
    kind = ev["ev"]
    if type(kind) is not str:
        raise Bad(f"field 'ev' has type {_tn(kind)}, expected str")
    if kind not in ("T", "Q"):
        raise Bad(f"unknown event type {kind!r}")
    if "sym" not in ev:
        raise Bad("missing field 'sym'")
    sym = ev["sym"]
    if type(sym) is not str:
        raise Bad(f"field 'sym' has type {_tn(sym)}, expected str")
    if "t" not in ev:
        raise Bad("missing field 't'")
    t = ev["t"]
    if type(t) is not int:
        raise Bad(f"field 't' has type {_tn(t)}, expected int")
    if not I64[0] <= t <= I64[1]:
        raise Bad(_ts_reason(t))

    def codes() -> list[int]:
        c = ev.get("c", [])
        if kind == "Q" and type(c) is int:  # a quote's single condition, as the vendor sends it
            if not I16[0] <= c <= I16[1]:
                raise Bad(f"field 'c' out of range: {c} not in [{I16[0]}, {I16[1]}]")
            return [c]
        if type(c) is not list:
            raise Bad(f"field 'c' has type {_tn(c)}, expected array of int")
        for j, x in enumerate(c):
            if type(x) is not int:
                raise Bad(f"field 'c[{j}]' has type {_tn(x)}, expected int")
            if not I16[0] <= x <= I16[1]:
                raise Bad(f"field 'c[{j}]' out of range: {x} not in [{I16[0]}, {I16[1]}]")
        return c

    if kind == "T":
        p, s = _num(ev, "p"), _num(ev, "s")
        x = _int(ev, "x", I16)
        i = ev.get("i", "")
        if type(i) is int:
            i = str(i)
        elif type(i) is not str:
            raise Bad(f"field 'i' has type {_tn(i)}, expected str or int")
        c = codes()
        z, q = _int(ev, "z", I16), _int(ev, "q", I64)
        floats: list[tuple[str, str, float, bool]] = [("price", "p", p, True), ("size", "s", s, True)]
        row_tail: tuple = (x, z, q, sym.encode(), i.encode(), tuple(c))
    else:
        bp, bs, ap, as_ = _num(ev, "bp"), _num(ev, "bs"), _num(ev, "ap"), _num(ev, "as")
        bx, ax = _int(ev, "bx", I16), _int(ev, "ax", I16)
        c = codes()
        z, q = _int(ev, "z", I16), _int(ev, "q", I64)
        floats = [("bid price", "bp", bp, True), ("bid size", "bs", bs, False),
                  ("ask price", "ap", ap, True), ("ask size", "as", as_, False)]
        row_tail = (bx, ax, z, q, sym.encode(), tuple(c))
    # value validation, in the decoder's order
    if not (1 <= len(sym.encode()) <= 16 and set(sym) <= SYM_CHARS):
        raise Bad(f"invalid symbol: {sym!r} (must be 1-16 characters of A-Z 0-9 . - /)")
    ns = t * 10**6 if t < 10**13 else t * 1000 if t < 10**16 else t
    if not (DEFAULT_MIN_TS_NS <= ns <= MAX_TS and I64[0] <= ns <= I64[1]):
        raise Bad(_ts_reason(t))
    for label, key, v, strict in floats:
        if not math.isfinite(v):
            raise Bad(f"non-finite {label}: {key}={v!r}")
        if strict and v <= 0:
            raise Bad(f"non-positive {label}: {key}={v!r}")
        if not strict and v < 0:
            raise Bad(f"negative {label}: {key}={v!r}")
    return kind, (ns, *(_bits(f[2]) for f in floats), *row_tail)


def _bits(f: float) -> str:
    return struct.pack("<d", f).hex()


def ref_decode(values: list[bytes], max_message_bytes: int = LIMIT) -> dict[str, Any]:
    trades: list[tuple] = []
    quotes: list[tuple] = []
    dead: list[tuple] = []
    for m, payload in enumerate(values):
        if len(payload) > max_message_bytes:
            dead.append((m, -1, "oversize"))
            continue
        if not payload.strip(b" \t\r\n"):
            dead.append((m, -1, "malformed JSON"))
            continue
        try:
            obj = ref_loads(payload)
        except (ValueError, RecursionError):
            dead.append((m, -1, "malformed JSON"))
            continue
        if isinstance(obj, list):
            if not obj:
                dead.append((m, -1, "empty array"))
                continue
            events = list(enumerate(obj))
        elif isinstance(obj, dict):
            events = [(-1, obj)]
        else:
            dead.append((m, -1, f"not an event object: got {_tn(obj)}"))
            continue
        for pos, ev in events:
            try:
                kind, row = ref_event(ev)
            except Bad as exc:
                dead.append((m, pos, str(exc)))
                continue
            (trades if kind == "T" else quotes).append((m, *row))
    return {"trades": trades, "quotes": quotes, "dead": dead}


def batch_rows(b: DecodedBatch) -> dict[str, Any]:
    """The batch in the reference's shape."""
    text, cond = b.text.tobytes(), b.cond.tolist()

    def s(start: int, n: int) -> bytes:
        return text[start:start + n]

    def c(start: int, n: int) -> tuple:
        return tuple(cond[start:start + n])

    t, q = b.trades, b.quotes
    trades = [
        (int(t.msg[r]), int(t.ts_ns[r]), _bits(t.price[r]), _bits(t.size[r]), int(t.exchange[r]),
         int(t.tape[r]), int(t.seq[r]), s(t.sym_start[r], t.sym_len[r]), s(t.id_start[r], t.id_len[r]),
         c(t.cond_start[r], t.cond_len[r]))
        for r in range(len(t))]
    quotes = [
        (int(q.msg[r]), int(q.ts_ns[r]), _bits(q.bid_price[r]), _bits(q.bid_size[r]),
         _bits(q.ask_price[r]), _bits(q.ask_size[r]), int(q.bid_exchange[r]), int(q.ask_exchange[r]),
         int(q.tape[r]), int(q.seq[r]), s(q.sym_start[r], q.sym_len[r]), c(q.cond_start[r], q.cond_len[r]))
        for r in range(len(q))]
    dead = []
    for d in b.dead:
        reason = d.reason
        for prefix in ("malformed JSON", "oversize"):
            if reason.startswith(prefix):
                reason = prefix
        dead.append((d.msg, d.event_index, reason))
    return {"trades": trades, "quotes": quotes, "dead": dead}


def check_against_reference(values: list[bytes], **kw: Any) -> DecodedBatch:
    b = decode(values, **kw)
    got = batch_rows(b)
    want = ref_decode(values, kw.get("max_message_bytes", LIMIT))
    assert got["trades"] == want["trades"]
    assert got["quotes"] == want["quotes"]
    assert got["dead"] == want["dead"]
    check_invariants(values, b)
    return b


def check_invariants(values: list[bytes], b: DecodedBatch) -> None:
    n = len(values)
    seen = set(b.trades.msg.tolist()) | set(b.quotes.msg.tolist()) | {d.msg for d in b.dead}
    assert seen == set(range(n)), "a message produced neither rows nor dead letters"
    for cols in (b.trades, b.quotes):
        assert np.all(np.diff(cols.msg) >= 0), "rows not in input order"
        assert cols.ts_ns.dtype == np.int64 and cols.msg.dtype == np.int32
        assert np.all(cols.sym_start + cols.sym_len <= b.text.shape[0])
        assert np.all(cols.cond_start + cols.cond_len <= b.cond.shape[0])
    assert b.cond.dtype == np.int16 and b.text.dtype == np.uint8
    keys = [(d.msg, d.event_index) for d in b.dead]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    for d in b.dead:
        assert isinstance(d.payload, bytes)
        raw = values[d.msg]
        if d.event_index < 0:
            assert d.payload == raw[:DEAD_PAYLOAD_LIMIT]
        else:  # the element's own JSON
            assert ref_loads(d.payload) == ref_loads(raw)[d.event_index]


# ---------------------------------------------------------------------------------------
# examples: each dead-letter reason
# ---------------------------------------------------------------------------------------


def one_dead(payload: bytes, **kw: Any) -> str:
    b = decode([payload], **kw)
    assert len(b.trades) == 0 and len(b.quotes) == 0
    assert len(b.dead) == 1 and b.dead[0].msg == 0
    return b.dead[0].reason


def test_valid_trade_and_quote() -> None:
    b = check_against_reference([enc(trade()), enc([quote(), trade(sym="BRK.B", i=77)])])
    t, q = b.trades, b.quotes
    assert t.msg.tolist() == [0, 1] and q.msg.tolist() == [1]
    assert t.price.tolist() == [187.23, 187.23] and t.size.tolist() == [100.0, 100.0]
    assert t.exchange.tolist() == [4, 4] and t.tape.tolist() == [3, 3] and t.seq.tolist() == [1234567] * 2
    assert t.ts_ns.tolist() == [NOW_NS, NOW_NS]
    sym = [b.text[s:s + n].tobytes() for s, n in zip(t.sym_start, t.sym_len, strict=True)]
    tid = [b.text[s:s + n].tobytes() for s, n in zip(t.id_start, t.id_len, strict=True)]
    assert sym == [b"AAPL", b"BRK.B"] and tid == [b"52983525029461", b"77"]
    assert b.cond[t.cond_start[0]:t.cond_start[0] + t.cond_len[0]].tolist() == [14, 41]
    assert q.bid_price.tolist() == [370.1] and q.ask_size.tolist() == [5.0]
    assert q.bid_exchange.tolist() == [11] and q.ask_exchange.tolist() == [12]
    assert not b.dead


def test_optional_fields_default() -> None:
    b = decode([enc(trade(x=..., i=..., c=..., z=..., q=...)), enc(quote(bx=..., ax=..., c=..., z=..., q=...))])
    assert b.trades.exchange.tolist() == [0] and b.trades.id_len.tolist() == [0]
    assert b.trades.cond_len.tolist() == [0] and b.trades.seq.tolist() == [0]
    assert b.quotes.bid_exchange.tolist() == [0] and b.quotes.cond_len.tolist() == [0]


def test_malformed_json() -> None:
    assert one_dead(b'{"ev":"T","sym":"AAPL","t":1,').startswith("malformed JSON: ")
    assert one_dead(b"\xff\xfe not json").startswith("malformed JSON: ")
    assert one_dead(b"") == "malformed JSON: empty message"
    assert one_dead(b'{"ev":"T"} trailing').startswith("malformed JSON: ")
    assert one_dead(b'{"ev":"T","p":NaN}').startswith("malformed JSON: ")


def test_missing_field() -> None:
    assert one_dead(enc(trade(p=...))) == "missing field 'p'"
    assert one_dead(enc(trade(sym=...))) == "missing field 'sym'"
    assert one_dead(enc(quote(ap=...))) == "missing field 'ap'"
    assert one_dead(b'{"sym":"AAPL"}') == "missing field 'ev'"


def test_mistyped_field() -> None:
    assert one_dead(enc(trade(p="187.23"))) == "field 'p' has type str, expected number"
    assert one_dead(enc(trade(s=True))) == "field 's' has type bool, expected number"
    assert one_dead(enc(trade(x=4.0))) == "field 'x' has type float, expected int"
    assert one_dead(enc(trade(t=1.7e12))) == "field 't' has type float, expected int"
    assert one_dead(enc(trade(sym=None))) == "field 'sym' has type null, expected str"
    assert one_dead(enc(trade(i=[1]))) == "field 'i' has type array, expected str or int"
    assert one_dead(enc(trade(c=[1, "2"]))) == "field 'c[1]' has type str, expected int"
    assert one_dead(enc(trade(c=5))) == "field 'c' has type int, expected array of int"
    assert one_dead(enc(trade(x=70000))) == "field 'x' out of range: 70000 not in [-32768, 32767]"
    assert one_dead(enc(quote(ev=1))) == "field 'ev' has type int, expected str"


def test_non_positive_price_or_size() -> None:
    assert one_dead(enc(trade(p=-1.5))) == "non-positive price: p=-1.5"
    assert one_dead(enc(trade(p=0))) == "non-positive price: p=0.0"
    assert one_dead(enc(trade(s=0))) == "non-positive size: s=0.0"
    assert one_dead(enc(quote(bp=0))) == "non-positive bid price: bp=0.0"
    assert one_dead(enc(quote(ap=-2))) == "non-positive ask price: ap=-2.0"
    assert one_dead(enc(quote(bs=-1))) == "negative bid size: bs=-1.0"
    assert one_dead(b'{"ev":"T","sym":"A","t":1700000000000,"p":1' + b"0" * 400 + b',"s":1}') == (
        "non-finite price: p=inf")
    # zero sizes and crossed quotes are kept
    b = decode([enc(quote(bs=0, **{"as": 0})), enc(quote(bp=10.0, ap=9.0))])
    assert len(b.quotes) == 2 and not b.dead


def test_unknown_event_type() -> None:
    assert one_dead(b'{"ev":"status","status":"connected"}') == "unknown event type 'status'"
    assert one_dead(enc(trade(ev="XX"))) == "unknown event type 'XX'"


def test_implausible_timestamp() -> None:
    assert one_dead(enc(trade(t=42))) == _ts_reason(42)
    far = (MAX_TS + 1) // 1000  # µs, just past max_ts_ns
    assert one_dead(enc(trade(t=far + 1))) == _ts_reason(far + 1)
    assert one_dead(enc(trade(t=-5))).startswith("implausible timestamp: t=-5 ")
    assert one_dead(enc(trade(t=10**30))).startswith("implausible timestamp: t=1000000000000000000000000000000 ")
    assert one_dead(enc(trade(t=-(10**18)))).startswith("implausible timestamp: ")
    # min_ts_ns / max_ts_ns are parameters
    b = decode([enc(trade())], max_ts_ns=NOW_NS - 1)
    assert len(b.trades) == 0 and b.dead[0].reason.startswith("implausible timestamp: ")
    b = decode([enc(trade(t=42))], min_ts_ns=0)
    assert b.trades.ts_ns.tolist() == [42_000_000]


def test_default_max_timestamp_is_now_plus_a_day() -> None:
    import time

    now = time.time_ns()
    ok = decode_batch([enc(trade(t=now + 3600 * 10**9))])
    late = decode_batch([enc(trade(t=now + 2 * 86_400 * 10**9))])
    assert len(ok.trades) == 1 and len(late.trades) == 0
    assert late.dead[0].reason.startswith("implausible timestamp: ")


def test_oversize_message() -> None:
    small = enc(trade(pad="x" * 200))
    reason = one_dead(small, max_message_bytes=100)
    assert reason == f"oversize message: {len(small)} bytes > limit 100"
    big = enc(trade(pad="x" * 100_000))
    b = decode([enc(trade()), big, enc(trade())], max_message_bytes=50_000)
    assert b.trades.msg.tolist() == [0, 2]
    (d,) = b.dead
    assert d.msg == 1 and d.event_index == -1
    assert d.reason == (f"oversize message: {len(big)} bytes > limit 50000 "
                        f"(payload truncated to the first {DEAD_PAYLOAD_LIMIT} bytes)")
    assert d.payload == big[:DEAD_PAYLOAD_LIMIT]


def test_other_reasons() -> None:
    assert one_dead(b"[]") == "empty array"
    assert one_dead(b" [ ] ") == "empty array"
    assert one_dead(b"42") == "not an event object: got int"
    assert one_dead(enc(trade(sym="aapl"))) == (
        "invalid symbol: 'aapl' (must be 1-16 characters of A-Z 0-9 . - /)")
    assert one_dead(enc(trade(sym=""))).startswith("invalid symbol: ''")
    assert one_dead(enc(trade(sym="A" * 17))).startswith("invalid symbol: ")
    b = decode([b"[1, " + enc(trade()) + b"]"])
    assert len(b.trades) == 1 and [(d.event_index, d.reason) for d in b.dead] == [
        (0, "not an event object: got int")]


def test_non_bytes_payload_is_a_dead_letter() -> None:
    values: list[Any] = [enc(trade()), None, "text", enc(quote())]
    b = decode_batch(values, max_ts_ns=MAX_TS)
    assert b.trades.msg.tolist() == [0] and b.quotes.msg.tolist() == [3]
    assert [(d.msg, d.reason) for d in b.dead] == [
        (1, "decoder error: payload is NoneType, expected bytes"),
        (2, "decoder error: payload is str, expected bytes")]


def test_array_events_fail_individually() -> None:
    good, bad_p, bad_sym = trade(), trade(p=-1), trade(sym="bad")
    raw = b"[" + enc(good) + b" ,\n " + enc(bad_p) + b"," + enc(bad_sym) + b"]"
    b = check_against_reference([raw])
    assert b.trades.msg.tolist() == [0]
    assert [(d.event_index, d.reason.split(":")[0]) for d in b.dead] == [
        (1, "non-positive price"), (2, "invalid symbol")]
    assert b.dead[0].payload == enc(bad_p)  # the element's exact bytes
    # all bad: one dead letter per event
    b = decode([enc([trade(p=0), quote(bp=0)])])
    assert [(d.msg, d.event_index) for d in b.dead] == [(0, 0), (0, 1)]
    # the same through the slow path (an escape forces it): payload is the re-encoded event
    b = decode([b'[{"ev":"T","sym":"A\\u0041","t":1700000000000,"p":0,"s":1}]'])
    assert json.loads(b.dead[0].payload) == {"ev": "T", "sym": "AA", "t": 1700000000000, "p": 0, "s": 1}


def test_timestamp_units() -> None:
    ns = 1_700_000_123_456_789_000
    forms = [ns // 10**6, ns // 10**3, ns]  # ms, µs, ns
    b = decode([enc(trade(t=t)) for t in forms])
    assert b.trades.ts_ns.tolist() == [ns // 10**6 * 10**6, ns // 10**3 * 10**3, ns]
    # boundaries of the unit rule: t < 1e13 is ms, t < 1e16 is µs, else ns
    b = decode([enc(trade(t=t)) for t in (9 * 10**12, 10**13, 9 * 10**15, 10**16)], min_ts_ns=0,
               max_ts_ns=2**63 - 1)
    assert b.trades.ts_ns.tolist() == [9 * 10**18, 10**16, 9 * 10**18, 10**16]
    # a value whose ns form does not fit int64 is implausible, whatever the bounds
    b = decode([enc(trade(t=t)) for t in (10**13 - 1, 10**16 - 1)], min_ts_ns=0, max_ts_ns=2**63 - 1)
    assert len(b.trades) == 0
    assert [d.reason.split(" ->")[0] for d in b.dead] == [
        f"implausible timestamp: t={10**13 - 1}", f"implausible timestamp: t={10**16 - 1}"]
    # the slow path normalises the same way
    b = decode([b'{"ev":"T","sym":"\\u0041","t":%d,"p":1,"s":1}' % t for t in forms])
    assert b.trades.ts_ns.tolist() == [ns // 10**6 * 10**6, ns // 10**3 * 10**3, ns]


def test_trade_id_integer_text() -> None:
    b = decode([enc(trade(i=i)) for i in (0, 7, -12, 123456789012345678901234567890)] + [
        b'{"ev":"T","sym":"A","t":1700000000000,"p":1,"s":1,"i":-0}'])
    ids = [b.text[s:s + n].tobytes() for s, n in zip(b.trades.id_start, b.trades.id_len, strict=True)]
    assert ids == [b"0", b"7", b"-12", b"123456789012345678901234567890", b"0"]


@pytest.mark.parametrize("text", [
    "0.1", "187.23", "1e23", "9007199254740993", "9007199254740992.5", "123456789012345678",
    "1234567890123456789", "0.30000000000000004", "2.2250738585072014e-308", "5e-324",
    "1.7976931348623157e308", "8.98846567431158e307", "4.9406564584124654e-324", "1E22", "1e-22",
    "12345678901234567e5", "0.000000000000000000000000000001", "1.00000000000000000000000001",
    "100000000000000000000000000000000000000e-30", "7.0e-10", "1e-0", "1.5E+3", "22.5e-1",
])
def test_numbers_exact(text: str) -> None:
    payload = b'{"ev":"T","sym":"A","t":1700000000000,"p":%s,"s":%s}' % (text.encode(), text.encode())
    b = decode([payload])
    assert b.trades.price.tolist() == [float(text)] and b.trades.size.tolist() == [float(text)]


def test_fast_and_slow_rows_keep_input_order() -> None:
    slow_t = b'{"ev":"T","sym":"\\u0041","t":1700000000000,"p":1,"s":1}'  # escape -> slow path
    values = [enc(trade(q=0)), slow_t, enc([quote(q=2), trade(q=3)]),
              b'[' + slow_t + b',' + enc(quote(q=5)) + b']', enc(trade(q=6))]
    b = check_against_reference(values)
    assert b.trades.msg.tolist() == [0, 1, 2, 3, 4] and b.trades.seq.tolist() == [0, 0, 3, 0, 6]
    assert b.quotes.msg.tolist() == [2, 3] and b.quotes.seq.tolist() == [2, 5]


def test_unknown_keys_any_value_and_duplicates() -> None:
    extra = {"trfi": 202, "trft": 1.5e3, "nested": {"a": [1, {"b": None}], "c": "x\u00e9"},
             "flag": True, "empty": [], "obj": {}}
    b = check_against_reference([enc(trade(**extra)), b'{"ev":"T","ev":"T","sym":"A","t":1700000000000,"p":1,"s":1}',
                                 b'{"ev":"T","sym":"A","t":1700000000000,"p":1,"s":1,"bp":"x","i":[]}',
                                 b'{"ev":"Q","sym":"A","t":1700000000000,"bp":1,"bs":1,"ap":1,"as":1,"p":{}}'])
    assert b.trades.msg.tolist() == [0, 1] and b.quotes.msg.tolist() == [3]
    assert [d.msg for d in b.dead] == [2]


def test_internal_error_falls_back_to_the_slow_path(monkeypatch: pytest.MonkeyPatch) -> None:
    import tickflow.feed.decode as dec

    def boom(*args: Any) -> None:
        raise RuntimeError("kernel failure")

    values = [enc(trade()), enc([quote(), trade(p=0)]), b"{", enc(trade(x=1 << 20)), b"x" * 2000]
    assert decode(values, max_message_bytes=1000).fast_path_fallbacks == 0
    monkeypatch.setattr(dec, "_scan", boom)
    b = check_against_reference(values, max_message_bytes=1000)
    assert b.trades.msg.tolist() == [0] and b.quotes.msg.tolist() == [1]
    assert b.fast_path_fallbacks == 1


def test_fast_path_failures_are_logged_once_per_kind_and_counted(monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    import tickflow.feed.decode as dec

    monkeypatch.setattr(dec, "_fallbacks_logged", set())
    errors: list[Exception] = [RuntimeError("kernel failure"), RuntimeError("again"), IndexError("other kind")]

    def boom(*args: Any) -> None:
        raise errors.pop(0)

    monkeypatch.setattr(dec, "_scan", boom)
    with caplog.at_level("WARNING", logger="tickflow.feed.decode"):
        counts = [decode([enc(trade())]).fast_path_fallbacks for _ in range(3)]
    assert counts == [1, 1, 1]
    logged = [r for r in caplog.records if "fast path failed" in r.getMessage()]
    assert [r.exc_info[1].__class__.__name__ for r in logged if r.exc_info] == ["RuntimeError", "IndexError"]


def test_a_quotes_single_condition_may_be_a_bare_integer() -> None:
    # The vendor's stock quotes send "c" as one integer; trades always send an array.
    b = check_against_reference([enc(quote(c=1)), enc(quote(c=70000)), enc(trade(c=14))])
    q = b.quotes
    assert q.msg.tolist() == [0] and b.cond[q.cond_start[0]:q.cond_start[0] + q.cond_len[0]].tolist() == [1]
    assert [d.reason for d in b.dead] == ["field 'c' out of range: 70000 not in [-32768, 32767]",
                                          "field 'c' has type int, expected array of int"]


def test_deep_nesting_and_empty_batch() -> None:
    deep = b'{"ev":"T","sym":"A","t":1700000000000,"p":1,"s":1,"u":' + b"[" * 100 + b"]" * 100 + b"}"
    b = check_against_reference([deep, b"[" * 5000 + b"]" * 5000])
    assert b.trades.msg.tolist() == [0]
    b = decode([])
    assert len(b.trades) == 0 and len(b.quotes) == 0 and not b.dead and b.cond.shape == (0,)


# ---------------------------------------------------------------------------------------
# property tests
# ---------------------------------------------------------------------------------------

WS = " \t\n\r"
ASCII_ID = string.ascii_letters + string.digits + " -_:.#"


def number_text(rnd: random.Random, kind: str, hard: bool) -> str:
    """Valid JSON number text for a price/size field: the forms real feeds send (and the
    kernel converts), or if ``hard`` also 17 significant digits, exponents, huge or tiny
    magnitudes, negative, zero."""
    r = rnd.random() * (1.0 if hard else 0.6)
    if r < 0.45:
        return repr(round(rnd.uniform(0.01, 5000), rnd.randint(0, 6)))
    if r < 0.6:
        return str(rnd.randint(1, 10**rnd.randint(1, 7)))
    if r < 0.75:
        f = struct.unpack("<d", rnd.randbytes(8))[0]
        if not math.isfinite(f):
            f = 1.0
        return repr(abs(f) if rnd.random() < 0.8 else f)
    if r < 0.95:
        mant = str(rnd.randint(0, 10**rnd.randint(1, 20)))
        frac = "." + "0" * rnd.randint(0, 3) + str(rnd.randint(0, 10**rnd.randint(0, 20))) if rnd.random() < 0.7 else ""
        exp = (rnd.choice("eE") + rnd.choice(["", "+", "-"]) + str(rnd.randint(0, 40))) if rnd.random() < 0.5 else ""
        return ("-" if rnd.random() < 0.05 else "") + mant + frac + exp
    return repr(rnd.choice([0.1, 0.5, 1e22, 1e23, 9007199254740993.0, 5e-324, 1.7976931348623157e308,
                            2.0**53, 2.0**53 + 2, 0.0, -0.0, 123.456, 1e-7, 4.35, 1e15]))


def str_text(rnd: random.Random, s: str, escapes: float) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif o < 0x20:
            out.append(rnd.choice([f"\\u{o:04x}"] + (["\\n"] if ch == "\n" else [])))
        elif rnd.random() < escapes:
            if o > 0xFFFF:
                hi, lo = 0xD800 + ((o - 0x10000) >> 10), 0xDC00 + ((o - 0x10000) & 0x3FF)
                out.append(f"\\u{hi:04x}\\u{lo:04X}")
            else:
                out.append(rnd.choice([f"\\u{o:04x}", f"\\u{o:04X}"]) if ch != "/" else "\\/")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


class Num:
    """A number field given as exact JSON text."""

    def __init__(self, text: str) -> None:
        self.text = text


def dump(rnd: random.Random, v: Any, ws: float, escapes: float) -> str:
    """JSON text for v with random whitespace and (with probability ``escapes`` per
    character) \\u escapes."""
    def w() -> str:
        return "".join(rnd.choice(WS) for _ in range(rnd.randint(1, 3))) if rnd.random() < ws else ""

    if isinstance(v, Num):
        return v.text
    if v is None or isinstance(v, bool):
        return json.dumps(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return str_text(rnd, v, escapes)
    if isinstance(v, list):
        return "[" + w() + ("," + w()).join(dump(rnd, x, ws, escapes) + w() for x in v) + "]"
    return "{" + w() + ("," + w()).join(
        str_text(rnd, k, escapes) + w() + ":" + w() + dump(rnd, x, ws, escapes) + w() for k, x in v.items()) + "}"


def seeded_random(draw: st.DrawFn) -> random.Random:
    """A plain Random seeded from a Hypothesis draw: Hypothesis records the seed, so a
    failing example replays exactly (``use_true_random=True`` could not be replayed or
    shrunk), while the values keep a plain Random's uniform spread (a Hypothesis-driven
    ``st.randoms()`` skews its draws toward 0 and the edges)."""
    return random.Random(draw(st.integers(0, 2**64 - 1)))


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20),
                      st.floats(allow_nan=False, allow_infinity=False),
                      st.text(ASCII_ID, max_size=8), st.text(max_size=4))
json_value = st.recursive(json_leaf, lambda ch: st.one_of(st.lists(ch, max_size=3),
                                                          st.dictionaries(st.text(ASCII_ID, max_size=4), ch,
                                                                          max_size=3)),
                          max_leaves=6)
sym_valid = st.text(alphabet=sorted(SYM_CHARS), min_size=1, max_size=16)
REQUIRED = {"ev", "sym", "t", "p", "s", "bp", "bs", "ap", "as"}


@st.composite
def event(draw: st.DrawFn, bad: float = 0.1) -> dict[str, Any]:
    """A Polygon event: valid with probability about 1 - 4 * bad, else with one or more
    defects (unknown type, bad symbol, implausible time, wrong type, missing field)."""
    rnd = seeded_random(draw)
    hard = rnd.random() < 0.3
    kind = "X" if rnd.random() < bad / 2 else rnd.choice("TQ")
    sym = draw(st.text(max_size=18)) if rnd.random() < bad else draw(sym_valid)
    ev: dict[str, Any] = {"ev": kind, "sym": sym}
    base = NOW_NS - draw(st.integers(0, 20 * 365 * 86_400 * 10**9))
    unit = rnd.choice([10**6, 10**3, 1])
    ev["t"] = draw(st.integers(-(10**19), 10**20)) if rnd.random() < bad else base // unit
    fields = ["p", "s", "x", "i", "c", "z", "q"] if kind == "T" else ["bp", "bs", "ap", "as", "bx", "ax", "c", "z", "q"]
    for f in fields:
        if f in ("p", "s", "bp", "bs", "ap", "as"):
            ev[f] = Num(number_text(rnd, "price" if f in ("p", "bp", "ap") else "size", hard))
        elif f == "i":
            ev[f] = (draw(st.integers(-(10**20), 10**20) if hard else st.integers(0, 10**15)) if rnd.random() < 0.3
                     else draw(st.text(max_size=20)) if rnd.random() < bad else draw(st.text(ASCII_ID, max_size=20)))
        elif f == "c":
            ev[f] = draw(st.lists(st.integers(-40000, 40000) if rnd.random() < bad else st.integers(0, 60),
                                  max_size=4))
        elif f == "q":
            ev[f] = draw(st.integers(-(2**64), 2**64) if rnd.random() < bad else st.integers(0, 10**12))
        else:
            ev[f] = draw(st.integers(-40000, 40000) if rnd.random() < bad else st.integers(0, 30))
    for f in list(ev):  # drop optional fields often, required ones rarely
        if rnd.random() < (bad / 5 if f in REQUIRED else 0.25):
            del ev[f]
    if rnd.random() < bad:  # a wrong type
        ev[rnd.choice([*ev, "p"])] = draw(json_value)
    if rnd.random() < 0.3:  # unknown keys, any value
        for _ in range(rnd.randint(1, 2)):
            ev[rnd.choice(["trfi", "trft", "u", "sym2", "pp", "zz", "ev2", "", "e", "ts"])] = draw(json_value)
    items = list(ev.items())
    rnd.shuffle(items)
    return dict(items)


@st.composite
def message(draw: st.DrawFn, bad: float = 0.05) -> bytes:
    rnd = seeded_random(draw)
    ws = rnd.choice([0.0, 0.0, 0.2, 0.8])
    escapes = 0.05 if rnd.random() < 0.15 else 0.0
    if rnd.random() < 0.5:
        obj: Any = draw(event(bad))
    else:
        obj = draw(st.lists(event(bad), min_size=1, max_size=4))
    text = dump(rnd, obj, ws, escapes)
    if ws and rnd.random() < 0.5:
        text = rnd.choice(WS) + text + rnd.choice(WS)
    return text.encode("utf-8")


PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(st.lists(message(), min_size=1, max_size=6))
def test_property_valid_events_match_reference(values: list[bytes]) -> None:
    check_against_reference(values)


MUTATION_BYTES = b'{}[]:,"\\-+.eE0123456789 \t\n\x00\x1f\x7f\x80\xc3\xff' + b"truefalsenull"


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A message with 1-3 small edits: most stay close to valid JSON (a digit, a sign, a
    dot or exponent, whitespace, a quote or bracket changed), so the kernel's grammar and
    number checks are what decides."""
    raw = bytearray(draw(message(bad=0.0)))
    rnd = seeded_random(draw)
    for _ in range(1 if rnd.random() < 0.6 else rnd.randint(2, 3)):
        op = rnd.randrange(7)
        at = rnd.randrange(len(raw) + 1)
        pool = rnd.choice([MUTATION_BYTES, b"0123456789", b"0-.eE+"])
        if op <= 1 and raw:  # replace a byte
            raw[min(at, len(raw) - 1)] = rnd.choice(pool)
        elif op == 2:  # insert
            raw[at:at] = bytes([rnd.choice(pool)])
        elif op == 3:  # delete a range
            del raw[at:at + rnd.randint(1, 4)]
        elif op == 4:  # truncate
            del raw[at:]
        elif op == 5:  # duplicate a slice
            raw[at:at] = raw[max(0, at - rnd.randint(1, 12)):at]
        elif raw:  # flip a bit
            raw[min(at, len(raw) - 1)] ^= 1 << rnd.randrange(8)
    return bytes(raw)


NUMBER_TOKENS = ["01", "-01", "1.", ".5", "-", "+1", "1e", "1e+", "1.5.3", "--1", "0x10", "1e400", "-1e400",
                 "-0", "-0.0", "0e0", "00", "1.0e-0", "1E+05", "9223372036854775807", "9223372036854775808",
                 "-9223372036854775808", "18446744073709551616", "4.9e-324", "1e-400", "Infinity", "NaN",
                 "true", "null", '"1"', "[]", "{}", "1 2", "2.", "1e5.5", "1.e5", "0.1e", "123456789012345678901"]


@st.composite
def token_mutated(draw: st.DrawFn) -> bytes:
    """A clean message with one token edited: a number replaced by an odd or invalid
    numeric text, or a string given a control byte, backslash, quote or non-ASCII byte,
    or a key duplicated / a separator doubled."""
    text = draw(message(bad=0.0)).decode()
    rnd = seeded_random(draw)
    op = rnd.randrange(3)
    if op == 0:
        spans = [m.span() for m in re.finditer(r"-?\d[\d.eE+-]*", text)]
        if spans:
            a, b = rnd.choice(spans)
            new = rnd.choice(NUMBER_TOKENS) if rnd.random() < 0.6 else "".join(
                rnd.choice("0123456789-.eE+") for _ in range(rnd.randint(1, 8)))
            text = text[:a] + new + text[b:]
    elif op == 1:
        spans = [m.span() for m in re.finditer(r'"[^"\\]*"', text)]
        if spans:
            a, b = rnd.choice(spans)
            at = rnd.randint(a + 1, b - 1)
            text = text[:at] + rnd.choice(["\x01", "\\", '"', "\u00e9", "\x7f", "\\u0041", "\\x", "\t"]) + text[at:]
    else:
        spans = [m.span() for m in re.finditer(r"[,:\[\]{}]", text)]
        if spans:
            a, b = rnd.choice(spans)
            text = text[:a] + rnd.choice([",,", "::", ",]", ",}", "", "[", "{}", '"ev":"T",', '"p":1,']) + text[b:]
    return text.encode("utf-8", "surrogatepass")


@PROPS
@given(st.lists(st.one_of(token_mutated(), token_mutated(), mutated(), message(), st.binary(max_size=60)),
                min_size=1, max_size=6))
def test_property_token_edits_never_raise_and_match_reference(values: list[bytes]) -> None:
    check_against_reference(values)


@PROPS
@given(st.lists(st.one_of(mutated(), mutated(), mutated(), message(), st.binary(max_size=60)),
                min_size=1, max_size=6))
def test_property_mutations_never_raise_and_match_reference(values: list[bytes]) -> None:
    check_against_reference(values)


@settings(max_examples=40, deadline=None)
@given(st.lists(message(), min_size=1, max_size=4), st.integers(1, 400))
def test_property_oversize_limit(values: list[bytes], limit: int) -> None:
    check_against_reference(values, max_message_bytes=limit)
