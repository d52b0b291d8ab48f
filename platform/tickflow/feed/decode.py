"""Decode a batch of Kafka payloads holding Polygon trade/quote JSON into columns.

Each payload is one Polygon event object or a JSON array of them (a WebSocket frame).
``decode_batch`` returns a :class:`~tickflow.feed.events.DecodedBatch`: trade and quote
columns, a ``text`` buffer their string slices point into, flattened condition codes and
one :class:`~tickflow.feed.events.DeadLetter` for every input that could not become a row.

Why not ``json.loads``/``msgspec`` per message: those build a dict (or Struct) plus a str,
float and list per field for every tick, and then the columns have to be gathered from
those objects again. At ingest rates that object churn *is* the cost. Here no per-tick
Python object is built at all on the normal path:

FAST PATH. All payloads are concatenated into one uint8 buffer (``b"".join`` +
``np.frombuffer``, offsets from a cumulative sum of the lengths) and ONE numba kernel
(``_scan``, nogil) walks the bytes and writes straight into preallocated columns. Strings
(``sym``, ``i``) are stored as (start, length) into that same buffer, which becomes
``DecodedBatch.text``; condition codes go into a flat int16 array. The kernel accepts
exactly this subset of JSON:

* a top-level object, or a non-empty array of objects, with JSON whitespace anywhere;
* object keys in any order, without backslash escapes, no known key repeated;
* ``ev`` equal to ``"T"`` or ``"Q"``; all required fields of that event type present;
* strings (``sym``, ``i`` and unknown values) of printable ASCII without escapes;
* int64 integers for ``t``/``q`` and an integer ``i`` (not ``-0``), int16 integers for
  ``x``/``z``/``bx``/``ax`` and the elements of ``c`` (an array of integers);
* numbers for prices/sizes that convert *exactly* (the result equals Python's
  ``float()`` of the same text): int64 integers, or decimals whose significant digits
  form an integer <= 2**53 with a power-of-ten exponent that the classic exact
  (Clinger) fast path covers -- ``m * 10**k`` for 0 <= k <= 22 (and a bit beyond, while
  ``m * 10**(k-22)`` stays exact) or ``m / 10**k`` for k <= 22;
* unknown keys with any JSON value made of the above (strings, literals, numbers with
  at most 19 integer digits and a positive exponent <= 280, nested arrays/objects up to
  64 levels), validated for JSON grammar while skipped.

FALLBACK RULE. Anything else in a message -- a backslash escape, a byte >= 0x80, a
duplicated known key, a number it cannot convert exactly, a wrong type, an out-of-range
integer, a missing field, an unknown event type, an empty array, deeper nesting, any
grammar error -- makes the kernel discard whatever it wrote for that message and flag it.
The kernel never guesses, never raises and bounds-checks every index, so a fast-path row
is always exactly what a full JSON parser would produce. Flagged messages go to the SLOW
PATH: ``msgspec.json.decode`` (exact JSON semantics, last duplicate key wins) followed by
field-by-field checks that produce either rows (strings appended after the original
bytes in ``text``) or dead letters with a precise reason. Payloads larger than
``max_message_bytes`` are dead letters without being parsed.

VALIDATION of values happens once, vectorised over the merged columns of both paths:
symbols must be 1-16 bytes of ``A-Z 0-9 . - /``; ``t`` (ms if < 1e13, µs if < 1e16, else
ns) is normalised to ns and must lie in ``[min_ts_ns, max_ts_ns]``; trade price and size
must be finite and > 0; quote bid/ask prices finite and > 0, sizes finite and >= 0
(crossed quotes are kept). Failing events become per-event dead letters carrying the
event's own JSON bytes. Rows keep input order (message, then position in the message).

Every message ends up as rows and/or dead letters; ``decode_batch`` does not raise.
Dead-letter reasons (``DeadLetter.reason``; the part before ``:`` names the kind):

* ``malformed JSON: <msgspec error>`` (also ``... empty message``, ``... invalid UTF-8``)
* ``oversize message: N bytes > limit L`` (payload kept truncated to 64 KiB, said so)
* ``empty array``, ``not an event object: got int``
* ``missing field 'p'``, ``field 'p' has type str, expected number``,
  ``field 'x' out of range: 70000 not in [-32768, 32767]`` (``c[k]`` for codes)
* ``unknown event type 'XX'``
* ``invalid symbol: 'aapl' (...)``, ``implausible timestamp: t=42 -> 42000000 ns, ...``
* ``non-positive price: p=-1.5``, ``non-finite size: s=inf``, ``negative bid size: bs=-1.0``
* ``decoder error: ...`` (a non-bytes payload; an internal error)

Rules decided here: ``null`` for an optional field is a type error, not "absent"; an
integer ``i`` is stored as its decimal text; integers outside int16 (x, z, bx, ax, codes)
or int64 (q) are dead letters, as is a ``t`` whose ns value does not fit int64; an
integer too large for a double (price/size) becomes inf and fails validation.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

import msgspec
import numpy as np
from numba import njit

from tickflow.feed.events import DeadLetter, DecodedBatch, QuoteColumns, TradeColumns

__all__ = ["decode_batch", "DEFAULT_MIN_TS_NS", "DEAD_PAYLOAD_LIMIT"]

_log = logging.getLogger(__name__)
# Exception types the fast path has already logged a traceback for (logged once per type
# and process: a broken kernel would otherwise log on every batch).
_fallbacks_logged: set[str] = set()
_fallbacks_lock = threading.Lock()

DEFAULT_MIN_TS_NS = 631_152_000 * 1_000_000_000  # 1990-01-01T00:00:00Z
DEAD_PAYLOAD_LIMIT = 64 * 1024  # oversize payloads are kept truncated to this many bytes
_DAY_NS = 86_400 * 1_000_000_000

_INT16_MIN, _INT16_MAX = -(1 << 15), (1 << 15) - 1
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
# t * 10**6 (ms) and t * 10**3 (µs) stay inside int64 within these bounds
_MS_MIN = -((1 << 63) // 10**6)
_US_MAX = _INT64_MAX // 1000

# message status, per message of a batch
_FAST, _SLOW, _OVERSIZE, _BADTYPE = 0, 1, 2, 3

# ---------------------------------------------------------------------------------------
# numba kernels
# ---------------------------------------------------------------------------------------

# key codes (bit positions in the per-object "seen" mask)
K_EV, K_SYM, K_T, K_P, K_S, K_X, K_I, K_C, K_Z, K_Q = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9
K_BP, K_BS, K_AP, K_AS, K_BX, K_AX = 10, 11, 12, 13, 14, 15
_REQ_TRADE = (1 << K_EV) | (1 << K_SYM) | (1 << K_T) | (1 << K_P) | (1 << K_S)
_REQ_QUOTE = (1 << K_EV) | (1 << K_SYM) | (1 << K_T) | (1 << K_BP) | (1 << K_BS) | (1 << K_AP) | (1 << K_AS)

_MAX_DEPTH = 64  # nesting levels the kernel skips inside unknown values
_MANT_MAX = 1 << 53
_M19 = _INT64_MAX // 10  # an int64 of 19 digits starts with at most this, then a digit <= 7
_POW10 = np.array([1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13,
                   1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22], dtype=np.float64)

# string bytes: 0 plain, 1 closing quote, 2 not in the fast path (escape, control, non-ASCII)
_STR_CLASS = np.zeros(256, dtype=np.uint8)
_STR_CLASS[:32] = 2
_STR_CLASS[128:] = 2
_STR_CLASS[92] = 2
_STR_CLASS[34] = 1

_SYM_OK = np.zeros(256, dtype=np.bool_)
for _c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-/":
    _SYM_OK[_c] = True
_SYM_MAX = 16
# Smallest event object the fast path accepts: {"ev":"T","sym":"","t":0,"p":0,"s":0}.
# Output columns are sized total_bytes // _MIN_EVENT_BYTES + 1 (pages are only touched as
# rows are written), so no counting pass over the bytes is needed.
_MIN_EVENT_BYTES = 37

# The byte-scanning kernels neither allocate nor return arrays, so they are compiled
# without the numba runtime (NRT): otherwise every helper call that passes ``buf`` does an
# atomic incref/decref pair, which measured 3.5x slower for the whole scan.
_kernel = njit(nogil=True, cache=True, _nrt=False)  # type: ignore[call-overload]
# The small per-byte helpers are also force-inlined at the LLVM level (about 20% faster).
_inline_kernel = njit(nogil=True, cache=True, _nrt=False, forceinline=True)  # type: ignore[call-overload]


@_inline_kernel
def _ws(buf, p, e):  # type: ignore[no-untyped-def]
    """First index >= p (and <= e) that is not JSON whitespace."""
    while p < e:
        c = buf[p]
        if c > 32 or (c != 32 and c != 10 and c != 13 and c != 9):
            break
        p += 1
    return p


@_inline_kernel
def _scan_string(buf, p, e):  # type: ignore[no-untyped-def]
    """buf[p] is '"'. Index of the closing quote, or -1 if the string has an escape, a
    control byte or a non-ASCII byte, or is unterminated before e."""
    i = p + 1
    while i < e:
        k = _STR_CLASS[buf[i]]
        if k != 0:
            return i if k == 1 else -1
        i += 1
    return -1


@_kernel
def _skip_number(buf, p, e):  # type: ignore[no-untyped-def]
    """Validate the JSON number grammar at p; index after it, or -1. Also -1 (let the
    slow path decide) for numbers a JSON parser may reject although the grammar allows
    them: more than 19 integer digits (Python/msgspec cap integers at 4300 digits) or a
    positive exponent above 280 (a float that may overflow to inf is an error)."""
    i = p
    if i < e and buf[i] == 45:
        i += 1
    if i >= e:
        return -1
    c = buf[i]
    if c == 48:
        i += 1
    elif 49 <= c <= 57:
        j = i
        while i < e and 48 <= buf[i] <= 57:
            i += 1
        if i - j > 19:
            return -1
    else:
        return -1
    if i < e and buf[i] == 46:
        i += 1
        j = i
        while i < e and 48 <= buf[i] <= 57:
            i += 1
        if i == j:
            return -1
    if i < e and (buf[i] == 101 or buf[i] == 69):
        i += 1
        eneg = False
        if i < e and (buf[i] == 43 or buf[i] == 45):
            eneg = buf[i] == 45
            i += 1
        j = i
        ex = 0
        while i < e and 48 <= buf[i] <= 57:
            if ex <= 280:
                ex = ex * 10 + (buf[i] - 48)
            i += 1
        if i == j or (not eneg and ex > 280):
            return -1
    if i < e and 48 <= buf[i] <= 57:  # "01"
        return -1
    return i


@_inline_kernel
def _parse_number(buf, p, e):  # type: ignore[no-untyped-def]
    """Parse the JSON number at p. Returns (end, kind, ival, fval):

    kind 0: an integer (no fraction/exponent) in int64 range (one with 19 digits only up
            to 9223372036854775807); ival is it, fval is float(ival) (the int64 ->
            double conversion is correctly rounded, like Python's);
    kind 1: a number with fraction and/or exponent; fval equals Python's float() of it;
    kind -1: bad grammar, or not convertible exactly here (caller flags the message).
    """
    i = p
    neg = False
    if i < e and buf[i] == 45:
        neg = True
        i += 1
    if i >= e:
        return -1, -1, 0, 0.0
    m = 0  # significant digits as an integer
    nd = 0  # significant digits taken
    c = buf[i]
    if c == 48:
        i += 1
        if i < e and 48 <= buf[i] <= 57:
            return -1, -1, 0, 0.0
    elif 49 <= c <= 57:
        while i < e:
            c = buf[i]
            if c < 48 or c > 57:
                break
            nd += 1
            if nd >= 19 and (nd > 19 or m > _M19 or (m == _M19 and c > 55)):
                return -1, -1, 0, 0.0  # would not fit int64
            m = m * 10 + (c - 48)
            i += 1
    else:
        return -1, -1, 0, 0.0
    is_int = True
    e10 = 0
    if i < e and buf[i] == 46:
        is_int = False
        i += 1
        j = i
        while i < e:
            c = buf[i]
            if c < 48 or c > 57:
                break
            if m != 0 or c != 48:
                nd += 1
                if nd >= 19 and (nd > 19 or m > _M19 or (m == _M19 and c > 55)):
                    return -1, -1, 0, 0.0
            m = m * 10 + (c - 48)
            e10 -= 1
            i += 1
        if i == j:
            return -1, -1, 0, 0.0
    if i < e and (buf[i] == 101 or buf[i] == 69):
        is_int = False
        i += 1
        eneg = False
        if i < e and (buf[i] == 43 or buf[i] == 45):
            eneg = buf[i] == 45
            i += 1
        j = i
        ex = 0
        while i < e:
            c = buf[i]
            if c < 48 or c > 57:
                break
            if ex < 100000:
                ex = ex * 10 + (c - 48)
            i += 1
        if i == j:
            return -1, -1, 0, 0.0
        e10 += -ex if eneg else ex
    if is_int:
        ival = -m if neg else m
        return i, 0, ival, float(ival)
    if m > _MANT_MAX:
        return -1, -1, 0, 0.0
    if m == 0:
        f = 0.0
    elif 0 <= e10 <= 22:
        f = float(m) * _POW10[e10]
    elif -22 <= e10 < 0:
        f = float(m) / _POW10[-e10]
    elif 22 < e10 <= 22 + 16:
        mm = m
        for _ in range(e10 - 22):
            mm *= 10
            if mm > _MANT_MAX:
                return -1, -1, 0, 0.0
        f = float(mm) * _POW10[22]
    else:
        return -1, -1, 0, 0.0
    if neg:
        f = -f
    return i, 1, 0, f


@_kernel
def _skip_literal(buf, p, e):  # type: ignore[no-untyped-def]
    """true / false / null at p: index after it, or -1."""
    c = buf[p]
    if c == 116:  # true
        if p + 4 <= e and buf[p + 1] == 114 and buf[p + 2] == 117 and buf[p + 3] == 101:
            return p + 4
    elif c == 102:  # false
        if (p + 5 <= e and buf[p + 1] == 97 and buf[p + 2] == 108 and buf[p + 3] == 115
                and buf[p + 4] == 101):
            return p + 5
    elif c == 110:  # null
        if p + 4 <= e and buf[p + 1] == 117 and buf[p + 2] == 108 and buf[p + 3] == 108:
            return p + 4
    return -1


@_kernel
def _skip_value(buf, p, e, stack):  # type: ignore[no-untyped-def]
    """Skip (and validate) one JSON value starting at p (not whitespace). Index after it,
    or -1 if it is not in the fast-path subset. ``stack`` (uint8) holds the open
    containers: 1 object, 2 array; its length bounds the nesting depth."""
    depth = 0
    while True:
        # a value starts at p
        p = _ws(buf, p, e)
        if p >= e:
            return -1
        c = buf[p]
        if c == 123 or c == 91:
            q = _ws(buf, p + 1, e)
            if q >= e:
                return -1
            if (c == 123 and buf[q] == 125) or (c == 91 and buf[q] == 93):
                p = q + 1  # empty container: a complete value
            else:
                if depth >= stack.shape[0]:
                    return -1
                if c == 123:
                    stack[depth] = 1
                    depth += 1
                    if buf[q] != 34:
                        return -1
                    q = _scan_string(buf, q, e)
                    if q < 0:
                        return -1
                    q = _ws(buf, q + 1, e)
                    if q >= e or buf[q] != 58:
                        return -1
                    p = q + 1
                else:
                    stack[depth] = 2
                    depth += 1
                    p = q
                continue  # parse the first member's value
        elif c == 34:
            p = _scan_string(buf, p, e)
            if p < 0:
                return -1
            p += 1
        elif c == 45 or 48 <= c <= 57:
            p = _skip_number(buf, p, e)
            if p < 0:
                return -1
        else:
            p = _skip_literal(buf, p, e)
            if p < 0:
                return -1
        # a value ended at p: close containers / move to the next member
        while True:
            if depth == 0:
                return p
            p = _ws(buf, p, e)
            if p >= e:
                return -1
            c = buf[p]
            kind = stack[depth - 1]
            if c == 44:
                p = _ws(buf, p + 1, e)
                if kind == 1:
                    if p >= e or buf[p] != 34:
                        return -1
                    p = _scan_string(buf, p, e)
                    if p < 0:
                        return -1
                    p = _ws(buf, p + 1, e)
                    if p >= e or buf[p] != 58:
                        return -1
                    p += 1
                break
            if (kind == 1 and c == 125) or (kind == 2 and c == 93):
                p += 1
                depth -= 1
                continue
            return -1


@_inline_kernel
def _key_code(buf, s, n):  # type: ignore[no-untyped-def]
    """Key code of the n-byte key at buf[s:s+n], -1 if not a known key."""
    if n == 1:
        c = buf[s]
        if c == 116:
            return K_T
        if c == 112:
            return K_P
        if c == 115:
            return K_S
        if c == 120:
            return K_X
        if c == 105:
            return K_I
        if c == 99:
            return K_C
        if c == 122:
            return K_Z
        if c == 113:
            return K_Q
        return -1
    if n == 2:
        a = buf[s]
        b = buf[s + 1]
        if a == 101 and b == 118:
            return K_EV
        if a == 98:  # b?
            if b == 112:
                return K_BP
            if b == 115:
                return K_BS
            if b == 120:
                return K_BX
            return -1
        if a == 97:  # a?
            if b == 112:
                return K_AP
            if b == 115:
                return K_AS
            if b == 120:
                return K_AX
        return -1
    if n == 3 and buf[s] == 115 and buf[s + 1] == 121 and buf[s + 2] == 109:
        return K_SYM
    return -1


@_kernel
def _parse_codes(buf, p, e, cond, nc):  # type: ignore[no-untyped-def]
    """buf[p] is '['. Parse an array of int16 integers into cond[nc:]. Returns
    (index after ']', count), or (-1, 0) if not in the fast-path subset or cond is full."""
    i = _ws(buf, p + 1, e)
    if i < e and buf[i] == 93:
        return i + 1, 0
    cnt = 0
    while True:
        end, kind, ival, _f = _parse_number(buf, i, e)
        if kind != 0 or ival < -32768 or ival > 32767 or nc + cnt >= cond.shape[0]:
            return -1, 0
        cond[nc + cnt] = ival
        cnt += 1
        i = _ws(buf, end, e)
        if i >= e:
            return -1, 0
        c = buf[i]
        if c == 44:
            i = _ws(buf, i + 1, e)
        elif c == 93:
            return i + 1, cnt
        else:
            return -1, 0


@_kernel
def _scan(buf, starts, ends, status,
          t_msg, t_pos, t_ts, t_px, t_sz, t_x, t_z, t_q, t_sym_s, t_sym_l, t_id_s, t_id_l,
          t_c_s, t_c_l,
          q_msg, q_pos, q_ts, q_bp, q_bs, q_ap, q_as, q_bx, q_ax, q_z, q_q, q_sym_s, q_sym_l,
          q_c_s, q_c_l,
          cond, stack):  # type: ignore[no-untyped-def]
    """The fast path: decode every message with status 0 into the trade (t_*) and quote
    (q_*) columns and the cond array; set status 1 on messages it does not fully accept
    (their partial output is rolled back). Messages with another status are skipped.

    Message m is buf[starts[m]:ends[m]]. ``t_ts``/``q_ts`` receive the raw ``t`` value
    (normalised later); ``*_pos`` the position in an array message (-1: single object).
    Returns (n_trades, n_quotes, n_codes) written.
    """
    nt = 0
    nq = 0
    nc = 0
    cap_t = t_msg.shape[0]
    cap_q = q_msg.shape[0]
    for m in range(starts.shape[0]):
        if status[m] != 0:
            continue
        e = ends[m]
        p = _ws(buf, starts[m], e)
        nt0 = nt
        nq0 = nq
        nc0 = nc
        bad = False
        is_array = False
        if p >= e:
            bad = True
        elif buf[p] == 91:
            is_array = True
            p = _ws(buf, p + 1, e)
            if p < e and buf[p] == 93:
                bad = True  # empty array: the slow path reports it
        k = 0
        while not bad:
            # ---- one event object at p
            if p >= e or buf[p] != 123:
                bad = True
                break
            p = _ws(buf, p + 1, e)
            seen = 0
            ev = -1
            sym_s = 0
            sym_l = 0
            id_s = 0
            id_l = 0
            c_s = nc
            c_l = 0
            c_scalar = False
            ts = 0
            seq = 0
            px = 0.0
            sz = 0.0
            bp = 0.0
            bs = 0.0
            ap = 0.0
            as_ = 0.0
            x = 0
            z = 0
            bx = 0
            ax = 0
            while True:
                if p >= e or buf[p] != 34:
                    bad = True
                    break
                q_end = _scan_string(buf, p, e)
                if q_end < 0:
                    bad = True
                    break
                key = _key_code(buf, p + 1, q_end - p - 1)
                p = _ws(buf, q_end + 1, e)
                if p >= e or buf[p] != 58:
                    bad = True
                    break
                p = _ws(buf, p + 1, e)
                if p >= e:
                    bad = True
                    break
                if key >= 0:
                    bit = 1 << key
                    if seen & bit:
                        bad = True
                        break
                    seen |= bit
                c0 = buf[p]
                if key == K_EV:
                    if p + 2 < e and c0 == 34 and buf[p + 2] == 34 and (buf[p + 1] == 84 or buf[p + 1] == 81):
                        ev = 0 if buf[p + 1] == 84 else 1
                        p += 3
                    else:
                        bad = True
                        break
                elif key == K_SYM or (key == K_I and c0 == 34):
                    if c0 != 34:
                        bad = True
                        break
                    q_end = _scan_string(buf, p, e)
                    if q_end < 0:
                        bad = True
                        break
                    if key == K_SYM:
                        sym_s = p + 1
                        sym_l = q_end - p - 1
                    else:
                        id_s = p + 1
                        id_l = q_end - p - 1
                    p = q_end + 1
                elif key == K_C:
                    if c0 == 91:
                        end, cnt = _parse_codes(buf, p, e, cond, nc)
                    else:  # a quote's one condition as a bare integer (the vendor's stock quotes)
                        cnt = 0
                        end, kind, ival, _f = _parse_number(buf, p, e)
                        if kind != 0 or ival < -32768 or ival > 32767 or nc >= cond.shape[0]:
                            end = -1
                        else:
                            cond[nc] = ival
                            cnt = 1
                            c_scalar = True
                    if end < 0:
                        bad = True
                        break
                    c_s = nc
                    c_l = cnt
                    nc += cnt
                    p = end
                elif key >= 0:
                    end, kind, ival, fval = _parse_number(buf, p, e)
                    if kind < 0:
                        bad = True
                        break
                    if key == K_P or key == K_S or key == K_BP or key == K_BS or key == K_AP or key == K_AS:
                        if key == K_P:
                            px = fval
                        elif key == K_S:
                            sz = fval
                        elif key == K_BP:
                            bp = fval
                        elif key == K_BS:
                            bs = fval
                        elif key == K_AP:
                            ap = fval
                        else:
                            as_ = fval
                    elif kind != 0:
                        bad = True  # an integer field given a fraction/exponent
                        break
                    elif key == K_I:
                        if ival == 0 and c0 == 45:
                            bad = True  # "-0": its decimal text is "0"
                            break
                        id_s = p
                        id_l = end - p
                    elif key == K_T:
                        ts = ival
                    elif key == K_Q:
                        seq = ival
                    else:
                        if ival < -32768 or ival > 32767:
                            bad = True
                            break
                        if key == K_X:
                            x = ival
                        elif key == K_Z:
                            z = ival
                        elif key == K_BX:
                            bx = ival
                        else:
                            ax = ival
                    p = end
                else:
                    p = _skip_value(buf, p, e, stack)
                    if p < 0:
                        bad = True
                        break
                p = _ws(buf, p, e)
                if p >= e:
                    bad = True
                    break
                c = buf[p]
                if c == 44:
                    p = _ws(buf, p + 1, e)
                elif c == 125:
                    p += 1
                    break
                else:
                    bad = True
                    break
            if bad:
                break
            # ---- emit the row
            pos = k if is_array else -1
            if ev == 0 and (seen & _REQ_TRADE) == _REQ_TRADE and nt < cap_t and not c_scalar:
                t_msg[nt] = m
                t_pos[nt] = pos
                t_ts[nt] = ts
                t_px[nt] = px
                t_sz[nt] = sz
                t_x[nt] = x
                t_z[nt] = z
                t_q[nt] = seq
                t_sym_s[nt] = sym_s
                t_sym_l[nt] = sym_l
                t_id_s[nt] = id_s
                t_id_l[nt] = id_l
                t_c_s[nt] = c_s
                t_c_l[nt] = c_l
                nt += 1
            elif ev == 1 and (seen & _REQ_QUOTE) == _REQ_QUOTE and nq < cap_q:
                q_msg[nq] = m
                q_pos[nq] = pos
                q_ts[nq] = ts
                q_bp[nq] = bp
                q_bs[nq] = bs
                q_ap[nq] = ap
                q_as[nq] = as_
                q_bx[nq] = bx
                q_ax[nq] = ax
                q_z[nq] = z
                q_q[nq] = seq
                q_sym_s[nq] = sym_s
                q_sym_l[nq] = sym_l
                q_c_s[nq] = c_s
                q_c_l[nq] = c_l
                nq += 1
            else:
                bad = True
                break
            if not is_array:
                break
            p = _ws(buf, p, e)
            if p >= e:
                bad = True
                break
            if buf[p] == 44:
                p = _ws(buf, p + 1, e)
                k += 1
            elif buf[p] == 93:
                p += 1
                break
            else:
                bad = True
                break
        if not bad and _ws(buf, p, e) != e:
            bad = True  # trailing bytes
        if bad:
            nt = nt0
            nq = nq0
            nc = nc0
            status[m] = 1
    return nt, nq, nc


@_kernel
def _element_span(buf, s, e, pos, stack):  # type: ignore[no-untyped-def]
    """(start, end) of element ``pos`` of the JSON array in buf[s:e], or (-1, -1) if it
    cannot be located with the fast-path grammar. Used only to cut the payload of a
    fast-path event that failed validation."""
    p = _ws(buf, s, e)
    if p >= e or buf[p] != 91:
        return -1, -1
    p = _ws(buf, p + 1, e)
    k = 0
    while p < e:
        q = _skip_value(buf, p, e, stack)
        if q < 0:
            return -1, -1
        if k == pos:
            return p, q
        p = _ws(buf, q, e)
        if p >= e or buf[p] != 44:
            return -1, -1
        p = _ws(buf, p + 1, e)
        k += 1
    return -1, -1


@njit(nogil=True, cache=True)
def _symbols_ok(text, start, length, allowed):  # type: ignore[no-untyped-def]
    """Per row: 1 <= length <= 16 and every byte of the symbol allowed."""
    n = start.shape[0]
    out = np.empty(n, dtype=np.bool_)
    for r in range(n):
        s = start[r]
        ln = length[r]
        ok = 1 <= ln <= _SYM_MAX and s >= 0 and s + ln <= text.shape[0]
        if ok:
            for j in range(s, s + ln):
                if not allowed[text[j]]:
                    ok = False
                    break
        out[r] = ok
    return out


# ---------------------------------------------------------------------------------------
# column sets
# ---------------------------------------------------------------------------------------

# (name, dtype); the first names match TradeColumns/QuoteColumns fields, "ts" is the raw t
# (becomes ts_ns), "pos" is internal (position in an array message, -1 for an object).
_TRADE_SPEC: list[tuple[str, type]] = [
    ("msg", np.int32), ("pos", np.int32), ("ts", np.int64), ("price", np.float64),
    ("size", np.float64), ("exchange", np.int16), ("tape", np.int16), ("seq", np.int64),
    ("sym_start", np.int64), ("sym_len", np.int32), ("id_start", np.int64), ("id_len", np.int32),
    ("cond_start", np.int64), ("cond_len", np.int32),
]
_QUOTE_SPEC: list[tuple[str, type]] = [
    ("msg", np.int32), ("pos", np.int32), ("ts", np.int64), ("bid_price", np.float64),
    ("bid_size", np.float64), ("ask_price", np.float64), ("ask_size", np.float64),
    ("bid_exchange", np.int16), ("ask_exchange", np.int16), ("tape", np.int16), ("seq", np.int64),
    ("sym_start", np.int64), ("sym_len", np.int32), ("cond_start", np.int64), ("cond_len", np.int32),
]

Cols = dict[str, np.ndarray]


def _alloc(spec: list[tuple[str, type]], n: int) -> Cols:
    return {name: np.empty(n, dtype=dt) for name, dt in spec}


# ---------------------------------------------------------------------------------------
# slow path
# ---------------------------------------------------------------------------------------


class _Reject(Exception):
    """An event that cannot become a row; the message is the dead-letter reason."""


def _tn(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def _ts_reason(raw: int, lo: int, hi: int) -> str:
    ns = raw * 10**6 if raw < 10**13 else raw * 1000 if raw < 10**16 else raw
    return f"implausible timestamp: t={raw} -> {ns} ns, outside [{lo}, {hi}]"


class _SlowSink:
    """Rows and dead letters produced by the slow path, in message order."""

    def __init__(self, text_base: int, cond_base: int, lo: int, hi: int) -> None:
        self.text_base = text_base
        self.cond_base = cond_base
        self.lo = lo
        self.hi = hi
        self.text = bytearray()
        self.cond: list[int] = []
        self.trades: list[tuple[Any, ...]] = []
        self.quotes: list[tuple[Any, ...]] = []
        self.dead: list[DeadLetter] = []

    # -- field readers; each raises _Reject with the dead-letter reason
    @staticmethod
    def _num(ev: dict[str, Any], k: str) -> float:
        if k not in ev:
            raise _Reject(f"missing field '{k}'")
        v = ev[k]
        if type(v) is float:
            return v
        if type(v) is int:
            try:
                return float(v)
            except OverflowError:
                return math.inf if v > 0 else -math.inf
        raise _Reject(f"field '{k}' has type {_tn(v)}, expected number")

    @staticmethod
    def _int(ev: dict[str, Any], k: str, lo: int, hi: int) -> int:
        if k not in ev:
            return 0
        v = ev[k]
        if type(v) is not int:
            raise _Reject(f"field '{k}' has type {_tn(v)}, expected int")
        if not lo <= v <= hi:
            raise _Reject(f"field '{k}' out of range: {v} not in [{lo}, {hi}]")
        return v

    def _ts(self, ev: dict[str, Any]) -> int:
        if "t" not in ev:
            raise _Reject("missing field 't'")
        v = ev["t"]
        if type(v) is not int:
            raise _Reject(f"field 't' has type {_tn(v)}, expected int")
        if not _INT64_MIN <= v <= _INT64_MAX:
            raise _Reject(_ts_reason(v, self.lo, self.hi))
        return v

    def _str(self, v: str, k: str) -> tuple[int, int]:
        try:
            b = v.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _Reject(f"field '{k}' is not valid unicode: {exc}") from None
        start = self.text_base + len(self.text)
        self.text += b
        return start, len(b)

    def _sym(self, ev: dict[str, Any]) -> str:
        if "sym" not in ev:
            raise _Reject("missing field 'sym'")
        v = ev["sym"]
        if type(v) is not str:
            raise _Reject(f"field 'sym' has type {_tn(v)}, expected str")
        return v

    def _id(self, ev: dict[str, Any]) -> str:
        if "i" not in ev:
            return ""
        v = ev["i"]
        if type(v) is str:
            return v
        if type(v) is int:
            return str(v)
        raise _Reject(f"field 'i' has type {_tn(v)}, expected str or int")

    @staticmethod
    def _codes(ev: dict[str, Any], scalar_ok: bool = False) -> list[int]:
        if "c" not in ev:
            return []
        v = ev["c"]
        if scalar_ok and type(v) is int:
            # The vendor's stock quotes carry one condition as a bare integer.
            if not _INT16_MIN <= v <= _INT16_MAX:
                raise _Reject(f"field 'c' out of range: {v} not in [{_INT16_MIN}, {_INT16_MAX}]")
            return [v]
        if type(v) is not list:
            raise _Reject(f"field 'c' has type {_tn(v)}, expected array of int")
        for j, x in enumerate(v):
            if type(x) is not int:
                raise _Reject(f"field 'c[{j}]' has type {_tn(x)}, expected int")
            if not _INT16_MIN <= x <= _INT16_MAX:
                raise _Reject(f"field 'c[{j}]' out of range: {x} not in [{_INT16_MIN}, {_INT16_MAX}]")
        return v

    def _event(self, m: int, pos: int, ev: object) -> None:
        """Append the row for one event or raise _Reject. Checks fields in a fixed order."""
        if not isinstance(ev, dict):
            raise _Reject(f"not an event object: got {_tn(ev)}")
        if "ev" not in ev:
            raise _Reject("missing field 'ev'")
        kind = ev["ev"]
        if type(kind) is not str:
            raise _Reject(f"field 'ev' has type {_tn(kind)}, expected str")
        if kind not in ("T", "Q"):
            raise _Reject(f"unknown event type {kind!r}")
        sym = self._sym(ev)
        ts = self._ts(ev)
        i16, i64 = (_INT16_MIN, _INT16_MAX), (_INT64_MIN, _INT64_MAX)
        if kind == "T":
            px, sz = self._num(ev, "p"), self._num(ev, "s")
            x = self._int(ev, "x", *i16)
            tid = self._id(ev)
            codes = self._codes(ev)
            z = self._int(ev, "z", *i16)
            seq = self._int(ev, "q", *i64)
            sym_s, sym_l = self._str(sym, "sym")
            id_s, id_l = self._str(tid, "i")
            c_s = self.cond_base + len(self.cond)
            self.cond.extend(codes)
            self.trades.append((m, pos, ts, px, sz, x, z, seq, sym_s, sym_l, id_s, id_l,
                                c_s, len(codes)))
        else:
            bp, bs = self._num(ev, "bp"), self._num(ev, "bs")
            ap, as_ = self._num(ev, "ap"), self._num(ev, "as")
            bx = self._int(ev, "bx", *i16)
            ax = self._int(ev, "ax", *i16)
            codes = self._codes(ev, scalar_ok=True)
            z = self._int(ev, "z", *i16)
            seq = self._int(ev, "q", *i64)
            sym_s, sym_l = self._str(sym, "sym")
            c_s = self.cond_base + len(self.cond)
            self.cond.extend(codes)
            self.quotes.append((m, pos, ts, bp, bs, ap, as_, bx, ax, z, seq, sym_s, sym_l,
                                c_s, len(codes)))

    def message(self, m: int, payload: bytes) -> None:
        """Decode one flagged message; never raises."""
        raw = bytes(payload)
        if not raw.strip(b" \t\r\n"):
            self.dead.append(DeadLetter(m, -1, "malformed JSON: empty message", raw))
            return
        try:
            obj = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            self.dead.append(DeadLetter(m, -1, f"malformed JSON: {exc}", raw))
            return
        except UnicodeDecodeError as exc:
            self.dead.append(DeadLetter(m, -1, f"malformed JSON: invalid UTF-8: {exc}", raw))
            return
        except RecursionError:
            self.dead.append(DeadLetter(m, -1, "malformed JSON: nesting too deep", raw))
            return
        except Exception as exc:  # pragma: no cover - defensive
            self.dead.append(DeadLetter(m, -1, f"decoder error: {type(exc).__name__}: {exc}", raw))
            return
        if isinstance(obj, list):
            if not obj:
                self.dead.append(DeadLetter(m, -1, "empty array", raw))
                return
            for pos, ev in enumerate(obj):
                self._one(m, pos, ev, None)
        elif isinstance(obj, dict):
            self._one(m, -1, obj, raw)
        else:
            self.dead.append(DeadLetter(m, -1, f"not an event object: got {_tn(obj)}", raw))

    def _one(self, m: int, pos: int, ev: object, raw: bytes | None) -> None:
        """One event: a row, or a dead letter (payload: the message for a single object,
        the event re-encoded for an array element)."""
        n_t, n_q, n_c, n_x = len(self.trades), len(self.quotes), len(self.cond), len(self.text)
        try:
            self._event(m, pos, ev)
            return
        except _Reject as exc:
            reason = str(exc)
        except Exception as exc:
            reason = f"decoder error: {type(exc).__name__}: {exc}"
        del self.trades[n_t:], self.quotes[n_q:], self.cond[n_c:], self.text[n_x:]
        self.dead.append(DeadLetter(m, pos, reason, raw if raw is not None else _encode_event(ev)))


def _encode_event(ev: object) -> bytes:
    try:
        return msgspec.json.encode(ev)
    except Exception:  # pragma: no cover - decoded JSON always re-encodes
        return repr(ev).encode("utf-8", "backslashreplace")


def _slow_cols(spec: list[tuple[str, type]], rows: list[tuple[Any, ...]]) -> Cols:
    if not rows:
        return _alloc(spec, 0)
    return {name: np.array(col, dtype=dt) for (name, dt), col in zip(spec, zip(*rows, strict=True),
                                                                   strict=True)}


# ---------------------------------------------------------------------------------------
# assembly and validation
# ---------------------------------------------------------------------------------------


def _normalise_ts(raw: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """ms / µs / ns -> ns, and whether the result lies in [lo, hi] (overflow: not)."""
    ms = raw < 10**13
    us = ~ms & (raw < 10**16)
    fits = ~((ms & (raw < _MS_MIN)) | (us & (raw > _US_MAX)))
    mult = np.where(ms, np.int64(10**6), np.where(us, np.int64(1000), np.int64(1)))
    ns = np.where(fits, raw, 0) * mult
    lo_c, hi_c = max(lo, _INT64_MIN), min(hi, _INT64_MAX)
    return ns, fits & (ns >= lo_c) & (ns <= hi_c)


def _value_checks(kind: str, cols: Cols, text: np.ndarray, lo: int, hi: int
                  ) -> tuple[np.ndarray, np.ndarray, list[tuple[str, np.ndarray]]]:
    """Normalised ts, the per-row ok mask and the checks in order, as (name, ok mask):
    a bad row's reason names its first failing check."""
    ok_sym = _symbols_ok(text, cols["sym_start"], cols["sym_len"], _SYM_OK)
    ns, ok_ts = _normalise_ts(cols["ts"], lo, hi)
    checks: list[tuple[str, np.ndarray]] = [("sym", ok_sym), ("ts", ok_ts)]
    names = ("price", "size") if kind == "T" else ("bid_price", "bid_size", "ask_price", "ask_size")
    for name in names:
        v = cols[name]
        positive = (v >= 0) if name in ("bid_size", "ask_size") else (v > 0)
        checks.append((name, np.isfinite(v) & positive))
    ok = ok_sym & ok_ts
    for _, c in checks[2:]:
        ok &= c
    return ns, ok, checks


_FIELD_LABEL = {
    "price": ("price", "p"), "size": ("size", "s"),
    "bid_price": ("bid price", "bp"), "bid_size": ("bid size", "bs"),
    "ask_price": ("ask price", "ap"), "ask_size": ("ask size", "as"),
}


def _reason(check: str, r: int, cols: Cols, text: np.ndarray, lo: int, hi: int) -> str:
    if check == "sym":
        s, n = int(cols["sym_start"][r]), int(cols["sym_len"][r])
        sym = bytes(text[s:s + n]).decode("utf-8", "backslashreplace")
        return f"invalid symbol: {sym!r} (must be 1-16 characters of A-Z 0-9 . - /)"
    if check == "ts":
        return _ts_reason(int(cols["ts"][r]), lo, hi)
    v = float(cols[check][r])
    label, key = _FIELD_LABEL[check]
    if not math.isfinite(v):
        return f"non-finite {label}: {key}={v!r}"
    if check in ("bid_size", "ask_size"):
        return f"negative {label}: {key}={v!r}"
    return f"non-positive {label}: {key}={v!r}"


class _Payloads:
    """The JSON bytes of one event, for a dead letter of a row that failed validation:
    the whole message for a single object, else the array element (its exact bytes when
    the fast path decoded the message, re-encoded otherwise)."""

    def __init__(self, values: list[bytes], buf: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                 status: np.ndarray) -> None:
        self.values, self.buf, self.starts, self.ends, self.status = values, buf, starts, ends, status
        self.stack = np.empty(_MAX_DEPTH, dtype=np.uint8)

    def __call__(self, m: int, pos: int) -> bytes:
        raw = bytes(self.values[m])
        if pos < 0:
            return raw
        if self.status[m] == _FAST:
            s, e = _element_span(self.buf, self.starts[m], self.ends[m], pos, self.stack)
            if s >= 0:
                return self.buf[s:e].tobytes()
        try:
            return _encode_event(msgspec.json.decode(raw)[pos])
        except Exception:  # pragma: no cover - the message decoded before
            return raw


def _finish(kind: str, fast: Cols, n_fast: int, slow: Cols, text: np.ndarray,
            payload_of: _Payloads, lo: int, hi: int, dead: list[DeadLetter]) -> Cols:
    """Merge fast and slow rows in input order, validate values, move failures to dead."""
    if slow["msg"].shape[0]:
        cols = {k: np.concatenate([fast[k][:n_fast], slow[k]]) for k in fast}
        order = np.argsort(cols["msg"], kind="stable")
        cols = {k: v[order] for k, v in cols.items()}
    else:
        cols = {k: v[:n_fast] for k, v in fast.items()}
    ns, ok, checks = _value_checks(kind, cols, text, lo, hi)
    if not ok.all():
        for r in np.flatnonzero(~ok).tolist():
            check = next(name for name, c in checks if not c[r])
            m, pos = int(cols["msg"][r]), int(cols["pos"][r])
            dead.append(DeadLetter(m, pos, _reason(check, r, cols, text, lo, hi), payload_of(m, pos)))
        cols = {k: v[ok] for k, v in cols.items()}
        ns = ns[ok]
    cols["ts_ns"] = ns
    return cols


def _is_bytes(v: object) -> bool:
    return isinstance(v, bytes | bytearray | memoryview)


def _decode(values: list[bytes], max_message_bytes: int, lo: int, hi: int, fast: bool) -> DecodedBatch:
    n = len(values)
    status = np.zeros(n, dtype=np.int8)
    dead: list[DeadLetter] = []
    parts: list[bytes] = values
    try:
        lens = np.fromiter(map(len, values), dtype=np.int64, count=n)
        if not fast:
            raise TypeError
    except TypeError:  # a payload that is not bytes (or the safety net): checked one by one
        ok = np.fromiter(map(_is_bytes, values), dtype=np.bool_, count=n)
        status[~ok] = _BADTYPE
        parts = [v if k else b"" for v, k in zip(values, ok.tolist(), strict=True)]
        lens = np.fromiter(map(len, parts), dtype=np.int64, count=n)
    if n and int(lens.max()) > max_message_bytes:
        over = lens > max_message_bytes
        status[over] = _OVERSIZE
        lens = np.where(over, 0, lens)
        parts = [b"" if o else v for v, o in zip(parts, over.tolist(), strict=True)]
    if fast:
        buf = np.frombuffer(b"".join(parts), dtype=np.uint8)
        ends = np.cumsum(lens)
        starts = ends - lens
        cap_ev = buf.shape[0] // _MIN_EVENT_BYTES + 1
        tf = _alloc(_TRADE_SPEC, cap_ev)
        qf = _alloc(_QUOTE_SPEC, cap_ev)
        cond = np.empty(buf.shape[0] // 2 + 1, dtype=np.int16)  # a code takes >= 2 bytes
        stack = np.empty(_MAX_DEPTH, dtype=np.uint8)
        nt, nq, nc = _scan(buf, starts, ends, status, *tf.values(), *qf.values(), cond, stack)
    else:  # safety net: everything through the slow path
        buf = np.zeros(0, dtype=np.uint8)
        starts = ends = np.zeros(n, dtype=np.int64)
        status[status == _FAST] = _SLOW
        tf, qf = _alloc(_TRADE_SPEC, 0), _alloc(_QUOTE_SPEC, 0)
        cond = np.zeros(0, dtype=np.int16)
        nt = nq = nc = 0

    for m in np.flatnonzero(status == _OVERSIZE).tolist():
        size = len(values[m])
        reason = f"oversize message: {size} bytes > limit {max_message_bytes}"
        if size > DEAD_PAYLOAD_LIMIT:
            reason += f" (payload truncated to the first {DEAD_PAYLOAD_LIMIT} bytes)"
        dead.append(DeadLetter(m, -1, reason, bytes(values[m][:DEAD_PAYLOAD_LIMIT])))
    for m in np.flatnonzero(status == _BADTYPE).tolist():
        dead.append(DeadLetter(m, -1, f"decoder error: payload is {type(values[m]).__name__}, "
                               "expected bytes", b""))

    sink = _SlowSink(int(buf.shape[0]), int(nc), lo, hi)
    for m in np.flatnonzero(status == _SLOW).tolist():
        try:
            sink.message(m, values[m])
        except Exception as exc:  # pragma: no cover - message() handles its own errors
            sink.dead.append(DeadLetter(m, -1, f"decoder error: {type(exc).__name__}: {exc}", b""))
    dead.extend(sink.dead)

    if sink.text:
        text = np.concatenate([buf, np.frombuffer(bytes(sink.text), dtype=np.uint8)])
    else:
        text = buf
    cond_out = np.concatenate([cond[:nc], np.array(sink.cond, dtype=np.int16)]) if sink.cond else cond[:nc]

    payload_of = _Payloads(values, buf, starts, ends, status)
    tc = _finish("T", tf, int(nt), _slow_cols(_TRADE_SPEC, sink.trades), text, payload_of, lo, hi, dead)
    qc = _finish("Q", qf, int(nq), _slow_cols(_QUOTE_SPEC, sink.quotes), text, payload_of, lo, hi, dead)
    dead.sort(key=lambda d: (d.msg, d.event_index))
    trades = TradeColumns(
        msg=tc["msg"], ts_ns=tc["ts_ns"], price=tc["price"], size=tc["size"],
        exchange=tc["exchange"], tape=tc["tape"], seq=tc["seq"], sym_start=tc["sym_start"],
        sym_len=tc["sym_len"], id_start=tc["id_start"], id_len=tc["id_len"],
        cond_start=tc["cond_start"], cond_len=tc["cond_len"])
    quotes = QuoteColumns(
        msg=qc["msg"], ts_ns=qc["ts_ns"], bid_price=qc["bid_price"], bid_size=qc["bid_size"],
        ask_price=qc["ask_price"], ask_size=qc["ask_size"], bid_exchange=qc["bid_exchange"],
        ask_exchange=qc["ask_exchange"], tape=qc["tape"], seq=qc["seq"],
        sym_start=qc["sym_start"], sym_len=qc["sym_len"], cond_start=qc["cond_start"],
        cond_len=qc["cond_len"])
    return DecodedBatch(text=text, cond=cond_out, trades=trades, quotes=quotes, dead=dead)


def _note_fallback(exc: Exception, n: int) -> None:
    """Log the first fast-path failure of each exception type, with its traceback. The
    slow path still gives the exact rows, so this is a performance regression, not data
    loss; every occurrence is counted in ``DecodedBatch.fast_path_fallbacks``."""
    kind = type(exc).__name__
    with _fallbacks_lock:
        if kind in _fallbacks_logged:
            return
        _fallbacks_logged.add(kind)
    _log.warning("decoder fast path failed (%s: %s) on a batch of %d messages; the batch was decoded by the "
                 "slow path. Further %s failures are counted in the ingest metadata "
                 "(decoder_fast_path_fallbacks), not logged.", kind, exc, n, kind, exc_info=exc)


def decode_batch(values: list[bytes], *, max_message_bytes: int = 1 << 20,
                 min_ts_ns: int = DEFAULT_MIN_TS_NS, max_ts_ns: int | None = None) -> DecodedBatch:
    """Decode Kafka payloads (Polygon event objects or arrays of them) into columns.

    Every message ends as rows and/or dead letters (``DeadLetter.msg`` is its index in
    ``values``; ``event_index`` the position in an array message or -1). ``max_ts_ns``
    defaults to now + 1 day. ``text`` may be a read-only view of the joined payloads.
    Never raises: an internal error sends the whole batch through the slow path (logged
    once per exception type, counted in ``fast_path_fallbacks`` of the result), whose
    per-message errors become "decoder error: ..." dead letters.
    """
    hi = time.time_ns() + _DAY_NS if max_ts_ns is None else int(max_ts_ns)
    lo = int(min_ts_ns)
    try:
        return _decode(values, max_message_bytes, lo, hi, fast=True)
    except Exception as exc:
        _note_fallback(exc, len(values) if isinstance(values, list) else -1)
    try:
        batch = _decode(values, max_message_bytes, lo, hi, fast=False)
        batch.fast_path_fallbacks = 1
        return batch
    except Exception as exc:  # pragma: no cover - last resort
        empty = _decode([], max_message_bytes, lo, hi, fast=False)
        try:
            n = len(values)
        except Exception:
            n = 0
        empty.dead = [DeadLetter(m, -1, f"decoder error: {type(exc).__name__}: {exc}", b"")
                      for m in range(n)]
        empty.fast_path_fallbacks = 1
        return empty
