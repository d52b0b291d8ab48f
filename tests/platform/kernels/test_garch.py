"""GARCH(1,1) (tickflow.kernels.garch) against the `arch` package on simulated series."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
from arch import arch_model

from tickflow.kernels.garch import (
    arch_backcast,
    fit_garch11,
    fit_garch11_grouped,
    garch11_sigma,
)


def simulate_garch(n: int, omega: float, alpha: float, beta: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    burn = 1000
    z = rng.standard_normal(n + burn)
    e = np.empty(n + burn)
    s2 = omega / (1.0 - alpha - beta)
    for t in range(n + burn):
        e[t] = np.sqrt(s2) * z[t]
        s2 = omega + alpha * e[t] ** 2 + beta * s2
    return e[burn:]


def arch_fit(y: np.ndarray):  # noqa: ANN201
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return arch_model(y, mean="Zero", vol="GARCH", p=1, q=1, dist="normal", rescale=False).fit(disp="off")


CASES = [
    (0.1, 0.1, 0.8, 0),
    (0.05, 0.05, 0.94, 1),  # high persistence
    (0.001, 0.02, 0.979, 2),  # very high persistence, small alpha
    (0.4, 0.3, 0.3, 3),  # weak persistence, large alpha
    (1.0, 0.0, 0.0, 4),  # no ARCH effect: alpha on its bound
]


@pytest.mark.parametrize(("omega", "alpha", "beta", "seed"), CASES)
def test_matches_arch(omega: float, alpha: float, beta: float, seed: int) -> None:
    y = simulate_garch(8000, omega, alpha, beta, seed)
    y = y / y.std()  # percent-like scale, where arch is happy
    ours = fit_garch11(y)
    ref = arch_fit(y)
    w, a, b = ref.params.to_numpy()
    assert ours.converged
    assert ours.n == y.size
    # same maximum: loglik within 1e-6 relative (ours is never materially lower)
    assert abs(ours.loglik - ref.loglikelihood) <= 1e-6 * abs(ref.loglikelihood)
    assert ours.loglik >= ref.loglikelihood - 1e-7 * abs(ref.loglikelihood)
    np.testing.assert_allclose([ours.omega, ours.alpha, ours.beta], [w, a, b], atol=1e-3)
    np.testing.assert_allclose(ours.sigma, ref.conditional_volatility, rtol=2e-3)


def test_filter_and_backcast_match_arch() -> None:
    y = simulate_garch(3000, 0.05, 0.08, 0.9, 7)
    ref = arch_fit(y)
    model = arch_model(y, mean="Zero", vol="GARCH", p=1, q=1, dist="normal", rescale=False)
    assert arch_backcast(y) == pytest.approx(model.volatility.backcast(y), rel=1e-13)
    w, a, b = ref.params.to_numpy()
    sig = garch11_sigma(y, np.array([0, y.size]), w, a, b)
    np.testing.assert_allclose(sig, ref.conditional_volatility, rtol=1e-12)
    # the log-likelihood definition: arch's value at arch's parameters
    s2 = sig**2
    ll = -0.5 * np.sum(np.log(2 * np.pi) + np.log(s2) + y**2 / s2)
    assert ll == pytest.approx(ref.loglikelihood, rel=1e-12)


def test_scale_equivariance_small_returns() -> None:
    y = simulate_garch(23_400, 0.05, 0.05, 0.94, 11)
    big = fit_garch11(y)
    small = fit_garch11(y * 1e-4)
    assert small.converged and big.converged
    assert small.omega == pytest.approx(big.omega * 1e-8, rel=1e-6)
    assert small.alpha == pytest.approx(big.alpha, abs=1e-7)
    assert small.beta == pytest.approx(big.beta, abs=1e-7)
    # loglik of y * c = loglik of y - n log c
    assert small.loglik == pytest.approx(big.loglik - y.size * np.log(1e-4), rel=1e-10)
    np.testing.assert_allclose(small.sigma, big.sigma * 1e-4, rtol=1e-6)


def test_grouped_matches_single_fits() -> None:
    series = [
        simulate_garch(4000, 0.1, 0.1, 0.8, 21),
        simulate_garch(30, 0.1, 0.1, 0.8, 22),  # too short: NaN
        simulate_garch(5000, 0.02, 0.05, 0.93, 23),
        np.zeros(0),  # empty group
    ]
    series[2][[0, 1, 100, 4999]] = np.nan  # skipped rows
    r = np.concatenate(series)
    starts = np.cumsum([0] + [s.size for s in series])
    out = fit_garch11_grouped(r, starts)
    assert out["sigma"].shape == r.shape
    for g, y in enumerate(series):
        sl = slice(starts[g], starts[g + 1])
        if g in (1, 3):
            assert np.isnan(out["omega"][g]) and not out["converged"][g]
            assert np.isnan(out["sigma"][sl]).all()
            continue
        single = fit_garch11(y)
        assert out["converged"][g]
        assert out["n"][g] == np.isfinite(y).sum()
        for k in ("omega", "alpha", "beta", "loglik"):
            assert out[k][g] == pytest.approx(getattr(single, k), rel=1e-12)
        np.testing.assert_allclose(out["sigma"][sl], single.sigma, rtol=1e-12)
        assert (np.isnan(out["sigma"][sl]) == np.isnan(y)).all()
    # skipping NaN rows = fitting the finite returns as one series
    y2 = series[2]
    compact = fit_garch11(y2[np.isfinite(y2)])
    assert out["loglik"][2] == pytest.approx(compact.loglik, rel=1e-12)
    # the filter with the fitted parameters reproduces the fitted sigma
    sig = garch11_sigma(r, starts, out["omega"], out["alpha"], out["beta"])
    np.testing.assert_allclose(sig, out["sigma"], rtol=1e-12, equal_nan=True)


def test_degenerate_inputs() -> None:
    f = fit_garch11(np.zeros(500))
    assert np.isnan(f.omega) and not f.converged and np.isnan(f.sigma).all()
    with pytest.raises(ValueError):
        fit_garch11_grouped(np.ones(10), np.array([0, 5]))


@pytest.mark.slow
def test_speed_vs_arch() -> None:
    n_fits, n = 20, 23_400
    ys = [simulate_garch(n, 0.05, 0.05, 0.94, 100 + i) for i in range(n_fits)]
    fit_garch11(ys[0])  # compile / load cache
    t0 = time.perf_counter()
    ours = [fit_garch11(y) for y in ys]
    t_ours = (time.perf_counter() - t0) / n_fits
    t0 = time.perf_counter()
    refs = [arch_fit(y) for y in ys]
    t_arch = (time.perf_counter() - t0) / n_fits
    r = np.concatenate(ys)
    starts = np.arange(n_fits + 1) * n
    fit_garch11_grouped(r, starts)
    t0 = time.perf_counter()
    fit_garch11_grouped(r, starts)
    t_grouped = (time.perf_counter() - t0) / n_fits
    print(
        f"\nGARCH(1,1), n={n}: ours {1e3 * t_ours:.2f} ms/fit, grouped {1e3 * t_grouped:.2f} ms/fit, "
        f"arch {1e3 * t_arch:.1f} ms/fit, speed-up {t_arch / t_ours:.1f}x"
    )
    for o, a in zip(ours, refs, strict=True):
        assert abs(o.loglik - a.loglikelihood) <= 1e-6 * abs(a.loglikelihood)
    assert t_arch / t_ours >= 10.0


def test_degenerate_series_gives_nan_never_an_exception() -> None:
    """60 returns then a flat price (500 zero returns): the likelihood has no maximum (it grows
    without bound as sigma2 -> 0 over the zeros). It used to divide by a zero sigma2 inside the
    parallel kernel: the worker's ZeroDivisionError was lost (the first call returned the
    uninitialised output arrays, e.g. n = 0 and beta = 1e214) and left pending, so every later
    call in the process raised SystemError. Now: NaN parameters, converged False, every call."""
    rng = np.random.default_rng(0)
    r = np.concatenate([rng.normal(0, 1e-3, 60), np.zeros(500)])
    for _ in range(3):
        out = fit_garch11_grouped(r.copy(), np.array([0, r.size]))
        assert out["n"][0] == r.size
        assert not out["converged"][0]
        for k in ("omega", "alpha", "beta", "loglik"):
            assert np.isnan(out[k][0]), k
        assert np.isnan(out["sigma"]).all()
        one = fit_garch11(r.copy())
        assert not one.converged and np.isnan([one.omega, one.alpha, one.beta]).all()
    # too few returns, all zero: NaN too; a healthy symbol beside them is still fitted
    good = simulate_garch(2000, 0.1, 0.1, 0.8, 7)
    x = np.concatenate([good, np.zeros(300), rng.normal(0, 1, 10)])
    out = fit_garch11_grouped(x, np.array([0, 2000, 2300, 2310]))
    assert out["converged"].tolist() == [True, False, False]
    assert np.isfinite(out["omega"][0]) and np.isnan(out["omega"][1:]).all()
