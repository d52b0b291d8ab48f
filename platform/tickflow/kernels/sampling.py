"""Previous-tick sampling of irregular ticks on a regular clock-time grid.

For symbol ``s`` with ticks ``(t_j, x_j)`` (time-ordered) and the grid
``g_k = open_ns + k * step_ns``, ``k = 0 .. n_steps``, the previous-tick value is

    ``x(g_k) = x_{j*}``, ``j* = max{j : t_j <= g_k}``   (NaN when no tick has ``t_j <= g_k``),

i.e. the value prevailing at ``g_k`` (a tick stamped exactly at ``g_k`` counts). This is the
standard "previous-tick" (last-price) interpolation of realised-variance estimation
(Hansen & Lunde 2006, "Realized variance and market microstructure noise", JBES 24(2);
Andersen, Bollerslev, Diebold & Labys 2001). The grid log returns are

    ``r_{s,k} = log x(g_{k+1}) - log x(g_k)``,   ``k = 0 .. n_steps - 1``,

NaN where either end is NaN or not positive. Typical use: mid-quotes
``(bid + ask) / 2`` on a 10-second grid over the 6.5-hour session (``n_steps = 2340``) feed the
jump tests of :mod:`tickflow.kernels.jumps`.

Outputs are symbol-major: ``n_symbols * (n_steps + 1)`` sampled values,
``n_symbols * n_steps`` returns, reshapeable to ``(n_symbols, -1)``.
"""

from __future__ import annotations

import numba
import numpy as np

from tickflow.kernels.grouping import check_starts

__all__ = ["sample_prev_tick", "grid_log_returns", "log_returns_on_grid"]


@numba.njit(cache=True, parallel=True)
def _sample_prev_tick(
    ts_ns: np.ndarray, value: np.ndarray, starts: np.ndarray, open_ns: int, step_ns: int, n_steps: int
) -> np.ndarray:
    n_sym = starts.shape[0] - 1
    m = n_steps + 1
    out = np.empty(n_sym * m, dtype=np.float64)
    for s in numba.prange(n_sym):
        lo = starts[s]
        hi = starts[s + 1]
        p = lo  # first row with ts > current grid instant
        for k in range(m):
            t = open_ns + k * step_ns
            while p < hi and ts_ns[p] <= t:
                p += 1
            out[s * m + k] = value[p - 1] if p > lo else np.nan
    return out


@numba.njit(cache=True, parallel=True)
def _grid_log_returns(sampled: np.ndarray, n_sym: int, n_steps: int) -> np.ndarray:
    m = n_steps + 1
    out = np.empty(n_sym * n_steps, dtype=np.float64)
    for s in numba.prange(n_sym):
        for k in range(n_steps):
            a = sampled[s * m + k]
            b = sampled[s * m + k + 1]
            if a > 0.0 and b > 0.0:  # False for NaN
                out[s * n_steps + k] = np.log(b) - np.log(a)
            else:
                out[s * n_steps + k] = np.nan
    return out


def _check(
    ts_ns: np.ndarray, value: np.ndarray, starts: np.ndarray, step_ns: int, n_steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ts = np.ascontiguousarray(ts_ns, dtype=np.int64)
    v = np.ascontiguousarray(value, dtype=np.float64)
    if ts.shape != v.shape or ts.ndim != 1:
        raise ValueError("ts_ns and value must be 1-D arrays of equal length")
    st = check_starts(starts, ts.size)
    if int(step_ns) <= 0 or int(n_steps) < 0:
        raise ValueError("step_ns must be > 0 and n_steps >= 0")
    return ts, v, st


def sample_prev_tick(
    ts_ns: np.ndarray, value: np.ndarray, starts: np.ndarray, open_ns: int, step_ns: int, n_steps: int
) -> np.ndarray:
    """Value prevailing at ``open_ns + k * step_ns`` for ``k = 0 .. n_steps`` per symbol.

    Rows of each symbol (``starts[s]:starts[s+1]``) must be time-ordered. Returns a float64
    array of ``n_symbols * (n_steps + 1)`` values, symbol-major; NaN before a symbol's first
    tick."""
    ts, v, st = _check(ts_ns, value, starts, step_ns, n_steps)
    return _sample_prev_tick(ts, v, st, int(open_ns), int(step_ns), int(n_steps))


def log_returns_on_grid(sampled: np.ndarray, n_symbols: int) -> np.ndarray:
    """Log returns between consecutive grid values of a symbol-major sampled array
    (``n_symbols * (n_steps + 1)`` -> ``n_symbols * n_steps``); NaN where undefined."""
    x = np.ascontiguousarray(sampled, dtype=np.float64)
    if n_symbols == 0 and x.size == 0:
        return np.empty(0, dtype=np.float64)
    if n_symbols < 1 or x.ndim != 1 or x.size % n_symbols or x.size // n_symbols < 1:
        raise ValueError("sampled must hold n_symbols equal blocks of n_steps + 1 values")
    return _grid_log_returns(x, int(n_symbols), x.size // n_symbols - 1)


def grid_log_returns(
    ts_ns: np.ndarray, value: np.ndarray, starts: np.ndarray, open_ns: int, step_ns: int, n_steps: int
) -> np.ndarray:
    """Previous-tick log returns on the grid: ``n_symbols * n_steps`` values, symbol-major;
    return ``k`` covers ``(open_ns + k * step_ns, open_ns + (k + 1) * step_ns]``."""
    sampled = sample_prev_tick(ts_ns, value, starts, open_ns, step_ns, n_steps)
    n_sym = len(starts) - 1
    if n_sym == 0:
        return np.empty(0, dtype=np.float64)
    return _grid_log_returns(sampled, n_sym, int(n_steps))
