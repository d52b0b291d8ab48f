"""Columnar form of decoded Polygon events, shared by the decoder, the simulator and the store.

Strings (symbol, trade id) are not Python objects per tick: each is a (start, length) slice
of one uint8 ``text`` buffer owned by the batch. Condition codes are flattened into
``cond`` with per-event ``cond_start``/``cond_len``. This is what the binary COPY writer
consumes directly, so no per-tick Python object is ever built on the ingest path.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numba as nb
import numpy as np


@dataclass
class TradeColumns:
    """One row per trade. ``msg`` is the index of the source message in its batch."""

    msg: np.ndarray  # int32
    ts_ns: np.ndarray  # int64, exchange timestamp in ns since the epoch (UTC)
    price: np.ndarray  # float64
    size: np.ndarray  # float64 (Polygon sizes may be fractional)
    exchange: np.ndarray  # int16 (x)
    tape: np.ndarray  # int16 (z)
    seq: np.ndarray  # int64 (q)
    sym_start: np.ndarray  # int64 offsets into text
    sym_len: np.ndarray  # int32
    id_start: np.ndarray  # int64 offsets into text (trade id i)
    id_len: np.ndarray  # int32
    cond_start: np.ndarray  # int64 offsets into cond
    cond_len: np.ndarray  # int32

    def __len__(self) -> int:
        return int(self.msg.shape[0])

    def take(self, sel: np.ndarray) -> TradeColumns:
        """Rows selected by a boolean mask or index array."""
        return TradeColumns(*(getattr(self, f.name)[sel] for f in fields(self)))


@dataclass
class QuoteColumns:
    """One row per quote. ``msg`` is the index of the source message in its batch."""

    msg: np.ndarray  # int32
    ts_ns: np.ndarray  # int64
    bid_price: np.ndarray  # float64 (bp)
    bid_size: np.ndarray  # float64 (bs)
    ask_price: np.ndarray  # float64 (ap)
    ask_size: np.ndarray  # float64 (as)
    bid_exchange: np.ndarray  # int16 (bx)
    ask_exchange: np.ndarray  # int16 (ax)
    tape: np.ndarray  # int16 (z)
    seq: np.ndarray  # int64 (q)
    sym_start: np.ndarray  # int64
    sym_len: np.ndarray  # int32
    cond_start: np.ndarray  # int64
    cond_len: np.ndarray  # int32

    def __len__(self) -> int:
        return int(self.msg.shape[0])

    def take(self, sel: np.ndarray) -> QuoteColumns:
        """Rows selected by a boolean mask or index array."""
        return QuoteColumns(*(getattr(self, f.name)[sel] for f in fields(self)))


@dataclass
class DeadLetter:
    """An input that could not become a row: the raw payload and why."""

    msg: int  # index of the source message in its batch
    event_index: int  # index of the event inside an array message, -1 for the whole message
    reason: str
    payload: bytes


@dataclass
class DecodedBatch:
    text: np.ndarray  # uint8 buffer that sym/id slices point into
    cond: np.ndarray  # int16 flattened condition codes
    trades: TradeColumns
    quotes: QuoteColumns
    dead: list[DeadLetter] = field(default_factory=list)
    # 1 when the decoder's fast path failed on this batch and the slow path decoded it all
    fast_path_fallbacks: int = 0


@nb.njit(cache=True, nogil=True)
def symbol_keys(text: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Pack each symbol (<= 16 bytes) into two uint64 words, for vectorised grouping."""
    n = start.shape[0]
    out = np.zeros((n, 2), dtype=np.uint64)
    for i in range(n):
        m = min(length[i], 16)
        for j in range(m):
            w = j // 8
            out[i, w] |= np.uint64(text[start[i] + j]) << np.uint64(8 * (7 - j % 8))
    return out


def batch_from_events(events: list[dict]) -> DecodedBatch:  # type: ignore[type-arg]
    """Build a DecodedBatch from Polygon-style event dicts (ns timestamps), one message per
    event. A plain-Python constructor for tests, archives and small inputs, not the hot path."""
    text = bytearray()
    cond: list[int] = []
    cols: dict[str, dict[str, list[object]]] = {"T": {}, "Q": {}}

    def add_str(s: str) -> tuple[int, int]:
        b = s.encode()
        text.extend(b)
        return len(text) - len(b), len(b)

    for i, e in enumerate(events):
        kind = e["ev"]
        c = cols[kind]
        s0, s1 = add_str(e["sym"])
        c0 = len(cond)
        cond.extend(int(x) for x in e.get("c", []))
        row: dict[str, object] = {"msg": i, "ts_ns": int(e["t"]), "sym_start": s0, "sym_len": s1,
                                  "cond_start": c0, "cond_len": len(cond) - c0, "tape": e.get("z", 0),
                                  "seq": e.get("q", 0)}
        if kind == "T":
            i0, i1 = add_str(str(e.get("i", "")))
            row.update(price=e["p"], size=e["s"], exchange=e.get("x", 0), id_start=i0, id_len=i1)
        else:
            row.update(bid_price=e["bp"], bid_size=e["bs"], ask_price=e["ap"], ask_size=e["as"],
                       bid_exchange=e.get("bx", 0), ask_exchange=e.get("ax", 0))
        for k, v in row.items():
            c.setdefault(k, []).append(v)

    def build(cls: type, c: dict[str, list[object]]) -> object:
        out = {}
        for f in fields(cls):
            dtype = _DTYPES.get(f.name, np.float64)
            out[f.name] = np.asarray(c.get(f.name, []), dtype=dtype)
        return cls(**out)

    return DecodedBatch(
        text=np.frombuffer(bytes(text), dtype=np.uint8).copy(),
        cond=np.asarray(cond, dtype=np.int16),
        trades=build(TradeColumns, cols["T"]),  # type: ignore[arg-type]
        quotes=build(QuoteColumns, cols["Q"]),  # type: ignore[arg-type]
    )


_DTYPES = {
    "msg": np.int32, "ts_ns": np.int64, "exchange": np.int16, "tape": np.int16, "seq": np.int64,
    "bid_exchange": np.int16, "ask_exchange": np.int16, "sym_start": np.int64, "sym_len": np.int32,
    "id_start": np.int64, "id_len": np.int32, "cond_start": np.int64, "cond_len": np.int32,
}
