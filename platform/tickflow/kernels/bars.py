"""Time bars over the regular session: 1-minute OHLCV/VWAP bars, quote statistics per
minute, and their exact aggregation to k-minute bars.

Grid. Minute ``m`` (``m = 0 .. n_minutes - 1``) of the session covers the half-open interval
``[open_ns + m * 60e9, open_ns + (m + 1) * 60e9)``; ticks outside
``[open_ns, open_ns + n_minutes * 60e9)`` (pre-/post-market) are ignored. The caller passes
``n_minutes``: 390 on a full day (09:30-16:00), 210 on an early-close day (09:30-13:00).
Outputs are symbol-major, ``n_symbols * n_minutes`` rows (row ``s * n_minutes + m``), so
they reshape to ``(n_symbols, n_minutes)``.

Trade bars (:func:`minute_bars`), for the trades ``(t_i, p_i, s_i)`` of a minute:

    ``open = p_first``, ``high = max p_i``, ``low = min p_i``, ``close = p_last``,
    ``volume = sum s_i``, ``dollar_volume = sum p_i s_i``, ``trades = #i``,
    ``VWAP = sum p_i s_i / sum s_i``  (``close`` if ``sum s_i = 0``).

Sale conditions (``flags``, optional, one uint8 per trade from :mod:`tickflow.conditions`):
only trades flagged ``LAST`` set ``open``/``close``, only ``HIGH_LOW`` ones ``high``/``low``
and only ``VOLUME`` ones enter ``volume``, ``dollar_volume``, ``trades`` and VWAP, as the
consolidated tape's rules say (e.g. an odd lot adds volume but sets no price). A minute
whose trades may set only high/low (no ``LAST`` trade) keeps the carried open/close, and
its high/low include them, so ``low <= open, close <= high`` always holds. Without
``flags`` every trade counts for everything.

Carried prices: every minute is present. A minute without trades has ``volume = 0``,
``trades = 0`` and ``open = high = low = close = vwap = c``, the *carried* price: the last
close of the symbol, or before its first trade of the session ``seed_price[s]`` (e.g. the
previous close or the first quote's mid; NaN if unknown -- never a value from the future).

Quote statistics (:func:`quote_bar_stats`), with the prevailing quote ``(b_t, a_t)`` = the
last quote with ``ts <= t`` (a quote from before the minute, or before the open, counts):

    ``twap_spread = (1 / T) * integral over the minute of (a_t - b_t) dt``,

``T`` being the part of the minute during which a quote with a defined spread prevails (time
before a symbol's first quote is excluded); NaN if no quote prevails during the minute.
``close_mid = (b + a) / 2`` of the quote prevailing at the minute's end (the last quote with
``ts < open_ns + (m + 1) * 60e9``, consistent with the trade ``close``), carried; NaN before
the first quote. ``quotes`` counts the quote updates stamped inside the minute.

Aggregation (:func:`aggregate_bars`) of ``k`` consecutive 1-minute bars reproduces the bars
computed directly on a ``k``-minute grid: ``open`` = open of the first minute with trades,
``high``/``low`` = max/min over the minutes with trades (the carried price when none trade,
which the first minute's open holds), ``close`` = last close, sums of ``volume``,
``dollar_volume``, ``trades``, ``quotes``, ``vwap = dollar_volume / volume`` (the close when
the volume is 0), ``close_mid`` = last non-NaN, ``twap_spread`` = mean of the minutes'
non-NaN TWAP spreads (exact whenever a quote prevails for the whole of each such minute,
i.e. everywhere after a symbol's first quote minute).

These are the standard bar definitions of e.g. Lopez de Prado (2018), "Advances in Financial
Machine Learning", ch. 2 (time bars), and the time-weighted quoted spread of Hasbrouck
(2009), "Trading costs and returns for U.S. equities", J. Finance 64(3).
"""

from __future__ import annotations

import numba
import numpy as np

from tickflow.kernels.grouping import check_starts

__all__ = ["MINUTE_NS", "minute_bars", "quote_bar_stats", "aggregate_bars"]

MINUTE_NS = 60_000_000_000

_TRADE_KEYS = ("open", "high", "low", "close", "volume", "vwap", "dollar_volume", "trades")
_QUOTE_KEYS = ("twap_spread", "close_mid", "quotes")


@numba.njit(cache=True, inline="always")
def _emit(r: int, cnt: int, n_last: int, n_hl: int, op: float, hp: float, lp: float, cp: float, vol: float,
          dv: float, carry: float, o_open: np.ndarray, o_high: np.ndarray, o_low: np.ndarray,
          o_close: np.ndarray, o_vol: np.ndarray, o_vwap: np.ndarray, o_dv: np.ndarray, o_n: np.ndarray) -> float:
    """Write minute row ``r`` (``cnt`` volume trades, ``n_last``/``n_hl`` trades allowed to
    set the last / high-low); a minute without priced trades carries the last price.
    Returns the price carried into the next minute."""
    if n_last > 0:
        carry = cp
        o = op
    else:
        o = carry
    c = carry
    h = c
    lo = c
    if n_hl > 0:
        h = hp
        lo = lp
        if n_last > 0 or c == c:
            h = max(h, o, c)
            lo = min(lo, o, c)
    elif n_last > 0:
        h = max(o, c)
        lo = min(o, c)
    o_open[r] = o
    o_high[r] = h
    o_low[r] = lo
    o_close[r] = c
    o_vwap[r] = dv / vol if vol > 0.0 else c
    o_vol[r] = vol
    o_dv[r] = dv
    o_n[r] = cnt
    return carry


@numba.njit(cache=True, parallel=True)
def _minute_bars(
    ts_ns: np.ndarray,
    price: np.ndarray,
    size: np.ndarray,
    starts: np.ndarray,
    open_ns: int,
    n_min: int,
    seed: np.ndarray,
    flags: np.ndarray,  # uint8 per trade: 1 LAST, 2 HIGH_LOW, 4 VOLUME (tickflow.conditions)
    step_ns: int,  # MINUTE_NS; an argument, since with the constant LLVM folds the
    # empty-minute loop into a 128-bit division (__udivti3) that numba cannot link
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n_sym = starts.shape[0] - 1
    n_out = n_sym * n_min
    o_open = np.empty(n_out, dtype=np.float64)
    o_high = np.empty(n_out, dtype=np.float64)
    o_low = np.empty(n_out, dtype=np.float64)
    o_close = np.empty(n_out, dtype=np.float64)
    o_vol = np.empty(n_out, dtype=np.float64)
    o_vwap = np.empty(n_out, dtype=np.float64)
    o_dv = np.empty(n_out, dtype=np.float64)
    o_n = np.empty(n_out, dtype=np.int64)
    end_ns = open_ns + n_min * step_ns
    for s in numba.prange(n_sym):
        lo = starts[s]
        hi = starts[s + 1]
        base = s * n_min
        carry = seed[s]
        # first trade at or after the open (trades are time-ordered within a symbol)
        j = lo + np.searchsorted(ts_ns[lo:hi], open_ns)
        m = 0
        boundary = open_ns + step_ns  # end of minute m; advanced, never divided
        op = 0.0
        hp = 0.0
        lp = 0.0
        cp = 0.0
        vol = 0.0
        dv = 0.0
        cnt = 0
        n_last = 0
        n_hl = 0
        while j < hi:
            t = ts_ns[j]
            if t >= end_ns:
                break
            if t >= boundary:
                # close minute m, then any empty minutes up to the one holding t
                carry = _emit(base + m, cnt, n_last, n_hl, op, hp, lp, cp, vol, dv, carry,
                              o_open, o_high, o_low, o_close, o_vol, o_vwap, o_dv, o_n)
                m += 1
                boundary += step_ns
                while t >= boundary:
                    _emit(base + m, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, carry,
                          o_open, o_high, o_low, o_close, o_vol, o_vwap, o_dv, o_n)
                    m += 1
                    boundary += step_ns
                vol = 0.0
                dv = 0.0
                cnt = 0
                n_last = 0
                n_hl = 0
            p = price[j]
            f = flags[j]
            if f & 1:
                if n_last == 0:
                    op = p
                cp = p
                n_last += 1
            if f & 2:
                if n_hl == 0:
                    hp = p
                    lp = p
                else:
                    if p > hp:
                        hp = p
                    if p < lp:
                        lp = p
                n_hl += 1
            if f & 4:
                q = size[j]
                vol += q
                dv += p * q
                cnt += 1
            j += 1
        # the minute in progress, then the empty rest of the session
        while m < n_min:
            carry = _emit(base + m, cnt, n_last, n_hl, op, hp, lp, cp, vol, dv, carry,
                          o_open, o_high, o_low, o_close, o_vol, o_vwap, o_dv, o_n)
            vol = 0.0
            dv = 0.0
            cnt = 0
            n_last = 0
            n_hl = 0
            m += 1
    return o_open, o_high, o_low, o_close, o_vol, o_vwap, o_dv, o_n


@numba.njit(cache=True, parallel=True)
def _quote_bar_stats(
    ts_ns: np.ndarray, bid: np.ndarray, ask: np.ndarray, starts: np.ndarray, open_ns: int, n_min: int, step_ns: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_sym = starts.shape[0] - 1
    n_out = n_sym * n_min
    o_twap = np.empty(n_out, dtype=np.float64)
    o_mid = np.empty(n_out, dtype=np.float64)
    o_n = np.empty(n_out, dtype=np.int64)
    end_ns = open_ns + n_min * step_ns
    for s in numba.prange(n_sym):
        lo = starts[s]
        hi = starts[s + 1]
        base = s * n_min
        # rows before j have ts <= open_ns: the last of them prevails at the open
        j = lo + np.searchsorted(ts_ns[lo:hi], open_ns, side="right")
        cnt = j - (lo + np.searchsorted(ts_ns[lo:hi], open_ns))  # updates stamped at the open
        if j > lo:
            sp = ask[j - 1] - bid[j - 1]
            mid = 0.5 * (ask[j - 1] + bid[j - 1])
        else:
            sp = np.nan
            mid = np.nan
        m = 0
        t_prev = open_ns  # start of the current constant-quote segment inside minute m
        boundary = open_ns + step_ns
        area = 0.0
        weight = 0.0
        while j < hi:
            t = ts_ns[j]
            if t >= end_ns:
                break
            while t >= boundary:
                if sp == sp:
                    dt = float(boundary - t_prev)
                    area += sp * dt
                    weight += dt
                r = base + m
                o_twap[r] = area / weight if weight > 0.0 else np.nan
                o_mid[r] = mid
                o_n[r] = cnt
                area = 0.0
                weight = 0.0
                cnt = 0
                t_prev = boundary
                m += 1
                boundary += step_ns
            if sp == sp:
                dt = float(t - t_prev)
                area += sp * dt
                weight += dt
            sp = ask[j] - bid[j]
            mid = 0.5 * (ask[j] + bid[j])
            t_prev = t
            cnt += 1
            j += 1
        while m < n_min:
            if sp == sp:
                dt = float(boundary - t_prev)
                area += sp * dt
                weight += dt
            r = base + m
            o_twap[r] = area / weight if weight > 0.0 else np.nan
            o_mid[r] = mid
            o_n[r] = cnt
            area = 0.0
            weight = 0.0
            cnt = 0
            t_prev = boundary
            m += 1
            boundary += step_ns
    return o_twap, o_mid, o_n


def _check_ticks(ts_ns: np.ndarray, starts: np.ndarray, cols: list[np.ndarray], n_minutes: int) -> tuple[
    np.ndarray, np.ndarray, list[np.ndarray]
]:
    ts = np.ascontiguousarray(ts_ns, dtype=np.int64)
    out = [np.ascontiguousarray(c, dtype=np.float64) for c in cols]
    if ts.ndim != 1 or any(c.shape != ts.shape for c in out):
        raise ValueError("tick columns must be 1-D arrays of equal length")
    st = check_starts(starts, ts.size)
    if int(n_minutes) < 0:
        raise ValueError("n_minutes must be >= 0")
    return ts, st, out


def minute_bars(
    ts_ns: np.ndarray,
    price: np.ndarray,
    size: np.ndarray,
    starts: np.ndarray,
    open_ns: int,
    n_minutes: int,
    seed_price: np.ndarray | None = None,
    flags: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """1-minute trade bars of the session ``[open_ns, open_ns + n_minutes * 60e9)``.

    Trades are symbol-major and time-ordered within a symbol (``starts`` from
    :func:`tickflow.kernels.grouping.group_starts`). ``seed_price`` (float64, one per symbol,
    NaN if unknown; all NaN when omitted) is carried into the minutes before a symbol's first
    trade. ``flags`` (uint8 per trade, :mod:`tickflow.conditions`; every trade counts for
    everything when omitted) applies the sale-condition rules. Returns ``open high low close volume vwap dollar_volume`` (float64) and ``trades``
    (int64), each of ``n_symbols * n_minutes`` rows, symbol-major."""
    ts, st, (p, q) = _check_ticks(ts_ns, starts, [price, size], n_minutes)
    n_sym = st.size - 1
    if seed_price is None:
        seed = np.full(n_sym, np.nan)
    else:
        seed = np.ascontiguousarray(seed_price, dtype=np.float64)
        if seed.shape != (n_sym,):
            raise ValueError(f"seed_price must hold one value per symbol ({n_sym})")
    if flags is None:
        fl = np.full(ts.size, 7, dtype=np.uint8)
    else:
        fl = np.ascontiguousarray(flags, dtype=np.uint8)
        if fl.shape != ts.shape:
            raise ValueError("flags must hold one value per trade")
    res = _minute_bars(ts, p, q, st, int(open_ns), int(n_minutes), seed, fl, MINUTE_NS)
    return dict(zip(_TRADE_KEYS, res, strict=True))


def quote_bar_stats(
    q_ts_ns: np.ndarray,
    bid: np.ndarray,
    ask: np.ndarray,
    q_starts: np.ndarray,
    open_ns: int,
    n_minutes: int,
) -> dict[str, np.ndarray]:
    """Per-minute quote statistics: ``twap_spread`` (time-weighted quoted spread),
    ``close_mid`` (mid prevailing at the minute's end, carried) and ``quotes`` (int64 count of
    quote updates in the minute); symbol-major, ``n_symbols * n_minutes`` rows. Quotes before
    the open only set the quote prevailing at the open."""
    ts, st, (b, a) = _check_ticks(q_ts_ns, q_starts, [bid, ask], n_minutes)
    res = _quote_bar_stats(ts, b, a, st, int(open_ns), int(n_minutes), MINUTE_NS)
    return dict(zip(_QUOTE_KEYS, res, strict=True))


def _last_valid(x: np.ndarray) -> np.ndarray:
    """Last non-NaN value of each row of a 2-D array (NaN if none)."""
    ok = ~np.isnan(x)
    idx = x.shape[1] - 1 - np.argmax(ok[:, ::-1], axis=1)
    out = x[np.arange(x.shape[0]), idx]
    out[~ok.any(axis=1)] = np.nan
    return out


def aggregate_bars(bars: dict[str, np.ndarray], n_symbols: int, factor: int) -> dict[str, np.ndarray]:
    """Combine ``factor`` consecutive 1-minute bars (symbol-major, as from :func:`minute_bars`
    and/or :func:`quote_bar_stats`) into ``factor``-minute bars, exactly as if computed on
    the coarser grid (see the module docstring). Only the keys present are aggregated;
    ``vwap`` needs ``dollar_volume`` and ``volume``, ``open``/``high``/``low`` need
    ``trades``. Raises ValueError if ``n_minutes`` is not a multiple of ``factor``."""
    factor = int(factor)
    if factor < 1:
        raise ValueError("factor must be >= 1")
    unknown = set(bars) - set(_TRADE_KEYS) - set(_QUOTE_KEYS)
    if unknown:
        raise ValueError(f"cannot aggregate columns {sorted(unknown)}")
    if not bars:
        return {}
    n_rows = {np.asarray(v).size for v in bars.values()}
    if len(n_rows) != 1:
        raise ValueError("bar columns must have equal length")
    total = n_rows.pop()
    if n_symbols < 1:
        if total:
            raise ValueError("n_symbols must be >= 1")
        return {k: np.asarray(v).copy() for k, v in bars.items()}
    if total % n_symbols:
        raise ValueError("bar columns must hold n_symbols equal blocks")
    n_min = total // n_symbols
    if n_min % factor:
        raise ValueError(f"n_minutes = {n_min} is not divisible by factor = {factor}")
    if {"open", "high", "low"} & set(bars) and "trades" not in bars:
        raise ValueError("open/high/low aggregation needs the 'trades' column")
    if "vwap" in bars and not {"dollar_volume", "volume"} <= set(bars):
        raise ValueError("vwap aggregation needs 'dollar_volume' and 'volume'")

    def grid(key: str) -> np.ndarray:
        return np.asarray(bars[key]).reshape(-1, factor)

    out: dict[str, np.ndarray] = {}
    for key in ("volume", "dollar_volume", "trades", "quotes"):
        if key in bars:
            out[key] = grid(key).sum(axis=1)
    if "close" in bars:
        out["close"] = np.ascontiguousarray(grid("close")[:, -1])
    if "trades" in bars:
        traded = grid("trades") > 0
        any_traded = traded.any(axis=1)
        if "open" in bars:
            o = grid("open")
            first = np.argmax(traded, axis=1)  # 0 (the carried open) when no minute traded
            out["open"] = o[np.arange(o.shape[0]), first]
        if "high" in bars:
            h = np.where(traded, grid("high"), -np.inf).max(axis=1)
            out["high"] = np.where(any_traded, h, grid("high")[:, 0])
        if "low" in bars:
            lo = np.where(traded, grid("low"), np.inf).min(axis=1)
            out["low"] = np.where(any_traded, lo, grid("low")[:, 0])
    if "vwap" in bars:
        vol = out["volume"]
        fallback = out["close"] if "close" in out else grid("vwap")[:, -1]
        with np.errstate(divide="ignore", invalid="ignore"):
            out["vwap"] = np.where(vol > 0.0, out["dollar_volume"] / vol, fallback)
    if "twap_spread" in bars:
        x = grid("twap_spread")
        ok = ~np.isnan(x)
        k = ok.sum(axis=1)
        tot = np.where(ok, x, 0.0).sum(axis=1)
        out["twap_spread"] = np.divide(tot, k, out=np.full(tot.shape, np.nan), where=k > 0)
    if "close_mid" in bars:
        out["close_mid"] = _last_valid(grid("close_mid"))
    return {k: out[k] for k in bars}
