"""Previous-tick sampling (tickflow.kernels.sampling) against a plain numpy reference."""

from __future__ import annotations

import numpy as np
import pytest

from tickflow.kernels.grouping import group_starts
from tickflow.kernels.sampling import grid_log_returns, log_returns_on_grid, sample_prev_tick

NS = 1_000_000_000


def _reference(ts: np.ndarray, v: np.ndarray, starts: np.ndarray, open_ns: int, step: int, n: int) -> np.ndarray:
    grid = open_ns + step * np.arange(n + 1, dtype=np.int64)
    out = []
    for s in range(len(starts) - 1):
        t, x = ts[starts[s]:starts[s + 1]], v[starts[s]:starts[s + 1]]
        j = np.searchsorted(t, grid, side="right") - 1
        if t.size == 0:
            out.append(np.full(n + 1, np.nan))
            continue
        out.append(np.where(j >= 0, x[np.maximum(j, 0)], np.nan))
    return np.concatenate(out)


def test_matches_searchsorted_reference() -> None:
    rng = np.random.default_rng(3)
    open_ns = 1_700_000_000 * NS
    sizes = [0, 1, 50, 400]
    sym = np.repeat(np.arange(len(sizes)), sizes)
    ts = np.concatenate([np.sort(open_ns - 20 * NS + rng.integers(0, 140 * NS, n)) for n in sizes])
    ts[sizes[0] + sizes[1] + 3] = open_ns + 30 * NS  # a tick exactly on a grid instant counts
    ts = np.concatenate([np.sort(ts[sym == s]) for s in range(len(sizes))])
    v = 100.0 + rng.standard_normal(ts.size).cumsum()
    st = group_starts(sym, len(sizes))
    got = sample_prev_tick(ts, v, st, open_ns, 10 * NS, 12)
    np.testing.assert_array_equal(got, _reference(ts, v, st, open_ns, 10 * NS, 12))
    assert got.shape == (len(sizes) * 13,)
    assert np.all(np.isnan(got[:13]))  # no ticks at all


def test_exact_instant_and_nan_before_first() -> None:
    ts = np.array([5, 10, 20], dtype=np.int64)
    v = np.array([1.0, 2.0, 4.0])
    st = np.array([0, 3], dtype=np.int64)
    got = sample_prev_tick(ts, v, st, 0, 5, 5)  # grid 0, 5, 10, 15, 20, 25
    np.testing.assert_array_equal(got, [np.nan, 1.0, 2.0, 2.0, 4.0, 4.0])
    r = grid_log_returns(ts, v, st, 0, 5, 5)
    np.testing.assert_allclose(r, [np.nan, np.log(2), 0.0, np.log(2), 0.0])
    np.testing.assert_allclose(log_returns_on_grid(got, 1), r)


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        sample_prev_tick(np.arange(3), np.ones(2), np.array([0, 3]), 0, 1, 2)
    with pytest.raises(ValueError):
        sample_prev_tick(np.arange(3), np.ones(3), np.array([0, 2]), 0, 1, 2)
    with pytest.raises(ValueError):
        sample_prev_tick(np.arange(3), np.ones(3), np.array([0, 3]), 0, 0, 2)
