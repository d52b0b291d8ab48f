"""Bars (1, 5, 15 minutes) and the technical indicators on 1-minute bars, per trading day.

Bars cover every minute of the regular session, trades or not: an empty minute has zero
volume and carries the last price (before a symbol's first trade, the mid of its first
quote of the session, so no hole and no value taken from a later trade). The VWAP must lie
in the bar's range widened by the prices of trades that count in volume but set no high or
low (odd lots, under the sale-condition rules); outside it by no more than the rounding of
``dollar_volume / volume`` (a relative ``VWAP_RTOL``) it is put on the bound; a larger
excursion is a real error and is left for the ``vwap_within_range`` check to fail.

Indicators continue across days: the previous trading day's 1-minute closes (when stored)
warm the long windows up (SMA 200 needs 200 bars), and only this day's rows are kept.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import psycopg

from tickflow import sessions
from tickflow.conditions import VOLUME, counted_sql, flags_from_mask
from tickflow.kernels.bars import aggregate_bars, minute_bars, quote_bar_stats
from tickflow.kernels.indicators import indicators
from tickflow.store.day_ticks import DayTicks

INTERVALS = (1, 5, 15)
_MIN_NS = 60_000_000_000
# Summing n products p*s in float64 errs by at most ~n * 2**-53 relative; 1e-9 covers a
# million trades in a bar and stays far below a tick (1e-4 of a $1 price).
VWAP_RTOL = 1e-9


def clip_rounding(vwap: np.ndarray, low: np.ndarray, high: np.ndarray, rtol: float = VWAP_RTOL) -> np.ndarray:
    """``vwap`` with values within ``rtol`` (relative) outside [low, high] put on the bound;
    anything further out is kept as it is (an error the checks must see)."""
    below = (vwap < low) & (vwap >= low - rtol * np.abs(low))
    above = (vwap > high) & (vwap <= high + rtol * np.abs(high))
    return np.where(below, low, np.where(above, high, vwap))


def volume_price_range(ticks: DayTicks, flags: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per symbol-minute (symbol-major, like the 1-minute bars): the lowest and highest price
    of the trades that count in volume (NaN where none). The VWAP lies in this range; it can
    leave [low, high] because trades such as odd lots count in volume but set no high or low."""
    n_min, n = ticks.n_minutes, ticks.n_symbols * ticks.n_minutes
    lo, hi = np.full(n, np.nan), np.full(n, np.nan)
    t = ticks.trades
    counts = np.diff(ticks.trade_starts)
    row = np.repeat(np.arange(ticks.n_symbols, dtype=np.int64) * n_min, counts) + np.clip(
        (t["ts_ns"] - ticks.open_ns) // _MIN_NS, 0, n_min - 1)
    price = t["price"]
    if flags is not None:
        keep = (flags & VOLUME) != 0
        row, price = row[keep], price[keep]
    if row.size:
        # rows are non-decreasing (symbol-major, time-ordered): one segment per bar
        first = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
        lo[row[first]] = np.minimum.reduceat(price, first)
        hi[row[first]] = np.maximum.reduceat(price, first)
    return lo, hi


def _coarser(values: np.ndarray, n_symbols: int, n_min: int, interval: int, reduce: np.ufunc) -> np.ndarray:
    """1-minute values reduced to ``interval``-minute bars, NaN-skipping (all-NaN stays NaN)."""
    grid = values.reshape(n_symbols, n_min)
    n_bars = n_min // interval
    return reduce.reduce(grid[:, : n_bars * interval].reshape(n_symbols, n_bars, interval), axis=2).ravel()


def first_quote_mid(ticks: DayTicks) -> np.ndarray:
    """Mid of each symbol's first session quote (NaN if it has none)."""
    q, st = ticks.quotes, ticks.quote_starts
    seed = np.full(ticks.n_symbols, np.nan)
    has = st[1:] > st[:-1]
    first = st[:-1][has]
    seed[has] = (q["bid"][first] + q["ask"][first]) / 2.0
    return seed


def compute_bars(ticks: DayTicks, seed: np.ndarray | None = None) -> dict[int, dict[str, np.ndarray]]:
    """interval (minutes) -> symbol-major bar columns incl. ``sym`` codes and ``ts`` (bar start, ns).
    ``seed``: each symbol's price carried into the first minute (default: its first quote's
    mid); the intraday tail (:mod:`tickflow.derive.intraday`) passes the stored close before it."""
    n_min = ticks.n_minutes
    t, q = ticks.trades, ticks.quotes
    # The consolidated tape's sale-condition rules (odd lots add volume, set no price...);
    # ticks built without conditions count every trade for everything.
    flags = flags_from_mask(t["cond_mask"]) if "cond_mask" in t else None
    one = minute_bars(t["ts_ns"], t["price"], t["size"], ticks.trade_starts, ticks.open_ns, n_min,
                      first_quote_mid(ticks) if seed is None else seed, flags)
    one.update(quote_bar_stats(q["ts_ns"], q["bid"], q["ask"], ticks.quote_starts, ticks.open_ns, n_min))
    v_lo_1m, v_hi_1m = volume_price_range(ticks, flags)
    out = {}
    for interval in INTERVALS:
        bars = dict(one) if interval == 1 else aggregate_bars(one, ticks.n_symbols, interval)
        n_bars = n_min // interval
        v_lo, v_hi = (v_lo_1m, v_hi_1m) if interval == 1 else (
            _coarser(v_lo_1m, ticks.n_symbols, n_min, interval, np.fmin),
            _coarser(v_hi_1m, ticks.n_symbols, n_min, interval, np.fmax))
        # The range the VWAP must lie in (the checks' bounds; not stored): the bar's own range
        # widened by the trades that count in volume but not in high/low.
        bars["vwap_floor"] = np.fmin(bars["low"], v_lo)
        bars["vwap_cap"] = np.fmax(bars["high"], v_hi)
        bars["vwap"] = clip_rounding(bars["vwap"], bars["vwap_floor"], bars["vwap_cap"])
        bars["sym"] = np.repeat(np.arange(ticks.n_symbols, dtype=np.int64), n_bars)
        bars["ts"] = np.tile(ticks.open_ns + np.arange(n_bars, dtype=np.int64) * interval * _MIN_NS, ticks.n_symbols)
        bars["interval_min"] = np.full(ticks.n_symbols * n_bars, interval, dtype=np.int64)
        out[interval] = bars
    return out


def stored_session_volume(conn: psycopg.Connection, day: dt.date) -> pd.Series:
    """Regular-session traded volume per symbol, summed by the database over the stored
    day: the reconciliation's raw side, independent of the arrays the bars were built from
    (so rows lost or doubled on load show up). Only trades whose sale conditions count in
    volume are summed, as in the bars (:mod:`tickflow.conditions`)."""
    lo, hi = (dt.datetime.fromtimestamp(x / 1e9, tz=dt.UTC) for x in sessions.session_bounds_ns(day))
    counted = counted_sql(VOLUME)  # a constant of the rule table, no data in it
    query = (f"SELECT sym, coalesce(sum(size) FILTER (WHERE {counted}), 0) FROM trades "  # noqa: S608
             "WHERE ts >= %s AND ts < %s GROUP BY sym ORDER BY sym")
    rows = conn.execute(query, (lo, hi)).fetchall()
    return pd.Series([float(v) for _, v in rows], index=[s for s, _ in rows], dtype=np.float64)


def bars_frame(bars: dict[str, np.ndarray], symbols: list[str]) -> pd.DataFrame:
    """A bar table as pandas (symbol names, UTC timestamps), for checks and display."""
    df = pd.DataFrame({k: v for k, v in bars.items() if k not in ("sym", "ts")})
    df.insert(0, "ts", pd.to_datetime(bars["ts"], utc=True))
    df.insert(0, "sym", np.asarray(symbols, dtype=object)[bars["sym"]])
    return df


def previous_closes(conn: psycopg.Connection, day: dt.date, symbols: list[str], n_keep: int = 400) -> np.ndarray:
    """The last ``n_keep`` stored 1-minute closes per symbol before ``day``, as an
    (n_symbols, n_keep) array left-padded with NaN (warm-up for the indicators)."""
    out = np.full((len(symbols), n_keep), np.nan)
    rows = conn.execute(
        "SELECT sym, close FROM (SELECT sym, ts, close, row_number() OVER (PARTITION BY sym ORDER BY ts DESC) AS k "
        "FROM bars WHERE interval_min = 1 AND day < %s AND day >= %s AND sym = ANY(%s)) x "
        "WHERE k <= %s ORDER BY sym, ts", (day, day - dt.timedelta(days=10), symbols, n_keep)).fetchall()
    index = {s: i for i, s in enumerate(symbols)}
    by_sym: dict[str, list[float]] = {}
    for sym, close in rows:
        by_sym.setdefault(sym, []).append(close)
    for sym, closes in by_sym.items():
        out[index[sym], n_keep - len(closes):] = closes
    return out


def compute_indicators(close_1m: np.ndarray, n_symbols: int, warmup: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Indicators of this day's 1-minute closes (symbol-major), warmed up by ``warmup``
    ((n_symbols, k) earlier closes, NaN-padded); returns only this day's rows."""
    day = close_1m.reshape(n_symbols, -1)
    n_day = day.shape[1]
    series = day if warmup is None else np.concatenate([warmup, day], axis=1)
    res = indicators(np.ascontiguousarray(series).ravel(), series.shape[1])
    return {k: np.ascontiguousarray(v.reshape(n_symbols, -1)[:, -n_day:]).ravel() for k, v in res.items()}
