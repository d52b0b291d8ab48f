"""Rolling per-trade statistics (tickflow.kernels.trade_stats) against plain pandas rolling."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tickflow.kernels.grouping import group_starts
from tickflow.kernels.jumps import MU1, MU43, THETA
from tickflow.kernels.trade_stats import lookback, trade_log_returns, trade_stats

NS = 1_000_000_000
K = 20


def _trades(seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = [0, 3, 150, 700]
    sym = np.repeat(np.arange(len(sizes)), sizes).astype(np.int64)
    ts_parts, px_parts = [], []
    for n in sizes:
        gaps = rng.exponential(4.0, n) * np.where(rng.random(n) < 0.3, 0.1, 1.0)  # clustered
        ts_parts.append((1_700_000_000 * NS + np.cumsum(gaps * NS)).astype(np.int64) + np.arange(n))
        ticks = np.cumsum(rng.choice([-1, 0, 0, 1], n))  # discrete prices: zero returns occur
        jumps = np.where(rng.random(n) < 0.01, 30, 0)
        px_parts.append(50.0 + 0.01 * (ticks + np.cumsum(jumps)))
    return np.concatenate(ts_parts), np.concatenate(px_parts), sym, group_starts(sym, len(sizes))


def _reference(ts: np.ndarray, px: np.ndarray, sym: np.ndarray) -> pd.DataFrame:
    out = []
    for _, g in pd.DataFrame({"ts": pd.to_datetime(ts), "px": px, "sym": sym}).groupby("sym", sort=True):
        r = np.log(g.px).diff()
        a = r.abs()
        rv_prev = (r**2).rolling(K).sum().shift(1)
        z = r / np.sqrt(rv_prev / K)
        b = a * a.shift(1)
        lm = r / np.sqrt(b.rolling(K - 2).sum().shift(1) / (K - 2))
        rv = (r**2).rolling(K).sum()
        bv = b.rolling(K - 1).sum() * K / (K - 1) / MU1**2
        c = (a * a.shift(1) * a.shift(2)) ** (4 / 3)
        tq = c.rolling(K - 2).sum() * K * K / (K - 2) / MU43**3
        adj = np.maximum(1.0, tq / bv**2)
        bns = ((rv - bv) / rv) / np.sqrt(THETA * adj / K)
        s = pd.Series(1.0, index=g.ts.values)
        n1 = s.rolling("60s").count()
        mean = n1.rolling("1800s", closed="left", min_periods=30).mean()
        sd = n1.rolling("1800s", closed="left", min_periods=30).std()
        iz = (n1 - mean) / sd
        out.append(pd.DataFrame({"log_return": r.values, "std_return": z.values, "lm_stat": lm.values, "bns_z": bns.values,
                                 "intensity_z": iz.values}))
    df = pd.concat(out, ignore_index=True)
    return df.replace([np.inf, -np.inf], np.nan)


def test_matches_pandas_rolling() -> None:
    ts, px, sym, st = _trades()
    got = trade_stats(ts, px, st, K=K)
    ref = _reference(ts, px, sym)
    for col in ("log_return", "std_return", "lm_stat", "bns_z", "intensity_z"):
        np.testing.assert_allclose(got[col], ref[col].to_numpy(), rtol=1e-9, atol=1e-12, err_msg=col)
    np.testing.assert_allclose(got["log_return"], trade_log_returns(px, st), equal_nan=True)
    # defined from the K-th (lm, bns) / K+1-th (z) return of a symbol on
    big = slice(st[3], st[4])
    assert np.all(np.isnan(got["lm_stat"][big][:K])) and np.isfinite(got["lm_stat"][big][K:]).mean() > 0.9
    assert np.all(np.isnan(got["std_return"][big][: K + 1])) and np.isfinite(got["std_return"][big][K + 1]).all()
    assert np.isnan(got["log_return"][st[1]]) and np.isnan(got["log_return"][st[2]])


def test_unchanged_prices_give_nan_not_inf() -> None:
    n = 60
    ts = np.arange(n, dtype=np.int64) * NS
    px = np.full(n, 10.0)
    px[-1] = 10.01
    got = trade_stats(ts, px, np.array([0, n]), K=K)
    for col in ("std_return", "lm_stat", "bns_z", "intensity_z"):
        assert not np.any(np.isinf(got[col])), col
    assert np.isnan(got["std_return"][-1]) and np.isnan(got["lm_stat"][-1])


def test_long_series_has_no_drift() -> None:
    """Running sums over 200k returns with a huge jump stay equal to direct window sums."""
    rng = np.random.default_rng(1)
    n = 200_000
    r = 1e-4 * rng.standard_normal(n)
    r[1000] = 0.5
    px = 20.0 * np.exp(np.cumsum(r))
    ts = np.arange(n, dtype=np.int64) * 10**8
    got = trade_stats(ts, px, np.array([0, n]), K=100)
    rr = np.log(px[1:] / px[:-1])
    i = n - 1
    ref = rr[i - 1] / math.sqrt(np.mean(rr[i - 101:i - 1] ** 2))
    assert got["std_return"][i] == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("k", [4, 20, 100])
def test_a_slice_with_its_look_back_gives_the_whole_symbols_values_bit_for_bit(k: int) -> None:
    """How an intraday update computes only a day's new trades: each symbol's rows from
    ``first_index`` on, given that index, equal the whole computation exactly from
    ``lookback(K)`` rows in (and the intensity's time windows), whatever the cut."""
    rng = np.random.default_rng(k)
    ts, px, _, starts = _trades(k)
    n = np.diff(starts)
    whole = trade_stats(ts, px, starts, K=k, count_window_s=5.0, z_window_s=60.0)
    for _ in range(20):
        cut = np.array([rng.integers(0, m + 1) for m in n])  # first row each symbol must get right
        lo = np.maximum(cut - lookback(k), 0)
        for s in range(n.size):  # and the intensity's 65 s before it
            sym_ts = ts[starts[s]:starts[s + 1]]
            if cut[s] < n[s]:
                lo[s] = min(lo[s], np.searchsorted(sym_ts, sym_ts[cut[s]] - 65 * NS))
        idx = np.concatenate([np.arange(starts[s] + lo[s], starts[s + 1]) for s in range(n.size)]).astype(np.int64)
        part_starts = np.concatenate([[0], np.cumsum(n - lo)])
        part = trade_stats(ts[idx], px[idx], part_starts, K=k, count_window_s=5.0, z_window_s=60.0, first_index=lo)
        for s in range(n.size):
            mine = slice(part_starts[s] + cut[s] - lo[s], part_starts[s + 1])
            theirs = slice(starts[s] + cut[s], starts[s + 1])
            for name in whole:
                np.testing.assert_array_equal(part[name][mine], whole[name][theirs], err_msg=f"{name} sym {s}")
    # without the index the slice starts the symbol afresh: values differ
    lo = np.minimum(n, 2 * lookback(k))
    idx = np.concatenate([np.arange(starts[s] + lo[s], starts[s + 1]) for s in range(n.size)]).astype(np.int64)
    fresh = trade_stats(ts[idx], px[idx], np.concatenate([[0], np.cumsum(n - lo)]), K=k)
    rows = int(n[-1] - lo[-1])
    assert np.isnan(fresh["lm_stat"][-rows:][:k]).all() and not np.isnan(whole["lm_stat"][-rows:][:k]).all()


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        trade_stats(np.arange(5), np.array([1.0, 2, 0, 3, 4]), np.array([0, 5]))
    with pytest.raises(ValueError):
        trade_stats(np.array([0, 2, 1]), np.ones(3), np.array([0, 3]))
    with pytest.raises(ValueError, match="first_index"):
        trade_stats(np.arange(5), np.ones(5), np.array([0, 5]), K=4, first_index=np.array([-1]))
    # a time reset at a symbol boundary is fine
    trade_stats(np.array([5, 6, 1, 2]), np.ones(4), np.array([0, 2, 4]), K=4)
