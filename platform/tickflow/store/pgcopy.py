"""PostgreSQL binary COPY encoding of columnar ticks, in one numba pass.

Format (PostgreSQL docs, "COPY ... Binary Format"): the 11-byte signature
``PGCOPY\\n\\377\\r\\n\\0``, int32 flags, int32 header-extension length; then per tuple an
int16 field count and, per field, an int32 byte length followed by the value in network
byte order (int2/int4/int8, float8 as its IEEE bits, timestamptz as int64 microseconds
since 2000-01-01 UTC, text as its bytes, int2[] as ndim, has-null flag, element OID,
dimension length and lower bound, then length-prefixed elements); a trailer int16 -1.

Binary COPY avoids the server's text parsing, and encoding here avoids a Python object per
tick: strings are slices of the batch's text buffer, so one kernel writes the whole stream.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from tickflow.feed.events import QuoteColumns, TradeColumns

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds
_INT2_OID = 21

# Field kinds in a layout; FLOAT_OR_NULL is a float8 whose NaN is written as SQL NULL.
FIXED, TEXT, INT2_ARRAY, FLOAT_OR_NULL = 0, 1, 2, 3
_PG_EPOCH_DAYS = 10_957  # 2000-01-01 in days since 1970-01-01
_NAN_BITS_MASK = 0x7FF0000000000000


@nb.njit(cache=True, inline="always")
def _put(buf, pos, value, width):  # type: ignore[no-untyped-def]
    for k in range(width):
        buf[pos + k] = (value >> (8 * (width - 1 - k))) & 0xFF
    return pos + width


@nb.njit(cache=True, inline="always")
def _is_nan_bits(v):  # type: ignore[no-untyped-def]
    return (v & _NAN_BITS_MASK) == _NAN_BITS_MASK and (v & 0x000FFFFFFFFFFFFF) != 0


@nb.njit(cache=True, nogil=True)
def encode_rows(kinds, slots, widths, fixed, str_start, str_len, cond_start, cond_len,
                text, cond):  # type: ignore[no-untyped-def]
    """Encode n tuples. Field f has kind kinds[f]: FIXED reads fixed[slots[f], i] written in
    widths[f] bytes; TEXT reads text[str_start[slots[f], i] : +str_len[slots[f], i]];
    INT2_ARRAY reads cond[cond_start[i] : +cond_len[i]]. Returns the body bytes (no header)."""
    n = fixed.shape[1]
    nf = kinds.shape[0]
    total = 0
    for i in range(n):
        total += 2
        for f in range(nf):
            if kinds[f] == FIXED:
                total += 4 + widths[f]
            elif kinds[f] == FLOAT_OR_NULL:
                v = fixed[slots[f], i]
                total += 4 if _is_nan_bits(v) else 12
            elif kinds[f] == TEXT:
                total += 4 + str_len[slots[f], i]
            else:
                m = cond_len[i]
                total += 4 + (12 if m == 0 else 20 + 6 * m)
    buf = np.empty(total, dtype=np.uint8)
    pos = 0
    for i in range(n):
        pos = _put(buf, pos, nf, 2)
        for f in range(nf):
            k = kinds[f]
            if k == FIXED:
                w = widths[f]
                pos = _put(buf, pos, w, 4)
                pos = _put(buf, pos, fixed[slots[f], i], w)
            elif k == FLOAT_OR_NULL:
                v = fixed[slots[f], i]
                if _is_nan_bits(v):
                    pos = _put(buf, pos, -1, 4)
                else:
                    pos = _put(buf, pos, 8, 4)
                    pos = _put(buf, pos, v, 8)
            elif k == TEXT:
                s = str_start[slots[f], i]
                m = str_len[slots[f], i]
                pos = _put(buf, pos, m, 4)
                for j in range(m):
                    buf[pos + j] = text[s + j]
                pos += m
            else:
                m = cond_len[i]
                s = cond_start[i]
                if m == 0:
                    pos = _put(buf, pos, 12, 4)
                    pos = _put(buf, pos, 0, 4)
                    pos = _put(buf, pos, 0, 4)
                    pos = _put(buf, pos, _INT2_OID, 4)
                else:
                    pos = _put(buf, pos, 20 + 6 * m, 4)
                    pos = _put(buf, pos, 1, 4)
                    pos = _put(buf, pos, 0, 4)
                    pos = _put(buf, pos, _INT2_OID, 4)
                    pos = _put(buf, pos, m, 4)
                    pos = _put(buf, pos, 1, 4)
                    for j in range(m):
                        pos = _put(buf, pos, 2, 4)
                        pos = _put(buf, pos, np.int64(cond[s + j]), 2)
    return buf


def _bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)


def _pg_ts(ts_ns: np.ndarray) -> np.ndarray:
    return ts_ns // 1000 - _PG_EPOCH_US


def _encode(layout: list[tuple[int, int]], fixed_cols: list[np.ndarray], strs: list[tuple[np.ndarray, np.ndarray]],
            cond_start: np.ndarray, cond_len: np.ndarray, text: np.ndarray, cond: np.ndarray) -> bytes:
    n = fixed_cols[0].shape[0]
    kinds = np.array([k for k, _ in layout], dtype=np.int64)
    widths = np.array([w for _, w in layout], dtype=np.int64)
    slots = np.zeros(len(layout), dtype=np.int64)
    fi = si = 0
    for f, (k, _) in enumerate(layout):
        if k in (FIXED, FLOAT_OR_NULL):
            slots[f] = fi
            fi += 1
        elif k == TEXT:
            slots[f] = si
            si += 1
    fixed = np.empty((len(fixed_cols), n), dtype=np.int64)
    for j, col in enumerate(fixed_cols):
        fixed[j] = col
    if strs:
        str_start = np.stack([np.asarray(s, dtype=np.int64) for s, _ in strs])
        str_len = np.stack([np.asarray(m, dtype=np.int64) for _, m in strs])
    else:
        str_start = str_len = np.zeros((1, n), dtype=np.int64)
    body = encode_rows(kinds, slots, widths, fixed, str_start, str_len,
                       np.asarray(cond_start, dtype=np.int64), np.asarray(cond_len, dtype=np.int64),
                       np.ascontiguousarray(text, dtype=np.uint8), np.ascontiguousarray(cond, dtype=np.int16))
    return SIGNATURE + body.tobytes() + TRAILER


def encode_trades(t: TradeColumns, text: np.ndarray, cond: np.ndarray,
                  src_partition: np.ndarray, src_offset: np.ndarray) -> bytes:
    """Binary COPY stream for tickflow.store.schema.COPY_COLUMNS['trades']."""
    layout = [(FIXED, 8), (TEXT, 0), (TEXT, 0), (FIXED, 2), (FIXED, 8), (FIXED, 8), (FIXED, 2),
              (FIXED, 8), (INT2_ARRAY, 0), (FIXED, 8), (FIXED, 4), (FIXED, 8)]
    fixed = [_pg_ts(t.ts_ns), t.exchange.astype(np.int64), _bits(t.price), _bits(t.size),
             t.tape.astype(np.int64), t.seq, t.ts_ns, src_partition.astype(np.int64), src_offset]
    return _encode(layout, fixed, [(t.sym_start, t.sym_len), (t.id_start, t.id_len)],
                   t.cond_start, t.cond_len, text, cond)


def encode_quotes(q: QuoteColumns, text: np.ndarray, cond: np.ndarray,
                  src_partition: np.ndarray, src_offset: np.ndarray) -> bytes:
    """Binary COPY stream for tickflow.store.schema.COPY_COLUMNS['quotes']."""
    layout = [(FIXED, 8), (TEXT, 0), (FIXED, 8), (FIXED, 8), (FIXED, 8), (FIXED, 8), (FIXED, 2),
              (FIXED, 2), (FIXED, 2), (FIXED, 8), (INT2_ARRAY, 0), (FIXED, 8), (FIXED, 4), (FIXED, 8)]
    fixed = [_pg_ts(q.ts_ns), _bits(q.bid_price), _bits(q.bid_size), _bits(q.ask_price), _bits(q.ask_size),
             q.bid_exchange.astype(np.int64), q.ask_exchange.astype(np.int64), q.tape.astype(np.int64),
             q.seq, q.ts_ns, src_partition.astype(np.int64), src_offset]
    return _encode(layout, fixed, [(q.sym_start, q.sym_len)], q.cond_start, q.cond_len, text, cond)


# PostgreSQL type -> (field kind, width) for encode_columns.
_PG_TYPES = {"float8": (FLOAT_OR_NULL, 8), "int8": (FIXED, 8), "int4": (FIXED, 4), "int2": (FIXED, 2),
             "bool": (FIXED, 1), "timestamptz": (FIXED, 8), "date": (FIXED, 4), "text": (TEXT, 0)}


def encode_columns(columns: list[tuple[str, np.ndarray]], symbols: list[str]) -> bytes:
    """Binary COPY stream of typed numpy columns, for derived tables.

    ``columns`` is a list of (PostgreSQL type, values): float8 (NaN becomes NULL), int8,
    int4, int2, bool, timestamptz (int64 ns since the epoch), date (int days since
    1970-01-01) and text, given as int codes into ``symbols``."""
    if not columns:
        raise ValueError("no columns")
    n = int(np.asarray(columns[0][1]).shape[0])
    names = [s.encode() for s in symbols]
    text = np.frombuffer(b"".join(names), dtype=np.uint8) if names else np.zeros(1, np.uint8)
    lens = np.array([len(b) for b in names], dtype=np.int64)
    offs = np.cumsum(lens) - lens
    layout: list[tuple[int, int]] = []
    fixed: list[np.ndarray] = []
    strs: list[tuple[np.ndarray, np.ndarray]] = []
    for pg_type, values in columns:
        kind, width = _PG_TYPES[pg_type]
        v = np.asarray(values)
        if v.shape[0] != n:
            raise ValueError("columns differ in length")
        layout.append((kind, width))
        if pg_type == "text":
            codes = v.astype(np.int64)
            strs.append((offs[codes], lens[codes]))
        elif pg_type == "float8":
            fixed.append(_bits(v))
        elif pg_type == "timestamptz":
            fixed.append(_pg_ts(v.astype(np.int64)))
        elif pg_type == "date":
            fixed.append(v.astype(np.int64) - _PG_EPOCH_DAYS)
        else:
            fixed.append(v.astype(np.int64))
    if not fixed:
        fixed.append(np.zeros(n, dtype=np.int64))
    zeros = np.zeros(n, dtype=np.int64)
    return _encode(layout, fixed, strs, zeros, zeros, text, np.zeros(1, np.int16))
