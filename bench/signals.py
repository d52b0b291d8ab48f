"""Signals benchmark: our numba kernels against the dataframe engines people reach for, on
the same in-memory arrays, in one process.

Sections (one function each; ``main()`` prints the table and a last line
``RESULT signals bars_vs_best_peer=<x> suite_vs_pandas=<x> garch_vs_arch=<x>``):

- bars: 1-, 5- and 15-minute OHLCV/VWAP/count bars over one 6.5 h session of synthetic
  trades (``--trades`` over ``--symbols``, symbol-major): ours (``minute_bars`` incl. the
  ``group_starts`` of the symbol column, then ``aggregate_bars`` to 5 and 15 minutes) vs
  Polars ``group_by_dynamic``, DuckDB (integer time buckets), pandas ``groupby().resample()``,
  and a single numpy pass over the same columns (``ts.sum(); price.sum(); size.sum()``) as the
  memory-bandwidth floor. Every figure is the best of 3 runs after a warm-up. The peers get
  their frames prebuilt and emit only non-empty bars; ours emits every minute (carried
  prices). ``bars_vs_best_peer`` = the fastest peer's time for the three intervals together /
  ours (> 1: ours is faster).
- suite: the whole per-trade signal suite, :func:`tickflow.derive.signals.trade_suite` (returns,
  standardized return, Lee-Mykland, rolling BNS z, intensity z, prevailing quote, tick rule,
  Lee-Ready, diurnal factor, ACD(1,1) fits and psi, jump flag, BUY/SELL/HOLD) on one synthetic
  session (``--suite-trades`` over ``--symbols``, two quotes a trade; :func:`synthetic_day`), best
  of 3 after a warm-up, vs :func:`pandas_suite`, the same definitions written the
  straightforward pandas way (groupby + shift/rolling, time-based ``rolling("60s")`` /
  ``rolling("1800s", closed="left")``, ``merge_asof``, per-symbol SciPy SLSQP of the ACD
  likelihood with ``psi`` by ``lfilter``), timed once (with its stages). Untimed, the two are
  compared column by column. ``suite_vs_pandas`` = pandas time / ours.
- garch: ``--garch-fits`` simulated GARCH(1,1) series of 23,400 percent returns: ours one
  series at a time (``fit_garch11``) and all at once (``fit_garch11_grouped``), best of 3, vs
  ``arch.arch_model(..., mean="Zero", vol="GARCH", dist="normal", rescale=False).fit()`` per
  series, once; with the log-likelihood and parameter differences. ``garch_vs_arch`` = arch time
  / ours one at a time (the grouped ratio is printed too).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
from arch import arch_model
from scipy.optimize import minimize
from scipy.signal import lfilter

from tickflow.derive.signals import SignalParams, trade_suite
from tickflow.kernels.bars import MINUTE_NS, aggregate_bars, minute_bars
from tickflow.kernels.garch import fit_garch11, fit_garch11_grouped
from tickflow.kernels.grouping import group_starts
from tickflow.store.day_ticks import DayTicks, from_columns

OPEN_NS = 1_718_976_600 * 1_000_000_000  # 2024-06-21 09:30 New York
N_MINUTES = 390
INTERVALS = (1, 5, 15)


def best_of(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Best wall time of ``repeat`` calls after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def synthetic_trades(n_trades: int, n_symbols: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Symbol-major trades of one session: sorted uniform times per symbol, random-walk
    prices in cents, round/odd lot sizes."""
    rng = np.random.default_rng(seed)
    sym = np.sort(rng.integers(0, n_symbols, n_trades)).astype(np.int32)
    offset = rng.integers(0, N_MINUTES * MINUTE_NS, n_trades)
    key = np.sort(sym.astype(np.int64) * (1 << 46) + offset)  # time order within each symbol
    ts = OPEN_NS + (key & ((1 << 46) - 1))
    starts = group_starts(sym, n_symbols)
    steps = rng.standard_normal(n_trades) * 2e-4
    walk = np.cumsum(steps)
    first = np.minimum(starts[:-1], max(n_trades - 1, 0))
    walk -= np.repeat(walk[first] - steps[first], np.diff(starts))  # restart per symbol
    base = np.exp(rng.normal(np.log(100.0), 0.6, n_symbols))
    price = np.round(np.repeat(base, np.diff(starts)) * np.exp(walk), 2)
    lots = np.maximum(1.0, np.rint(np.exp(0.8 * rng.standard_normal(n_trades))))
    size = np.where(rng.random(n_trades) < 0.2, rng.integers(1, 100, n_trades), 100.0 * lots).astype(np.float64)
    return {"sym": sym, "ts_ns": ts, "price": price, "size": size}


def _ours(t: dict[str, np.ndarray], n_symbols: int, intervals: tuple[int, ...]) -> None:
    starts = group_starts(t["sym"], n_symbols)
    one = minute_bars(t["ts_ns"], t["price"], t["size"], starts, OPEN_NS, N_MINUTES)
    for k in intervals:
        if k != 1:
            aggregate_bars(one, n_symbols, k)


def _polars(df: pl.DataFrame, k: int) -> pl.DataFrame:
    return (
        df.group_by_dynamic("ts", every=f"{k}m", group_by="sym", closed="left", label="left")
        .agg(
            pl.col("price").first().alias("open"),
            pl.col("price").max().alias("high"),
            pl.col("price").min().alias("low"),
            pl.col("price").last().alias("close"),
            pl.col("size").sum().alias("volume"),
            ((pl.col("price") * pl.col("size")).sum() / pl.col("size").sum()).alias("vwap"),
            pl.len().alias("trades"),
        )
    )


def _duckdb(con: duckdb.DuckDBPyConnection, k: int) -> dict[str, np.ndarray]:
    step = k * MINUTE_NS
    end = OPEN_NS + N_MINUTES * MINUTE_NS
    return con.execute(
        f"SELECT sym, (ts - {OPEN_NS}) // {step} AS bucket, arg_min(price, ts) AS open, max(price) AS high, "  # noqa: S608
        f"min(price) AS low, arg_max(price, ts) AS close, sum(size) AS volume, "
        f"sum(price * size) / sum(size) AS vwap, count(*) AS trades "
        f"FROM trades WHERE ts >= {OPEN_NS} AND ts < {end} GROUP BY sym, bucket"
    ).fetchnumpy()


def _pandas(df: pd.DataFrame, k: int) -> pd.DataFrame:
    out = df.groupby("sym")[["price", "size", "pv"]].resample(f"{k}min").agg(
        open=("price", "first"), high=("price", "max"), low=("price", "min"), close=("price", "last"),
        volume=("size", "sum"), dollar_volume=("pv", "sum"), trades=("price", "count"))
    out["vwap"] = out["dollar_volume"] / out["volume"]
    return out


def _check_peers(t: dict[str, np.ndarray], n_symbols: int, polars_1m: pl.DataFrame,
                 duck_1m: dict[str, np.ndarray], pandas_1m: pd.DataFrame) -> None:
    """Untimed: every engine's non-empty 1-minute bars equal ours."""
    ours = minute_bars(t["ts_ns"], t["price"], t["size"], group_starts(t["sym"], n_symbols), OPEN_NS, N_MINUTES)
    full = ours["trades"] > 0
    p = polars_1m.sort("sym", "ts")
    order = np.lexsort((duck_1m["bucket"], duck_1m["sym"]))
    d = {k: np.asarray(v)[order] for k, v in duck_1m.items()}
    q = pandas_1m[pandas_1m["trades"] > 0]
    for key in ("open", "high", "low", "close", "volume", "vwap", "trades"):
        want = ours[key][full]
        np.testing.assert_allclose(p[key].to_numpy(), want, rtol=1e-9, err_msg=f"polars {key}")
        np.testing.assert_allclose(d[key], want, rtol=1e-9, err_msg=f"duckdb {key}")
        np.testing.assert_allclose(q[key].to_numpy(), want, rtol=1e-9, err_msg=f"pandas {key}")


def bench_bars(n_trades: int = 10_000_000, n_symbols: int = 100) -> dict[str, Any]:
    """Time 1/5/15-minute bars: ours vs Polars, DuckDB, pandas and the numpy floor.

    Returns the seconds per (engine, interval) under ``times`` (``all`` = the three intervals
    together), ``numpy_floor`` and ``bars_vs_best_peer``."""
    t = synthetic_trades(n_trades, n_symbols)
    ts, price, size = t["ts_ns"], t["price"], t["size"]
    times: dict[str, dict[Any, float]] = {}

    def floor() -> None:
        ts.sum()
        price.sum()
        size.sum()

    numpy_floor = best_of(floor)

    ours: dict[Any, float] = {k: best_of(partial(_ours, t, n_symbols, (1,) if k == 1 else (1, k))) for k in INTERVALS}
    ours["all"] = best_of(lambda: _ours(t, n_symbols, INTERVALS))
    times["ours"] = ours
    starts_s = best_of(lambda: group_starts(t["sym"], n_symbols))
    starts = group_starts(t["sym"], n_symbols)
    kernel_s = best_of(lambda: minute_bars(ts, price, size, starts, OPEN_NS, N_MINUTES))

    pldf = pl.DataFrame({"sym": t["sym"], "ts": pl.Series(ts).cast(pl.Datetime("ns")), "price": price, "size": size})
    times["polars"] = {k: best_of(partial(_polars, pldf, k)) for k in INTERVALS}

    con = duckdb.connect()
    con.register("trades", pa.table({"sym": t["sym"], "ts": ts, "price": price, "size": size}))
    times["duckdb"] = {k: best_of(partial(_duckdb, con, k)) for k in INTERVALS}
    duck_1m = _duckdb(con, 1)
    con.close()

    pddf = pd.DataFrame({"sym": t["sym"], "price": price, "size": size, "pv": price * size},
                        index=pd.DatetimeIndex(ts.view("datetime64[ns]"), name="ts"))
    times["pandas"] = {k: best_of(partial(_pandas, pddf, k)) for k in INTERVALS}

    _check_peers(t, n_symbols, _polars(pldf, 1), duck_1m, _pandas(pddf, 1))
    for name in ("polars", "duckdb", "pandas"):
        times[name]["all"] = sum(times[name][k] for k in INTERVALS)
    peers = ("polars", "duckdb", "pandas")
    best_all = min(times[p]["all"] for p in peers)
    best_1m = min(times[p][1] for p in peers)
    return {
        "n_trades": n_trades,
        "n_symbols": n_symbols,
        "times": times,
        "numpy_floor": numpy_floor,
        "group_starts": starts_s,
        "kernel_1m": kernel_s,
        "ours_1m_vs_best_peer": best_1m / ours[1],
        "bars_vs_best_peer": best_all / ours["all"],
        "ours_1m_over_floor": ours[1] / numpy_floor,
    }


def print_bars(res: dict[str, Any]) -> None:
    times = res["times"]
    ours = times["ours"]
    print(f"\n== bars: {res['n_trades']:,} trades, {res['n_symbols']} symbols, {N_MINUTES} minutes "
          "(seconds, best of 3 after a warm-up)")
    print(f"{'engine':<10}{'1m':>10}{'5m':>10}{'15m':>10}{'1+5+15':>10}{'1m: /ours':>11}{'all: /ours':>11}")
    for name, row in times.items():
        print(f"{name:<10}" + "".join(f"{row[k]:>10.4f}" for k in (*INTERVALS, "all"))
              + f"{row[1] / ours[1]:>10.2f}x{row['all'] / ours['all']:>10.2f}x")
    print(f"{'numpy pass':<10}{res['numpy_floor']:>10.4f}   (ts.sum(); price.sum(); size.sum())")
    print(f"ours 5m/15m include the 1-minute pass; ours includes group_starts ({res['group_starts']:.4f} s); "
          f"minute_bars alone (starts given) {res['kernel_1m']:.4f} s = {res['kernel_1m'] / res['numpy_floor']:.2f}x floor")
    print(f"ours 1m / numpy floor = {res['ours_1m_over_floor']:.2f}x; "
          f"best peer / ours: 1m {res['ours_1m_vs_best_peer']:.2f}x, 1+5+15 {res['bars_vs_best_peer']:.2f}x")


# ----------------------------------------------------------------------------- signal suite

DAY = dt.date(2024, 6, 21)
SESSION_S = N_MINUTES * 60
_S = 1_000_000_000
MU1 = math.sqrt(2.0 / math.pi)
MU43 = 2.0 ** (2.0 / 3.0) * math.gamma(7.0 / 6.0) / math.gamma(0.5)
THETA = math.pi**2 / 4.0 + math.pi - 5.0


def _u_shape_clock(u: np.ndarray, c: float = 2.0) -> np.ndarray:
    """Session fraction in clock time for a fraction ``u`` of the day's activity, with a
    U-shaped intensity ``1 + c (2s - 1)^2`` (busy open and close, quiet lunch)."""
    grid = np.linspace(0.0, 1.0, 4097)
    cum = (grid + c * ((2.0 * grid - 1.0) ** 3 + 1.0) / 6.0) / (1.0 + c / 3.0)
    return np.interp(u, cum, grid)


def _per_group_cumsum(x: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative sums restarted at every group, and each group's total."""
    cs = np.concatenate([[0.0], np.cumsum(x)])
    before = cs[starts[:-1]]
    return cs[1:] - np.repeat(before, np.diff(starts)), cs[starts[1:]] - before


def synthetic_day(n_trades: int, n_symbols: int, quotes_per_trade: int = 2, seed: int = 1) -> DayTicks:
    """One regular session (2024-06-21 09:30-16:00 New York) of trades and quotes, vectorised.

    Per symbol (lognormal activity weights): trade durations clustered in business time
    (``exp(h) * Exp(1)``, ``h_i = 0.95 h_{i-1} + 0.1 eta_i``: a stochastic conditional duration
    model, to which an ACD(1,1) fits ``alpha ~ 0.06, beta ~ 0.9``) mapped
    onto a U-shaped intraday clock; ``quotes_per_trade`` times as many quotes at uniform
    business times; a log-mid random walk over the quotes (1-3 %/day, three jumps of
    0.4-1 % a symbol); bid = the cent below the mid, ask 1-3 cents above; each trade at the
    ask (45 %), the bid (45 %) or a cent grid point inside the prevailing quote (the symbol's
    first quote for the few trades before it)."""
    rng = np.random.default_rng(seed)
    w = np.exp(rng.normal(0.0, 0.5, n_symbols))
    t_cnt = rng.multinomial(n_trades, w / w.sum()).astype(np.int64)
    t_starts = np.concatenate([[0], np.cumsum(t_cnt)])
    t_sym = np.repeat(np.arange(n_symbols), t_cnt)
    h = lfilter([0.1], [1.0, -0.95], rng.standard_normal(n_trades))
    dur = np.exp(h) * rng.exponential(1.0, n_trades)
    cum, tot = _per_group_cumsum(dur, t_starts)
    frac = cum / np.repeat(tot * (1.0 + 1e-6) + 1e-9, t_cnt)
    t_ts = OPEN_NS + (_u_shape_clock(frac) * SESSION_S * _S).astype(np.int64)

    q_cnt = quotes_per_trade * t_cnt
    q_starts = np.concatenate([[0], np.cumsum(q_cnt)])
    nq = int(q_starts[-1])
    q_sym = np.repeat(np.arange(n_symbols), q_cnt)
    u = np.sort(q_sym + rng.random(nq) * (1.0 - 1e-9)) - q_sym  # sorted uniforms per symbol
    q_ts = OPEN_NS + (_u_shape_clock(u) * SESSION_S * _S).astype(np.int64)
    day_vol = rng.uniform(0.01, 0.03, n_symbols)
    steps = rng.standard_normal(nq) * np.repeat(day_vol / np.sqrt(np.maximum(q_cnt, 1)), q_cnt)
    if nq:
        jumps = rng.integers(0, nq, 3 * n_symbols)
        steps[jumps] += rng.choice([-1.0, 1.0], jumps.size) * rng.uniform(0.004, 0.01, jumps.size)
    walk, _ = _per_group_cumsum(steps, q_starts)
    mid_c = np.repeat(np.exp(rng.normal(np.log(100.0), 0.6, n_symbols)) * 100.0, q_cnt) * np.exp(walk)
    bid_c = np.floor(mid_c)
    spread_c = rng.choice([1.0, 2.0, 3.0], nq, p=[0.6, 0.3, 0.1])
    ask_c = bid_c + spread_c

    # prevailing quote of each trade: last quote of the symbol with q_ts <= t_ts
    j = np.searchsorted(q_sym * (1 << 46) + (q_ts - OPEN_NS), t_sym * (1 << 46) + (t_ts - OPEN_NS), "right") - 1
    j = np.maximum(j, q_starts[:-1][t_sym])
    side = rng.random(n_trades)
    inside = bid_c[j] + np.floor(rng.random(n_trades) * (spread_c[j] + 1.0))
    price_c = np.where(side < 0.45, ask_c[j], np.where(side < 0.9, bid_c[j], inside))
    lots = np.maximum(1.0, np.rint(np.exp(0.8 * rng.standard_normal(n_trades))))
    size = np.where(rng.random(n_trades) < 0.2, rng.integers(1, 100, n_trades), 100.0 * lots).astype(np.float64)
    trades = {"sym": t_sym, "ts_ns": t_ts, "price": price_c / 100.0, "size": size}
    quotes = {"sym": q_sym, "ts_ns": q_ts, "bid": bid_c / 100.0, "bid_size": 100.0 * rng.integers(1, 30, nq),
              "ask": ask_c / 100.0, "ask_size": 100.0 * rng.integers(1, 30, nq)}
    return from_columns(DAY, [f"S{i:03d}" for i in range(n_symbols)], trades, quotes)


def _pandas_frames(ticks: DayTicks) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ticks as the pandas user would hold them (untimed): symbol-major, ``ts`` datetime."""
    def frame(cols: dict[str, np.ndarray], starts: np.ndarray, names: tuple[str, ...]) -> pd.DataFrame:
        out = {"sym": np.repeat(np.arange(ticks.n_symbols), np.diff(starts)),
               "ts": cols["ts_ns"].view("datetime64[ns]")}
        out.update({k: cols[k] for k in names})
        return pd.DataFrame(out)

    return (frame(ticks.trades, ticks.trade_starts, ("price", "size")),
            frame(ticks.quotes, ticks.quote_starts, ("bid", "ask")))


def _acd_negll(theta: np.ndarray, x: np.ndarray, psi0: float) -> float:
    """Mean negative exponential QML log-likelihood of an ACD(1,1); psi by a linear filter:
    ``psi_t - beta psi_{t-1} = omega + alpha x_{t-1}``, ``psi_0 = mean(x)``."""
    psi = _acd_psi(theta, x, psi0)
    if not np.all(psi > 0):
        return 1e10
    return float(np.mean(np.log(psi) + x / psi))


def _acd_psi(theta: np.ndarray, x: np.ndarray, psi0: float) -> np.ndarray:
    omega, alpha, beta = theta
    psi = np.empty_like(x)
    psi[0] = psi0
    psi[1:] = lfilter([1.0], [1.0, -beta], omega + alpha * x[:-1], zi=[beta * psi0])[0]
    return psi


def pandas_suite(tr: pd.DataFrame, qu: pd.DataFrame, open_ns: int, close_ns: int,
                 p: SignalParams | None = None, stages: dict[str, float] | None = None
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``trade_suite`` columns and ACD fits, written the straightforward pandas (+ SciPy)
    way from the definitions in the kernels' docstrings. ``stages`` collects seconds per step."""
    p = p or SignalParams()
    k = p.trade_window
    st = stages if stages is not None else {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        st[name] = st.get(name, 0.0) + now - clock
        clock = now

    sym = tr["sym"]
    g = tr.groupby("sym", sort=False)

    # rolling return statistics (trade_stats)
    r = np.log(tr["price"] / g["price"].shift(1))
    ar = r.abs()
    a = r * r
    b = ar * ar.groupby(sym).shift(1)
    c = (b * ar.groupby(sym).shift(2)) ** (4.0 / 3.0)

    def roll_sum(x: pd.Series, w: int) -> pd.Series:
        return x.groupby(sym).rolling(w, min_periods=w).sum().droplevel(0)

    sa, sb2, sb1, sc = roll_sum(a, k), roll_sum(b, k - 2), roll_sum(b, k - 1), roll_sum(c, k - 2)
    sa_prev, sb2_prev = sa.groupby(sym).shift(1), sb2.groupby(sym).shift(1)
    std_return = (r / np.sqrt(sa_prev / k)).where(sa_prev > 0)
    lm_stat = (r / np.sqrt(sb2_prev / (k - 2))).where(sb2_prev > 0)
    bv = sb1 * k / (k - 1) / MU1**2
    tq = sc * k * k / (k - 2) / MU43**3
    bns_z = ((sa - bv) / sa / np.sqrt(THETA * np.maximum(1.0, tq / bv**2) / k)).where((sa > 0) & (bv > 0))
    lap("returns, std, LM, BNS (rolling)")

    # trade intensity: trades in (t - 60 s, t], z against [t - 30 min, t)
    one = pd.Series(1.0, index=pd.DatetimeIndex(tr["ts"]))
    n_1m = one.groupby(sym.to_numpy()).rolling("60s").count().to_numpy()
    roll = pd.Series(n_1m, index=one.index).groupby(sym.to_numpy()).rolling(
        "1800s", closed="left", min_periods=30)
    mean, sd = roll.mean().to_numpy(), roll.std().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        intensity_z = np.where(sd > 0, (n_1m - mean) / sd, np.nan)
    lap("intensity z (time rolling)")

    # prevailing quote, tick rule, Lee-Ready
    left = pd.DataFrame({"ts": tr["ts"], "sym": sym, "row": np.arange(len(tr))}).sort_values("ts", kind="stable")
    right = qu[["ts", "sym", "bid", "ask"]].sort_values("ts", kind="stable")
    pq = pd.merge_asof(left, right, on="ts", by="sym", direction="backward").sort_values("row")
    tick = np.sign(g["price"].diff()).replace(0.0, np.nan).groupby(sym).ffill().fillna(0.0).astype(np.int64)
    mid = ((pq["bid"] + pq["ask"]) / 2.0).to_numpy()
    px = tr["price"].to_numpy()
    lr_sign = np.where(px > mid, 1, np.where(px < mid, -1, tick.to_numpy()))
    lap("merge_asof, tick rule, Lee-Ready")

    # durations and the diurnal factor (30-minute bucket means, interpolated, normalised)
    dur = g["ts"].diff() / pd.Timedelta(1, "s")
    dur = dur.where(dur > 0)
    tau = (g["ts"].shift(1) - pd.Timestamp(open_ns, unit="ns")) / pd.Timedelta(1, "s")
    session_s = (close_ns - open_ns) / _S
    nb = math.ceil(session_s / 1800.0)
    mids = np.array([(i * 1800.0 + min((i + 1) * 1800.0, session_s)) / 2.0 for i in range(nb)])
    bucket = np.floor(tau / 1800.0).clip(0, nb - 1)
    bucket_mean = dur.groupby([sym, bucket]).mean().dropna()
    tau_c = tau.clip(0.0, session_s).to_numpy()
    phi = np.full(len(tr), np.nan)
    rows = g.indices
    for s, m_b in bucket_mean.groupby(level=0):
        idx = rows[s]
        phi[idx] = np.interp(tau_c[idx], mids[m_b.index.get_level_values(1).astype(int)], m_b.to_numpy())
    phi = pd.Series(phi, index=tr.index).where(dur > 0)
    phi = phi * (dur / phi).groupby(sym).transform("mean")
    x = dur / phi
    lap("durations, diurnal factor")

    # ACD(1,1) by exponential QML per symbol (SLSQP, psi by lfilter)
    psi = np.full(len(tr), np.nan)
    fits = []
    xv = x.to_numpy()
    for s, idx in rows.items():
        ok = idx[np.isfinite(xv[idx])]
        v = xv[ok]
        if v.size < 50:
            fits.append((s, np.nan, np.nan, np.nan, np.nan, False))
            continue
        m = v.mean()
        res = minimize(_acd_negll, x0=np.array([0.05 * m, 0.05, 0.9]), args=(v, m), method="SLSQP",
                       bounds=[(1e-12, None), (0.0, 1.0), (0.0, 1.0)],
                       constraints=[{"type": "ineq", "fun": lambda t: 1.0 - 1e-9 - t[1] - t[2]}],
                       options={"ftol": 1e-12, "maxiter": 500})
        psi[ok] = _acd_psi(res.x, v, m)
        fits.append((s, *res.x, -res.fun * v.size, bool(res.success)))
    acd = pd.DataFrame(fits, columns=["sym", "omega", "alpha", "beta", "loglik", "converged"]).set_index("sym")
    lap("ACD fits (scipy SLSQP)")

    # jump flag and signal
    n = g["price"].transform("size").to_numpy().astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        s2l = np.sqrt(2.0 * np.log(n))
        crit = s2l / MU1 - (np.log(np.pi) + np.log(np.log(n))) / (2.0 * MU1 * s2l) \
            - np.log(-np.log(1.0 - p.lm_alpha)) / (MU1 * s2l)
    crit = np.where(n > 2, crit, np.nan)
    jump = lm_stat.abs().to_numpy() > crit
    burst = intensity_z > p.signal_intensity_z
    zr, rr = std_return.to_numpy(), r.to_numpy()
    buy = (jump & (rr > 0)) | ((lr_sign == 1) & (zr > p.signal_z) & burst)
    sell = (jump & (rr < 0)) | ((lr_sign == -1) & (zr < -p.signal_z) & burst)
    out = pd.DataFrame({
        "sym": sym, "trade_no": g.cumcount(), "ts": tr["ts"], "price": tr["price"], "size": tr["size"],
        "log_return": r, "std_return": std_return, "lm_stat": lm_stat, "bns_z": bns_z,
        "intensity_z": intensity_z, "acd_duration": psi * phi, "acd_surprise": xv / psi,
        "tick_sign": tick, "lr_sign": lr_sign, "jump": jump,
        "signal": np.where(buy & ~sell, 1, np.where(sell & ~buy, -1, 0)),
    })
    lap("jump flag, signal")
    return out, acd


def _compare_suite(ours: dict[str, np.ndarray], acd: dict[str, np.ndarray], pdf: pd.DataFrame,
                   pacd: pd.DataFrame) -> dict[str, tuple[float, int]]:
    """Untimed: per column, the max abs difference where both are finite and the number of rows
    whose NaN pattern (floats) or value (integer/bool columns) differs."""
    out: dict[str, tuple[float, int]] = {}
    for key in ("log_return", "std_return", "lm_stat", "bns_z", "intensity_z", "acd_duration", "acd_surprise"):
        a, b = ours[key], pdf[key].to_numpy(dtype=np.float64)
        both = np.isfinite(a) & np.isfinite(b)
        out[key] = (float(np.max(np.abs(a[both] - b[both]), initial=0.0)), int(np.sum(np.isfinite(a) != np.isfinite(b))))
    for key in ("trade_no", "tick_sign", "lr_sign", "jump", "signal"):
        out[key] = (0.0, int(np.sum(ours[key].astype(np.int64) != pdf[key].to_numpy().astype(np.int64))))
    for key in ("omega", "alpha", "beta"):
        out[f"acd_{key}"] = (float(np.nanmax(np.abs(acd[key] - pacd[key].to_numpy()))), 0)
    ll_o, ll_p = acd["loglik"], pacd["loglik"].to_numpy()
    out["acd_loglik_rel"] = (float(np.nanmax(np.abs(ll_o - ll_p) / np.abs(ll_p))), 0)
    out["acd_loglik_ours_minus_pandas_min"] = (float(np.nanmin(ll_o - ll_p)), 0)
    return out


def bench_suite(n_trades: int = 10_000_000, n_symbols: int = 100) -> dict[str, Any]:
    """Time ``trade_suite`` (best of 3 after a compiling warm-up) against ``pandas_suite``
    (once) on the same ticks, and compare their columns."""
    t0 = time.perf_counter()
    ticks = synthetic_day(n_trades, n_symbols)
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    columns, acd = trade_suite(ticks)
    first_s = time.perf_counter() - t0
    ours_s = best_of(lambda: trade_suite(ticks))
    tr, qu = _pandas_frames(ticks)
    stages: dict[str, float] = {}
    t0 = time.perf_counter()
    pdf, pacd = pandas_suite(tr, qu, ticks.open_ns, ticks.close_ns, stages=stages)
    pandas_s = time.perf_counter() - t0
    diffs = _compare_suite(columns, acd, pdf, pacd)
    return {
        "n_trades": int(ticks.trade_starts[-1]), "n_quotes": int(ticks.quote_starts[-1]), "n_symbols": n_symbols,
        "generate": gen_s, "ours_first": first_s, "ours": ours_s, "pandas": pandas_s, "stages": stages,
        "diffs": diffs, "acd_converged": (int(acd["converged"].sum()), int(pacd["converged"].sum())),
        "acd_median": {k: (float(np.nanmedian(acd[k])), float(np.nanmedian(pacd[k]))) for k in ("omega", "alpha", "beta")},
        "jumps": int(columns["jump"].sum()), "signals": (int((columns["signal"] == 1).sum()),
                                                         int((columns["signal"] == -1).sum())),
        "suite_vs_pandas": pandas_s / ours_s,
    }


def print_suite(res: dict[str, Any]) -> None:
    n = res["n_trades"]
    print(f"\n== trade signal suite: {n:,} trades, {res['n_quotes']:,} quotes, {res['n_symbols']} symbols, "
          f"one session (data generated in {res['generate']:.1f} s)")
    print(f"{'engine':<28}{'seconds':>10}{'M trades/s':>12}{'/ours':>9}")
    print(f"{'ours (trade_suite)':<28}{res['ours']:>10.3f}{n / res['ours'] / 1e6:>12.2f}{1.0:>8.2f}x"
          f"   best of 3; first call {res['ours_first']:.2f} s")
    print(f"{'pandas + scipy':<28}{res['pandas']:>10.3f}{n / res['pandas'] / 1e6:>12.2f}"
          f"{res['pandas'] / res['ours']:>8.2f}x   one run")
    for name, sec in res["stages"].items():
        print(f"  {name:<36}{sec:>10.3f}")
    print("agreement (max abs diff where both finite / rows differing in NaN pattern or value):")
    for key, (d, bad) in res["diffs"].items():
        print(f"  {key:<36}{d:>12.3g}{bad:>10d}")
    med = res["acd_median"]
    print(f"ACD converged ours/pandas {res['acd_converged'][0]}/{res['acd_converged'][1]}; median (ours, pandas) "
          + ", ".join(f"{k} ({o:.4f}, {q:.4f})" for k, (o, q) in med.items()))
    print(f"jump flags {res['jumps']}, BUY {res['signals'][0]}, SELL {res['signals'][1]}; "
          f"pandas / ours = {res['suite_vs_pandas']:.2f}x")


# ----------------------------------------------------------------------------- GARCH


def simulate_garch(n_fits: int, n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """``n_fits`` zero-mean GARCH(1,1) series of length ``n`` (rows), percent-return scale,
    parameters drawn per series; returns ``(y, [omega, alpha, beta] per series)``."""
    rng = np.random.default_rng(seed)
    persist = rng.uniform(0.90, 0.99, n_fits)
    alpha = np.minimum(rng.uniform(0.03, 0.15, n_fits), persist - 0.02)
    beta = persist - alpha
    var = rng.uniform(0.5, 2.0, n_fits)
    omega = var * (1.0 - persist)
    z = rng.standard_normal((n, n_fits))
    y = np.empty((n, n_fits))
    s2 = var.copy()
    for t in range(n):
        y[t] = np.sqrt(s2) * z[t]
        s2 = omega + alpha * y[t] ** 2 + beta * s2
    return np.ascontiguousarray(y.T), np.stack([omega, alpha, beta], axis=1)


def _arch_fit(y: np.ndarray) -> Any:
    return arch_model(y, mean="Zero", vol="GARCH", p=1, q=1, dist="normal", rescale=False).fit(disp="off")


def bench_garch(n_fits: int = 20, n: int = 23_400) -> dict[str, Any]:
    """Time GARCH(1,1) fits: ours one series at a time (``fit_garch11``, best of 3) and all at
    once (``fit_garch11_grouped``, best of 3) vs ``arch`` (once per series, after one warm-up
    fit); compare log-likelihoods and parameters."""
    y, true = simulate_garch(n_fits, n)
    flat = y.ravel()
    starts = np.arange(0, n_fits * n + 1, n, dtype=np.int64)
    single_s = best_of(lambda: [fit_garch11(row) for row in y])
    grouped_s = best_of(lambda: fit_garch11_grouped(flat, starts))
    ours = [fit_garch11(row) for row in y]
    grouped = fit_garch11_grouped(flat, starts)
    _arch_fit(y[0])
    t0 = time.perf_counter()
    peers = [_arch_fit(row) for row in y]
    arch_s = time.perf_counter() - t0
    ll_o = np.array([f.loglik for f in ours])
    ll_a = np.array([f.loglikelihood for f in peers])
    p_o = np.array([[f.omega, f.alpha, f.beta] for f in ours])
    p_a = np.array([[f.params["omega"], f.params["alpha[1]"], f.params["beta[1]"]] for f in peers])
    p_g = np.stack([grouped["omega"], grouped["alpha"], grouped["beta"]], axis=1)
    return {
        "n_fits": n_fits, "n": n,
        "ours_ms": 1e3 * single_s / n_fits, "grouped_ms": 1e3 * grouped_s / n_fits, "arch_ms": 1e3 * arch_s / n_fits,
        "loglik_rel": float(np.max(np.abs(ll_o - ll_a) / np.abs(ll_a))),
        "loglik_ours_minus_arch": (float(np.min(ll_o - ll_a)), float(np.max(ll_o - ll_a))),
        "param_diff": float(np.max(np.abs(p_o - p_a))),
        "grouped_vs_single": float(np.max(np.abs(p_g - p_o))),
        "true_diff": (float(np.max(np.abs(p_o - true))), float(np.max(np.abs(p_a - true)))),
        "converged": (sum(f.converged for f in ours), sum(f.convergence_flag == 0 for f in peers)),
        "garch_vs_arch": arch_s / single_s,
        "grouped_vs_arch": arch_s / grouped_s,
    }


def print_garch(res: dict[str, Any]) -> None:
    print(f"\n== GARCH(1,1) fits: {res['n_fits']} series of {res['n']:,} returns (ms per fit)")
    print(f"{'engine':<34}{'ms/fit':>10}{'arch / this':>13}")
    print(f"{'ours fit_garch11 (one at a time)':<34}{res['ours_ms']:>10.2f}{res['garch_vs_arch']:>12.1f}x   best of 3")
    print(f"{'ours fit_garch11_grouped (all)':<34}{res['grouped_ms']:>10.2f}{res['grouped_vs_arch']:>12.1f}x   best of 3")
    print(f"{'arch (SLSQP)':<34}{res['arch_ms']:>10.2f}{1.0:>12.1f}x   one run")
    lo, hi = res["loglik_ours_minus_arch"]
    print(f"max |loglik ours - arch| / |loglik arch| = {res['loglik_rel']:.2e} (ours - arch in [{lo:.3g}, {hi:.3g}]); "
          f"max |param ours - arch| = {res['param_diff']:.2e}; grouped vs single {res['grouped_vs_single']:.1e}")
    print(f"max |param - true|: ours {res['true_diff'][0]:.3f}, arch {res['true_diff'][1]:.3f}; "
          f"converged ours {res['converged'][0]}/{res['n_fits']}, arch {res['converged'][1]}/{res['n_fits']}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--trades", type=int, default=10_000_000)
    ap.add_argument("--symbols", type=int, default=100)
    ap.add_argument("--suite-trades", type=int, default=10_000_000)
    ap.add_argument("--garch-fits", type=int, default=20)
    args = ap.parse_args(argv)
    bars = bench_bars(args.trades, args.symbols)
    print_bars(bars)
    suite = bench_suite(args.suite_trades, args.symbols)
    print_suite(suite)
    garch = bench_garch(args.garch_fits)
    print_garch(garch)
    print(f"RESULT signals bars_vs_best_peer={bars['bars_vs_best_peer']:.2f} "
          f"suite_vs_pandas={suite['suite_vs_pandas']:.2f} garch_vs_arch={garch['garch_vs_arch']:.2f}")


if __name__ == "__main__":
    main()
