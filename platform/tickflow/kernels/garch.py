"""Zero-mean GARCH(1,1) by Gaussian (quasi-)maximum likelihood, per symbol, in numba.

Model (Bollerslev 1986, "Generalized autoregressive conditional heteroskedasticity",
J. Econometrics 31(3), 307-327), for returns ``e_1 .. e_n`` with zero mean:

    ``sigma2_t = omega + alpha e_{t-1}^2 + beta sigma2_{t-1}``,
    ``loglik = -1/2 sum_t (log(2 pi) + log sigma2_t + e_t^2 / sigma2_t)``,

subject to ``omega > 0, alpha >= 0, beta >= 0, alpha + beta < 1``. The criterion is the one of
the ``arch`` package (K. Sheppard), ``arch_model(e, mean="Zero", vol="GARCH", p=1, q=1,
dist="normal", rescale=False).fit()``, including its start-up: the pre-sample ``e_0^2`` and
``sigma2_0`` are both replaced by the *backcast*

    ``bc = sum_{i<tau} w_i e_{i+1}^2``,   ``w_i = 0.94^i / sum_{j<tau} 0.94^j``,   ``tau = min(75, n)``

(``arch.univariate.volatility.VolatilityProcess.backcast``), so ``sigma2_1 = omega +
(alpha + beta) bc``. ``arch`` also clips ``sigma2_t`` to loose bounds (EWMA variance times
``1e-6 .. 1e6``, at least ``var(e) / 1e8``) to keep its optimiser away from NaN; with
``omega > 0`` those bounds do not bind at any sensible optimum and are not applied here. ``arch``
maximises with SciPy's SLSQP; here the exact gradient and Hessian are run alongside the
recursion and a damped Newton method maximises the criterion inside numba
(:mod:`tickflow.kernels.optimize`), on returns rescaled to unit mean square (``omega`` is
scaled back; the fit is scale-equivariant, so returns of size 1e-4 need no rescaling by the
caller). The result is the same maximum as ``arch``'s (tests/platform/kernels/test_garch.py:
log-likelihood within 1e-6 relative, parameters within 1e-3), usually a slightly higher one
since the Newton iteration stops at ~12 significant digits of the log-likelihood.

Returns are symbol-major with ``starts`` (package conventions). Non-finite returns are
*skipped*: a symbol's finite returns are fitted as one consecutive series, and its ``sigma`` is
NaN at the skipped rows. A symbol with fewer than ``min_obs`` (default 50) finite returns, or
with all returns zero, gets NaN parameters, ``converged = False`` and NaN ``sigma``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from tickflow.kernels.grouping import check_starts
from tickflow.kernels.optimize import filter_11, fit_11

__all__ = [
    "MIN_OBS",
    "GarchFit",
    "arch_backcast",
    "fit_garch11",
    "fit_garch11_grouped",
    "garch11_sigma",
]

MIN_OBS = 50
_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class GarchFit:
    """One GARCH(1,1) fit: parameters in the units of the returns, ``sigma`` = sqrt(sigma2_t)."""

    omega: float
    alpha: float
    beta: float
    loglik: float
    converged: bool
    n: int
    sigma: np.ndarray


@numba.njit(cache=True)
def _backcast(e2: np.ndarray) -> float:
    tau = min(75, e2.shape[0])
    num = 0.0
    den = 0.0
    w = 1.0
    for i in range(tau):
        num += w * e2[i]
        den += w
        w *= 0.94
    return num / den if den > 0.0 else np.nan


def arch_backcast(returns: np.ndarray) -> float:
    """``arch``'s backcast of ``sigma2_0``: 0.94-EWMA weights over the first ``min(75, n)`` e^2."""
    e = np.asarray(returns, dtype=np.float64)
    return float(_backcast(e * e))


@numba.njit(cache=True)
def _finite_squares(r: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.empty(hi - lo, dtype=np.int64)
    k = 0
    for i in range(lo, hi):
        if math.isfinite(r[i]):
            idx[k] = i
            k += 1
    idx = idx[:k]
    e2 = np.empty(k)
    for j in range(k):
        e2[j] = r[idx[j]] * r[idx[j]]
    return idx, e2


@numba.njit(cache=True)
def _fit_span(
    r: np.ndarray, lo: int, hi: int, min_obs: int, sigma: np.ndarray
) -> tuple[float, float, float, float, bool, int]:
    """Fit rows ``lo:hi`` of ``r``; writes their ``sigma``; NaN parameters if not fitted."""
    idx, e2 = _finite_squares(r, lo, hi)
    n = e2.shape[0]
    if n < min_obs:
        return np.nan, np.nan, np.nan, np.nan, False, n
    bc = _backcast(e2)
    w, a, b, q, ok, _ = fit_11(e2, True, bc, np.empty(n))
    if not math.isfinite(q):
        return np.nan, np.nan, np.nan, np.nan, False, n
    s2 = filter_11(e2, w, a, b, True, bc)
    for j in range(n):
        sigma[idx[j]] = math.sqrt(s2[j])
    return w, a, b, q - 0.5 * n * _LOG_2PI, ok, n


@numba.njit(cache=True, parallel=True)
def _fit_grouped_kernel(
    r: np.ndarray, starts: np.ndarray, min_obs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ng = starts.shape[0] - 1
    # NaN-filled, not empty: an output a worker failed to write must read as "no fit", never
    # as whatever the allocator handed back
    omega = np.full(ng, np.nan)
    alpha = np.full(ng, np.nan)
    beta = np.full(ng, np.nan)
    loglik = np.full(ng, np.nan)
    conv = np.zeros(ng, dtype=np.bool_)
    nobs = np.zeros(ng, dtype=np.int64)
    sigma = np.full(r.shape[0], np.nan)
    for g in numba.prange(ng):
        omega[g], alpha[g], beta[g], loglik[g], conv[g], nobs[g] = _fit_span(
            r, starts[g], starts[g + 1], min_obs, sigma
        )
    return omega, alpha, beta, loglik, conv, nobs, sigma


@numba.njit(cache=True)
def _fit_one_kernel(r: np.ndarray, min_obs: int) -> tuple[float, float, float, float, bool, int, np.ndarray]:
    sigma = np.full(r.shape[0], np.nan)
    w, a, b, ll, ok, n = _fit_span(r, 0, r.shape[0], min_obs, sigma)
    return w, a, b, ll, ok, n, sigma


@numba.njit(cache=True, parallel=True)
def _sigma_kernel(
    r: np.ndarray, starts: np.ndarray, omega: np.ndarray, alpha: np.ndarray, beta: np.ndarray
) -> np.ndarray:
    ng = starts.shape[0] - 1
    sigma = np.full(r.shape[0], np.nan)
    for g in numba.prange(ng):
        if not (math.isfinite(omega[g]) and math.isfinite(alpha[g]) and math.isfinite(beta[g])):
            continue
        idx, e2 = _finite_squares(r, starts[g], starts[g + 1])
        n = e2.shape[0]
        if n == 0:
            continue
        s2 = filter_11(e2, omega[g], alpha[g], beta[g], True, _backcast(e2))
        for j in range(n):
            sigma[idx[j]] = math.sqrt(s2[j]) if s2[j] >= 0.0 else np.nan
    return sigma


def _check(returns: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = np.ascontiguousarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError("returns must be 1-D")
    st = check_starts(starts, r.size)
    return r, st


def fit_garch11_grouped(
    returns: np.ndarray, starts: np.ndarray, min_obs: int = MIN_OBS
) -> dict[str, np.ndarray]:
    """Fit a zero-mean GARCH(1,1) to each symbol's returns (in parallel over symbols).

    Returns per-symbol arrays ``omega, alpha, beta, loglik, converged`` (bool) and ``n``
    (finite returns used), and ``sigma``, the conditional volatility per row (NaN where the
    return is not finite or the symbol was not fitted).
    """
    r, st = _check(returns, starts)
    omega, alpha, beta, loglik, conv, nobs, sigma = _fit_grouped_kernel(r, st, max(int(min_obs), 3))
    return {
        "omega": omega,
        "alpha": alpha,
        "beta": beta,
        "loglik": loglik,
        "converged": conv,
        "n": nobs,
        "sigma": sigma,
    }


def fit_garch11(returns: np.ndarray, min_obs: int = MIN_OBS) -> GarchFit:
    """Fit a zero-mean GARCH(1,1) to one return series (see the module docstring)."""
    r = np.ascontiguousarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError("returns must be 1-D")
    w, a, b, ll, ok, n, sigma = _fit_one_kernel(r, max(int(min_obs), 3))
    return GarchFit(
        omega=float(w),
        alpha=float(a),
        beta=float(b),
        loglik=float(ll),
        converged=bool(ok),
        n=int(n),
        sigma=sigma,
    )


def garch11_sigma(
    returns: np.ndarray,
    starts: np.ndarray,
    omega: np.ndarray | float,
    alpha: np.ndarray | float,
    beta: np.ndarray | float,
) -> np.ndarray:
    """Conditional volatility ``sqrt(sigma2_t)`` per row under given per-symbol parameters.

    Same recursion and backcast start as the fit; parameters may be scalars (all symbols) or
    arrays of length ``n_symbols``; NaN parameters or non-finite returns give NaN.
    """
    r, st = _check(returns, starts)
    ng = st.size - 1
    w = np.ascontiguousarray(np.broadcast_to(np.asarray(omega, dtype=np.float64), (ng,)))
    a = np.ascontiguousarray(np.broadcast_to(np.asarray(alpha, dtype=np.float64), (ng,)))
    b = np.ascontiguousarray(np.broadcast_to(np.asarray(beta, dtype=np.float64), (ng,)))
    return _sigma_kernel(r, st, w, a, b)
