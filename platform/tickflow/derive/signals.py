"""The day's microstructure signals, composed from the kernels.

Inputs: one session's ticks (:class:`~tickflow.store.day_ticks.DayTicks`) and its 1-minute
bars. Outputs, as columns ready for :mod:`tickflow.store.derived`:

- ``trade_signals``: one row per trade: log return, standardized return, Lee-Mykland and
  rolling BNS statistics, trade-intensity z-score (:mod:`tickflow.kernels.trade_stats`), ACD
  conditional expected duration and surprise (:mod:`tickflow.kernels.acd`), tick-rule and
  Lee-Ready signs (:mod:`tickflow.kernels.flow`), a jump flag and a BUY/SELL/HOLD signal;
- ``bar_measures``: per measure bar (15 minutes by default) RV, BV and the BNS test on the
  grid returns inside the bar, Lee-Mykland detections, GARCH conditional volatility at the
  bar's end, OFI, signed volume, BVC buy share and VPIN, Roll, Kyle's lambda, Amihud,
  effective and realized spreads;
- ``daily_measures``: the same per symbol-day plus the GARCH(1,1) and ACD(1,1) fits;
- ``jump_events``: one row per Lee-Mykland detection on the grid and per BNS-flagged bar.

Volatility and jump measures use mid-quote log returns on a regular grid (previous-tick
sampling, 10 s by default): mids are far less noisy than trade prices (no bid-ask bounce),
and a fixed grid gives the tests their asymptotics. The GARCH(1,1) is fitted on the same
grid returns (a symbol's leading NaN returns, before its first quote, count as zero).

The BUY/SELL/HOLD rule of ``trade_signals.signal`` is documented with its kernel,
:func:`tickflow.kernels.trade_stats.signal_rule`.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from tickflow.kernels.acd import diurnal_factor, fit_acd11_grouped, trade_durations
from tickflow.kernels.flow import bvc_vpin, lee_ready, ofi_by_bar, prevailing_quote, tick_rule
from tickflow.kernels.garch import fit_garch11_grouped
from tickflow.kernels.grouping import group_starts, prefix_counts, splice_columns
from tickflow.kernels.jumps import (
    DEFAULT_ALPHA,
    DEFAULT_K,
    bns_by_bar,
    bns_test,
    lee_mykland,
    lm_critical_value,
)
from tickflow.kernels.liquidity import amihud, kyle_lambda, roll_spread, spreads
from tickflow.kernels.sampling import grid_log_returns
from tickflow.kernels.trade_stats import lookback, signal_rule, trade_stats
from tickflow.store.day_ticks import DayTicks

_S = 1_000_000_000


@dataclass(frozen=True)
class SignalParams:
    grid_seconds: int = 10
    measure_bar_minutes: int = 15
    lm_window: int = DEFAULT_K
    # Strict levels: at the paper's 1% the simulated days gave ~1 false alarm per symbol-day
    # (LM precision ~0.7; tests/platform/kernels/test_jumps.py), at 1e-5 precision ~0.99 with
    # recall >= 0.96 for jumps of >= 4 one-minute standard deviations.
    lm_alpha: float = DEFAULT_ALPHA
    bns_alpha: float = 1e-4
    trade_window: int = 100
    # trade_stats' intensity windows (its defaults): the look-back of an intraday update
    intensity_count_s: float = 60.0
    intensity_window_s: float = 1800.0
    realized_spread_seconds: int = 300
    vpin_buckets: int = 50
    signal_z: float = 2.0
    signal_intensity_z: float = 1.0


def _bin_sum(values: np.ndarray, bins: np.ndarray, n_bins: int) -> np.ndarray:
    ok = bins >= 0
    return np.bincount(bins[ok], weights=values[ok], minlength=n_bins)[:n_bins]


# The per-trade columns that look only backwards (a trade's value depends on the trades and
# quotes up to it): what an intraday update keeps from an earlier computation of the day.
CAUSAL = ("log_return", "std_return", "lm_stat", "bns_z", "intensity_z", "tick_sign", "lr_sign")


def _causal(ticks: DayTicks, p: SignalParams, first_index: np.ndarray | None = None,
            seed: np.ndarray | None = None) -> dict[str, np.ndarray]:
    t, q = ticks.trades, ticks.quotes
    ts_, qs = ticks.trade_starts, ticks.quote_starts
    bid_at, ask_at = prevailing_quote(t["ts_ns"], ts_, q["ts_ns"], q["bid"], q["ask"], qs)
    tick = tick_rule(t["price"], ts_, seed)
    return {**trade_stats(t["ts_ns"], t["price"], ts_, K=p.trade_window, count_window_s=p.intensity_count_s,
                          z_window_s=p.intensity_window_s, first_index=first_index),
            "tick_sign": tick, "lr_sign": lee_ready(t["price"], bid_at, ask_at, tick)}


def _gather(starts: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of each group's rows ``lo[g]:hi[g]`` (offsets within the group) and their starts."""
    n = hi - lo
    new_starts = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
    idx = np.arange(new_starts[-1], dtype=np.int64) + np.repeat(starts[:-1] + lo - new_starts[:-1], n)
    return idx, new_starts


def _shared_prefix(prev: dict[str, np.ndarray], ticks: DayTicks, from_ns: int
                   ) -> tuple[np.ndarray, np.ndarray] | None:
    """``prev``'s symbol starts and the per-symbol count of trades before ``from_ns`` when
    ``prev`` (trade-signal columns) covers the same trades of ``ticks`` before it (count and
    each symbol's last time); else None."""
    if prev["sym"].size and int(prev["sym"].max()) >= ticks.n_symbols:
        return None
    prev_starts = group_starts(prev["sym"], ticks.n_symbols)
    keep = prefix_counts(ticks.trades["ts_ns"], ticks.trade_starts, from_ns)
    if not np.array_equal(keep, prefix_counts(prev["ts"], prev_starts, from_ns)):
        return None
    last = keep > 0
    if not np.array_equal(prev["ts"][(prev_starts[:-1] + keep - 1)[last]],
                          ticks.trades["ts_ns"][(ticks.trade_starts[:-1] + keep - 1)[last]]):
        return None
    return prev_starts, keep


def suite_fits(prev: dict[str, np.ndarray], ticks: DayTicks, from_ns: int) -> bool:
    """Whether ``prev`` (trade-signal columns) covers, symbol by symbol, the same trades of
    ``ticks`` before ``from_ns`` (count and each symbol's last time)."""
    return _shared_prefix(prev, ticks, from_ns) is not None


def _causal_from(ticks: DayTicks, p: SignalParams, prev: dict[str, np.ndarray], from_ns: int) -> dict[str, np.ndarray]:
    """The causal columns of ``ticks``: ``prev``'s rows before ``from_ns`` (the suite of an
    earlier state of the day whose ticks before ``from_ns`` were these) and the trades from
    ``from_ns`` on computed from a slice that starts a look-back before them."""
    t, ts_, q, qs = ticks.trades, ticks.trade_starts, ticks.quotes, ticks.quote_starts
    n_sym = ticks.n_symbols
    shared = _shared_prefix(prev, ticks, from_ns)
    if shared is None:
        raise ValueError("the earlier trade signals do not hold the day's trades before the tail")
    prev_starts, keep = shared
    n = np.diff(ts_)
    # the slice: a look-back of rows (the rolling windows) and of time (the intensity windows)
    window_ns = int(round((p.intensity_window_s + p.intensity_count_s) * _S))
    lo = np.maximum(keep - lookback(p.trade_window), 0)
    for s in np.flatnonzero(keep < n):  # per symbol, not per trade
        sym_ts = t["ts_ns"][ts_[s]:ts_[s + 1]]
        lo[s] = min(lo[s], int(np.searchsorted(sym_ts, sym_ts[keep[s]] - window_ns, side="left")))
    lo = np.where(keep < n, np.minimum(lo, keep), n)  # a symbol with no new trade: nothing to compute
    t_idx, t_starts = _gather(ts_, lo, n)
    # each symbol's quotes from the one prevailing at its slice's first trade
    first_ts = t["ts_ns"][np.minimum(ts_[:-1] + lo, max(t["ts_ns"].size - 1, 0))] if t["ts_ns"].size else lo
    q_lo = np.array([max(int(np.searchsorted(q["ts_ns"][qs[s]:qs[s + 1]], first_ts[s], side="right")) - 1, 0)
                     for s in range(n_sym)], dtype=np.int64)
    q_idx, q_starts = _gather(qs, q_lo, np.diff(qs))
    part = DayTicks(ticks.day, ticks.symbols, ticks.open_ns, ticks.close_ns,
                    {k: t[k][t_idx] for k in ("ts_ns", "price")}, t_starts,
                    {k: q[k][q_idx] for k in ("ts_ns", "bid", "ask")}, q_starts)
    # the tick rule carries the sign of the slice's first row, known from before
    seed = np.zeros(n_sym, dtype=np.int8)
    known = (lo > 0) & (lo < keep)  # the slice starts at a kept row
    seed[known] = prev["tick_sign"][(prev_starts[:-1] + lo)[known]]
    new = _causal(part, p, first_index=lo, seed=seed)
    cols, _ = splice_columns({k: prev[k] for k in CAUSAL}, prev_starts, keep, new, t_starts, skip=keep - lo)
    return cols


def trade_suite(ticks: DayTicks, params: SignalParams | None = None,
                prev: tuple[dict[str, np.ndarray], int] | None = None,
                ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The per-trade signal suite (``trade_signals`` columns) and the per-symbol ACD fits.

    ``prev = (columns, from_ns)``: this suite computed earlier on the same day, when its ticks
    before ``from_ns`` were those of ``ticks``. The causal columns (:data:`CAUSAL`) of the
    trades before ``from_ns`` are then taken from it and only the later trades are computed,
    each kernel on a slice that starts its look-back before them (the intraday update of a
    live day: a pass costs the new trades, not the day). The whole-day columns (ACD, jump and
    signal, which depend on the day so far) are computed on the whole day either way, so the
    result is the same array for array."""
    p = params or SignalParams()
    n_sym = ticks.n_symbols
    t = ticks.trades
    ts_ = ticks.trade_starts
    causal = _causal(ticks, p) if prev is None else _causal_from(ticks, p, *prev)
    stats, tick, lr = causal, causal["tick_sign"], causal["lr_sign"]
    dur = trade_durations(t["ts_ns"], ts_)
    phi = diurnal_factor(t["ts_ns"], ts_, ticks.open_ns, (ticks.close_ns - ticks.open_ns) / _S, durations=dur)
    # In place from here on: each fresh 10M-row array costs its page faults.
    x = np.divide(dur, phi, out=dur)
    acd = fit_acd11_grouped(x, ts_)
    psi = acd["psi"]
    acd_duration = np.multiply(psi, phi, out=phi)
    n_trades = np.diff(ts_)
    crit = np.full(n_sym, np.nan)
    ok = n_trades > 2
    crit[ok] = lm_critical_value(n_trades[ok], p.lm_alpha)
    rule = signal_rule(ts_, stats, lr, crit, p.signal_z, p.signal_intensity_z)
    columns = {
        "sym": rule["sym"], "trade_no": rule["trade_no"], "ts": t["ts_ns"], "price": t["price"], "size": t["size"],
        "log_return": stats["log_return"], "std_return": stats["std_return"], "lm_stat": stats["lm_stat"],
        "bns_z": stats["bns_z"], "intensity_z": stats["intensity_z"], "acd_duration": acd_duration,
        "acd_surprise": np.divide(x, psi, out=x), "tick_sign": tick, "lr_sign": lr, "jump": rule["jump"],
        "signal": rule["signal"],
    }
    return columns, acd


def compute_signals(ticks: DayTicks, close_1m: np.ndarray, volume_1m: np.ndarray,
                    params: SignalParams | None = None, prev_suite: tuple[dict[str, np.ndarray], int] | None = None,
                    ) -> dict[str, dict[str, np.ndarray]]:
    """All signal tables of one day (see the module docstring); ``prev_suite``: see
    :func:`trade_suite`."""
    p = params or SignalParams()
    n_sym, n_min = ticks.n_symbols, ticks.n_minutes
    t, q = ticks.trades, ticks.quotes
    ts_, qs = ticks.trade_starts, ticks.quote_starts
    step_ns = p.grid_seconds * _S
    n_steps = (ticks.close_ns - ticks.open_ns) // step_ns
    per_bar = p.measure_bar_minutes * 60 // p.grid_seconds
    if n_min % p.measure_bar_minutes or n_steps % per_bar:
        raise ValueError("the session must divide into whole measure bars and grid steps")
    n_bars = n_min // p.measure_bar_minutes
    bar_ns = p.measure_bar_minutes * 60 * _S

    # --- grid returns: realized measures, jump tests, GARCH
    mid = (q["bid"] + q["ask"]) / 2.0
    r = grid_log_returns(q["ts_ns"], mid, qs, ticks.open_ns, step_ns, n_steps)
    day_bns = bns_test(r, n_steps)
    bar_bns = bns_by_bar(r, n_sym, per_bar)
    lm = lee_mykland(r, n_steps, K=p.lm_window, alpha=p.lm_alpha)
    grid_starts = np.arange(0, n_sym * n_steps + 1, n_steps, dtype=np.int64)
    garch = fit_garch11_grouped(np.nan_to_num(r, nan=0.0), grid_starts)
    bar_end = (np.arange(n_sym * n_bars) % n_bars + 1) * per_bar - 1 + (np.arange(n_sym * n_bars) // n_bars) * n_steps
    lm_abs = np.abs(lm["L"]).reshape(n_sym * n_bars, per_bar)
    lm_jump = lm["jump"].reshape(n_sym * n_bars, per_bar)

    suite, acd = trade_suite(ticks, p, prev_suite)
    tick, lr, n_trades = suite["tick_sign"], suite["lr_sign"], np.diff(ts_)
    trade_sym = suite["sym"]

    # --- per measure bar: flow and liquidity
    rel = t["ts_ns"] - ticks.open_ns
    tbin = np.where((rel >= 0) & (rel < n_bars * bar_ns), trade_sym * n_bars + rel // bar_ns, -1)
    ofi = ofi_by_bar(q["ts_ns"], q["bid"], q["bid_size"], q["ask"], q["ask_size"], qs, ticks.open_ns, bar_ns, n_bars)
    buy_share, vpin_1m, vpin_day = bvc_vpin(close_1m, volume_1m, n_sym, n_min, n_buckets=p.vpin_buckets,
                                            window=p.vpin_buckets)
    per_min = p.measure_bar_minutes
    buy_vol = (buy_share * volume_1m).reshape(n_sym * n_bars, per_min)
    vol_bar = volume_1m.reshape(n_sym * n_bars, per_min).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        bvc_share = np.where(vol_bar > 0, np.nansum(buy_vol, axis=1) / vol_bar, np.nan)
    vpin_bar = vpin_1m.reshape(n_sym * n_bars, per_min)[:, -1]
    tq = (t["ts_ns"], t["price"])
    roll_bar, roll_day = roll_spread(*tq, ts_, ticks.open_ns, bar_ns, n_bars)
    kyle_bar, kyle_day = kyle_lambda(*tq, t["size"], lr, ts_, q["ts_ns"], q["bid"], q["ask"], qs, ticks.open_ns,
                                     bar_ns, n_bars)
    amihud_bar, amihud_day = amihud(*tq, t["size"], ts_, ticks.open_ns, bar_ns, n_bars)
    spr = spreads(*tq, t["size"], lr, ts_, q["ts_ns"], q["bid"], q["ask"], qs, ticks.open_ns, bar_ns, n_bars,
                  delay_ns=p.realized_spread_seconds * _S, per_trade=False)

    bar_sym = np.repeat(np.arange(n_sym, dtype=np.int64), n_bars)
    bar_ts = ticks.open_ns + np.tile(np.arange(n_bars, dtype=np.int64), n_sym) * bar_ns
    bns_crit = NormalDist().inv_cdf(1.0 - p.bns_alpha)
    with np.errstate(invalid="ignore"):
        bns_jump = bar_bns["z"] > bns_crit
    bar_measures = {
        "sym": bar_sym, "interval_min": np.full(n_sym * n_bars, p.measure_bar_minutes, np.int64), "ts": bar_ts,
        "rv": bar_bns["rv"], "bv": bar_bns["bv"], "bns_rj": bar_bns["rj"], "bns_z": bar_bns["z"],
        "bns_p": bar_bns["p"], "bns_jump": bns_jump,
        "lm_max_abs": np.fmax.reduce(lm_abs, axis=1),  # NaN-skipping; NaN when the bar has none
        "lm_jumps": lm_jump.sum(axis=1).astype(np.int64),
        "garch_sigma": garch["sigma"][bar_end],
        "ofi": ofi,
        "signed_volume_tick": _bin_sum(tick * t["size"], tbin, n_sym * n_bars),
        "signed_volume_lr": _bin_sum(lr * t["size"], tbin, n_sym * n_bars),
        "bvc_buy_share": bvc_share, "vpin": vpin_bar, "roll_spread": roll_bar, "kyle_lambda": kyle_bar,
        "amihud": amihud_bar, "effective_spread": spr["effective_bar"], "realized_spread": spr["realized_bar"],
    }

    size = t["size"]
    with np.errstate(invalid="ignore", divide="ignore"):
        tick_buy = np.bincount(trade_sym, weights=size * (tick == 1), minlength=n_sym) / np.bincount(
            trade_sym, weights=size * (tick != 0), minlength=n_sym)
        lr_buy = np.bincount(trade_sym, weights=size * (lr == 1), minlength=n_sym) / np.bincount(
            trade_sym, weights=size * (lr != 0), minlength=n_sym)
    daily = {
        "sym": np.arange(n_sym, dtype=np.int64), "trades": n_trades.astype(np.int64),
        "returns": day_bns["n"].astype(np.int64), "rv": day_bns["rv"], "bv": day_bns["bv"], "tq": day_bns["tq"],
        "bns_rj": day_bns["rj"], "bns_z": day_bns["z"], "bns_p": day_bns["p"],
        "lm_critical": lm["threshold"], "lm_alpha": np.full(n_sym, p.lm_alpha),
        "lm_jumps": lm["jump"].reshape(n_sym, n_steps).sum(axis=1).astype(np.int64),
        "garch_omega": garch["omega"], "garch_alpha": garch["alpha"], "garch_beta": garch["beta"],
        "garch_loglik": garch["loglik"], "garch_persistence": garch["alpha"] + garch["beta"],
        "garch_converged": garch["converged"].astype(bool),
        "acd_omega": acd["omega"], "acd_alpha": acd["alpha"], "acd_beta": acd["beta"], "acd_loglik": acd["loglik"],
        "acd_converged": acd["converged"],
        "tick_buy_share": tick_buy, "lr_buy_share": lr_buy, "vpin": vpin_day,
        "ofi": np.nansum(ofi.reshape(n_sym, n_bars), axis=1), "roll_spread": roll_day, "kyle_lambda": kyle_day,
        "amihud": amihud_day, "effective_spread": spr["effective_day"], "realized_spread": spr["realized_day"],
    }

    # --- jump events: LM detections on the grid, BNS-flagged bars
    hit = np.flatnonzero(lm["jump"])
    lm_sym = hit // n_steps
    lm_ev = {"sym": lm_sym, "ts": ticks.open_ns + (hit % n_steps + 1) * step_ns, "test": np.zeros(hit.size, np.int64),
             "statistic": lm["L"][hit], "critical": lm["threshold"][lm_sym], "log_return": r[hit],
             "local_sd": lm["sigma"][hit]}
    bh = np.flatnonzero(bns_jump)
    bar_ret = np.nansum(r.reshape(n_sym * n_bars, per_bar), axis=1)
    bns_ev = {"sym": bar_sym[bh], "ts": bar_ts[bh], "test": np.ones(bh.size, np.int64),
              "statistic": bar_bns["z"][bh], "critical": np.full(bh.size, bns_crit), "log_return": bar_ret[bh],
              "local_sd": np.sqrt(bar_bns["bv"][bh] / per_bar)}
    jump_events = {k: np.concatenate([lm_ev[k], bns_ev[k]]) for k in lm_ev}
    return {"trade_signals": suite, "bar_measures": bar_measures, "daily_measures": daily,
            "jump_events": jump_events}
