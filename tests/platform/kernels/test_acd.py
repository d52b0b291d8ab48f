"""ACD(1,1) (tickflow.kernels.acd): parameter recovery on simulated durations, the likelihood
against an independent scipy reference, and the diurnal factor against plain pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.signal import lfilter

from tickflow.kernels.acd import (
    acd11_psi,
    diurnal_factor,
    fit_acd11_grouped,
    trade_durations,
)

NS = 1_000_000_000


def simulate_acd(n: int, omega: float, alpha: float, beta: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    burn = 2000
    eps = rng.exponential(1.0, n + burn)
    x = np.empty(n + burn)
    psi = omega / (1.0 - alpha - beta)
    for i in range(n + burn):
        x[i] = psi * eps[i]
        psi = omega + alpha * x[i] + beta * psi
    return x[burn:]


def psi_ref(x: np.ndarray, omega: float, alpha: float, beta: float) -> np.ndarray:
    """psi_0 = mean(x), psi_i = omega + alpha x_{i-1} + beta psi_{i-1}, by scipy's lfilter."""
    p0 = x.mean()
    rest = lfilter([1.0], [1.0, -beta], omega + alpha * x[:-1], zi=[beta * p0])[0]
    return np.concatenate([[p0], rest])


def loglik_ref(x: np.ndarray, theta: np.ndarray) -> float:
    psi = psi_ref(x, *theta)
    return float(-np.sum(np.log(psi) + x / psi))


def hessian_fd(f, theta: np.ndarray, h: float = 1e-4) -> np.ndarray:  # noqa: ANN001
    k = theta.size
    out = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            ei = np.eye(k)[i] * h
            ej = np.eye(k)[j] * h
            out[i, j] = (
                f(theta + ei + ej) - f(theta + ei - ej) - f(theta - ei + ej) + f(theta - ei - ej)
            ) / (4 * h * h)
    return out


@pytest.mark.parametrize(("omega", "alpha", "beta", "seed"), [(0.1, 0.1, 0.8, 1), (0.05, 0.05, 0.9, 2)])
def test_recovers_parameters(omega: float, alpha: float, beta: float, seed: int) -> None:
    x = simulate_acd(50_000, omega, alpha, beta, seed)
    out = fit_acd11_grouped(x, np.array([0, x.size]))
    assert out["converged"][0]
    est = np.array([out["omega"][0], out["alpha"][0], out["beta"][0]])
    true = np.array([omega, alpha, beta])
    # loglik as defined, and a maximum: not below the value at the true parameters
    assert out["loglik"][0] == pytest.approx(loglik_ref(x, est), rel=1e-12)
    assert out["loglik"][0] >= loglik_ref(x, true)
    # within 4 standard errors (exponential innovations: the inverse information is the
    # covariance), and within 0.03 absolutely
    se = np.sqrt(np.diag(np.linalg.inv(-hessian_fd(lambda t: loglik_ref(x, t), est))))
    assert np.all(np.abs(est - true) < 4 * se), (est, true, se)
    assert np.all(np.abs(est - true) < 0.03)
    # same maximum as a generic optimiser on the reference likelihood
    res = minimize(
        lambda t: -loglik_ref(x, t) / x.size,
        x0=np.array([0.2, 0.1, 0.7]),
        method="L-BFGS-B",
        bounds=[(1e-6, None), (0.0, 1.0), (0.0, 1.0)],
        options={"ftol": 1e-14, "gtol": 1e-10, "maxiter": 2000},
    )
    assert out["loglik"][0] >= -res.fun * x.size - 1e-6
    np.testing.assert_allclose(est, res.x, atol=2e-3)
    # psi matches the reference filter
    np.testing.assert_allclose(out["psi"], psi_ref(x, *est), rtol=1e-10)


def test_grouped_nan_and_psi() -> None:
    a = simulate_acd(3000, 0.1, 0.1, 0.8, 5)
    b = simulate_acd(20, 0.1, 0.1, 0.8, 6)  # too short
    c = simulate_acd(4000, 0.05, 0.05, 0.9, 7)
    a[0] = np.nan  # first trade of a symbol: no duration
    c[[0, 10, 11]] = np.nan
    x = np.concatenate([a, b, c])
    starts = np.array([0, a.size, a.size + b.size, x.size])
    out = fit_acd11_grouped(x, starts)
    assert np.isnan(out["omega"][1]) and not out["converged"][1]
    assert out["n"].tolist() == [a.size - 1, b.size, c.size - 3]
    for g, v in ((0, a), (2, c)):
        sl = slice(starts[g], starts[g + 1])
        alone = fit_acd11_grouped(v[np.isfinite(v)], np.array([0, np.isfinite(v).sum()]))
        assert out["loglik"][g] == pytest.approx(alone["loglik"][0], rel=1e-12)
        assert (np.isnan(out["psi"][sl]) == np.isnan(v)).all()
        np.testing.assert_allclose(out["psi"][sl][np.isfinite(v)], alone["psi"], rtol=1e-12)
    psi = acd11_psi(x, starts, out["omega"], out["alpha"], out["beta"])
    np.testing.assert_allclose(psi, out["psi"], rtol=1e-12, equal_nan=True)


def test_trade_durations() -> None:
    ts = np.array([0, 2, 2, 5, 1, 1, 4], dtype=np.int64) * NS
    d = trade_durations(ts, np.array([0, 4, 7]))
    np.testing.assert_array_equal(d, [np.nan, 2.0, np.nan, 3.0, np.nan, np.nan, 3.0])
    with pytest.raises(ValueError):
        trade_durations(np.array([3, 1], dtype=np.int64), np.array([0, 2]))


def _diurnal_pandas(
    ts: np.ndarray, starts: np.ndarray, open_ns: int, session: float, bucket: float
) -> np.ndarray:
    out = np.full(ts.size, np.nan)
    nb = int(np.ceil(session / bucket))
    mids = np.array([(b * bucket + min((b + 1) * bucket, session)) / 2 for b in range(nb)])
    for g in range(starts.size - 1):
        t = ts[starts[g] : starts[g + 1]]
        # integer differences first: ns time stamps do not fit float64 exactly
        df = pd.DataFrame({"d": np.diff(t) / NS, "tau": (t[:-1] - open_ns) / NS}, index=np.arange(1, t.size))
        df = df[df["d"] > 0].copy()
        df["bucket"] = np.clip(np.floor(df["tau"] / bucket), 0, nb - 1).astype(int)
        m = df.groupby("bucket")["d"].mean()
        phi = np.interp(np.clip(df["tau"], 0, session), mids[m.index.to_numpy()], m.to_numpy())
        phi *= np.mean(df["d"].to_numpy() / phi)
        out[starts[g] + df.index.to_numpy()] = phi
    return out


def test_diurnal_factor_against_pandas() -> None:
    rng = np.random.default_rng(3)
    open_ns = 1_700_000_000 * NS
    session = 6.5 * 3600
    groups = []
    for k, n in enumerate((400, 60)):
        # U-shaped intensity: more trades near open and close; none in 12:00-12:30 for k=1
        u = rng.beta(0.6, 0.6, n) * session
        if k == 1:
            u = u[(u < 9000) | (u > 10800)]
        t = np.sort(open_ns + (u * NS).astype(np.int64))
        t[5] = t[4]  # a zero duration
        t = np.concatenate([[open_ns - 30 * NS], t])  # a trade before the open (clipped)
        groups.append(t)
    ts = np.concatenate(groups)
    starts = np.cumsum([0] + [g.size for g in groups])
    phi = diurnal_factor(ts, starts, open_ns, session, 1800)
    ref = _diurnal_pandas(ts, starts, open_ns, session, 1800)
    np.testing.assert_allclose(phi, ref, rtol=1e-12, equal_nan=True)
    x = trade_durations(ts, starts) / phi
    for g in range(2):
        assert np.nanmean(x[starts[g] : starts[g + 1]]) == pytest.approx(1.0, rel=1e-12)
    # per-symbol open times broadcast the same way
    phi2 = diurnal_factor(ts, starts, np.array([open_ns, open_ns]), session, 1800)
    np.testing.assert_array_equal(np.isnan(phi2), np.isnan(phi))
