"""Liquidity measures per bar and per symbol-day: Roll, Kyle's lambda, Amihud, effective and
realised spreads.

Inputs follow the package conventions (:mod:`tickflow.kernels`): trades ``(t_ts, price, size,
sign)`` and quotes ``(q_ts, bid, ask)`` symbol-major, time-ordered within a symbol, with row
ranges ``t_starts`` / ``q_starts`` over the same symbols. ``sign`` is a trade direction
(``+1`` buy, ``-1`` sell, ``0`` unknown), normally :func:`tickflow.kernels.flow.lee_ready`.

Bars. Bin ``b`` (``b = 0 .. n_bins - 1``) covers ``[open_ns + b * bar_ns, open_ns + (b + 1) * bar_ns)``;
the session is ``[open_ns, end_ns)``, ``end_ns = open_ns + n_bins * bar_ns``, and ticks
outside it are ignored by the bar and day figures. Per-bar outputs are symbol-major,
``n_symbols * n_bins`` rows; per-day outputs have one row per symbol. Every function returns
``(per_bar, per_day)`` (the spreads a dict). NaN where a measure is undefined.

Roll (1984), "A simple implicit measure of the effective bid-ask spread in an efficient
market", J. Finance 39(4) (:func:`roll_spread`). With trade-to-trade price changes
``dp_j = p_j - p_{j-1}`` (dollars),

    ``S = 2 sqrt(-Cov(dp_j, dp_{j-1}))``,

``Cov`` the sample covariance (ddof 1, each series centred on its own mean, as
``pandas.Series.cov``) of the pairs whose three trades ``j-2, j-1, j`` all lie in the bar (in
the session, for the day). NaN for fewer than two pairs or ``Cov >= 0``, where the model has
no solution; some authors report ``-2 sqrt(|Cov|)`` (a signed "spread") instead -- we do not.

Kyle's lambda (Kyle 1985, "Continuous auctions and insider trading", Econometrica 53(6)), the
price impact of signed order flow, estimated by OLS with intercept in the style of Hasbrouck
(2009, "Trading costs and returns for U.S. equities", J. Finance 64(3); he uses signed
sqrt-dollar volume per 5-minute interval, we use signed share volume):

- per symbol-day (:func:`kyle_lambda` ``day``): over the 1-minute intervals ``m`` of the session
  (``interval_ns``), ``r_m = alpha + lambda * S_m + e_m`` with
  ``r_m = log M_m - log M_{m-1}``, ``M_m`` the mid of the quote prevailing at the interval's end
  (last quote with ``ts < open_ns + (m + 1) * interval_ns``; ``M_{-1}``: last quote with
  ``ts < open_ns``), ``S_m = sum over the interval's trades of sign_i * size_i``. Intervals
  with an undefined ``r_m`` are dropped. Unit: log-return per share.
- per bar (:func:`kyle_lambda` ``bar``): over the trades ``j`` of the bar whose predecessor
  ``j - 1`` is in the bar too, ``p_j - p_{j-1} = alpha + lambda * sign_j * size_j + e_j``.
  Unit: dollars per share.

``lambda = Cov(y, x) / Var(x)``; NaN with fewer than two observations or ``Var(x) = 0``.

Amihud (2002), "Illiquidity and stock returns: cross-section and time-series effects",
J. Financial Markets 5(1) (:func:`amihud`), intraday analogue: for a bar with trades

    ``ILLIQ_b = |r_b| / DV_b``,  ``r_b = log(P_close,b / P_ref,b)``,  ``DV_b = sum_i p_i size_i``,

``P_ref,b`` the last trade price of the session before the bar (the previous close, carried),
or the bar's first trade price when the symbol has not traded earlier in the session. NaN for a
bar without volume; ``day`` = mean of ``ILLIQ_b`` over the bars with volume. Unit: per dollar
(multiply by 1e6 for the customary "per $ million").

Effective and realised spreads (:func:`spreads`; e.g. Bessembinder & Kaufman 1997; Hendershott,
Jones & Menkveld 2011), per trade ``i`` with sign ``q_i``, prevailing mid ``m_i`` (last quote
with ``ts <= t_i``) and ``m_{i+D}`` the mid prevailing ``D = delay_ns`` (default 5 minutes)
after the trade:

    ``effective_i = 2 q_i (p_i - m_i) / m_i``,
    ``realized_i  = 2 q_i (p_i - m_{i+D}) / m_i``,
    ``impact_i    = 2 q_i (m_{i+D} - m_i) / m_i = effective_i - realized_i``

(relative to the mid: a trade at the touch has ``effective = (a - b) / m``, the relative quoted
spread). NaN when ``q_i = 0``, no quote prevails (or ``m_i <= 0``), and -- for the realised
spread and the impact -- when ``t_i + D >= end_ns`` (past the session end). Bar and day values
are size-weighted means over the session's trades with a defined value:
``sum size_i x_i / sum size_i``. With Lee-Ready signs on the simulator (20 symbols,
2024-03-05, seed 3) the daily effective spread is 0.83-0.97 times the size-weighted relative
quoted spread at the trades (75 % of trades print at the touch, the rest inside).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from tickflow.kernels.flow import check_columns, check_grid
from tickflow.kernels.grouping import check_starts

__all__ = ["MINUTE_NS", "roll_spread", "kyle_lambda", "amihud", "spreads"]

MINUTE_NS = 60_000_000_000


def _check_pair(t_starts: np.ndarray, n_t: int, q_starts: np.ndarray, n_q: int) -> tuple[np.ndarray, np.ndarray]:
    ts_ = check_starts(t_starts, n_t, "t_starts")
    qs_ = check_starts(q_starts, n_q, "q_starts")
    if ts_.size != qs_.size:
        raise ValueError("t_starts and q_starts must cover the same symbols")
    return ts_, qs_


# ----------------------------------------------------------------------------- Roll


@numba.njit(cache=True, inline="always")
def _push(acc: np.ndarray, x: float, y: float) -> None:
    """Add the pair ``(x, y)`` to the co-moment accumulator
    ``acc = [n, mean x, mean y, C_xy, C_xx, C_yy]`` (Welford; ``C`` = centred sums of products)."""
    acc[0] += 1.0
    ex = x - acc[1]
    ey = y - acc[2]
    acc[1] += ex / acc[0]
    acc[2] += ey / acc[0]
    acc[3] += ex * (y - acc[2])
    acc[4] += ex * (x - acc[1])
    acc[5] += ey * (y - acc[2])


@numba.njit(cache=True)
def _roll_of(acc: np.ndarray) -> float:
    n = acc[0]
    # a covariance within rounding of zero (prices on a tick grid) counts as zero
    if n < 2.0 or not acc[3] < -1e-12 * math.sqrt(acc[4] * acc[5]):
        return np.nan
    return 2.0 * math.sqrt(-acc[3] / (n - 1.0))


@numba.njit(cache=True, parallel=True)
def _roll(
    ts: np.ndarray, price: np.ndarray, starts: np.ndarray, open_ns: int, bar_ns: int, n_bins: int
) -> tuple[np.ndarray, np.ndarray]:
    n_sym = starts.shape[0] - 1
    out = np.full(n_sym * n_bins, np.nan)
    day = np.full(n_sym, np.nan)
    end_ns = open_ns + n_bins * bar_ns
    for s in numba.prange(n_sym):
        lo = starts[s]
        hi = starts[s + 1]
        base = s * n_bins
        j = lo + np.searchsorted(ts[lo:hi], open_ns)
        # co-moments of the pairs (x = dp_j, y = dp_{j-1}): bar and day
        acc_b = np.zeros(6, dtype=np.float64)
        acc_d = np.zeros(6, dtype=np.float64)
        cur = -1  # bin being accumulated
        run = 0  # consecutive trades of the current bin so far
        drun = 0  # consecutive trades of the session so far
        p1 = 0.0  # previous price
        d1 = 0.0  # previous change
        while j < hi:
            t = ts[j]
            if t >= end_ns:
                break
            b = (t - open_ns) // bar_ns
            if b != cur:
                if cur >= 0:
                    out[base + cur] = _roll_of(acc_b)
                cur = b
                run = 0
                acc_b[:] = 0.0
            p = price[j]
            d = p - p1
            if drun >= 2:
                _push(acc_d, d, d1)
            if run >= 2:
                _push(acc_b, d, d1)
            d1 = d
            p1 = p
            run += 1
            drun += 1
            j += 1
        if cur >= 0:
            out[base + cur] = _roll_of(acc_b)
        day[s] = _roll_of(acc_d)
    return out, day


def roll_spread(
    t_ts: np.ndarray, price: np.ndarray, t_starts: np.ndarray, open_ns: int, bar_ns: int, n_bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Roll (1984) spread in dollars, ``2 sqrt(-Cov(dp_j, dp_{j-1}))``, per bar and per
    symbol-day; NaN when the covariance is >= 0 or fewer than two pairs exist."""
    ts, (p,) = check_columns(t_ts, [price])
    st = check_starts(t_starts, ts.size, "t_starts")
    bar, nb = check_grid(bar_ns, n_bins)
    return _roll(ts, p, st, int(open_ns), bar, nb)


# ----------------------------------------------------------------------------- Kyle


@numba.njit(cache=True)
def _slope(acc: np.ndarray) -> float:
    """OLS slope of y on x (with intercept) from a :func:`_push` accumulator."""
    if acc[0] < 2.0 or not acc[4] > 0.0:
        return np.nan
    return acc[3] / acc[4]


@numba.njit(cache=True, parallel=True)
def _kyle(
    t_ts: np.ndarray,
    price: np.ndarray,
    size: np.ndarray,
    sign: np.ndarray,
    t_starts: np.ndarray,
    q_ts: np.ndarray,
    bid: np.ndarray,
    ask: np.ndarray,
    q_starts: np.ndarray,
    open_ns: int,
    bar_ns: int,
    n_bins: int,
    step_ns: int,
    n_int: int,
) -> tuple[np.ndarray, np.ndarray]:
    n_sym = t_starts.shape[0] - 1
    out = np.full(n_sym * n_bins, np.nan)
    day = np.full(n_sym, np.nan)
    end_ns = open_ns + n_bins * bar_ns
    for s in numba.prange(n_sym):
        lo = t_starts[s]
        hi = t_starts[s + 1]
        base = s * n_bins
        flow = np.zeros(n_int, dtype=np.float64)
        # per bar: trade-to-trade regressions, and the signed volume per interval
        j = lo + np.searchsorted(t_ts[lo:hi], open_ns)
        acc = np.zeros(6, dtype=np.float64)
        cur = -1
        run = 0
        p1 = 0.0
        while j < hi:
            t = t_ts[j]
            if t >= end_ns:
                break
            b = (t - open_ns) // bar_ns
            if b != cur:
                if cur >= 0:
                    out[base + cur] = _slope(acc)
                cur = b
                run = 0
                acc[:] = 0.0
            x = sign[j] * size[j]
            flow[(t - open_ns) // step_ns] += x
            p = price[j]
            if run >= 1:
                _push(acc, x, p - p1)
            p1 = p
            run += 1
            j += 1
        if cur >= 0:
            out[base + cur] = _slope(acc)
        # per day: interval log mid changes on signed volume
        qlo = q_starts[s]
        qhi = q_starts[s + 1]
        k = qlo + np.searchsorted(q_ts[qlo:qhi], open_ns)  # quotes before k have ts < open_ns
        lm1 = math.log(0.5 * (bid[k - 1] + ask[k - 1])) if k > qlo else np.nan
        acc[:] = 0.0
        boundary = open_ns
        for m in range(n_int):
            boundary += step_ns
            while k < qhi and q_ts[k] < boundary:
                k += 1
            lm = math.log(0.5 * (bid[k - 1] + ask[k - 1])) if k > qlo else np.nan
            y = lm - lm1
            lm1 = lm
            if y == y:
                _push(acc, flow[m], y)
        day[s] = _slope(acc)
    return out, day


def kyle_lambda(
    t_ts: np.ndarray,
    price: np.ndarray,
    size: np.ndarray,
    sign: np.ndarray,
    t_starts: np.ndarray,
    q_ts: np.ndarray,
    bid: np.ndarray,
    ask: np.ndarray,
    q_starts: np.ndarray,
    open_ns: int,
    bar_ns: int,
    n_bins: int,
    interval_ns: int = MINUTE_NS,
) -> tuple[np.ndarray, np.ndarray]:
    """Kyle's lambda (see the module docstring): per bar, OLS slope of trade-to-trade price
    changes on the signed trade size (dollars per share); per symbol-day, OLS slope of the
    ``interval_ns`` log mid changes on the interval's signed volume (per share). The session
    length ``n_bins * bar_ns`` must be a multiple of ``interval_ns``."""
    tt, (p, q, g) = check_columns(t_ts, [price, size, sign])
    qt, (b, a) = check_columns(q_ts, [bid, ask])
    ts_, qs_ = _check_pair(t_starts, tt.size, q_starts, qt.size)
    bar, nb = check_grid(bar_ns, n_bins)
    step = int(interval_ns)
    if step <= 0 or (bar * nb) % step:
        raise ValueError("interval_ns must be > 0 and divide the session length n_bins * bar_ns")
    return _kyle(tt, p, q, g, ts_, qt, b, a, qs_, int(open_ns), bar, nb, step, (bar * nb) // step)


# ----------------------------------------------------------------------------- Amihud


@numba.njit(cache=True, parallel=True)
def _amihud(
    ts: np.ndarray, price: np.ndarray, size: np.ndarray, starts: np.ndarray, open_ns: int, bar_ns: int, n_bins: int
) -> tuple[np.ndarray, np.ndarray]:
    n_sym = starts.shape[0] - 1
    out = np.full(n_sym * n_bins, np.nan)
    day = np.full(n_sym, np.nan)
    end_ns = open_ns + n_bins * bar_ns
    for s in numba.prange(n_sym):
        lo = starts[s]
        hi = starts[s + 1]
        base = s * n_bins
        j = lo + np.searchsorted(ts[lo:hi], open_ns)
        ref = np.nan  # last close of the session so far
        cur = -1
        p0 = 0.0
        pc = 0.0
        dv = 0.0
        tot = 0.0
        cnt = 0
        while True:
            t = ts[j] if j < hi else end_ns
            b = (t - open_ns) // bar_ns if t < end_ns else -1
            if b != cur and cur >= 0:
                start = ref if ref == ref else p0
                if dv > 0.0:
                    v = abs(math.log(pc / start)) / dv
                    out[base + cur] = v
                    if v == v:
                        tot += v
                        cnt += 1
                ref = pc
            if b < 0:
                break
            if b != cur:
                cur = b
                p0 = price[j]
                dv = 0.0
            pc = price[j]
            dv += pc * size[j]
            j += 1
        if cnt > 0:
            day[s] = tot / cnt
    return out, day


def amihud(
    t_ts: np.ndarray,
    price: np.ndarray,
    size: np.ndarray,
    t_starts: np.ndarray,
    open_ns: int,
    bar_ns: int,
    n_bins: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Amihud (2002) illiquidity ``|r_b| / DV_b`` per bar (NaN without volume) and its mean
    over the bars with volume per symbol-day (see the module docstring)."""
    ts, (p, q) = check_columns(t_ts, [price, size])
    st = check_starts(t_starts, ts.size, "t_starts")
    bar, nb = check_grid(bar_ns, n_bins)
    return _amihud(ts, p, q, st, int(open_ns), bar, nb)


# ----------------------------------------------------------------------------- spreads


@numba.njit(cache=True, parallel=True)
def _spreads(
    t_ts: np.ndarray, price: np.ndarray, size: np.ndarray, sign: np.ndarray, t_starts: np.ndarray,
    q_ts: np.ndarray, bid: np.ndarray, ask: np.ndarray, q_starts: np.ndarray,
    open_ns: int, bar_ns: int, n_bins: int, delay: int, per_trade: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One pass per symbol: the two prevailing quotes by two pointers, the three spreads of
    each trade, and their size-weighted sums per bin and per day (rows 0-2: effective,
    realised, impact). ``per_trade`` (3 x n_trades, or 3 x 0) receives the per-trade values;
    a whole day's per-trade arrays are tens of MB that a caller wanting only the means
    would pay in page faults on every call."""
    n_sym = t_starts.shape[0] - 1
    num = np.zeros((3, n_sym * n_bins))
    den = np.zeros((3, n_sym * n_bins))
    dnum = np.zeros((3, n_sym))
    dden = np.zeros((3, n_sym))
    keep = per_trade.shape[1] > 0
    end_ns = open_ns + n_bins * bar_ns
    vals = np.empty((n_sym, 3))
    for s in numba.prange(n_sym):
        q0 = q_starts[s]
        qhi = q_starts[s + 1]
        j0 = q0  # quotes before j0 have ts <= t
        j1 = q0  # quotes before j1 have ts <= t + delay
        v = vals[s]
        for i in range(t_starts[s], t_starts[s + 1]):
            t = t_ts[i]
            while j0 < qhi and q_ts[j0] <= t:
                j0 += 1
            while j1 < qhi and q_ts[j1] <= t + delay:
                j1 += 1
            v[:] = np.nan
            if j0 > q0:
                m0 = 0.5 * (bid[j0 - 1] + ask[j0 - 1])
                g = sign[i]
                if g != 0.0 and m0 > 0.0:
                    v[0] = 2.0 * g * (price[i] - m0) / m0
                    if t + delay < end_ns:
                        m1 = 0.5 * (bid[j1 - 1] + ask[j1 - 1])
                        v[1] = 2.0 * g * (price[i] - m1) / m0
                        v[2] = 2.0 * g * (m1 - m0) / m0
            if keep:
                per_trade[:, i] = v
            if open_ns <= t < end_ns:
                r = s * n_bins + (t - open_ns) // bar_ns
                w = size[i]
                for k in range(3):
                    if v[k] == v[k]:
                        num[k, r] += w * v[k]
                        den[k, r] += w
                        dnum[k, s] += w * v[k]
                        dden[k, s] += w
    return num, den, dnum, dden


def spreads(
    t_ts: np.ndarray,
    price: np.ndarray,
    size: np.ndarray,
    sign: np.ndarray,
    t_starts: np.ndarray,
    q_ts: np.ndarray,
    bid: np.ndarray,
    ask: np.ndarray,
    q_starts: np.ndarray,
    open_ns: int,
    bar_ns: int,
    n_bins: int,
    delay_ns: int = 5 * MINUTE_NS,
    per_trade: bool = True,
) -> dict[str, np.ndarray]:
    """Relative effective and realised spreads and price impact (see the module docstring).

    Returns the size-weighted ``effective_bar``, ``realized_bar``, ``impact_bar``
    (``n_symbols * n_bins``) and ``effective_day``, ``realized_day``, ``impact_day``
    (``n_symbols``) over the session's trades; with ``per_trade`` also ``effective``,
    ``realized``, ``impact`` per trade (every trade row; NaN where undefined)."""
    tt, (p, q, g) = check_columns(t_ts, [price, size, sign])
    qt, (b, a) = check_columns(q_ts, [bid, ask])
    ts_, qs_ = _check_pair(t_starts, tt.size, q_starts, qt.size)
    bar, nb = check_grid(bar_ns, n_bins)
    delay = int(delay_ns)
    if delay < 0:
        raise ValueError("delay_ns must be >= 0")
    rows = np.empty((3, tt.size if per_trade else 0))
    num, den, dnum, dden = _spreads(tt, p, q, g, ts_, qt, b, a, qs_, int(open_ns), bar, nb, delay, rows)
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for k, key in enumerate(("effective", "realized", "impact")):
            if per_trade:
                out[key] = rows[k]
            out[f"{key}_bar"] = np.where(den[k] > 0.0, num[k] / den[k], np.nan)
            out[f"{key}_day"] = np.where(dden[k] > 0.0, dnum[k] / dden[k], np.nan)
    return out
