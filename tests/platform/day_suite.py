"""Test helper: a day's ticks (simulated or LOBSTER) cut at any time, and every derived
quantity of it computed in memory by the same engine functions the assets call (bars,
indicators, signals and measures, anomalies, features), without a database."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tickflow.derive.bars import compute_bars, compute_indicators
from tickflow.derive.signals import compute_signals
from tickflow.kernels.anomalies import bar_anomalies
from tickflow.ml.features import PREVIOUS_DAY, compute_features
from tickflow.simulate.day import SimulatedDay
from tickflow.store.day_ticks import DayTicks, from_columns

MIN_NS = 60_000_000_000


def sim_columns(sim: SimulatedDay) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A simulated day's trades and quotes as the column dicts :func:`from_columns` takes."""
    t, q = sim.trades, sim.quotes
    trades = {"sym": t["sym_idx"], "ts_ns": t["ts_ns"], "price": t["price"], "size": t["size"]}
    quotes = {"sym": q["sym_idx"], "ts_ns": q["ts_ns"], "bid": q["bid_price"], "bid_size": q["bid_size"],
              "ask": q["ask_price"], "ask_size": q["ask_size"]}
    return trades, quotes


def cut(day: DayTicks, cut_ns: int) -> DayTicks:
    """The ticks of ``day`` received before ``cut_ns`` (exchange time): the day so far."""
    def keep(cols: dict[str, np.ndarray], starts: np.ndarray) -> dict[str, np.ndarray]:
        sym = np.repeat(np.arange(day.n_symbols), np.diff(starts))
        m = cols["ts_ns"] < cut_ns
        return {"sym": sym[m], **{k: v[m] for k, v in cols.items()}}

    return from_columns(day.day, day.symbols, keep(day.trades, day.trade_starts), keep(day.quotes, day.quote_starts),
                        day.open_ns, day.close_ns)


@dataclass
class Suite:
    bars: dict[int, dict[str, np.ndarray]]
    indicators: dict[str, np.ndarray]
    signals: dict[str, dict[str, np.ndarray]]
    anomalies: dict[str, np.ndarray]
    features: pd.DataFrame


def _trade_bins(ticks: DayTicks, ts: dict[str, np.ndarray], interval_min: int) -> pd.DataFrame:
    """Per (sym, bar start) aggregates of the trade signals, as ml.feature_store's SQL makes them."""
    step = interval_min * MIN_NS
    df = pd.DataFrame({"sym": np.asarray(ticks.symbols, dtype=object)[ts["sym"]],
                       "ts": ticks.open_ns + (ts["ts"] - ticks.open_ns) // step * step,
                       "lm": np.abs(ts["lm_stat"]), "lr": ts["lr_sign"] * ts["size"],
                       "tick": ts["tick_sign"] * ts["size"], "size": ts["size"], "iz": ts["intensity_z"],
                       "no": ts["trade_no"]})
    g = df.sort_values(["sym", "ts", "no"]).groupby(["sym", "ts"], sort=True)
    out = pd.DataFrame({"lm_max_abs": g["lm"].max(), "lr_volume": g["lr"].sum(), "tick_volume": g["tick"].sum(),
                        "volume": g["size"].sum(), "intensity_z_last": g["iz"].last()})
    return out.reset_index()


def derive_all(ticks: DayTicks, interval_min: int = 1) -> Suite:
    """Bars, indicators, signals/measures, anomalies and features of ``ticks`` (no warm-up
    days, no previous day: the first day of a store)."""
    n_sym, n_min = ticks.n_symbols, ticks.n_minutes
    bars = compute_bars(ticks)
    one = bars[1]
    ind = compute_indicators(one["close"], n_sym)
    sig = compute_signals(ticks, one["close"], one["volume"])
    anom = bar_anomalies(one["close"], one["volume"], ind["rsi_14"], n_min)
    names = np.asarray(ticks.symbols, dtype=object)
    b = bars[interval_min]
    bars_df = pd.DataFrame({"sym": names[b["sym"]], "ts": b["ts"], "close": b["close"], "volume": b["volume"],
                            "twap_spread": b["twap_spread"], "close_mid": b["close_mid"]})
    ind_df = pd.DataFrame({"sym": names[one["sym"]], "ts": one["ts"], "close": one["close"],
                           **{k: ind[k] for k in ("rsi_14", "macd_hist", "bb_upper", "bb_lower")}})
    bm = sig["bar_measures"]
    meas = pd.DataFrame({"sym": names[bm["sym"]], "ts": bm["ts"], "interval_min": bm["interval_min"],
                         "rv": bm["rv"], "bns_z": bm["bns_z"], "ofi": bm["ofi"], "kyle_lambda": bm["kyle_lambda"],
                         "effective_spread": bm["effective_spread"]})
    prev = pd.DataFrame({"sym": pd.Series([], dtype=object), **{c: pd.Series([], dtype=float) for c in PREVIOUS_DAY}})
    feats = compute_features(bars_df, ind_df, _trade_bins(ticks, sig["trade_signals"], interval_min), meas, prev,
                             ticks.open_ns, ticks.close_ns)
    return Suite(bars, ind, sig, anom, feats)
