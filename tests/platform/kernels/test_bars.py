"""Time bars (tickflow.kernels.bars) against pandas resample and an explicit-interval
reference for the quote statistics."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from tickflow.kernels.bars import MINUTE_NS, aggregate_bars, minute_bars, quote_bar_stats
from tickflow.kernels.grouping import group_starts
from tickflow.simulate.day import simulate_day

NS = 1_000_000_000
TRADE_KEYS = ["open", "high", "low", "close", "volume", "vwap", "dollar_volume", "trades"]


def pandas_bars(ts: np.ndarray, sym: np.ndarray, price: np.ndarray, size: np.ndarray, n_sym: int,
                open_ns: int, n_min: int, k: int, seed: np.ndarray) -> dict[str, np.ndarray]:
    """k-minute bars by pandas groupby('sym').resample(origin=open), empty bars forward-filled."""
    end = open_ns + n_min * MINUTE_NS
    keep = (ts >= open_ns) & (ts < end)
    df = pd.DataFrame({"ts": pd.to_datetime(ts[keep]), "sym": sym[keep], "price": price[keep],
                       "size": size[keep], "pv": price[keep] * size[keep]})
    origin = pd.Timestamp(open_ns)
    r = df.set_index("ts").groupby("sym")[["price", "size", "pv"]].resample(f"{k}min", origin=origin)
    agg = r.agg(open=("price", "first"), high=("price", "max"), low=("price", "min"), close=("price", "last"),
                volume=("size", "sum"), dollar_volume=("pv", "sum"), trades=("price", "count"))
    grid = pd.date_range(origin, periods=n_min // k, freq=f"{k}min")
    full = agg.reindex(pd.MultiIndex.from_product([range(n_sym), grid]))
    sym_of_row = np.repeat(np.arange(n_sym), n_min // k)
    close = full["close"].groupby(level=0).ffill().to_numpy()
    close = np.where(np.isnan(close), seed[sym_of_row], close)
    trades = full["trades"].fillna(0).to_numpy().astype(np.int64)
    empty = trades == 0
    out = {c: np.where(empty, close, full[c].to_numpy()) for c in ("open", "high", "low")}
    out["close"] = close
    out["volume"] = full["volume"].fillna(0.0).to_numpy()
    out["dollar_volume"] = full["dollar_volume"].fillna(0.0).to_numpy()
    out["trades"] = trades
    with np.errstate(invalid="ignore", divide="ignore"):
        out["vwap"] = np.where(out["volume"] > 0, out["dollar_volume"] / out["volume"], close)
    return out


def quote_reference(ts: np.ndarray, bid: np.ndarray, ask: np.ndarray, starts: np.ndarray, open_ns: int,
                    n_min: int, k: int = 1) -> dict[str, np.ndarray]:
    """Quote stats on k-minute bars from explicit constant-quote intervals."""
    step = k * MINUTE_NS
    twap, mid, cnt = [], [], []
    for s in range(len(starts) - 1):
        t = ts[starts[s]:starts[s + 1]]
        sp = ask[starts[s]:starts[s + 1]] - bid[starts[s]:starts[s + 1]]
        md = 0.5 * (ask[starts[s]:starts[s + 1]] + bid[starts[s]:starts[s + 1]])
        for m in range(n_min // k):
            b0, b1 = open_ns + m * step, open_ns + (m + 1) * step
            inside = np.flatnonzero((t > b0) & (t < b1))
            edges = np.concatenate(([b0], t[inside], [b1]))
            prev = np.searchsorted(t, edges[:-1], side="right") - 1  # quote prevailing on each piece
            length = np.diff(edges).astype(np.float64)
            ok = prev >= 0
            w = length[ok].sum()
            twap.append((sp[prev[ok]] * length[ok]).sum() / w if w > 0 else np.nan)
            last = np.searchsorted(t, b1, side="left") - 1
            mid.append(md[last] if last >= 0 else np.nan)
            cnt.append(np.searchsorted(t, b1, side="left") - np.searchsorted(t, b0, side="left"))
    return {"twap_spread": np.array(twap), "close_mid": np.array(mid), "quotes": np.array(cnt, dtype=np.int64)}


def assert_bars_equal(got: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> None:
    for key, want in ref.items():
        assert got[key].shape == want.shape, key
        if key in ("trades", "quotes"):
            np.testing.assert_array_equal(got[key], want, err_msg=key)
        else:
            np.testing.assert_allclose(got[key], want, rtol=1e-12, atol=0, equal_nan=True, err_msg=key)


@pytest.fixture(scope="module")
def day() -> tuple:
    d = simulate_day(dt.date(2024, 6, 21), n_symbols=5, seed=7, trades_per_symbol=5000, quotes_per_symbol=5000)
    return d, group_starts(d.trades["sym_idx"], 5), group_starts(d.quotes["sym_idx"], 5)


@pytest.mark.parametrize("n_min", [390, 210])
def test_simulated_day_matches_pandas_resample(day: tuple, n_min: int) -> None:
    d, st, qst = day
    t = d.trades
    seed = np.array([100.0, np.nan, 50.0, 20.0, np.nan])
    one = minute_bars(t["ts_ns"], t["price"], t["size"], st, d.open_ns, n_min, seed)
    assert all(one[k].shape == (5 * n_min,) for k in TRADE_KEYS)
    assert one["trades"].dtype == np.int64
    assert one["trades"].sum() == np.sum(t["ts_ns"] < d.open_ns + n_min * MINUTE_NS)
    for k in (1, 5, 15):
        got = one if k == 1 else aggregate_bars(one, 5, k)
        ref = pandas_bars(t["ts_ns"], t["sym_idx"], t["price"], t["size"], 5, d.open_ns, n_min, k, seed)
        assert_bars_equal(got, ref)


def test_simulated_quotes_match_interval_reference(day: tuple) -> None:
    d, st, qst = day
    q = d.quotes
    one = quote_bar_stats(q["ts_ns"], q["bid_price"], q["ask_price"], qst, d.open_ns, 390)
    assert_bars_equal(one, quote_reference(q["ts_ns"], q["bid_price"], q["ask_price"], qst, d.open_ns, 390))
    # the simulator quotes at 09:30:00, so a quote prevails everywhere and aggregation is exact
    for k in (5, 15):
        ref = quote_reference(q["ts_ns"], q["bid_price"], q["ask_price"], qst, d.open_ns, 390, k)
        assert_bars_equal(aggregate_bars(one, 5, k), ref)


def _handcrafted() -> tuple[np.ndarray, ...]:
    o = 1_718_976_600 * NS  # 2024-06-21 13:30 UTC
    m = MINUTE_NS
    rows = [
        # symbol 0: pre-market prints (ignored, not carried), gaps, a print on a boundary, the
        # last nanosecond of the session, the close instant and after-hours (ignored)
        (0, o - 5 * NS, 99.0, 100), (0, o - 1, 98.0, 100),
        (0, o, 10.0, 100), (0, o + 10 * NS, 11.0, 50), (0, o + 59 * NS, 9.5, 10),
        (0, o + 3 * m, 12.0, 200),  # minute 3 starts here; minutes 1-2 are empty
        (0, o + 3 * m + 1, 12.5, 0),  # zero-size print
        (0, o + 7 * m + 30 * NS, 13.0, 300),
        (0, o + 15 * m - 1, 14.0, 100), (0, o + 15 * m, 50.0, 100), (0, o + 20 * m, 60.0, 100),
        # symbol 1: no trades at all (seed 50); symbol 2: none either, seed unknown
        # symbol 3: first trade in minute 6 (seed 11 carried before)
        (3, o + 6 * m + 5 * NS, 10.5, 100), (3, o + 6 * m + 6 * NS, 10.25, 300), (3, o + 9 * m, 10.75, 100),
        # symbol 4: only a pre-market trade (seed 7)
        (4, o - m, 8.0, 100),
    ]
    sym = np.array([r[0] for r in rows], dtype=np.int64)
    ts = np.array([r[1] for r in rows], dtype=np.int64)
    price = np.array([r[2] for r in rows])
    size = np.array([r[3] for r in rows], dtype=np.float64)
    seed = np.array([5.0, 50.0, np.nan, 11.0, 7.0])  # 11 > the later highs of symbol 3
    return o, sym, ts, price, size, seed


@pytest.mark.parametrize("k", [1, 5, 15])
def test_handcrafted_matches_pandas(k: int) -> None:
    o, sym, ts, price, size, seed = _handcrafted()
    one = minute_bars(ts, price, size, group_starts(sym, 5), o, 15, seed)
    got = one if k == 1 else aggregate_bars(one, 5, k)
    assert_bars_equal(got, pandas_bars(ts, sym, price, size, 5, o, 15, k, seed))


def test_handcrafted_values() -> None:
    o, sym, ts, price, size, seed = _handcrafted()
    b = {k: v.reshape(5, 15) for k, v in minute_bars(ts, price, size, group_starts(sym, 5), o, 15, seed).items()}
    np.testing.assert_array_equal(b["open"][0, :4], [10.0, 9.5, 9.5, 12.0])  # 1-2 carry 9.5
    np.testing.assert_array_equal([b["high"][0, 0], b["low"][0, 0], b["close"][0, 0]], [11.0, 9.5, 9.5])
    np.testing.assert_allclose(b["vwap"][0, 0], (1000 + 550 + 95) / 160)
    np.testing.assert_array_equal(b["trades"][0], [3, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(b["close"][0, 3:7], [12.5, 12.5, 12.5, 12.5])
    np.testing.assert_allclose(b["vwap"][0, 3], 12.0)  # the zero-size print adds no weight
    assert b["close"][0, 14] == 14.0 and b["volume"][0].sum() == 760
    for key in ("open", "high", "low", "close", "vwap"):
        np.testing.assert_array_equal(b[key][1], 50.0)
        assert np.all(np.isnan(b[key][2]))
        np.testing.assert_array_equal(b[key][3, :6], 11.0)
        np.testing.assert_array_equal(b[key][4], 7.0)
    np.testing.assert_array_equal(b["volume"][1:3], 0.0)
    five = aggregate_bars({k: v.ravel() for k, v in b.items()}, 5, 5)
    assert five["open"][3 * 3 + 1] == 10.5  # first trade of the bar, not the carried seed
    assert five["low"][3 * 3 + 1] == 10.25 and five["high"][3 * 3 + 1] == 10.75
    assert five["open"][3 * 3] == 11.0 and five["trades"][3 * 3] == 0


def test_handcrafted_quotes() -> None:
    o, m = 1_718_976_600 * NS, MINUTE_NS
    rows = [
        (0, o - 30 * NS, 9.99, 10.01), (0, o + 20 * NS, 9.98, 10.02), (0, o + 2 * m, 10.0, 10.01),
        (0, o + 4 * m, 10.0, 10.05), (0, o + 5 * m + 1, 1.0, 2.0),  # after the close: ignored
        # symbol 1: no quotes; symbol 2: first quote at 2:30, another at 2:45
        (2, o + 2 * m + 30 * NS, 5.0, 5.02), (2, o + 2 * m + 45 * NS, 5.0, 5.04),
        (3, o, 7.0, 7.1),  # a quote exactly at the open counts in minute 0
    ]
    sym = np.array([r[0] for r in rows])
    ts = np.array([r[1] for r in rows], dtype=np.int64)
    bid = np.array([r[2] for r in rows])
    ask = np.array([r[3] for r in rows])
    st = group_starts(sym, 4)
    got = quote_bar_stats(ts, bid, ask, st, o, 5)
    assert_bars_equal(got, quote_reference(ts, bid, ask, st, o, 5))
    tw = got["twap_spread"].reshape(4, 5)
    np.testing.assert_allclose(tw[0], [(0.02 * 20 + 0.04 * 40) / 60, 0.04, 0.01, 0.01, 0.05], rtol=1e-12)
    assert np.all(np.isnan(tw[1]))
    np.testing.assert_allclose(tw[2], [np.nan, np.nan, 0.03, 0.04, 0.04], rtol=1e-12)
    np.testing.assert_array_equal(got["quotes"].reshape(4, 5), [[1, 0, 1, 0, 1], [0] * 5, [0, 0, 2, 0, 0],
                                                                 [1, 0, 0, 0, 0]])
    np.testing.assert_allclose(got["close_mid"].reshape(4, 5)[2], [np.nan, np.nan, 5.02, 5.02, 5.02])
    np.testing.assert_allclose(got["close_mid"].reshape(4, 5)[0], [10.0, 10.0, 10.005, 10.005, 10.025])


def test_aggregate_rejects_bad_factor_and_columns() -> None:
    o, sym, ts, price, size, seed = _handcrafted()
    one = minute_bars(ts, price, size, group_starts(sym, 5), o, 15, seed)
    with pytest.raises(ValueError, match="divisible"):
        aggregate_bars(one, 5, 4)
    with pytest.raises(ValueError):
        aggregate_bars(one, 5, 0)
    with pytest.raises(ValueError):
        aggregate_bars({**one, "sym": np.zeros(75)}, 5, 5)
    with pytest.raises(ValueError):
        minute_bars(ts, price, size, group_starts(sym, 5), o, 15, seed[:3])
    with pytest.raises(ValueError):
        minute_bars(ts, price[:-1], size, group_starts(sym, 5), o, 15, seed)
