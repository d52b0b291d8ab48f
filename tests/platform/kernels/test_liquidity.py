"""Liquidity measures (tickflow.kernels.liquidity) against plain pandas/numpy references, and a
sanity check of the spreads on a simulated day."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from tickflow.kernels import flow
from tickflow.kernels.grouping import group_starts
from tickflow.kernels.liquidity import amihud, kyle_lambda, roll_spread, spreads
from tickflow.simulate.day import simulate_day

NS = 1_000_000_000
MIN = 60 * NS
OPEN = 1_700_000_000 * NS
BAR = 3 * MIN
N_BINS = 10
END = OPEN + N_BINS * BAR


def _ticks(seed: int = 21) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Symbol-major trades (with signs, some 0) and quotes on discrete prices; symbols without
    rows, ticks before the open and after the end, sparse symbols, trades at quote times."""
    rng = np.random.default_rng(seed)
    t_sizes = [0, 2, 60, 2500, 700, 5]
    q_sizes = [4, 0, 30, 2000, 500, 6]
    trades, quotes = [], []
    grid = np.arange(OPEN - 2 * MIN, END + 2 * MIN, NS // 10)
    for s, (nt, nq) in enumerate(zip(t_sizes, q_sizes, strict=True)):
        q_ts = np.sort(rng.choice(grid, nq, replace=False)).astype(np.int64)
        mid_ticks = 4000 + np.cumsum(rng.choice([-1, 0, 0, 1], nq))
        half = rng.choice([1, 1, 2, 3], nq)
        quotes.append(pd.DataFrame({"sym": s, "ts": q_ts, "bid": 0.01 * (mid_ticks - half),
                                    "ask": 0.01 * (mid_ticks + half)}))
        t_ts = rng.choice(grid, nt, replace=False)
        if nq and nt > 10:
            t_ts[:5] = rng.choice(q_ts, 5, replace=False)
            t_ts = np.unique(t_ts)
            nt = t_ts.size
        t_ts = np.sort(t_ts).astype(np.int64)
        px = 0.01 * (4000 + np.cumsum(rng.choice([-2, -1, 0, 0, 0, 1, 2], nt)))
        sign = rng.choice([-1.0, 0.0, 1.0, 1.0, -1.0], nt)
        trades.append(pd.DataFrame({"sym": s, "ts": t_ts, "price": px, "size": 1.0 + rng.integers(1, 500, nt),
                                    "sign": sign}))
    return pd.concat(trades, ignore_index=True), pd.concat(quotes, ignore_index=True), len(t_sizes)


def _st(df: pd.DataFrame, n: int) -> np.ndarray:
    return group_starts(df["sym"].to_numpy(), n)


def _session(tr: pd.DataFrame) -> pd.DataFrame:
    x = tr[(tr.ts >= OPEN) & (tr.ts < END)].copy()
    x["bin"] = (x.ts - OPEN) // BAR
    return x


def _grid(values: pd.Series, n: int) -> np.ndarray:
    out = np.full((n, N_BINS), np.nan)
    for (s, b), v in values.items():
        out[s, b] = v
    return out.ravel()


def _per_sym(values: pd.Series, n: int) -> np.ndarray:
    return values.reindex(range(n)).to_numpy(dtype=float)


# ----------------------------------------------------------------------------- Roll


def _ref_roll(p: pd.Series) -> float:
    dp = p.diff()
    if (dp.notna() & dp.shift(1).notna()).sum() < 2:
        return np.nan
    cov = dp.cov(dp.shift(1))
    scale = np.sqrt(dp.var() * dp.shift(1).var())  # |cov| within rounding of 0 counts as 0
    return 2 * np.sqrt(-cov) if cov < -1e-10 * scale else np.nan


def test_roll_matches_pandas() -> None:
    tr, _, n = _ticks()
    bar, day = roll_spread(tr.ts.to_numpy(), tr.price.to_numpy(), _st(tr, n), OPEN, BAR, N_BINS)
    x = _session(tr)
    np.testing.assert_allclose(bar, _grid(x.groupby(["sym", "bin"]).price.apply(_ref_roll), n), rtol=1e-9)
    np.testing.assert_allclose(day, _per_sym(x.groupby("sym").price.apply(_ref_roll), n), rtol=1e-9)
    assert np.isfinite(bar).sum() > 10 and np.isnan(bar).sum() > 10


def test_roll_recovers_bid_ask_bounce() -> None:
    """Constant efficient price, trades at bid/ask with independent sides: the Roll spread is
    the quoted spread."""
    rng = np.random.default_rng(0)
    m = 200_000
    price = 50.0 + 0.05 * rng.choice([-1.0, 1.0], m)  # spread 0.10
    ts = OPEN + np.arange(m, dtype=np.int64) * (N_BINS * BAR // m)
    bar, day = roll_spread(ts, price, np.array([0, m]), OPEN, BAR, N_BINS)
    assert day[0] == pytest.approx(0.10, rel=0.01)
    np.testing.assert_allclose(bar, 0.10, rtol=0.05)


# ----------------------------------------------------------------------------- Kyle


def _ols_slope(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2 or np.var(x) == 0:
        return np.nan
    coef, *_ = np.linalg.lstsq(np.column_stack([np.ones_like(x), x]), y, rcond=None)
    return float(coef[1])


def _prevailing_mid(qu: pd.DataFrame, sym: np.ndarray, ts: np.ndarray, exact: bool) -> np.ndarray:
    left = pd.DataFrame({"sym": sym, "ts": ts, "row": np.arange(ts.size)}).sort_values("ts", kind="stable")
    m = pd.merge_asof(left, qu.sort_values("ts", kind="stable"), on="ts", by="sym", allow_exact_matches=exact)
    m = m.sort_values("row")
    return ((m.bid + m.ask) / 2).to_numpy()


@pytest.mark.parametrize("interval", [MIN, BAR])
def test_kyle_lambda_matches_lstsq(interval: int) -> None:
    tr, qu, n = _ticks()
    bar, day = kyle_lambda(tr.ts.to_numpy(), tr.price.to_numpy(), tr["size"].to_numpy(), tr.sign.to_numpy(),
                           _st(tr, n), qu.ts.to_numpy(), qu.bid.to_numpy(), qu.ask.to_numpy(), _st(qu, n),
                           OPEN, BAR, N_BINS, interval_ns=interval)
    x = _session(tr)
    x["flow"] = x.sign * x["size"]
    ref_bar = x.groupby(["sym", "bin"]).apply(
        lambda g: _ols_slope(g.flow.to_numpy()[1:], np.diff(g.price.to_numpy())), include_groups=False)
    np.testing.assert_allclose(bar, _grid(ref_bar, n), rtol=1e-8, atol=1e-14)
    n_int = N_BINS * BAR // interval
    bounds = OPEN + np.arange(n_int + 1) * interval
    ref_day = np.full(n, np.nan)
    for s in range(n):
        mids = _prevailing_mid(qu, np.full(bounds.size, s), bounds, exact=False)
        r = np.diff(np.log(mids))
        xs = x[x.sym == s]
        flow_m = xs.groupby((xs.ts - OPEN) // interval).flow.sum().reindex(range(n_int), fill_value=0.0).to_numpy()
        ok = np.isfinite(r)
        ref_day[s] = _ols_slope(flow_m[ok], r[ok])
    np.testing.assert_allclose(day, ref_day, rtol=1e-8, atol=1e-16)
    assert np.isfinite(day).sum() >= 2 and np.isfinite(bar).sum() > 10


def test_kyle_lambda_recovers_linear_impact() -> None:
    rng = np.random.default_rng(1)
    m = 20_000
    ts = OPEN + np.sort(rng.choice(N_BINS * BAR, m, replace=False)).astype(np.int64)
    sign = rng.choice([-1.0, 1.0], m)
    size = rng.integers(1, 10, m) * 100.0
    price = 20.0 + np.cumsum(2e-6 * sign * size + rng.normal(0, 1e-4, m))  # lambda = 2e-6 $/share
    bar, _ = kyle_lambda(ts, price, size, sign, np.array([0, m]), ts[:1], price[:1], price[:1], np.array([0, 1]),
                         OPEN, BAR, N_BINS)
    np.testing.assert_allclose(bar, 2e-6, rtol=0.05)


# ----------------------------------------------------------------------------- Amihud


def test_amihud_matches_pandas() -> None:
    tr, _, n = _ticks()
    bar, day = amihud(tr.ts.to_numpy(), tr.price.to_numpy(), tr["size"].to_numpy(), _st(tr, n), OPEN, BAR, N_BINS)
    x = _session(tr)
    x["dv"] = x.price * x["size"]
    g = x.groupby(["sym", "bin"]).agg(first=("price", "first"), close=("price", "last"), dv=("dv", "sum"))
    ref_p = g.close.groupby(level="sym").shift(1).fillna(g["first"])
    illiq = (np.log(g.close / ref_p).abs() / g.dv).where(g.dv > 0)
    np.testing.assert_allclose(bar, _grid(illiq, n), rtol=1e-12)
    np.testing.assert_allclose(day, _per_sym(illiq.groupby(level="sym").mean(), n), rtol=1e-12)
    assert np.isnan(bar).sum() > 10


# ----------------------------------------------------------------------------- spreads


def test_spreads_match_pandas() -> None:
    tr, qu, n = _ticks()
    delay = 2 * MIN
    out = spreads(tr.ts.to_numpy(), tr.price.to_numpy(), tr["size"].to_numpy(), tr.sign.to_numpy(), _st(tr, n),
                  qu.ts.to_numpy(), qu.bid.to_numpy(), qu.ask.to_numpy(), _st(qu, n), OPEN, BAR, N_BINS,
                  delay_ns=delay)
    sym, ts = tr.sym.to_numpy(), tr.ts.to_numpy()
    m0 = _prevailing_mid(qu, sym, ts, exact=True)
    m1 = _prevailing_mid(qu, sym, ts + delay, exact=True)
    q, p = tr.sign.to_numpy(), tr.price.to_numpy()
    defined = (q != 0) & ~np.isnan(m0)
    late = defined & (ts + delay < END)
    ref = {"effective": np.where(defined, 2 * q * (p - m0) / m0, np.nan),
           "realized": np.where(late, 2 * q * (p - m1) / m0, np.nan),
           "impact": np.where(late, 2 * q * (m1 - m0) / m0, np.nan)}
    for key, r in ref.items():
        np.testing.assert_allclose(out[key], r, rtol=1e-12, atol=1e-15)
        x = _session(tr.assign(v=r)).dropna(subset=["v"])
        x["wv"] = x.v * x["size"]
        gb = x.groupby(["sym", "bin"])
        np.testing.assert_allclose(out[f"{key}_bar"], _grid(gb.wv.sum() / gb["size"].sum(), n), rtol=1e-10)
        gd = x.groupby("sym")
        np.testing.assert_allclose(out[f"{key}_day"], _per_sym(gd.wv.sum() / gd["size"].sum(), n), rtol=1e-10)
    assert np.isnan(out["realized"][(ts >= OPEN) & (ts < END) & defined]).any()  # past the session end
    np.testing.assert_allclose(out["effective"] - out["realized"], out["impact"], atol=1e-12)


def test_spreads_on_simulated_day() -> None:
    """Lee-Ready signs on a simulated day: the effective spread is positive and close to the
    relative quoted spread (75 % of trades print at the touch, where they are equal; the rest
    inside the spread), and the 5-minute price impact is positive on average (order flow moves
    the efficient price). Measured effective / quoted (size-weighted, per symbol): this day
    0.83-0.95; 20 symbols of 2024-03-05 (seed 3) 0.83-0.97."""
    d = simulate_day(dt.date(2024, 6, 21), n_symbols=6, seed=5, trades_per_symbol=6000, quotes_per_symbol=12000)
    t, qd, n = d.trades, d.quotes, len(d.symbols)
    st, qs = group_starts(t["sym_idx"], n), group_starts(qd["sym_idx"], n)
    b, a = flow.prevailing_quote(t["ts_ns"], st, qd["ts_ns"], qd["bid_price"], qd["ask_price"], qs)
    sign = flow.lee_ready(t["price"], b, a, flow.tick_rule(t["price"], st))
    out = spreads(t["ts_ns"], t["price"], t["size"], sign, st, qd["ts_ns"], qd["bid_price"], qd["ask_price"], qs,
                  d.open_ns, 15 * MIN, 26)
    quoted = (a - b) / ((a + b) / 2)
    quoted_day = np.array([np.average(quoted[st[s]:st[s + 1]], weights=t["size"][st[s]:st[s + 1]]) for s in range(n)])
    ratio = out["effective_day"] / quoted_day
    print("effective / quoted per symbol", np.round(ratio, 3))
    assert (out["effective_day"] > 0).all()
    assert ((ratio > 0.7) & (ratio < 1.0)).all()
    assert np.nanmean(out["effective"]) > 0
    assert np.nansum(out["impact"] * t["size"]) > 0
    eb = out["effective_bar"].reshape(n, 26)
    assert np.isfinite(eb).all() and (np.nanmean(eb, axis=1) > 0).all()
