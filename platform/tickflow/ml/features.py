"""Model features per symbol and bar, from one trading day of bars, indicators and signals.

A row describes bar ``t`` of a symbol (``ts`` is the bar's start; the row is known at the
bar's *end*, ``ts + interval``) and holds only what is known by then:

- ``ret_lag_k`` (k = 1, 2, 3, 5): the one-bar log return of the k-th most recent completed
  bar, ``r_{t-k+1}`` with ``r_t = log(close_t / close_{t-1})`` (``ret_lag_1`` is bar t's own);
- ``ma_gap_w`` (w = 5, 10, 20): ``close_t / SMA_w(close)_t - 1``, the distance to the
  trailing moving average (scale-free, so one tree serves every symbol);
- ``log_volume`` = ``log(1 + volume_t)`` and ``volume_z``, its z-score against the trailing
  ``volume_window`` bars (current one included);
- ``realized_vol``: ``sqrt(sum r^2)`` over the trailing ``vol_window`` bars;
- ``time_of_day``: the bar's end as a fraction of the session (0..1];
- ``spread_rel``: time-weighted quoted spread over the bar's close mid;
- indicators at the bar's last minute: ``rsi_14``, ``macd_hist_rel`` (MACD histogram /
  close), ``bb_pos`` (position inside the Bollinger band, 0 at the lower, 1 at the upper);
- trade signals aggregated over the bar's trades: ``lm_max_abs`` (largest |Lee-Mykland
  statistic|), ``lr_imbalance`` and ``tick_imbalance`` (Lee-Ready / tick-rule signed volume
  over volume), ``intensity_z`` (at the bar's last trade);
- ``m_*``: the measure bar (15 minutes) that ended last, at or before this bar's end: RV,
  BNS z, OFI, Kyle's lambda, effective spread (each computed from that bar's data only);
- ``prev_*``: the previous trading day's daily measures (RV, VPIN, GARCH persistence, BNS z),
  known before the session opens.

Left out on purpose, because the signals assets estimate them from the *whole* session and
so they would leak the rest of the day into a bar: the GARCH sigma and the ACD duration
surprise (parameters fitted on the day), VPIN within the day (bucket size = the day's volume
/ 50), and the jump flags and BUY/SELL signal (the Lee-Mykland critical value depends on the
day's trade count; the statistic itself, ``lm_max_abs``, is causal). The day-level values
enter through ``prev_*`` instead, one day late. A test perturbs the raw ticks after a time t,
re-derives bars, signals and features, and checks nothing at t moved
(tests/platform/ml/test_pipeline.py).

Features never cross the session boundary: each day starts fresh (an overnight gap is not a
bar return), so the first bars of a day have NaN lags, which XGBoost handles natively.
``target`` is the next-``horizon``-bar log return ``log(close_{t+h} / close_t)``, NaN for the
day's last ``h`` bars; ``baseline_last`` is the last-return forecast of it,
``log(close_t / close_{t-h})``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

_MIN_NS = 60_000_000_000

RETURN_LAGS = (1, 2, 3, 5)
MA_WINDOWS = (5, 10, 20)
TRADE_AGGREGATES = ("lm_max_abs", "lr_imbalance", "tick_imbalance", "intensity_z")
MEASURES = ("rv", "bns_z", "ofi", "kyle_lambda", "effective_spread")
PREVIOUS_DAY = ("rv", "vpin", "garch_persistence", "bns_z")
FEATURE_NAMES: tuple[str, ...] = (
    *(f"ret_lag_{k}" for k in RETURN_LAGS),
    *(f"ma_gap_{w}" for w in MA_WINDOWS),
    "log_volume", "volume_z", "realized_vol", "time_of_day", "spread_rel",
    "rsi_14", "macd_hist_rel", "bb_pos",
    *TRADE_AGGREGATES,
    *(f"m_{m}" for m in MEASURES),
    *(f"prev_{m}" for m in PREVIOUS_DAY),
)


@dataclass(frozen=True)
class FeatureParams:
    interval_min: int = 1  # bar size: one of the stored bar intervals (1, 5, 15)
    horizon: int = 1  # target: log return over the next `horizon` bars
    volume_window: int = 20
    vol_window: int = 20

    def __post_init__(self) -> None:
        if self.interval_min not in (1, 5, 15):
            raise ValueError(f"interval_min must be 1, 5 or 15 (the stored bars), got {self.interval_min}")
        if self.horizon < 1:
            raise ValueError("horizon must be >= 1")


def feature_hash(names: tuple[str, ...] | list[str], params: FeatureParams) -> str:
    """A short stable hash of the feature list and the parameters that define the features."""
    blob = json.dumps({"features": list(names), "params": params.__dict__}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _per_symbol(x: np.ndarray, n_sym: int) -> np.ndarray:
    return x.reshape(n_sym, -1)


def _trailing_mean(a: np.ndarray, w: int) -> np.ndarray:
    """Mean of the last ``w`` columns (current included) per row; NaN until ``w`` exist."""
    c = np.cumsum(np.nan_to_num(a), axis=1)
    out = np.full_like(a, np.nan)
    out[:, w - 1:] = c[:, w - 1:]
    out[:, w:] -= c[:, :-w]
    out[:, w - 1:] /= w
    return out


def trade_bins(signals: dict[str, np.ndarray], symbols: list[str], open_ns: int, close_ns: int,
               interval_min: int) -> pd.DataFrame:
    """The ``trade_bins`` input of :func:`compute_features` from a day's trade-signal columns
    held in memory (symbol-major, as :func:`tickflow.derive.signals.trade_suite` returns
    them): what :func:`tickflow.ml.feature_store.load_inputs` aggregates in the database from
    the stored rows (the live session holds them; all its inputs are causal columns)."""
    step = interval_min * _MIN_NS
    ts = signals["ts"]
    inside = (ts >= open_ns) & (ts < close_ns)
    sym = signals["sym"][inside].astype(np.int64)
    key = sym * ((close_ns - open_ns) // step + 1) + (ts[inside] - open_ns) // step
    if key.size == 0:
        return pd.DataFrame(columns=["sym", "ts", "lm_max_abs", "lr_volume", "tick_volume", "volume",
                                     "intensity_z_last"])
    first = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))  # rows are ordered by symbol, time
    last = np.concatenate([first[1:], [key.size]]) - 1
    size = signals["size"][inside]
    with np.errstate(invalid="ignore"):
        lm = np.fmax.reduceat(np.abs(signals["lm_stat"][inside]), first)  # NaN-skipping, as SQL's max
    return pd.DataFrame({
        "sym": np.asarray(symbols, dtype=object)[sym[first]],
        "ts": open_ns + (ts[inside][first] - open_ns) // step * step,
        "lm_max_abs": lm,
        "lr_volume": np.add.reduceat(signals["lr_sign"][inside] * size, first),
        "tick_volume": np.add.reduceat(signals["tick_sign"][inside] * size, first),
        "volume": np.add.reduceat(size, first),
        "intensity_z_last": signals["intensity_z"][inside][last],
    })


def compute_features(bars: pd.DataFrame, indicators: pd.DataFrame, trade_bins: pd.DataFrame,
                     measures: pd.DataFrame, previous_day: pd.DataFrame, open_ns: int, close_ns: int,
                     params: FeatureParams | None = None) -> pd.DataFrame:
    """The feature rows of one day (module docstring).

    ``bars``: the day's bars of ``params.interval_min`` (columns sym, ts [ns], close, volume,
    twap_spread, close_mid), every symbol on the full session grid, ordered by (sym, ts).
    ``indicators``: 1-minute rows (sym, ts, close, rsi_14, macd_hist, bb_upper, bb_lower).
    ``trade_bins``: per (sym, ts = bar start) aggregates of the trade signals: lm_max_abs,
    lr_volume, tick_volume, volume, intensity_z_last.
    ``measures``: measure bars (sym, ts = start, interval_min, and the ``MEASURES`` columns).
    ``previous_day``: the previous trading day's daily measures (sym and ``PREVIOUS_DAY``);
    may be empty (no earlier day stored).
    Timestamps are int64 ns UTC. Returns sym, ts, the ``FEATURE_NAMES``, target, baseline_last.
    """
    p = params or FeatureParams()
    step = p.interval_min * _MIN_NS
    n_bins = int((close_ns - open_ns) // step)
    symbols = pd.unique(bars["sym"])
    n_sym = len(symbols)
    if len(bars) != n_sym * n_bins:
        raise ValueError(f"bars must hold every symbol on the {n_bins}-bar session grid, got {len(bars)} rows")
    ts = bars["ts"].to_numpy(np.int64)
    close = _per_symbol(bars["close"].to_numpy(np.float64), n_sym)
    volume = _per_symbol(bars["volume"].to_numpy(np.float64), n_sym)
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.full_like(close, np.nan)
        r[:, 1:] = np.log(close[:, 1:] / close[:, :-1])
        for k in RETURN_LAGS:
            lag = np.full_like(r, np.nan)
            lag[:, k - 1:] = r[:, : n_bins - k + 1]
            out[f"ret_lag_{k}"] = lag
        for w in MA_WINDOWS:
            out[f"ma_gap_{w}"] = close / _trailing_mean(close, w) - 1.0
        lv = np.log1p(volume)
        out["log_volume"] = lv
        mean = _trailing_mean(volume, p.volume_window)
        sq = _trailing_mean(volume * volume, p.volume_window)
        sd = np.sqrt(np.maximum(sq - mean * mean, 0.0) * p.volume_window / (p.volume_window - 1))
        out["volume_z"] = np.where(sd > 0, (volume - mean) / sd, np.nan)
        rv = _trailing_mean(np.nan_to_num(r * r), p.vol_window) * p.vol_window
        rv[:, : p.vol_window] = np.nan  # the first return of the day is NaN: window incomplete
        out["realized_vol"] = np.sqrt(rv)
        out["time_of_day"] = np.broadcast_to((np.arange(n_bins) + 1.0) / n_bins, close.shape).copy()
        out["spread_rel"] = _per_symbol(bars["twap_spread"].to_numpy(np.float64)
                                        / bars["close_mid"].to_numpy(np.float64), n_sym)

        # indicators at the bar's last minute (1-minute rows, full grid)
        ind = indicators.set_index(["sym", "ts"])
        last_min = ts + step - _MIN_NS
        key = pd.MultiIndex.from_arrays([bars["sym"].to_numpy(), last_min])
        got = ind.reindex(key)
        c_ind = got["close"].to_numpy(np.float64)
        out["rsi_14"] = _per_symbol(got["rsi_14"].to_numpy(np.float64), n_sym)
        out["macd_hist_rel"] = _per_symbol(got["macd_hist"].to_numpy(np.float64) / c_ind, n_sym)
        width = got["bb_upper"].to_numpy(np.float64) - got["bb_lower"].to_numpy(np.float64)
        out["bb_pos"] = _per_symbol(np.where(width > 0, (c_ind - got["bb_lower"].to_numpy(np.float64)) / width,
                                             np.nan), n_sym)

        # trade-signal aggregates over the bar's own trades; a bar without trades has none
        tb = trade_bins.set_index(["sym", "ts"]).reindex(pd.MultiIndex.from_arrays([bars["sym"].to_numpy(), ts]))
        out["lm_max_abs"] = _per_symbol(tb["lm_max_abs"].to_numpy(np.float64), n_sym)
        vol_t = tb["volume"].to_numpy(np.float64)
        for name, col in (("lr_imbalance", "lr_volume"), ("tick_imbalance", "tick_volume")):
            out[name] = _per_symbol(np.where(vol_t > 0, tb[col].to_numpy(np.float64) / vol_t, np.nan), n_sym)
        out["intensity_z"] = _per_symbol(tb["intensity_z_last"].to_numpy(np.float64), n_sym)

        # the measure bar that ended last at or before this bar's end (as-of, per symbol)
        m = measures.copy()
        m_len = m["interval_min"].to_numpy(np.int64) * _MIN_NS
        m["avail"] = m["ts"].to_numpy(np.int64) + m_len
        m["sym"] = m["sym"].astype("str")  # one key dtype on both sides, also for an empty frame
        m = m.sort_values("avail")
        left = pd.DataFrame({"sym": bars["sym"].astype("str").to_numpy(), "avail": ts + step,
                             "row": np.arange(len(bars))})
        left["sym"] = left["sym"].astype("str")
        joined = pd.merge_asof(left.sort_values("avail"), m[["sym", "avail", *MEASURES]], on="avail", by="sym",
                               direction="backward").sort_values("row")
        for name in MEASURES:
            out[f"m_{name}"] = _per_symbol(joined[name].to_numpy(np.float64), n_sym)

        prev = previous_day.set_index("sym").reindex(bars["sym"].to_numpy())
        for name in PREVIOUS_DAY:
            out[f"prev_{name}"] = _per_symbol(prev[name].to_numpy(np.float64), n_sym)

        target = np.full_like(close, np.nan)
        base = np.full_like(close, np.nan)
        h = p.horizon
        if h < n_bins:  # else no bar has a target inside the session (e.g. an early close)
            target[:, : n_bins - h] = np.log(close[:, h:] / close[:, : n_bins - h])
            base[:, h:] = np.log(close[:, h:] / close[:, : n_bins - h])

    frame = pd.DataFrame({"sym": bars["sym"].to_numpy(), "ts": ts})
    for name in FEATURE_NAMES:
        frame[name] = np.ascontiguousarray(out[name]).ravel()
    frame["target"] = target.ravel()
    frame["baseline_last"] = base.ravel()
    return frame
