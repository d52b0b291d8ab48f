"""Technical indicators (tickflow.kernels.indicators) against a plain pandas reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tickflow.kernels.indicators import FIELDS, indicators

# ----------------------------------------------------------------------------- reference


def _seeded_ema(x: pd.Series, n: int, alpha: float) -> pd.Series:
    """EMA seeded with the mean of the first ``n`` values, NaN before: the seed replaces the
    first ``n`` values, then pandas' recursive (adjust=False) EWM runs from it."""
    out = pd.Series(np.nan, index=x.index)
    if len(x) < n:
        return out
    seeded = pd.concat([pd.Series([x.iloc[:n].mean()], index=[x.index[n - 1]]), x.iloc[n:]])
    out.loc[seeded.index] = seeded.ewm(alpha=alpha, adjust=False).mean()
    return out


def _reference_one(close: np.ndarray) -> dict[str, np.ndarray]:
    s = pd.Series(close)
    x = s[np.isfinite(s)].reset_index(drop=True)  # the finite closes, taken as consecutive
    r: dict[str, pd.Series] = {}
    for n in (20, 50, 200):
        r[f"sma_{n}"] = x.rolling(n).mean()
    for n in (12, 26):
        r[f"ema_{n}"] = _seeded_ema(x, n, 2 / (n + 1))
    d = x.diff()
    gain, loss = d.clip(lower=0).iloc[1:], (-d).clip(lower=0).iloc[1:]
    ag, al = _seeded_ema(gain, 14, 1 / 14), _seeded_ema(loss, 14, 1 / 14)
    rsi = 100 - 100 / (1 + ag / al)
    r["rsi_14"] = rsi.where(al != 0, np.where(ag == 0, 50.0, 100.0)).where(ag.notna()).reindex(x.index)
    r["macd"] = r["ema_12"] - r["ema_26"]
    r["macd_signal"] = _seeded_ema(r["macd"].dropna(), 9, 2 / 10).reindex(x.index)
    r["macd_hist"] = r["macd"] - r["macd_signal"]
    sd = x.rolling(20).std(ddof=0)
    r["bb_mid"] = r["sma_20"]
    r["bb_upper"] = r["sma_20"] + 2 * sd
    r["bb_lower"] = r["sma_20"] - 2 * sd
    pos = np.flatnonzero(np.isfinite(close))
    out = {}
    for k, v in r.items():
        full = np.full(close.size, np.nan)
        full[pos] = v.to_numpy(dtype=np.float64)
        out[k] = full
    return out


def _reference(close: np.ndarray, n_per: int) -> dict[str, np.ndarray]:
    parts = [_reference_one(close[i:i + n_per]) for i in range(0, close.size, n_per)]
    return {k: np.concatenate([p[k] for p in parts]) for k in FIELDS}


def _walks(rng: np.random.Generator, n_sym: int, n_per: int) -> np.ndarray:
    return (100.0 + 0.2 * rng.standard_normal((n_sym, n_per)).cumsum(axis=1)).ravel()


def _assert_matches(close: np.ndarray, n_per: int) -> dict[str, np.ndarray]:
    got = indicators(close, n_per)
    ref = _reference(close, n_per)
    assert list(got) == list(FIELDS)
    for k in FIELDS:
        assert got[k].shape == close.shape and got[k].dtype == np.float64, k
        np.testing.assert_array_equal(np.isnan(got[k]), np.isnan(ref[k]), err_msg=k)
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-10, atol=1e-9, equal_nan=True, err_msg=k)
    return got


# ----------------------------------------------------------------------------- tests


def test_matches_pandas_on_random_walks() -> None:
    rng = np.random.default_rng(11)
    n_sym, n_per = 5, 450
    close = _walks(rng, n_sym, n_per)
    got = _assert_matches(close, n_per)
    block = {k: v.reshape(n_sym, n_per) for k, v in got.items()}
    # warm-up lengths (0-based index of the first defined value)
    first = {"sma_20": 19, "sma_50": 49, "sma_200": 199, "ema_12": 11, "ema_26": 25, "rsi_14": 14,
             "macd": 25, "macd_signal": 33, "macd_hist": 33, "bb_mid": 19, "bb_upper": 19, "bb_lower": 19}
    for k, f in first.items():
        assert np.all(np.isnan(block[k][:, :f])) and np.all(np.isfinite(block[k][:, f:])), k
    assert np.all((block["rsi_14"][:, 14:] >= 0) & (block["rsi_14"][:, 14:] <= 100))
    assert np.all(block["bb_upper"][:, 19:] >= block["bb_lower"][:, 19:])


def test_leading_nan_block_and_holes() -> None:
    rng = np.random.default_rng(5)
    n_sym, n_per = 4, 320
    close = _walks(rng, n_sym, n_per).reshape(n_sym, n_per)
    close[0, :] = np.nan  # no price at all
    close[1, :60] = np.nan  # no price yet: indicators start at the first finite close
    close[2, :250] = np.nan  # too few closes for SMA 200
    close[3, [30, 31, 100]] = np.nan  # interior holes are skipped
    flat = close.ravel()
    got = _assert_matches(flat, n_per)
    block = {k: v.reshape(n_sym, n_per) for k, v in got.items()}
    assert all(np.all(np.isnan(block[k][0])) for k in FIELDS)
    assert np.all(np.isnan(block["sma_20"][1, :79])) and np.isfinite(block["sma_20"][1, 79])
    assert np.isfinite(block["rsi_14"][1, 74]) and np.isnan(block["rsi_14"][1, 73])
    assert np.all(np.isnan(block["sma_200"][2])) and np.isfinite(block["sma_50"][2, -1])
    assert all(np.all(np.isnan(block[k][3, [30, 31, 100]])) for k in FIELDS)
    assert np.isfinite(block["sma_200"][3, -1])
    # the NaN-free symbols equal their own computation alone: no leak across symbols
    alone = indicators(close[3], n_per)
    for k in FIELDS:
        np.testing.assert_array_equal(block[k][3], alone[k])


def test_hand_values() -> None:
    x = np.arange(1.0, 61.0)  # 1 .. 60
    got = indicators(x, x.size)
    assert got["sma_20"][19] == pytest.approx(10.5)
    assert got["sma_50"][59] == pytest.approx(35.5)
    assert got["ema_12"][11] == pytest.approx(6.5)  # seed: mean of 1 .. 12
    assert got["ema_12"][12] == pytest.approx(2 / 13 * 13 + 11 / 13 * 6.5)
    # a linear trend: EMA_n lags by (n - 1) / 2, so MACD -> 12.5 - 5.5 = 7 and the signal too
    assert got["macd"][-1] == pytest.approx(7.0)
    assert got["macd_signal"][-1] == pytest.approx(7.0)
    assert np.all(got["rsi_14"][14:] == 100.0)  # only gains
    assert np.all(indicators(x[::-1].copy(), x.size)["rsi_14"][14:] == 0.0)  # only losses
    sd = np.std(np.arange(1.0, 21.0))  # ddof=0 (population), sqrt(399/12)
    assert sd == pytest.approx(np.sqrt(399 / 12))
    assert got["bb_upper"][19] == pytest.approx(10.5 + 2 * sd)
    assert got["bb_lower"][19] == pytest.approx(10.5 - 2 * sd)


def test_flat_prices() -> None:
    x = np.full(250, 42.0)
    got = indicators(x, 250)
    for k in ("sma_20", "sma_50", "sma_200", "ema_12", "ema_26", "bb_mid", "bb_upper", "bb_lower"):
        v = got[k][~np.isnan(got[k])]
        assert v.size, k
        np.testing.assert_allclose(v, 42.0, rtol=1e-14, err_msg=k)
    assert np.all(got["bb_upper"][19:] == got["bb_mid"][19:])  # sd exactly 0, never NaN from sqrt(<0)
    np.testing.assert_allclose(got["macd"][25:], 0.0, atol=1e-12)
    np.testing.assert_allclose(got["macd_hist"][33:], 0.0, atol=1e-12)
    assert np.all(got["rsi_14"][14:] == 50.0)  # no gain and no loss: neutral, not overbought


def test_causal() -> None:
    rng = np.random.default_rng(2)
    close = _walks(rng, 2, 300)
    base = indicators(close, 300)
    changed = close.copy()
    changed[150] *= 1.5
    after = indicators(changed, 300)
    for k in FIELDS:
        np.testing.assert_array_equal(after[k][:150], base[k][:150], err_msg=k)
        np.testing.assert_array_equal(after[k][300:], base[k][300:], err_msg=k)


def test_shapes_and_validation() -> None:
    got = indicators(np.empty(0), 10)
    assert all(v.shape == (0,) for v in got.values())
    short = indicators(np.array([1.0, 2.0, 3.0]), 3)
    assert all(np.all(np.isnan(v)) for v in short.values())
    with pytest.raises(ValueError):
        indicators(np.ones(10), 3)
    with pytest.raises(ValueError):
        indicators(np.ones(10), 0)
    with pytest.raises(ValueError):
        indicators(np.ones((2, 5)), 5)
