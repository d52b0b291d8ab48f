"""Nonparametric jump tests on grid returns: BNS (RV vs bipower) and Lee-Mykland.

Input: log returns ``r`` on a regular grid (default use: previous-tick mid-quotes on a
10-second grid, :func:`tickflow.kernels.sampling.grid_log_returns`; the step is the caller's
choice), symbol-major. NaN returns (e.g. before a symbol's first quote) are *skipped*: the
statistics are computed on the remaining returns taken as consecutive, and ``n`` counts them.

Realised measures over ``n`` returns ``r_1 .. r_n`` (``mu_p = E|Z|^p``, ``mu_1 = sqrt(2/pi)``,
``mu_{4/3} = 2^{2/3} Gamma(7/6) / Gamma(1/2)``):

- realised variance      ``RV = sum_i r_i^2``
- bipower variation      ``BV = mu_1^-2 * n/(n-1) * sum_{i=2}^n |r_i| |r_{i-1}|``
- tripower quarticity    ``TQ = n * mu_{4/3}^-3 * n/(n-2) * sum_{i=3}^n |r_i|^{4/3} |r_{i-1}|^{4/3} |r_{i-2}|^{4/3}``

BNS test (Barndorff-Nielsen & Shephard 2004, "Power and bipower variation with stochastic
volatility and jumps", J. Fin. Econometrics 2(1); 2006, "Econometrics of testing for jumps in
financial economics using bipower variation", JFEC 4(1)), in the ratio form with the
max-adjustment of Huang & Tauchen (2005, "The relative contribution of jumps to total price
variance", JFEC 3(4)) -- their recommended "ratio-max-adjusted" statistic:

    ``RJ = (RV - BV) / RV``,
    ``z = RJ / sqrt((pi^2/4 + pi - 5) * (1/n) * max(1, TQ / BV^2))``,   ``p = 1 - Phi(z)``

(one-sided: a jump makes ``RV > BV``). Under no jumps ``z -> N(0, 1)`` as ``n -> inf``.
:func:`bns_test` applies it per symbol-day, :func:`bns_by_bar` per bar of ``per_bar``
consecutive returns (e.g. 90 ten-second returns = one 15-minute bar, 26 bars a day). Its
power against a single jump of size ``J`` grows with ``n``: with spot variance ``sigma^2`` per
return, ``RJ ~ J^2 / (J^2 + n sigma^2)`` against a null sd of ``~ sqrt(0.61 / n)``.

Lee & Mykland (2008, "Jumps in financial markets: a new nonparametric test and jump
dynamics", RFS 21(6)) test every return ``i`` against a local bipower volatility:

    ``L_i = r_i / sigma_i``,   ``sigma_i^2 = 1/(K-2) * sum_{j=i-K+2}^{i-1} |r_j| |r_{j-1}|``

(the paper's window of ``K`` prices, i.e. the ``K - 1`` returns before ``i``; ``sigma_i`` is
*not* rescaled by ``mu_1``, the constants below absorb it). The first ``K - 1`` returns of a
symbol-day have no full trailing window: they use the first full one (returns ``1 .. K-1``,
the window of return ``K``). That window contains the return under test; bipower is robust to
one jump in it (the jump enters two of ``K - 2`` products, each times an ordinary return), so
the loss of power is small -- the alternative would be to leave the first ``K/6`` minutes of
each day untested. With ``n`` returns per day, ``c = sqrt(2/pi)``,

    ``C_n = sqrt(2 log n) / c - (log pi + log log n) / (2 c sqrt(2 log n))``,
    ``S_n = 1 / (c sqrt(2 log n))``,

``max_i (|L_i| - C_n) / S_n`` tends to the standard Gumbel law under no jumps, so return ``i``
is flagged at level ``alpha`` (family-wise, per symbol-day) when
``|L_i| > C_n + S_n * beta*``, ``beta* = -log(-log(1 - alpha))`` (:func:`lm_critical_value`;
for ``n = 2340``, ``alpha = 0.01``: 5.89).

Defaults (10-second mid-quote returns), tuned on simulated days
(:mod:`tickflow.simulate.day`, 35 symbols, 3 jumps a symbol; tests/platform/kernels/
test_jumps.py): ``K = 180`` (30 minutes) and ``alpha = 1e-5``. LM suggest ``K`` between
``sqrt(252 n)`` and ``252 n`` (>= 768 here), derived for a volatility constant within the day;
intraday the variance moves by a factor ~3 within the first half hour and with a GARCH
half-life of ~10 minutes, so the window has to be short, while the sampling error of the
bipower estimate (relative sd of ``sigma_i^2`` ~ ``sqrt(2.6 / K)``, 12 % at ``K = 180``)
inflates false alarms if it is too short; ``K = 60 .. 270`` all did about equally well and 180
is the middle of that range. The Gumbel level assumes Gaussian returns with a known local
scale; the simulated 10-second returns are heavier-tailed than that (false alarms remain on the
efficient mid, so they are not quote noise: most likely volatility bursts the trailing window
has not yet seen, and lumpy order-flow impact when trades are few). At the paper's
``alpha = 0.01`` precision was only ~0.7 (about one false alarm per symbol-day), at
``alpha = 1e-5`` (``|L| > 8.09`` at ``n = 2340``) it was 0.98-0.99 over six simulated days with
recall 0.96-1.0: a jump of ``c >= 4`` one-minute local sds is ``c sqrt(6) >= 9.8`` ten-second
sds, i.e. ``|L| ~ 12`` and more, so the higher threshold costs little recall. A 5-second grid
adds tick-size noise (precision 0.86-0.93 at ``alpha = 1e-5``), a 15-second one dilutes the
jump (recall 0.90-0.98 per day), 30 seconds more so.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from tickflow.kernels.grouping import check_starts

__all__ = [
    "MU1",
    "MU43",
    "THETA",
    "DEFAULT_K",
    "DEFAULT_ALPHA",
    "realized_measures",
    "bns_test",
    "bns_by_bar",
    "lee_mykland",
    "lm_critical_value",
]

MU1 = math.sqrt(2.0 / math.pi)
MU43 = 2.0 ** (2.0 / 3.0) * math.gamma(7.0 / 6.0) / math.gamma(0.5)
THETA = math.pi**2 / 4.0 + math.pi - 5.0
DEFAULT_K = 180
DEFAULT_ALPHA = 1e-5


# ----------------------------------------------------------------------------- shared helper


@numba.njit(cache=True)
def _window_sums(x: np.ndarray, w: int) -> np.ndarray:
    """``out[i] = sum(x[i-w+1 : i+1])`` for ``i >= w-1`` (NaN before), O(n) with a running sum.

    ``x`` must be finite and ``>= 0``. Round-off of add/subtract is bounded by an exact
    recomputation every ``w`` steps (amortised O(1)); an exact count of non-zero terms makes
    an all-zero window exactly 0, and the sum is clamped at 0."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    if w <= 0 or n < w:
        return out
    acc = 0.0
    nz = 0
    for j in range(w):
        acc += x[j]
        if x[j] != 0.0:
            nz += 1
    out[w - 1] = acc
    for i in range(w, n):
        old = x[i - w]
        new = x[i]
        if old != 0.0:
            nz -= 1
        if new != 0.0:
            nz += 1
        if (i - w + 1) % w == 0:
            acc = 0.0
            for j in range(i - w + 1, i + 1):
                acc += x[j]
        else:
            acc += new - old
        if nz == 0 or acc < 0.0:
            acc = 0.0
        out[i] = acc
    return out


@numba.njit(cache=True)
def _norm_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


@numba.njit(cache=True)
def _bns_z(rv: float, bv: float, tq: float, n: int) -> tuple[float, float]:
    """(RJ, z) of the ratio-max-adjusted statistic; NaN when RV or BV is 0 or n < 3."""
    if n < 3 or not (rv > 0.0) or not (bv > 0.0):
        return np.nan, np.nan
    rj = (rv - bv) / rv
    adj = max(1.0, tq / (bv * bv))
    return rj, rj / math.sqrt(THETA * adj / n)


# ----------------------------------------------------------------------------- BNS


@numba.njit(cache=True, parallel=True)
def _bns_segments(r: np.ndarray, seg: np.ndarray) -> tuple:
    n_seg = seg.shape[0] - 1
    rv = np.full(n_seg, np.nan)
    bv = np.full(n_seg, np.nan)
    tq = np.full(n_seg, np.nan)
    rj = np.full(n_seg, np.nan)
    z = np.full(n_seg, np.nan)
    p = np.full(n_seg, np.nan)
    cnt = np.zeros(n_seg, dtype=np.int64)
    for s in numba.prange(n_seg):
        srv = 0.0
        sbv = 0.0
        stq = 0.0
        a1 = 0.0  # |r| of the previous valid return
        a2 = 0.0  # ... and the one before
        m = 0
        for i in range(seg[s], seg[s + 1]):
            x = r[i]
            if np.isnan(x):
                continue
            a = abs(x)
            srv += x * x
            if m >= 1:
                sbv += a * a1
            if m >= 2:
                stq += (a * a1 * a2) ** (4.0 / 3.0)
            a2 = a1
            a1 = a
            m += 1
        cnt[s] = m
        if m >= 3:
            rv[s] = srv
            bv[s] = sbv * m / (m - 1) / (MU1 * MU1)
            tq[s] = stq * m * m / (m - 2) / (MU43 * MU43 * MU43)
            rj[s], z[s] = _bns_z(rv[s], bv[s], tq[s], m)
            if not np.isnan(z[s]):
                p[s] = _norm_sf(z[s])
    return rv, bv, tq, rj, z, p, cnt


def _as_returns(r: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(r, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError("r must be a 1-D array")
    if np.any(np.isinf(x)):
        raise ValueError("r must not contain infinities")
    return x


def _as_starts(starts_or_n: np.ndarray | int, size: int) -> np.ndarray:
    if np.ndim(starts_or_n) == 0:
        n_per = int(starts_or_n)  # type: ignore[arg-type]
        if n_per <= 0 or size % n_per:
            raise ValueError(f"len(r) = {size} is not a multiple of n_per_symbol = {n_per}")
        return np.arange(0, size + 1, n_per, dtype=np.int64)
    return check_starts(np.asarray(starts_or_n), size)


def _bns_dict(r: np.ndarray, seg: np.ndarray) -> dict[str, np.ndarray]:
    rv, bv, tq, rj, z, p, cnt = _bns_segments(r, seg)
    return {"rv": rv, "bv": bv, "tq": tq, "rj": rj, "z": z, "p": p, "n": cnt}


def bns_test(r: np.ndarray, starts: np.ndarray | int) -> dict[str, np.ndarray]:
    """BNS ratio-max-adjusted jump test per symbol(-day).

    ``starts``: row ranges of ``r`` per symbol (or an int, the equal number of returns per
    symbol). Returns arrays of length ``n_symbols``: ``rv``, ``bv``, ``tq``, ``rj``, ``z``,
    ``p`` (one-sided p-value) and ``n`` (non-NaN returns used; NaN statistics when ``n < 3`` or
    ``RV``/``BV`` is 0)."""
    x = _as_returns(r)
    return _bns_dict(x, _as_starts(starts, x.size))


def bns_by_bar(r: np.ndarray, n_symbols: int, per_bar: int) -> dict[str, np.ndarray]:
    """BNS test on consecutive bars of ``per_bar`` grid returns within each symbol.

    ``r`` holds ``n_symbols`` equal blocks of ``n_steps`` returns with ``n_steps`` a multiple of
    ``per_bar``; returns :func:`bns_test`'s dict with ``n_symbols * n_steps / per_bar`` rows,
    symbol-major (bar ``b`` of symbol ``s`` at ``s * n_bars + b``)."""
    x = _as_returns(r)
    if n_symbols < 1 or x.size % n_symbols:
        raise ValueError("len(r) must be a positive multiple of n_symbols")
    n_steps = x.size // n_symbols
    if per_bar < 1 or n_steps % per_bar:
        raise ValueError(f"n_steps = {n_steps} is not a multiple of per_bar = {per_bar}")
    return _bns_dict(x, np.arange(0, x.size + 1, per_bar, dtype=np.int64))


def realized_measures(r: np.ndarray, starts: np.ndarray | int) -> dict[str, np.ndarray]:
    """``rv``, ``bv``, ``tq`` and ``n`` per symbol (the realised measures of :func:`bns_test`)."""
    out = bns_test(r, starts)
    return {k: out[k] for k in ("rv", "bv", "tq", "n")}


# ----------------------------------------------------------------------------- Lee-Mykland


def lm_critical_value(n: int | np.ndarray, alpha: float = DEFAULT_ALPHA) -> float | np.ndarray:
    """Threshold on ``|L_i|`` of the Lee-Mykland test with ``n`` returns per day at level
    ``alpha``: ``C_n + S_n * beta*`` with ``beta* = -log(-log(1 - alpha))`` (module doc)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must lie in (0, 1)")
    nn = np.asarray(n, dtype=np.float64)
    if np.any(nn <= 1.0):
        raise ValueError("n must be > 1")
    c = MU1
    s2l = np.sqrt(2.0 * np.log(nn))
    cn = s2l / c - (np.log(np.pi) + np.log(np.log(nn))) / (2.0 * c * s2l)
    sn = 1.0 / (c * s2l)
    beta = -np.log(-np.log(1.0 - alpha))
    out = cn + sn * beta
    return float(out) if np.ndim(n) == 0 else out


@numba.njit(cache=True, parallel=True)
def _lee_mykland(r: np.ndarray, starts: np.ndarray, k: int) -> tuple:
    n_sym = starts.shape[0] - 1
    lstat = np.full(r.shape[0], np.nan)
    sig = np.full(r.shape[0], np.nan)
    cnt = np.zeros(n_sym, dtype=np.int64)
    for s in numba.prange(n_sym):
        lo = starts[s]
        hi = starts[s + 1]
        idx = np.empty(hi - lo, dtype=np.int64)
        m = 0
        for i in range(lo, hi):
            if not np.isnan(r[i]):
                idx[m] = i
                m += 1
        cnt[s] = m
        if m < k:
            continue
        # b[j] = |r_j||r_{j-1}| on the compressed series (b[0] = 0, never used)
        b = np.zeros(m)
        for j in range(1, m):
            b[j] = abs(r[idx[j]]) * abs(r[idx[j - 1]])
        ws = _window_sums(b, k - 2)  # ws[i] = sum b[i-k+3 .. i]
        first = ws[k - 2] / (k - 2)  # window of return k-1: b[1 .. k-2]
        for i in range(m):
            s2 = ws[i - 1] / (k - 2) if i >= k - 1 else first
            if s2 > 0.0:
                sd = math.sqrt(s2)
                sig[idx[i]] = sd
                lstat[idx[i]] = r[idx[i]] / sd
    return lstat, sig, cnt


def lee_mykland(
    r: np.ndarray, starts: np.ndarray | int, K: int = DEFAULT_K, alpha: float = DEFAULT_ALPHA
) -> dict[str, np.ndarray]:
    """Lee-Mykland jump test on every grid return.

    ``starts``: row ranges of ``r`` per symbol-day, or an int (returns per symbol). Returns
    ``L`` (the statistic, NaN for NaN returns, a zero local volatility, or a symbol with fewer
    than ``K`` returns), ``sigma`` (the local scale ``sigma_i``), ``jump`` (bool,
    ``|L| > threshold``), and per symbol ``n`` (non-NaN returns) and ``threshold``
    (:func:`lm_critical_value` of ``n``; NaN when ``n < K``)."""
    x = _as_returns(r)
    st = _as_starts(starts, x.size)
    if K < 3:
        raise ValueError("K must be >= 3")
    lstat, sig, cnt = _lee_mykland(x, st, int(K))
    thr = np.full(cnt.shape[0], np.nan)
    ok = cnt >= max(K, 2)
    if np.any(ok):
        thr[ok] = lm_critical_value(cnt[ok], alpha)
    thr_row = np.repeat(thr, np.diff(st))
    with np.errstate(invalid="ignore"):
        jump = np.abs(lstat) > thr_row
    return {"L": lstat, "sigma": sig, "jump": jump, "threshold": thr, "n": cnt}
