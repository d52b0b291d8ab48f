"""Per-trade rolling statistics: standardized returns, Lee-Mykland, rolling BNS, intensity z.

Per symbol, trade-to-trade log returns ``r_i = log(p_i / p_{i-1})`` (``r_0`` of a symbol is
NaN; prices must be finite and > 0). With a window of ``K`` trades (default 100):

- standardized return (exclusive trailing window of the previous ``K`` returns)
  ``z_i = r_i / sqrt((1/K) sum_{j=i-K}^{i-1} r_j^2)``
- Lee & Mykland (2008, RFS 21(6)) statistic with the paper's bipower local scale
  ``L_i = r_i / sqrt(1/(K-2) sum_{j=i-K+2}^{i-1} |r_j| |r_{j-1}|)``
  (window of ``K`` prices before trade ``i``; compare ``|L_i|`` with
  :func:`tickflow.kernels.jumps.lm_critical_value`)
- rolling BNS ratio-max-adjusted z (Barndorff-Nielsen & Shephard 2006, JFEC 4(1); Huang &
  Tauchen 2005, JFEC 3(4)) over the ``n = K`` returns ``r_{i-K+1} .. r_i`` (inclusive window):
  ``RV = sum r_j^2``, ``BV = mu_1^-2 n/(n-1) sum |r_j||r_{j-1}|``,
  ``TQ = n mu_{4/3}^-3 n/(n-2) sum |r_j r_{j-1} r_{j-2}|^{4/3}`` (products within the window),
  ``bns_z_i = ((RV - BV)/RV) / sqrt((pi^2/4 + pi - 5) (1/n) max(1, TQ/BV^2))``
  (see :mod:`tickflow.kernels.jumps`)
- trade-intensity z-score: ``n_i = #{j <= i : t_j > t_i - 60 s}`` (trades in
  ``(t_i - 60 s, t_i]``, the current one included) and
  ``intensity_z_i = (n_i - mean) / sd`` with the mean and the sample sd (ddof 1) of ``n_j`` over
  the previous trades ``j < i`` with ``t_j >= t_i - 30 min``; NaN with fewer than
  ``intensity_min_periods`` (default 30) such trades or a zero sd. A plain moving window was
  chosen over an EWMA: it is exactly reproducible (integer running sums of ``n_j`` and
  ``n_j^2``, no round-off) and matches ``pandas.rolling("1800s", closed="left")``.

``z``, ``lm`` and ``bns_z`` are NaN until ``K`` previous returns exist (``z`` from the
``K+1``-th return on, ``lm`` and ``bns_z`` from the ``K``-th), and when their denominator is 0
(e.g. ``K`` unchanged prices: the statistic is undefined, not infinite). Everything is one O(n) pass per
symbol: running window sums over ring buffers of the last ``K`` terms (re-summed exactly
every window length to bound round-off) and two-pointer time windows; symbols run in parallel.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from tickflow.kernels.grouping import check_starts
from tickflow.kernels.jumps import MU1, MU43, THETA

__all__ = ["trade_stats", "trade_log_returns", "signal_rule"]

_NS = 1_000_000_000


@numba.njit(cache=True, inline="always")
def _ring_sum(ring: np.ndarray, i: int, k: int, w: int, first: int) -> float:
    """Exact sum of the last ``w`` terms ending at term ``i`` (terms before ``first`` are 0)."""
    acc = 0.0
    j0 = max(i - w + 1, first)
    idx = j0 % k
    for _ in range(j0, i + 1):
        acc += ring[idx]
        idx = idx + 1 if idx + 1 < k else 0
    return acc


@numba.njit(cache=True)
def _symbol_stats(
    ts: np.ndarray,
    px: np.ndarray,
    k: int,
    w_count: int,
    w_z: int,
    min_periods: int,
    r_out: np.ndarray,
    z_out: np.ndarray,
    lm_out: np.ndarray,
    bns_out: np.ndarray,
    iz_out: np.ndarray,
    i0: int,
) -> None:
    # ``i0``: the symbol's index of row 0 (rows before it are not given): the ring slots,
    # re-sum points and warm-up conditions follow the symbol's own index, so from the first
    # re-sum of each window after it has filled the values are those of the whole symbol.
    m = ts.shape[0]
    if m == 0:
        return
    # One pass, window sums kept running over ring buffers of the last k terms (term j of a
    # series sits at j % k), so the per-trade work stays in L1; each sum is re-added exactly
    # every window length (bounded round-off) and a window of zero terms is exactly 0.
    ra = np.zeros(k)  # a_j = r_j^2, j >= 1
    rb = np.zeros(k)  # b_j = |r_j||r_{j-1}|, j >= 2
    rc = np.zeros(k)  # c_j = |r_j r_{j-1} r_{j-2}|^{4/3}, j >= 3
    sa = 0.0  # window of k terms of a (z, BNS RV)
    na = 0
    sb1 = 0.0  # k-1 terms of b (BNS BV)
    nb1 = 0
    sb2 = 0.0  # k-2 terms of b (LM)
    nb2 = 0
    sc = 0.0  # k-2 terms of c (BNS TQ)
    nc = 0
    sa_prev = np.nan
    sb2_prev = np.nan
    ar1 = 0.0  # |r_{i-1}|
    q1 = 0.0  # |r_{i-1}|^{4/3}
    q2 = 0.0  # |r_{i-2}|^{4/3}
    r_out[0] = np.nan
    z_out[0] = np.nan
    lm_out[0] = np.nan
    bns_out[0] = np.nan
    # i % k, i % (k-1), i % (k-2) kept as wrapping counters: an integer division per use
    # cost more than the rest of the loop body.
    slot = i0 % k
    mod1 = i0 % (k - 1)
    mod2 = i0 % (k - 2)
    k2 = float(k - 2)
    c_bv = k / (k - 1) / (MU1 * MU1)  # BV = c_bv * sum b (module doc)
    c_tq = k * k / (k - 2) / (MU43 * MU43 * MU43)
    for j in range(1, m):
        i = i0 + j
        slot = slot + 1 if slot + 1 < k else 0
        mod1 = mod1 + 1 if mod1 + 1 < k - 1 else 0
        mod2 = mod2 + 1 if mod2 + 1 < k - 2 else 0
        slot1 = slot + 1 if slot + 1 < k else slot + 1 - k  # (i - k + 1) % k
        slot2 = slot + 2 if slot + 2 < k else slot + 2 - k  # (i - k + 2) % k
        r = math.log(px[j] / px[j - 1])
        r_out[j] = r
        ar = abs(r)
        q = ar * np.cbrt(ar)  # |r|^{4/3}: a cube root, cheaper than a pow
        # a: k terms ending at i; term i-k leaves (it shares the slot)
        a = r * r
        old = ra[slot]
        ra[slot] = a
        sa += a
        na += a != 0.0
        if i - k >= 1:
            sa -= old
            na -= old != 0.0
        if slot == 0:
            sa = _ring_sum(ra, i, k, k, 1)
        if na == 0:
            sa = 0.0
        if i >= 2:
            bterm = ar * ar1
            rb[slot] = bterm
            sb1 += bterm
            sb2 += bterm
            nb1 += bterm != 0.0
            nb2 += bterm != 0.0
            if i - (k - 1) >= 2:
                old = rb[slot1]
                sb1 -= old
                nb1 -= old != 0.0
            if i - (k - 2) >= 2:
                old = rb[slot2]
                sb2 -= old
                nb2 -= old != 0.0
            if mod1 == 0:
                sb1 = _ring_sum(rb, i, k, k - 1, 2)
            if mod2 == 0:
                sb2 = _ring_sum(rb, i, k, k - 2, 2)
            if nb1 == 0:
                sb1 = 0.0
            if nb2 == 0:
                sb2 = 0.0
        if i >= 3:
            cterm = q * q1 * q2
            rc[slot] = cterm
            sc += cterm
            nc += cterm != 0.0
            if i - (k - 2) >= 3:
                old = rc[slot2]
                sc -= old
                nc -= old != 0.0
            if mod2 == 0:
                sc = _ring_sum(rc, i, k, k - 2, 3)
            if nc == 0:
                sc = 0.0
        sa = max(sa, 0.0)
        sb1 = max(sb1, 0.0)
        sb2 = max(sb2, 0.0)
        sc = max(sc, 0.0)
        z_out[j] = r * math.sqrt(k / sa_prev) if i >= k + 1 and sa_prev > 0.0 else np.nan
        lm_out[j] = r * math.sqrt(k2 / sb2_prev) if i >= k and sb2_prev > 0.0 else np.nan
        if i >= k and sa > 0.0 and sb1 > 0.0:
            bv = sb1 * c_bv
            bns_out[j] = (sa - bv) / sa * math.sqrt(k / (THETA * max(1.0, sc * c_tq / (bv * bv))))
        else:
            bns_out[j] = np.nan
        sa_prev = sa if i >= k else np.nan
        sb2_prev = sb2 if i >= k - 1 else np.nan
        q2 = q1
        q1 = q
        ar1 = ar
    # intensity: n_i over (t_i - w_count, t_i]; mean/sd of n_j over j < i, t_j >= t_i - w_z.
    # n_j of a trade leaving the z window is recounted with a third pointer (lo_cz: the count
    # window's start for trade lo_z) rather than kept in a row-length array.
    lo_c = 0
    lo_z = 0
    lo_cz = 0
    s1 = 0  # sum of n_j over the z window (exact integers)
    s2 = 0
    n_prev = 0
    for i in range(m):
        t = ts[i]
        while ts[lo_c] <= t - w_count:
            lo_c += 1
        n_i = i - lo_c + 1
        if i > 0:  # trade i-1 enters the z window ...
            s1 += n_prev
            s2 += n_prev * n_prev
        while lo_z < i and ts[lo_z] < t - w_z:  # ... and old ones leave it
            while ts[lo_cz] <= ts[lo_z] - w_count:
                lo_cz += 1
            nj = lo_z - lo_cz + 1
            s1 -= nj
            s2 -= nj * nj
            lo_z += 1
        n_prev = n_i
        q = i - lo_z
        iz_out[i] = np.nan
        if q >= max(min_periods, 2):
            # q (q-1) var = q s2 - s1^2, exactly in int64 after shifting by an integer mu near
            # the mean (the identity holds for any integer mu; q s2 itself could overflow for
            # very active symbols); a float division finds mu faster than an integer one.
            mu = int(s1 / q)
            rem = s1 - mu * q
            num = q * (s2 - 2 * mu * s1 + q * mu * mu) - rem * rem
            if num > 0:
                mean = s1 / q
                sd = math.sqrt(num / (q * (q - 1.0)))
                iz_out[i] = (n_i - mean) / sd


@numba.njit(cache=True, parallel=True)
def _trade_stats(ts: np.ndarray, px: np.ndarray, starts: np.ndarray, k: int, w_count: int, w_z: int,
                 min_periods: int, first_index: np.ndarray, r: np.ndarray, z: np.ndarray, lm: np.ndarray,
                 bns: np.ndarray, iz: np.ndarray) -> None:
    # Every row is written by its symbol's worker (NaN where undefined): no fill pass.
    for s in numba.prange(starts.shape[0] - 1):
        lo = starts[s]
        hi = starts[s + 1]
        _symbol_stats(ts[lo:hi], px[lo:hi], k, w_count, w_z, min_periods,
                      r[lo:hi], z[lo:hi], lm[lo:hi], bns[lo:hi], iz[lo:hi], first_index[s])


def _inputs(ts_ns: np.ndarray, price: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ts = np.ascontiguousarray(ts_ns, dtype=np.int64)
    px = np.ascontiguousarray(price, dtype=np.float64)
    if ts.ndim != 1 or ts.shape != px.shape:
        raise ValueError("ts_ns and price must be 1-D arrays of equal length")
    st = check_starts(starts, ts.size)
    if not np.all(np.isfinite(px) & (px > 0.0)):
        raise ValueError("prices must be finite and > 0")
    first = np.zeros(ts.size, dtype=bool)
    first[st[:-1][st[:-1] < ts.size]] = True
    if np.any((np.diff(ts) < 0) & ~first[1:]):
        raise ValueError("ts_ns must be non-decreasing within each symbol")
    return ts, px, st


def trade_log_returns(price: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """``log(p_i / p_{i-1})`` within each symbol; NaN for a symbol's first trade."""
    px = np.asarray(price, dtype=np.float64)
    out = np.full(px.shape[0], np.nan)
    if px.shape[0] > 1:
        out[1:] = np.log(px[1:] / px[:-1])
    st = np.asarray(starts, dtype=np.int64)
    first = st[:-1][st[:-1] < st[1:]]
    out[first] = np.nan
    return out


def trade_stats(
    ts_ns: np.ndarray,
    price: np.ndarray,
    starts: np.ndarray,
    K: int = 100,
    *,
    count_window_s: float = 60.0,
    z_window_s: float = 1800.0,
    intensity_min_periods: int = 30,
    first_index: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Rolling per-trade statistics of symbol-major trades (module doc for the formulas).

    Returns arrays aligned with the rows: ``log_return`` (``r_i``), ``std_return`` (``z_i``),
    ``lm_stat`` (Lee-Mykland ``L_i``), ``bns_z`` (rolling BNS z) and ``intensity_z``.

    ``first_index[s]``: the rows given for symbol ``s`` start at its trade number
    ``first_index[s]`` (default 0: all its trades). Rows from :func:`lookback` rows on then
    equal, bit for bit, what the whole symbol gives (the window sums' exact re-sums fall on
    the same trades), so a day's new trades are computed from a bounded slice of it."""
    ts, px, st = _inputs(ts_ns, price, starts)
    i0 = np.zeros(st.size - 1, dtype=np.int64) if first_index is None else np.ascontiguousarray(first_index,
                                                                                                   dtype=np.int64)
    if i0.shape != (st.size - 1,) or np.any(i0 < 0):
        raise ValueError("first_index must give a trade number >= 0 per symbol")
    if K < 4:
        raise ValueError("K must be >= 4")
    w_count = int(round(count_window_s * _NS))
    w_z = int(round(z_window_s * _NS))
    if w_count <= 0 or w_z <= 0:
        raise ValueError("windows must be > 0")
    out = {name: np.empty(ts.size) for name in ("log_return", "std_return", "lm_stat", "bns_z", "intensity_z")}
    _trade_stats(ts, px, st, int(K), w_count, w_z, int(intensity_min_periods), i0, *out.values())
    return out


def lookback(K: int = 100) -> int:
    """Rows before a trade that :func:`trade_stats` needs, in a slice starting at
    ``first_index``, to give that trade its whole-symbol value: a full window of each running
    sum before its next exact re-sum (at most ``2K``), and the trade before it. The intensity
    z-score needs, besides, every trade of the ``z_window_s + count_window_s`` before it."""
    return 2 * K + 2


@numba.njit(cache=True, parallel=True)
def _signal_rule(starts: np.ndarray, r: np.ndarray, z: np.ndarray, lm: np.ndarray, iz: np.ndarray,
                 sign: np.ndarray, crit: np.ndarray, z_min: float, iz_min: float,
                 jump: np.ndarray, signal: np.ndarray, sym: np.ndarray, trade_no: np.ndarray) -> None:
    for s in numba.prange(starts.shape[0] - 1):
        c = crit[s]
        for i in range(starts[s], starts[s + 1]):
            sym[i] = s
            trade_no[i] = i - starts[s]
            j = abs(lm[i]) > c  # False for NaN
            jump[i] = j
            burst = iz[i] > iz_min
            buy = (j and r[i] > 0.0) or (sign[i] == 1 and z[i] > z_min and burst)
            sell = (j and r[i] < 0.0) or (sign[i] == -1 and z[i] < -z_min and burst)
            signal[i] = 1 if buy and not sell else (-1 if sell and not buy else 0)


def signal_rule(starts: np.ndarray, stats: dict[str, np.ndarray], sign: np.ndarray, critical: np.ndarray,
                z_min: float = 2.0, intensity_min: float = 1.0) -> dict[str, np.ndarray]:
    """Per-trade jump flag and BUY/SELL/HOLD signal (+1/-1/0), with the row's symbol code and
    its number within the symbol.

    ``jump_i = |L_i| > critical[s]`` (the Lee-Mykland threshold for the symbol's trade count).
    ``BUY`` when ``jump_i and r_i > 0``, or when a buyer-initiated trade (``sign_i = +1``, e.g.
    Lee-Ready) has ``z_i > z_min`` while the intensity z-score exceeds ``intensity_min``:
    aggressive buying that moves the price during a burst of activity, the footprint of
    informed trading (Easley & O'Hara 1992). ``SELL`` mirrors it; ``HOLD`` otherwise, and when
    both fire."""
    n = stats["log_return"].shape[0]
    st = np.ascontiguousarray(starts, dtype=np.int64)
    jump = np.empty(n, dtype=np.bool_)
    signal = np.empty(n, dtype=np.int8)
    sym = np.empty(n, dtype=np.int32)
    trade_no = np.empty(n, dtype=np.int32)
    _signal_rule(st, stats["log_return"], stats["std_return"], stats["lm_stat"], stats["intensity_z"],
                 np.ascontiguousarray(sign, dtype=np.int8), np.ascontiguousarray(critical, dtype=np.float64),
                 float(z_min), float(intensity_min), jump, signal, sym, trade_no)
    return {"jump": jump, "signal": signal, "sym": sym, "trade_no": trade_no}
