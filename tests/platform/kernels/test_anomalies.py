"""Bar anomaly flags (tickflow.kernels.anomalies) against a plain pandas reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tickflow.kernels.anomalies import bar_anomalies

FLAGS = ("price_spike", "volume_surge", "rsi_overbought", "rsi_oversold")


def _reference(close: np.ndarray, volume: np.ndarray, rsi: np.ndarray, n_per: int, spike: float = 0.05,
               volume_mult: float = 3.0, window: int = 20) -> dict[str, np.ndarray]:
    sym = np.repeat(np.arange(close.size // n_per), n_per)
    df = pd.DataFrame({"sym": sym, "close": close, "volume": volume, "rsi": rsi})
    g = df.groupby("sym", sort=False)
    prev = g["close"].shift(1)
    ret = (df["close"] / prev.where(prev > 0) - 1).to_numpy(np.float64)
    base = g["volume"].transform(lambda v: v.shift(1).rolling(window).mean())  # NaN if any NaN inside
    base = base.where(base > 0)
    ratio = (df["volume"] / base).to_numpy(np.float64)
    with np.errstate(invalid="ignore"):
        return {"price_spike": np.abs(ret) > spike,
                "volume_surge": (df["volume"] > volume_mult * base).to_numpy(bool),
                "rsi_overbought": (df["rsi"] > 70).to_numpy(bool),
                "rsi_oversold": (df["rsi"] < 30).to_numpy(bool),
                "ret": ret, "volume_ratio": ratio}


def _bars(rng: np.random.Generator, n_sym: int, n_per: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    close = 50.0 * np.exp(np.cumsum(0.02 * rng.standard_t(3, (n_sym, n_per)), axis=1))
    volume = rng.gamma(0.8, 1000.0, (n_sym, n_per)) * (rng.random((n_sym, n_per)) > 0.1)  # some zeros
    volume[rng.random((n_sym, n_per)) < 0.02] *= 8.0  # surges
    rsi = rng.uniform(0.0, 100.0, (n_sym, n_per))
    rsi[:, :14] = np.nan
    return close.ravel(), volume.ravel(), rsi.ravel()


def _assert_matches(got: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> None:
    for k in FLAGS:
        assert got[k].dtype == np.bool_, k
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k)
    for k in ("ret", "volume_ratio"):
        assert got[k].dtype == np.float64, k
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-12, equal_nan=True, err_msg=k)


def test_matches_pandas() -> None:
    rng = np.random.default_rng(8)
    n_sym, n_per = 6, 390
    close, volume, rsi = _bars(rng, n_sym, n_per)
    c = close.reshape(n_sym, n_per)
    c[1, :30] = np.nan  # no price yet
    c[2, 200] = np.nan  # a hole: the returns into and out of it are NaN
    v = volume.reshape(n_sym, n_per)
    v[3, :] = 0.0  # never traded: no baseline, no surge
    v[4, 100] = np.nan  # NaN volume blanks the 20 windows containing it
    got = bar_anomalies(close, volume, rsi, n_per)
    _assert_matches(got, _reference(close, volume, rsi, n_per))
    for k in FLAGS:
        assert got[k].any(), k  # the random data exercise every flag
    blk = {k: x.reshape(n_sym, n_per) for k, x in got.items()}
    assert np.all(np.isnan(blk["ret"][:, 0]))  # no return across symbols
    assert np.all(np.isnan(blk["volume_ratio"][:, :20])) and not blk["volume_surge"][:, :20].any()
    assert np.all(np.isnan(blk["ret"][2, 200:202]))
    assert np.all(np.isnan(blk["volume_ratio"][3])) and not blk["volume_surge"][3].any()
    assert np.all(np.isnan(blk["volume_ratio"][4, 100:121])) and np.isfinite(blk["volume_ratio"][4, 121])
    # other parameters
    got = bar_anomalies(close, volume, rsi, n_per, spike=0.02, volume_mult=2.0, volume_window=5)
    _assert_matches(got, _reference(close, volume, rsi, n_per, spike=0.02, volume_mult=2.0, window=5))


def test_hand_values() -> None:
    close = np.array([100.0, 106.0, 106.0, 100.0, 99.0])
    volume = np.array([10.0, 20.0, 30.0, 181.0, 179.0])
    rsi = np.array([np.nan, 71.0, 70.0, 30.0, 29.0])
    got = bar_anomalies(close, volume, rsi, 5, volume_window=3)
    np.testing.assert_allclose(got["ret"], [np.nan, 0.06, 0.0, 100 / 106 - 1, -0.01])
    np.testing.assert_array_equal(got["price_spike"], [False, True, False, True, False])
    # baselines: bar 3 -> mean(10, 20, 30) = 20, bar 4 -> mean(20, 30, 181) = 77
    np.testing.assert_allclose(got["volume_ratio"], [np.nan, np.nan, np.nan, 181 / 20, 179 / 77])
    np.testing.assert_array_equal(got["volume_surge"], [False, False, False, True, False])
    np.testing.assert_array_equal(got["rsi_overbought"], [False, True, False, False, False])
    np.testing.assert_array_equal(got["rsi_oversold"], [False, False, False, False, True])


def test_no_flag_depends_on_future_bars() -> None:
    rng = np.random.default_rng(21)
    n_sym, n_per = 3, 200
    close, volume, rsi = _bars(rng, n_sym, n_per)
    base = bar_anomalies(close, volume, rsi, n_per)
    k = n_per + 120  # a bar of symbol 1
    untouched = np.r_[0:k, 2 * n_per:3 * n_per]  # earlier bars, and every bar of the other symbols
    for arr, value, moved in (("close", 1e6, "ret"), ("volume", 1e9, "volume_ratio"), ("rsi", -1.0, "rsi_oversold")):
        data = {"close": close.copy(), "volume": volume.copy(), "rsi": rsi.copy()}
        data[arr][k:2 * n_per] = value  # rewrite the future of symbol 1 from bar k on
        after = bar_anomalies(data["close"], data["volume"], data["rsi"], n_per)
        assert after[moved][k] != base[moved][k], arr  # the change is seen at bar k ...
        for name, x in after.items():  # ... and nowhere before it
            np.testing.assert_array_equal(x[untouched], base[name][untouched], err_msg=f"{arr} -> {name}")


def test_validation_and_empty() -> None:
    got = bar_anomalies(np.empty(0), np.empty(0), np.empty(0), 5)
    assert all(x.size == 0 for x in got.values())
    with pytest.raises(ValueError):
        bar_anomalies(np.ones(4), np.ones(3), np.ones(4), 2)
    with pytest.raises(ValueError):
        bar_anomalies(np.ones(4), np.ones(4), np.ones(4), 3)
    with pytest.raises(ValueError):
        bar_anomalies(np.ones(4), np.ones(4), np.ones(4), 2, volume_window=0)
