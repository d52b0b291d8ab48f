"""ACD(1,1) on diurnally adjusted trade durations, exponential QML, per symbol, in numba.

Autoregressive conditional duration model of Engle & Russell (1998, "Autoregressive
conditional duration: a new model for irregularly spaced transaction data", Econometrica
66(5), 1127-1162).

Durations (:func:`trade_durations`): ``d_i = t_i - t_{i-1}`` in seconds between consecutive
trades of a symbol (rows of ``starts``). The first trade of a symbol has no duration (NaN).
*Zero durations* (trades with the same time stamp as the previous one -- in practice the fills
of one order sweeping several resting orders) are NaN as well: following Engle & Russell, who
aggregate trades with equal time stamps into one transaction, they are one event, and the next
positive duration is measured from that shared time stamp. NaN durations are skipped by the
fit (the remaining durations are taken as consecutive) and give NaN ``x``/``psi``.

Diurnal adjustment (:func:`diurnal_factor`), ``x_i = d_i / phi_i``: as in Engle & Russell the
factor is taken at the start of the duration, ``phi_i = phi(t_{i-1})``, so it is known ex ante.
The intraday pattern ``phi`` is estimated per symbol (per group of ``starts``):

1. cut the session ``[open, open + session_seconds)`` into buckets of ``bucket_seconds``
   (default 30 minutes; the last one may be shorter); a duration belongs to the bucket of
   ``t_{i-1}`` (clipped into the session);
2. ``m_b`` = mean of the symbol's positive durations in bucket ``b``, placed at the bucket
   midpoint; buckets without durations are left out;
3. ``phi(t)`` = linear interpolation of the ``m_b`` between midpoints, constant beyond the first
   and last one (``np.interp``);
4. normalise: ``phi *= mean_i(d_i / phi_i)`` so that the adjusted durations have mean exactly 1.

(Engle & Russell fit a cubic spline with knots every hour over many days; one day of one symbol
supports only this coarser piecewise-linear estimate.)

Model, for adjusted durations ``x_1 .. x_n`` of a symbol:

    ``psi_i = omega + alpha x_{i-1} + beta psi_{i-1}``,   ``psi_1 = mean(x)``,
    ``x_i = psi_i eps_i``, ``eps_i`` i.i.d. with mean 1,
    ``loglik = -sum_i (log psi_i + x_i / psi_i)``  (exponential QML),

with ``omega > 0, alpha >= 0, beta >= 0, alpha + beta < 1``. The exponential likelihood gives
consistent estimates whatever the law of ``eps`` (it is the Gaussian GARCH QML of
``sqrt(x_i)``; Engle & Russell 1998, Corollary to Theorem 1), and is maximised by the same numba
Newton optimiser as the GARCH fit (:mod:`tickflow.kernels.optimize`). ``psi_i`` is the
conditional expected (adjusted) duration; ``x_i / psi_i`` is the duration surprise. A symbol
with fewer than ``min_obs`` (default 50) durations gets NaN parameters and ``converged = False``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from tickflow.kernels.grouping import check_starts
from tickflow.kernels.optimize import filter_11, filter_11_into, fit_11

__all__ = [
    "MIN_OBS",
    "acd11_psi",
    "diurnal_factor",
    "fit_acd11_grouped",
    "trade_durations",
]

MIN_OBS = 50
_NS = 1e9


@numba.njit(cache=True, parallel=True)
def _durations_kernel(ts: np.ndarray, starts: np.ndarray, d: np.ndarray) -> None:
    for g in numba.prange(starts.shape[0] - 1):
        lo = starts[g]
        if lo < starts[g + 1]:
            d[lo] = np.nan
        for i in range(lo + 1, starts[g + 1]):
            dt = ts[i] - ts[i - 1]
            d[i] = dt / _NS if dt > 0 else np.nan


def trade_durations(ts_ns: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Seconds since the previous trade of the same symbol; NaN for a symbol's first trade and
    for zero durations (equal time stamps: one transaction, see the module docstring)."""
    ts = np.ascontiguousarray(ts_ns, dtype=np.int64)
    st = check_starts(starts, ts.size)
    if ts.size > 1:
        back = np.flatnonzero(np.diff(ts) < 0) + 1  # rows earlier than their predecessor ...
        if np.any(~np.isin(back, st[:-1])):  # ... are fine only where a new symbol starts
            raise ValueError("ts_ns must be non-decreasing within each symbol")
    d = np.empty(ts.size)
    _durations_kernel(ts, st, d)
    return d


@numba.njit(cache=True)
def _diurnal_group(ts: np.ndarray, d: np.ndarray, open_ns: int, session_s: float, bucket_s: float,
                   mids: np.ndarray, phi: np.ndarray) -> None:
    nb = mids.shape[0]
    sums = np.zeros(nb)
    cnts = np.zeros(nb, dtype=np.int64)
    xs = np.empty(nb)
    ys = np.empty(nb)
    m = ts.shape[0]
    for i in range(1, m):
        if d[i] > 0.0:
            tau = (ts[i - 1] - open_ns) / _NS
            b = min(max(int(math.floor(tau / bucket_s)), 0), nb - 1)
            sums[b] += d[i]
            cnts[b] += 1
    k = 0
    for b in range(nb):
        if cnts[b] > 0:
            xs[k] = mids[b]
            ys[k] = sums[b] / cnts[b]
            k += 1
    if k == 0:
        return
    acc = 0.0
    nv = 0
    j = 1  # rows are time-ordered: the interpolation segment only moves forward
    for i in range(1, m):
        if not d[i] > 0.0:
            continue
        tau = min(max((ts[i - 1] - open_ns) / _NS, 0.0), session_s)
        if tau <= xs[0]:
            f = ys[0]
        elif tau >= xs[k - 1]:
            f = ys[k - 1]
        else:
            while xs[j] < tau:
                j += 1
            w = (tau - xs[j - 1]) / (xs[j] - xs[j - 1])
            f = ys[j - 1] + w * (ys[j] - ys[j - 1])
        phi[i] = f
        acc += d[i] / f
        nv += 1
    c = acc / nv
    for i in range(1, m):
        if d[i] > 0.0:
            phi[i] *= c


@numba.njit(cache=True, parallel=True)
def _diurnal_kernel(
    ts: np.ndarray, d: np.ndarray, starts: np.ndarray, open_ns: np.ndarray, session_s: float, bucket_s: float,
    phi: np.ndarray,
) -> None:
    nb = int(math.ceil(session_s / bucket_s))
    mids = np.empty(nb)
    for b in range(nb):
        mids[b] = (b * bucket_s + min((b + 1) * bucket_s, session_s)) / 2.0
    for g in numba.prange(starts.shape[0] - 1):
        lo = starts[g]
        hi = starts[g + 1]
        _diurnal_group(ts[lo:hi], d[lo:hi], open_ns[g], session_s, bucket_s, mids, phi[lo:hi])


def diurnal_factor(
    ts_ns: np.ndarray,
    starts: np.ndarray,
    open_ns: int | np.ndarray,
    session_seconds: float,
    bucket_seconds: float = 1800.0,
    durations: np.ndarray | None = None,
) -> np.ndarray:
    """Per-row diurnal factor ``phi_i`` of the duration ending at row ``i`` (module docstring).

    ``open_ns`` is the session open (ns since the epoch), one for all symbols or one per
    symbol. NaN where the duration is undefined (first trade of a symbol, zero duration).
    Adjusted durations: ``trade_durations(ts_ns, starts) / diurnal_factor(...)``; pass
    those durations as ``durations`` when already computed.
    """
    ts = np.ascontiguousarray(ts_ns, dtype=np.int64)
    st = check_starts(starts, ts.size)
    if not (session_seconds > 0 and bucket_seconds > 0):
        raise ValueError("session_seconds and bucket_seconds must be positive")
    op = np.ascontiguousarray(np.broadcast_to(np.asarray(open_ns, dtype=np.int64), (st.size - 1,)))
    d = trade_durations(ts, st) if durations is None else np.ascontiguousarray(durations, dtype=np.float64)
    if d.shape != ts.shape:
        raise ValueError("durations must align with ts_ns")
    phi = np.full(ts.size, np.nan)
    _diurnal_kernel(ts, d, st, op, float(session_seconds), float(bucket_seconds), phi)
    return phi


@numba.njit(cache=True)
def _finite(x: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.empty(hi - lo, dtype=np.int64)
    k = 0
    for i in range(lo, hi):
        if math.isfinite(x[i]) and x[i] >= 0.0:
            idx[k] = i
            k += 1
    idx = idx[:k]
    v = np.empty(k)
    for j in range(k):
        v[j] = x[idx[j]]
    return idx, v


@numba.njit(cache=True, parallel=True)
def _fit_kernel(
    x: np.ndarray, starts: np.ndarray, min_obs: int, psi: np.ndarray, work: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fits each group; ``psi`` and ``work`` (row-length, numpy-allocated) hold a group's
    usable durations packed at the front of its rows and the optimiser's scratch, then
    ``psi`` gets the fitted values scattered back: no allocation per group."""
    ng = starts.shape[0] - 1
    omega = np.full(ng, np.nan)
    alpha = np.full(ng, np.nan)
    beta = np.full(ng, np.nan)
    loglik = np.full(ng, np.nan)
    conv = np.zeros(ng, dtype=np.bool_)
    nobs = np.zeros(ng, dtype=np.int64)
    for g in numba.prange(ng):
        lo = starts[g]
        hi = starts[g + 1]
        n = 0
        for i in range(lo, hi):
            if math.isfinite(x[i]) and x[i] >= 0.0:
                psi[lo + n] = x[i]
                n += 1
        nobs[g] = n
        fitted = False
        if n >= min_obs:
            v = psi[lo:lo + n]
            p0 = np.mean(v)
            w, a, b, q, ok, _ = fit_11(v, False, p0, work[lo:lo + n])
            if math.isfinite(q):
                omega[g] = w
                alpha[g] = a
                beta[g] = b
                loglik[g] = 2.0 * q
                conv[g] = ok
                filter_11_into(v, w, a, b, False, p0, work[lo:lo + n])
                fitted = True
        j = n - 1  # packed row j <= its source row: scatter back from the end
        for i in range(hi - 1, lo - 1, -1):
            if fitted and math.isfinite(x[i]) and x[i] >= 0.0:
                psi[i] = work[lo + j]
                j -= 1
            else:
                psi[i] = np.nan
    return omega, alpha, beta, loglik, conv, nobs


@numba.njit(cache=True, parallel=True)
def _psi_kernel(
    x: np.ndarray, starts: np.ndarray, omega: np.ndarray, alpha: np.ndarray, beta: np.ndarray, psi: np.ndarray
) -> None:
    ng = starts.shape[0] - 1
    for g in numba.prange(ng):
        if not (math.isfinite(omega[g]) and math.isfinite(alpha[g]) and math.isfinite(beta[g])):
            continue
        idx, v = _finite(x, starts[g], starts[g + 1])
        n = v.shape[0]
        if n == 0:
            continue
        ps = filter_11(v, omega[g], alpha[g], beta[g], False, np.mean(v))
        for j in range(n):
            psi[idx[j]] = ps[j]


def fit_acd11_grouped(x: np.ndarray, starts: np.ndarray, min_obs: int = MIN_OBS) -> dict[str, np.ndarray]:
    """Fit an ACD(1,1) by exponential QML to each symbol's adjusted durations ``x``.

    Returns per-symbol arrays ``omega, alpha, beta, loglik, converged`` (bool) and ``n``
    (durations used), and ``psi`` per row (NaN where ``x`` is NaN or the symbol was not fitted).
    """
    v = np.ascontiguousarray(x, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError("x must be 1-D")
    if np.any(v < 0):
        raise ValueError("durations must be non-negative")
    st = check_starts(starts, v.size)
    psi = np.empty(v.size)
    omega, alpha, beta, loglik, conv, nobs = _fit_kernel(v, st, max(int(min_obs), 3), psi, np.empty(v.size))
    return {
        "omega": omega,
        "alpha": alpha,
        "beta": beta,
        "loglik": loglik,
        "converged": conv,
        "n": nobs,
        "psi": psi,
    }


def acd11_psi(
    x: np.ndarray,
    starts: np.ndarray,
    omega: np.ndarray | float,
    alpha: np.ndarray | float,
    beta: np.ndarray | float,
) -> np.ndarray:
    """Conditional expected duration ``psi_i`` per row under given per-symbol parameters
    (scalars or arrays of length ``n_symbols``); NaN where ``x`` is NaN or a parameter is."""
    v = np.ascontiguousarray(x, dtype=np.float64)
    st = check_starts(starts, v.size)
    ng = st.size - 1
    w = np.ascontiguousarray(np.broadcast_to(np.asarray(omega, dtype=np.float64), (ng,)))
    a = np.ascontiguousarray(np.broadcast_to(np.asarray(alpha, dtype=np.float64), (ng,)))
    b = np.ascontiguousarray(np.broadcast_to(np.asarray(beta, dtype=np.float64), (ng,)))
    psi = np.full(v.size, np.nan)
    _psi_kernel(v, st, w, a, b, psi)
    return psi
