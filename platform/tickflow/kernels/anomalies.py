"""Per-bar anomaly flags: price spikes, volume surges, RSI extremes.

Input: bars held symbol-major (``n_symbols * n_per_symbol`` rows, the same number per
symbol, time-ordered within a symbol): ``close``, ``volume`` and ``rsi`` (e.g. ``rsi_14`` of
:mod:`tickflow.kernels.indicators`). For bar ``t`` of a symbol:

- return ``r_t = close_t / close_{t-1} - 1`` with ``close_{t-1}`` the *previous bar's* close of
  the same symbol (not the last finite one); NaN for a symbol's first bar, and where either
  close is NaN or ``close_{t-1} <= 0``.
  ``price_spike_t = |r_t| > spike``.
- trailing volume mean ``V_t = (1/w) sum_{j=t-w}^{t-1} volume_j`` over the ``w =
  volume_window`` bars *before* ``t`` (the current bar excluded, so a surge does not dilute
  its own baseline). Defined only when that window is full (``t >= w`` within the symbol),
  holds no NaN volume and ``V_t > 0``. Volume ratio ``volume_t / V_t`` (NaN where ``V_t`` is
  undefined or ``volume_t`` is NaN); ``volume_surge_t = volume_t > volume_mult * V_t``.
- ``rsi_overbought_t = rsi_t > rsi_high`` (70), ``rsi_oversold_t = rsi_t < rsi_low`` (30),
  the conventional Wilder (1978) levels.

A flag is False wherever its value is undefined (NaN compares False). Every quantity at bar
``t`` uses bars ``<= t`` of the same symbol only, so no flag depends on a later bar or on
another symbol. The trailing mean is summed directly over its ``w`` bars (``O(w)`` per bar,
exact, no running-sum drift).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["bar_anomalies"]


@numba.njit(cache=True, parallel=True)
def _bar_anomalies(
    close: np.ndarray, volume: np.ndarray, rsi: np.ndarray, n_sym: int, n_per: int, spike: float,
    volume_mult: float, window: int, rsi_high: float, rsi_low: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = n_sym * n_per
    ret = np.empty(n, dtype=np.float64)
    ratio = np.empty(n, dtype=np.float64)
    price_spike = np.zeros(n, dtype=np.bool_)
    volume_surge = np.zeros(n, dtype=np.bool_)
    overbought = np.zeros(n, dtype=np.bool_)
    oversold = np.zeros(n, dtype=np.bool_)
    for s in numba.prange(n_sym):
        base = s * n_per
        for t in range(n_per):
            i = base + t
            # return against the previous bar of the same symbol
            r = np.nan
            if t > 0:
                p = close[i - 1]
                c = close[i]
                if p > 0.0 and np.isfinite(p) and np.isfinite(c):
                    r = c / p - 1.0
            ret[i] = r
            price_spike[i] = abs(r) > spike
            # volume against the mean of the previous `window` bars
            q = np.nan
            if t >= window:
                tot = 0.0
                ok = True
                for j in range(i - window, i):
                    v = volume[j]
                    if not np.isfinite(v):
                        ok = False
                        break
                    tot += v
                if ok:
                    mean = tot / window
                    v = volume[i]
                    if mean > 0.0 and np.isfinite(v):
                        q = v / mean
                        volume_surge[i] = v > volume_mult * mean
            ratio[i] = q
            x = rsi[i]
            overbought[i] = x > rsi_high
            oversold[i] = x < rsi_low
    return ret, ratio, price_spike, volume_surge, overbought, oversold


def bar_anomalies(
    close: np.ndarray, volume: np.ndarray, rsi: np.ndarray, n_per_symbol: int, spike: float = 0.05,
    volume_mult: float = 3.0, volume_window: int = 20, rsi_high: float = 70.0, rsi_low: float = 30.0,
) -> dict[str, np.ndarray]:
    """Anomaly flags of symbol-major bars (``n_symbols * n_per_symbol`` rows each).

    Returns boolean arrays ``price_spike``, ``volume_surge``, ``rsi_overbought``,
    ``rsi_oversold`` and the float64 values behind the first two, ``ret`` (bar return) and
    ``volume_ratio`` (volume over the trailing ``volume_window``-bar mean), NaN where
    undefined; all in the input's layout. Formulas in the module docstring."""
    c = np.ascontiguousarray(close, dtype=np.float64)
    v = np.ascontiguousarray(volume, dtype=np.float64)
    x = np.ascontiguousarray(rsi, dtype=np.float64)
    n_per = int(n_per_symbol)
    if c.ndim != 1 or c.shape != v.shape or c.shape != x.shape:
        raise ValueError("close, volume and rsi must be 1-D arrays of equal length")
    if n_per < 1 or c.size % n_per:
        raise ValueError("the arrays must hold n_symbols blocks of n_per_symbol >= 1 rows")
    if int(volume_window) < 1 or not spike >= 0.0 or not volume_mult >= 0.0:
        raise ValueError("volume_window must be >= 1, spike and volume_mult >= 0")
    ret, ratio, ps, vs, ob, os_ = _bar_anomalies(c, v, x, c.size // n_per, n_per, float(spike),
                                                 float(volume_mult), int(volume_window), float(rsi_high),
                                                 float(rsi_low))
    return {"price_spike": ps, "volume_surge": vs, "rsi_overbought": ob, "rsi_oversold": os_,
            "ret": ret, "volume_ratio": ratio}
