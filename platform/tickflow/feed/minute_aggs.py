"""Decoding the vendor's minute-aggregate events (``ev: AM``) from Kafka payloads.

A payload is one event object or a JSON array of them, exactly as the vendor sends them:
``{"ev":"AM","sym":"AAPL","v":4110,"av":9470157,"op":170.0,"vw":170.28,"o":170.25,"c":170.3,
"h":170.33,"l":170.2,"a":170.11,"z":685,"s":1709821800000,"e":1709821860000}`` (``s``/``e``
the window's start/end in ms, ``vw`` the window's VWAP, ``z`` its average trade size).
Minute events are few (one per symbol-minute), so they are decoded with msgspec per event;
an event that fails a check becomes a dead letter with its reason and its own JSON.

Checks: ``ev`` is ``AM``; the symbol follows the tick decoder's rule (1-16 of
``A-Z 0-9 . - /``); ``e - s`` is one minute; prices finite and > 0 with
``low <= open, close <= high``; ``v >= 0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from tickflow.feed.decode import _SYM_MAX, _SYM_OK
from tickflow.feed.events import DeadLetter


class MinuteAgg(msgspec.Struct):
    ev: str
    sym: str
    v: float
    o: float
    c: float
    h: float
    l: float  # noqa: E741 - the vendor's field name
    s: int
    e: int
    vw: float | None = None
    z: float | None = None
    av: float | None = None
    op: float | None = None
    a: float | None = None


_COLS = ("msg", "sym", "ts", "open", "high", "low", "close", "volume", "vwap", "avg_size")


@dataclass
class DecodedAggs:
    """Columns for :func:`tickflow.store.vendor_bars.write_bars` (``msg`` = message index)."""

    symbols: list[str] = field(default_factory=list)
    rows: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in _COLS})
    dead: list[DeadLetter] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows["msg"])

    def columns(self) -> dict[str, np.ndarray]:
        types = {"msg": np.int64, "sym": np.int64, "ts": np.int64}
        return {k: np.asarray(v, dtype=types.get(k, np.float64)) for k, v in self.rows.items()}


def _check(ev: MinuteAgg) -> str | None:
    if ev.ev != "AM":
        return f"unexpected event type {ev.ev!r} on the minute-aggregates topic"
    raw = ev.sym.encode()
    if not 1 <= len(raw) <= _SYM_MAX or not all(_SYM_OK[b] for b in raw):
        return f"invalid symbol: {ev.sym!r} (must be 1-16 characters of A-Z 0-9 . - /)"
    if ev.e - ev.s != 60_000:
        return f"not a one-minute window: s={ev.s} e={ev.e}"
    prices = (ev.o, ev.h, ev.l, ev.c)
    if not all(math.isfinite(p) and p > 0 for p in prices):
        return f"non-positive or non-finite price: o={ev.o} h={ev.h} l={ev.l} c={ev.c}"
    if not ev.l <= min(ev.o, ev.c) or not ev.h >= max(ev.o, ev.c):
        return f"inconsistent bar: o={ev.o} h={ev.h} l={ev.l} c={ev.c}"
    if not (math.isfinite(ev.v) and ev.v >= 0):
        return f"invalid volume: v={ev.v}"
    return None


def decode_aggs(values: list[bytes]) -> DecodedAggs:
    """Minute bars and dead letters of a batch of payloads (never raises)."""
    out = DecodedAggs()
    index: dict[str, int] = {}
    for m, value in enumerate(values):
        try:
            doc = msgspec.json.decode(value)
        except (msgspec.DecodeError, TypeError) as e:
            out.dead.append(DeadLetter(m, -1, f"malformed JSON: {e}", bytes(value or b"")[:65536]))
            continue
        events = doc if isinstance(doc, list) else [doc]
        if isinstance(doc, list) and not doc:
            out.dead.append(DeadLetter(m, -1, "empty array", bytes(value)))
        for k, raw in enumerate(events):
            pos = k if isinstance(doc, list) else -1
            try:
                ev = msgspec.convert(raw, MinuteAgg)
            except msgspec.ValidationError as e:
                out.dead.append(DeadLetter(m, pos, f"invalid minute aggregate: {e}", msgspec.json.encode(raw)))
                continue
            reason = _check(ev)
            if reason is not None:
                out.dead.append(DeadLetter(m, pos, reason, msgspec.json.encode(raw)))
                continue
            code = index.setdefault(ev.sym, len(index))
            if code == len(out.symbols):
                out.symbols.append(ev.sym)
            for key, val in zip(_COLS, (m, code, ev.s * 1_000_000, ev.o, ev.h, ev.l, ev.c, ev.v,
                                        math.nan if ev.vw is None else ev.vw, math.nan if ev.z is None else ev.z),
                                strict=True):
                out.rows[key].append(val)
    return out
