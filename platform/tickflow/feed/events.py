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
