"""Shared numba optimiser for (1,1) multiplicative-error recursions (GARCH(1,1), ACD(1,1)).

Both GARCH(1,1) with Gaussian QML (Bollerslev 1986, "Generalized autoregressive conditional
heteroskedasticity", J. Econometrics 31(3)) and ACD(1,1) with exponential QML (Engle & Russell
1998, "Autoregressive conditional duration: a new model for irregularly spaced transaction
data", Econometrica 66(5)) maximise the same criterion over a positive series ``u_t``
(``u_t = e_t^2`` for GARCH, ``u_t = x_t`` for ACD -- Engle & Russell's remark that the
exponential ACD QML is the GARCH QML of ``sqrt(x_t)``):

    ``s_t = omega + alpha u_{t-1} + beta s_{t-1}``,
    ``Q(omega, alpha, beta) = -1/2 sum_t (log s_t + u_t / s_t)``,

under ``omega > 0, alpha >= 0, beta >= 0, alpha + beta < 1``. The first value is either the
``arch`` package's convention ``s_0 = omega + (alpha + beta) bc`` with a fixed backcast ``bc``
(:func:`fit_11` with ``arch_start=True``) or a fixed ``s_0`` (``arch_start=False``).

Method: the series is rescaled by its mean (``u / m``; ``omega`` is rescaled back, the criterion
shifts by ``-n/2 log m``) so the optimiser works at unit scale whatever the units. The
gradient and Hessian of ``Q`` in ``(omega, alpha, beta)`` are exact, from the first and second
derivatives of ``s_t`` run alongside the recursion:

    ``ds_t/domega = 1 + beta ds_{t-1}/domega``,  ``ds_t/dalpha = u_{t-1} + beta ds_{t-1}/dalpha``,
    ``ds_t/dbeta = s_{t-1} + beta ds_{t-1}/dbeta``,
    ``d2s_t/domega dbeta = ds_{t-1}/domega + beta d2s_{t-1}/domega dbeta`` (likewise for
    ``alpha, beta``), ``d2s_t/dbeta^2 = 2 ds_{t-1}/dbeta + beta d2s_{t-1}/dbeta^2``, the others 0;
    ``dQ = 1/2 sum (u - s)/s^2 ds``,
    ``d2Q = 1/2 sum [(u - s)/s^2 d2s - (2u - s)/s^3 ds ds']``.

The search runs on ``x = (log(omega / (1 - alpha - beta)), p = alpha + beta,
c = alpha / (alpha + beta))`` -- log unconditional level, persistence, ARCH share -- so that
the likelihood's long curved ridge (``omega / (1 - p)`` ~ constant) becomes straight and the
constraints become a box, ``0 <= p <= 1 - 1e-9``, ``0 <= c <= 1`` (the chain rule carries the exact
Hessian over). It is a projected Newton method (Bertsekas 1982, "Projected Newton methods for
optimization problems with simple constraints", SIAM J. Control Optim. 20(2)): a variable at a
bound that its gradient pushes against is held there (``alpha = 0`` or ``beta = 0`` exactly, as
with no ARCH effect), the others take the Newton step, Levenberg-Marquardt damped whenever
``-H`` is not positive definite, with an Armijo backtracking search along the projected path. It
starts from the best point of a small grid (``alpha`` in {0.02, 0.05, 0.1, 0.2}, ``alpha + beta``
in {0.5, 0.8, 0.95, 0.99}, ``omega = mean(u) (1 - alpha - beta)``, as ``arch`` does; for ACD
``alpha`` in {0.05, 0.1}, ``alpha + beta`` in {0.9, 0.98}) and stops when
the Newton decrement (the predicted gain ``g' (-H)^-1 g`` over the free variables) is below
``1e-11 (1 + |Q|)``: ``converged``. Typically 4-10 iterations.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["crit_11", "fit_11", "filter_11"]

_ALPHAS = (0.02, 0.05, 0.1, 0.2)
_PERSIST = (0.5, 0.8, 0.95, 0.99)
# Without arch's convention (ACD) a 2x2 grid around typical duration dynamics is enough for
# the Newton steps and costs a quarter of the likelihood passes.
_ALPHAS_SMALL = (0.05, 0.1, 0.05, 0.1)  # 2x2 grid, padded to the big grid's shape (numba typing)
_PERSIST_SMALL = (0.9, 0.98, 0.9, 0.98)
_GRID_SMALL = 2
_MAX_ITER = 200
_P_MAX = 1.0 - 1e-9  # alpha + beta < 1
# A fit whose s_t falls below this (on u scaled to mean 1) sits on the degenerate edge where
# the criterion is unbounded (s_t -> 0 over zero u); genuine fits stay many orders above it.
_S_MIN = 1e-10


@numba.njit(cache=True)
def filter_11_into(
    u: np.ndarray, omega: float, alpha: float, beta: float, arch_start: bool, s0: float, out: np.ndarray
) -> None:
    """``s_t`` of the recursion over ``u`` (``s_0`` as in the module docstring), into ``out``."""
    n = u.shape[0]
    if n == 0:
        return
    s = omega + (alpha + beta) * s0 if arch_start else s0
    out[0] = s
    for t in range(1, n):
        s = omega + alpha * u[t - 1] + beta * s
        out[t] = s


@numba.njit(cache=True)
def filter_11(
    u: np.ndarray, omega: float, alpha: float, beta: float, arch_start: bool, s0: float
) -> np.ndarray:
    """``s_t`` of the recursion over ``u`` (``s_0`` as in the module docstring)."""
    out = np.empty(u.shape[0])
    filter_11_into(u, omega, alpha, beta, arch_start, s0, out)
    return out


@numba.njit(cache=True)
def crit_11(u: np.ndarray, omega: float, alpha: float, beta: float, arch_start: bool, s0: float) -> float:
    """``Q = -1/2 sum (log s_t + u_t / s_t)``; ``-inf`` if some ``s_t <= 0`` or is not finite."""
    n = u.shape[0]
    s = omega + (alpha + beta) * s0 if arch_start else s0
    acc = 0.0
    logs = 0.0
    prod = 1.0  # running product of s_t: one log per block instead of one per step
    for t in range(n):
        if t > 0:
            s = omega + alpha * u[t - 1] + beta * s
        if not s > 0.0:
            # checked before dividing: a zero s_t (omega underflowed to 0 over a run of zero
            # u) is outside the parameter space, never a division error
            return -np.inf
        prod *= s
        acc += u[t] / s
        if not (1e-150 < prod < 1e150):
            if not s < np.inf:
                return -np.inf
            logs += math.log(prod)
            prod = 1.0
    logs += math.log(prod)
    q = -0.5 * (logs + acc)
    return q if math.isfinite(q) else -np.inf


@numba.njit(cache=True)
def _crit_grad_hess(
    u: np.ndarray,
    omega: float,
    alpha: float,
    beta: float,
    arch_start: bool,
    s0: float,
    g: np.ndarray,
    h: np.ndarray,
) -> bool:
    """Exact gradient ``g`` (3) and Hessian ``h`` (3x3) of ``Q`` in (omega, alpha, beta)."""
    n = u.shape[0]
    if arch_start:
        s = omega + (alpha + beta) * s0
        dw, da, db = 1.0, s0, s0
    else:
        s = s0
        dw, da, db = 0.0, 0.0, 0.0
    hwb = 0.0
    hab = 0.0
    hbb = 0.0
    g0 = g1 = g2 = 0.0
    h00 = h01 = h02 = h11 = h12 = h22 = 0.0
    hx02 = hx12 = hx22 = 0.0
    for t in range(n):
        if t > 0:
            up = u[t - 1]
            hwb = dw + beta * hwb
            hab = da + beta * hab
            hbb = 2.0 * db + beta * hbb
            dw = 1.0 + beta * dw
            da = up + beta * da
            db = s + beta * db
            s = omega + alpha * up + beta * s
        ut = u[t]
        if not s > 0.0:
            return False
        inv = 1.0 / s
        c1 = (ut - s) * inv * inv
        c2 = (2.0 * ut - s) * inv * inv * inv
        g0 += c1 * dw
        g1 += c1 * da
        g2 += c1 * db
        h00 += c2 * dw * dw
        h01 += c2 * dw * da
        h02 += c2 * dw * db
        h11 += c2 * da * da
        h12 += c2 * da * db
        h22 += c2 * db * db
        hx02 += c1 * hwb
        hx12 += c1 * hab
        hx22 += c1 * hbb
    g[0] = 0.5 * g0
    g[1] = 0.5 * g1
    g[2] = 0.5 * g2
    h[0, 0] = -0.5 * h00
    h[0, 1] = h[1, 0] = -0.5 * h01
    h[0, 2] = h[2, 0] = 0.5 * (hx02 - h02)
    h[1, 1] = -0.5 * h11
    h[1, 2] = h[2, 1] = 0.5 * (hx12 - h12)
    h[2, 2] = 0.5 * (hx22 - h22)
    return True


@numba.njit(cache=True, inline="always")
def _params(x: np.ndarray) -> tuple[float, float, float]:
    return math.exp(x[0]) * (1.0 - x[1]), x[1] * x[2], x[1] * (1.0 - x[2])


@numba.njit(cache=True)
def _solve_free(a: np.ndarray, b: np.ndarray, free: np.ndarray, x: np.ndarray) -> bool:
    """Solve ``a[F, F] x[F] = b[F]`` over the free indices ``F`` by Cholesky (``x = 0``
    elsewhere); False if that block is not positive definite."""
    idx = np.empty(3, dtype=np.int64)
    k = 0
    for i in range(3):
        x[i] = 0.0
        if free[i]:
            idx[k] = i
            k += 1
    low = np.zeros((3, 3))
    y = np.zeros(3)
    for i in range(k):
        for j in range(i + 1):
            acc = a[idx[i], idx[j]]
            for m in range(j):
                acc -= low[i, m] * low[j, m]
            if i == j:
                if not acc > 0.0:
                    return False
                low[i, i] = math.sqrt(acc)
            else:
                low[i, j] = acc / low[j, j]
        acc = b[idx[i]]
        for m in range(i):
            acc -= low[i, m] * y[m]
        y[i] = acc / low[i, i]
    for i in range(k - 1, -1, -1):
        acc = y[i]
        for m in range(i + 1, k):
            acc -= low[m, i] * x[idx[m]]
        x[idx[i]] = acc / low[i, i]
    return True


@numba.njit(cache=True)
def _min_s(u: np.ndarray, omega: float, alpha: float, beta: float, arch_start: bool, s0: float) -> float:
    """Smallest ``s_t`` of the recursion (NaN-propagating: NaN if any ``s_t`` is NaN)."""
    s = omega + (alpha + beta) * s0 if arch_start else s0
    lo = s
    for t in range(1, u.shape[0]):
        s = omega + alpha * u[t - 1] + beta * s
        if not s >= lo:
            lo = s
    return lo


@numba.njit(cache=True)
def fit_11(u: np.ndarray, arch_start: bool, s0: float, z: np.ndarray) -> tuple[float, float, float, float, bool, int]:
    """Maximise ``Q`` over ``u`` (non-negative, finite, not all zero).

    ``s0`` is the backcast (``arch_start``) or the fixed first value, in the units of ``u``;
    ``z`` (as long as ``u``) is scratch space for ``u`` scaled to mean 1, passed in so that
    callers fitting many groups can hand out slices of one numpy buffer (kernels/__init__).
    Returns ``(omega, alpha, beta, Q, converged, iterations)`` in the units of ``u``; NaN
    parameters and ``converged = False`` where ``Q`` has no maximum (the search ends with some
    ``s_t`` below ``_S_MIN`` on the mean-1 scale: a short series followed by zeros).
    """
    n = u.shape[0]
    m = 0.0
    for t in range(n):
        m += u[t]
    m /= n
    if not m > 0.0 or n < 3:
        return np.nan, np.nan, np.nan, np.nan, False, 0
    for t in range(n):
        z[t] = u[t] / m
    zs0 = s0 / m
    shift = -0.5 * n * math.log(m)
    lo = np.array([-np.inf, 0.0, 0.0])
    hi = np.array([np.inf, _P_MAX, 1.0])

    # starting grid; x = (log(omega / (1 - alpha - beta)), alpha + beta, alpha / (alpha + beta))
    q = -np.inf
    x = np.zeros(3)
    alphas = _ALPHAS if arch_start else _ALPHAS_SMALL
    persist = _PERSIST if arch_start else _PERSIST_SMALL
    size = len(_ALPHAS) if arch_start else _GRID_SMALL
    for ia in range(size):
        for ip in range(size):
            a = alphas[ia]
            p = persist[ip]
            qq = crit_11(z, 1.0 - p, a, p - a, arch_start, zs0)
            if qq > q:
                q = qq
                x[0] = 0.0
                x[1] = p
                x[2] = a / p
    if not q > -np.inf:
        return np.nan, np.nan, np.nan, np.nan, False, 0

    g = np.zeros(3)
    h = np.zeros((3, 3))
    jac = np.zeros((3, 3))
    hx = np.zeros((3, 3))
    gx = np.zeros(3)
    neg = np.zeros((3, 3))
    step = np.zeros(3)
    xt = np.zeros(3)
    free = np.ones(3, dtype=np.bool_)
    converged = False
    it = 0
    while it < _MAX_ITER:
        it += 1
        w, al, be = _params(x)
        if not _crit_grad_hess(z, w, al, be, arch_start, zs0, g, h):
            break
        p = x[1]
        sh = x[2]
        # jac[k, j] = d theta_k / d x_j, theta = (omega, alpha, beta)
        ev = math.exp(x[0])
        jac[0, 0] = w
        jac[0, 1] = -ev
        jac[1, 1] = sh
        jac[1, 2] = p
        jac[2, 1] = 1.0 - sh
        jac[2, 2] = -p
        for i in range(3):
            gx[i] = g[0] * jac[0, i] + g[1] * jac[1, i] + g[2] * jac[2, i]
            for j in range(3):
                acc = 0.0
                for k in range(3):
                    for k2 in range(3):
                        acc += jac[k, i] * h[k, k2] * jac[k2, j]
                hx[i, j] = acc
        # second-derivative terms of the map
        hx[0, 0] += g[0] * w
        hx[0, 1] -= g[0] * ev
        hx[1, 0] = hx[0, 1]
        hx[1, 2] += g[1] - g[2]
        hx[2, 1] = hx[1, 2]
        # projected Newton (Bertsekas 1982): a variable at a bound its gradient pushes
        # against is held there; the share is also held while alpha + beta = 0
        for i in range(1, 3):
            free[i] = not ((x[i] <= lo[i] and gx[i] <= 0.0) or (x[i] >= hi[i] and gx[i] >= 0.0))
        if x[1] <= 0.0:
            free[2] = False
        # Newton direction on -hx, Levenberg-Marquardt damped until positive definite
        lam = 0.0
        diag = 1e-300
        for i in range(3):
            if free[i]:
                diag = max(diag, abs(hx[i, i]))
        ok = False
        for _ in range(40):
            for i in range(3):
                for j in range(3):
                    neg[i, j] = -hx[i, j]
                neg[i, i] += lam
            if _solve_free(neg, gx, free, step):
                ok = True
                break
            lam = 10.0 * lam if lam > 0.0 else 1e-10 * diag
        if not ok:
            break
        dec = gx[0] * step[0] + gx[1] * step[1] + gx[2] * step[2]
        if dec < 1e-11 * (1.0 + abs(q)):
            converged = True
            break
        # backtracking line search along the projected path
        t_step = 1.0
        improved = False
        for _ in range(40):
            gain = 0.0
            for i in range(3):
                xt[i] = min(max(x[i] + t_step * step[i], lo[i]), hi[i])
                gain += gx[i] * (xt[i] - x[i])
            w2, a2, b2 = _params(xt)
            q2 = crit_11(z, w2, a2, b2, arch_start, zs0)
            if q2 >= q + 1e-4 * gain and q2 > -np.inf:
                improved = q2 > q or gain <= 0.0
                x[:] = xt
                q = q2
                break
            t_step *= 0.5
        if not improved:
            # no ascent at working precision: converged if the predicted gain is negligible
            converged = dec < 1e-8 * (1.0 + abs(q))
            break
    w, al, be = _params(x)
    if not _min_s(z, w, al, be, arch_start, zs0) > _S_MIN:
        # the criterion has no maximum: over a run of zero u it grows without bound as
        # s_t -> 0 (e.g. a few returns followed by a flat price), so there is no estimate
        return np.nan, np.nan, np.nan, np.nan, False, it
    return w * m, al, be, q + shift, converged, it
