"""Technical indicators on 1-minute bar closes: SMA, EMA, Wilder RSI, MACD, Bollinger bands.

Input: closes ``c`` held symbol-major, ``n_symbols * n_per_symbol`` values, every symbol with
the same number of bars (the caller may prepend warm-up bars of the previous day and drop
them afterwards). Each symbol is processed independently (one numba kernel, ``prange`` over
symbols); outputs have the input's layout.

Missing closes. Only finite closes enter the indicators: a symbol's series is the
subsequence of its finite closes, taken as consecutive, and each output is written at the
position of the close it belongs to. A bar whose close is NaN (a symbol with no price yet, a
hole) gets NaN in every output and does not break the state: the indicators simply start at
a symbol's first finite close, and after an interior hole they continue from the last finite
close. In the formulas below ``x_1, x_2, ...`` are those finite closes and "NaN before" counts
them, not bars.

Formulas (``n`` the period):

- SMA ``n``: ``SMA_t = (1/n) sum_{j=t-n+1}^{t} x_j``, NaN for ``t < n`` (sma_20, sma_50,
  sma_200).
- EMA ``n``: ``alpha = 2 / (n + 1)``, seeded with the SMA of the first ``n`` values,
  ``EMA_n = SMA_n``, ``EMA_t = alpha x_t + (1 - alpha) EMA_{t-1}`` for ``t > n``, NaN for
  ``t < n`` -- the TA-Lib convention (``TA_EMA``, "classic" seeding) (ema_12, ema_26).
- RSI 14, Wilder (1978, *New Concepts in Technical Trading Systems*, ch. 6): changes
  ``d_t = x_t - x_{t-1}``, gain ``G_t = max(d_t, 0)``, loss ``L_t = max(-d_t, 0)``. The
  averages are seeded with the simple mean of the first 14 changes (``t = 2 .. 15``) and then
  smoothed with ``alpha = 1/14`` (Wilder's smoothing): ``AG_t = (13 AG_{t-1} + G_t) / 14``,
  likewise ``AL``. ``RSI_t = 100 - 100 / (1 + AG_t / AL_t)``; 100 when ``AL_t = 0 < AG_t``, and 50 (neutral)
  in a perfectly flat window ``AG_t = AL_t = 0`` -- a quiet symbol whose empty minutes carry
  the last price must not read as overbought. First defined at ``t = 15``.
- MACD (Appel 1979): ``macd = EMA_12 - EMA_26`` (defined from ``t = 26``),
  ``macd_signal`` = EMA 9 of ``macd``, seeded like every EMA here with the mean of the first 9
  defined ``macd`` values (defined from ``t = 34``), ``macd_hist = macd - macd_signal``.
- Bollinger bands (Bollinger 2001, *Bollinger on Bollinger Bands*): ``bb_mid = SMA_20``,
  ``bb_upper/lower = bb_mid +/- 2 sd_20`` with the *population* standard deviation
  (``ddof = 0``, divisor 20) of the same 20 closes, as Bollinger and TA-Lib (``TA_BBANDS``)
  define it.

Numerics: the SMAs use a running window sum (``O(1)`` per bar); the Bollinger variance is
computed two-pass over its 20 values, so it is never negative and exact for a flat window.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["FIELDS", "indicators"]

SMA_PERIODS = (20, 50, 200)
EMA_FAST, EMA_SLOW, MACD_SIGNAL = 12, 26, 9
RSI_PERIOD = 14
BB_PERIOD, BB_K = 20, 2.0

FIELDS = ("sma_20", "sma_50", "sma_200", "ema_12", "ema_26", "rsi_14", "macd", "macd_signal",
          "macd_hist", "bb_mid", "bb_upper", "bb_lower")


@numba.njit(cache=True)
def _sma(x: np.ndarray, m: int, n: int, out: np.ndarray) -> None:
    """Rolling mean of ``n`` over the first ``m`` values of ``x`` into ``out[:m]`` (NaN before)."""
    s = 0.0
    for t in range(m):
        s += x[t]
        if t >= n:
            s -= x[t - n]
        out[t] = s / n if t >= n - 1 else np.nan


@numba.njit(cache=True)
def _ema(x: np.ndarray, start: int, m: int, n: int, out: np.ndarray) -> None:
    """SMA-seeded EMA of ``n`` over ``x[start:m]`` into ``out[:m]`` (NaN before index ``start + n - 1``)."""
    alpha = 2.0 / (n + 1.0)
    for t in range(min(m, start + n - 1)):
        out[t] = np.nan
    if m - start < n:
        return
    s = 0.0
    for t in range(start, start + n):
        s += x[t]
    e = s / n
    out[start + n - 1] = e
    for t in range(start + n, m):
        e = alpha * x[t] + (1.0 - alpha) * e
        out[t] = e


@numba.njit(cache=True)
def _rsi(x: np.ndarray, m: int, n: int, out: np.ndarray) -> None:
    """Wilder RSI of ``n`` over the first ``m`` values of ``x`` into ``out[:m]``."""
    for t in range(min(m, n)):
        out[t] = np.nan
    if m <= n:
        return
    ag = 0.0
    al = 0.0
    for t in range(1, n + 1):
        d = x[t] - x[t - 1]
        if d > 0.0:
            ag += d
        else:
            al -= d
    ag /= n
    al /= n
    for t in range(n, m):
        if t > n:
            d = x[t] - x[t - 1]
            g = d if d > 0.0 else 0.0
            lo = -d if d < 0.0 else 0.0
            ag = ((n - 1) * ag + g) / n
            al = ((n - 1) * al + lo) / n
        out[t] = (50.0 if ag == 0.0 else 100.0) if al == 0.0 else 100.0 - 100.0 / (1.0 + ag / al)


@numba.njit(cache=True, parallel=True)
def _indicators(close: np.ndarray, n_sym: int, n_per: int) -> np.ndarray:
    n_f = len(FIELDS)
    out = np.empty((n_f, n_sym * n_per), dtype=np.float64)
    for s in numba.prange(n_sym):
        base = s * n_per
        # compact the finite closes of this symbol; pos maps them back to their bars
        x = np.empty(n_per, dtype=np.float64)
        pos = np.empty(n_per, dtype=np.int64)
        m = 0
        for i in range(n_per):
            c = close[base + i]
            if np.isfinite(c):
                x[m] = c
                pos[m] = i
                m += 1
        res = np.empty((n_f, m), dtype=np.float64)
        _sma(x, m, SMA_PERIODS[0], res[0])
        _sma(x, m, SMA_PERIODS[1], res[1])
        _sma(x, m, SMA_PERIODS[2], res[2])
        _ema(x, 0, m, EMA_FAST, res[3])
        _ema(x, 0, m, EMA_SLOW, res[4])
        _rsi(x, m, RSI_PERIOD, res[5])
        for t in range(m):
            res[6, t] = res[3, t] - res[4, t]  # NaN until EMA 26 is defined
        _ema(res[6], EMA_SLOW - 1, m, MACD_SIGNAL, res[7])
        for t in range(m):
            res[8, t] = res[6, t] - res[7, t]
            mid = res[0, t]
            res[9, t] = mid
            if t >= BB_PERIOD - 1:  # population sd (ddof = 0), two-pass around the SMA 20
                v = 0.0
                for j in range(t - BB_PERIOD + 1, t + 1):
                    dev = x[j] - mid
                    v += dev * dev
                sd = np.sqrt(v / BB_PERIOD)
                res[10, t] = mid + BB_K * sd
                res[11, t] = mid - BB_K * sd
            else:
                res[10, t] = np.nan
                res[11, t] = np.nan
        for f in range(n_f):
            for i in range(n_per):
                out[f, base + i] = np.nan
            for t in range(m):
                out[f, base + pos[t]] = res[f, t]
    return out


def indicators(close: np.ndarray, n_per_symbol: int) -> dict[str, np.ndarray]:
    """Indicators of symbol-major closes (``n_symbols * n_per_symbol`` values).

    Returns ``{name: float64 array}`` for every name in :data:`FIELDS`, each with the input's
    length and layout; NaN where undefined (see the module docstring: warm-up lengths count
    finite closes, NaN closes give NaN rows and are skipped)."""
    c = np.ascontiguousarray(close, dtype=np.float64)
    n_per = int(n_per_symbol)
    if c.ndim != 1 or n_per < 1 or c.size % n_per:
        raise ValueError("close must be a 1-D array of n_symbols * n_per_symbol values (n_per_symbol >= 1)")
    if c.size == 0:
        return {name: np.empty(0, dtype=np.float64) for name in FIELDS}
    out = _indicators(c, c.size // n_per, n_per)
    return {name: out[i] for i, name in enumerate(FIELDS)}
