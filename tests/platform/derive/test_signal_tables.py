"""The stored signal tables, value by value, on a simulated day: what ``run_signals`` writes
(read back with ``tests.platform.derived_reading.read_day``) against the kernels run here on the stored ticks,
and the jump events against the simulator's ground truth. ``run_anomalies`` on a day with
planted anomalies: a price jump, a volume surge and the RSI extremes they cause."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from statistics import NormalDist

import numpy as np
import pandas as pd
import psycopg
import pytest

from tests.platform.derived_reading import read_day
from tickflow.derive import entry_points
from tickflow.derive.jump_truth import score_detections
from tickflow.derive.signals import SignalParams
from tickflow.kernels.flow import lee_ready, prevailing_quote, tick_rule
from tickflow.kernels.garch import fit_garch11_grouped
from tickflow.kernels.jumps import bns_by_bar, lee_mykland, lm_critical_value
from tickflow.kernels.liquidity import spreads
from tickflow.kernels.sampling import grid_log_returns
from tickflow.simulate.day import simulate_day
from tickflow.simulate.to_store import write_simulated_day
from tickflow.stack.postgres import PgServer
from tickflow.store import derived
from tickflow.store.day_ticks import DayTicks, load_day_ticks
from tickflow.store.schema import ensure_schema

DAY = dt.date(2024, 6, 21)
P = SignalParams()
S = 1_000_000_000


def _ns(col: pd.Series) -> np.ndarray:
    return pd.DatetimeIndex(pd.to_datetime(col, utc=True)).as_unit("ns").asi8


@pytest.fixture(scope="module")
def fresh_db(pg_plain: PgServer) -> Iterator[callable]:  # type: ignore[valid-type]
    made: list[str] = []

    def make() -> str:
        name = f"t_sig_{len(made)}_{np.random.default_rng().integers(1 << 40):x}"
        made.append(name)
        dsn = pg_plain.ensure_database(name)
        ensure_schema(dsn)
        return dsn

    yield make
    with psycopg.connect(pg_plain.dsn(), autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def signal_day(fresh_db) -> tuple[str, object, DayTicks]:  # type: ignore[no-untyped-def]
    """4 symbols, ~4 jumps each, through run_bars and run_signals."""
    dsn = fresh_db()
    sim = simulate_day(DAY, n_symbols=4, seed=21, trades_per_symbol=6000, quotes_per_symbol=12000,
                       jumps_per_symbol=4.0)
    write_simulated_day(dsn, sim)
    entry_points.run_bars(dsn, DAY)
    entry_points.run_signals(dsn, DAY)
    return dsn, sim, load_day_ticks(dsn, DAY)


def _grid(ticks: DayTicks) -> tuple[np.ndarray, int, int, int]:
    step = P.grid_seconds * S
    n_steps = (ticks.close_ns - ticks.open_ns) // step
    q = ticks.quotes
    r = grid_log_returns(q["ts_ns"], (q["bid"] + q["ask"]) / 2.0, ticks.quote_starts, ticks.open_ns, step, n_steps)
    return r, step, n_steps, P.measure_bar_minutes * 60 // P.grid_seconds


def test_jump_events_are_the_lee_mykland_flags_and_the_bns_bars(signal_day) -> None:  # type: ignore[no-untyped-def]
    dsn, _, ticks = signal_day
    r, step, n_steps, per_bar = _grid(ticks)
    lm = lee_mykland(r, n_steps, K=P.lm_window, alpha=P.lm_alpha)
    ev = read_day(dsn, derived.JUMP_EVENTS, DAY)
    stored = ev[ev["test"] == "lee_mykland"]
    rows = []
    for s, sym in enumerate(ticks.symbols):
        for k in np.flatnonzero(lm["jump"][s * n_steps:(s + 1) * n_steps]):
            i = s * n_steps + k
            rows.append((sym, ticks.open_ns + (k + 1) * step, lm["L"][i], lm["threshold"][s], r[i], lm["sigma"][i]))
    expected = pd.DataFrame(rows, columns=["sym", "ts", "statistic", "critical", "log_return", "local_sd"])
    expected = expected.sort_values(["sym", "ts"]).reset_index(drop=True)
    got = stored.assign(ts=_ns(stored["ts"]))[expected.columns].sort_values(["sym", "ts"]).reset_index(drop=True)
    assert len(expected) >= 8, "the simulated day should hold Lee-Mykland detections"
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-12)

    # BNS events: one per bar whose BNS z exceeds the one-sided critical value.
    n_sym = ticks.n_symbols
    bb = bns_by_bar(r, n_sym, per_bar)
    crit = NormalDist().inv_cdf(1 - P.bns_alpha)
    n_bars = n_steps // per_bar
    flagged = {(ticks.symbols[b // n_bars], ticks.open_ns + (b % n_bars) * per_bar * step)
               for b in np.flatnonzero(np.nan_to_num(bb["z"], nan=-np.inf) > crit)}
    bns = ev[ev["test"] == "bns"]
    assert set(zip(bns["sym"], _ns(bns["ts"]).tolist(), strict=True)) == flagged
    bars = read_day(dsn, derived.BAR_MEASURES, DAY)
    assert set(zip(bars.loc[bars["bns_jump"], "sym"], _ns(bars.loc[bars["bns_jump"], "ts"]).tolist(),
                   strict=True)) == flagged
    assert np.allclose(bns["critical"], crit)


def test_stored_garch_sigma_is_the_kernels_sigma_at_bar_ends(signal_day) -> None:  # type: ignore[no-untyped-def]
    dsn, _, ticks = signal_day
    r, _, n_steps, per_bar = _grid(ticks)
    starts = np.arange(0, r.size + 1, n_steps)
    sigma = fit_garch11_grouped(np.nan_to_num(r, nan=0.0), starts)["sigma"]
    bars = read_day(dsn, derived.BAR_MEASURES, DAY)
    n_bars = n_steps // per_bar
    assert len(bars) == ticks.n_symbols * n_bars
    for s, sym in enumerate(ticks.symbols):
        got = bars.loc[bars["sym"] == sym, "garch_sigma"].to_numpy(np.float64)
        # the sigma of the last grid return inside each bar
        want = np.array([sigma[s * n_steps + (b + 1) * per_bar - 1] for b in range(n_bars)])
        assert np.all(np.isfinite(want))
        np.testing.assert_allclose(got, want, rtol=1e-12)
        # not the bar's first return, not the day's last
        assert not np.allclose(got, [sigma[s * n_steps + b * per_bar] for b in range(n_bars)], rtol=1e-9)


def test_stored_spreads_are_the_effective_and_realized_spreads(signal_day) -> None:  # type: ignore[no-untyped-def]
    dsn, _, ticks = signal_day
    t, q = ticks.trades, ticks.quotes
    bid_at, ask_at = prevailing_quote(t["ts_ns"], ticks.trade_starts, q["ts_ns"], q["bid"], q["ask"],
                                      ticks.quote_starts)
    lr = lee_ready(t["price"], bid_at, ask_at, tick_rule(t["price"], ticks.trade_starts))
    bar_ns = P.measure_bar_minutes * 60 * S
    n_bars = ticks.n_minutes // P.measure_bar_minutes
    spr = spreads(t["ts_ns"], t["price"], t["size"], lr, ticks.trade_starts, q["ts_ns"], q["bid"], q["ask"],
                  ticks.quote_starts, ticks.open_ns, bar_ns, n_bars, delay_ns=P.realized_spread_seconds * S)
    bars = read_day(dsn, derived.BAR_MEASURES, DAY)
    np.testing.assert_allclose(bars["effective_spread"].to_numpy(np.float64), spr["effective_bar"], rtol=1e-12)
    np.testing.assert_allclose(bars["realized_spread"].to_numpy(np.float64), spr["realized_bar"], rtol=1e-12)
    day = read_day(dsn, derived.DAILY_MEASURES, DAY)
    np.testing.assert_allclose(day["effective_spread"].to_numpy(np.float64), spr["effective_day"], rtol=1e-12)
    np.testing.assert_allclose(day["realized_spread"].to_numpy(np.float64), spr["realized_day"], rtol=1e-12)
    # The two differ (the quotes move after a trade), so a swap cannot pass unnoticed;
    # and the effective spread is what a trade pays: positive on average.
    assert not np.allclose(spr["effective_day"], spr["realized_day"])
    assert (day["effective_spread"] > 0).all()


def test_stored_signals_follow_the_rule(signal_day) -> None:  # type: ignore[no-untyped-def]
    """Each stored signal recomputed from the row's own stored statistics with the rule as
    README states it; the day has BUYs, SELLs and HOLDs."""
    dsn, _, ticks = signal_day
    ts = read_day(dsn, derived.TRADE_SIGNALS, DAY)
    assert len(ts) == ticks.trades["ts_ns"].size
    n = ts.groupby("sym")["trade_no"].transform("size").to_numpy()
    crit = lm_critical_value(n, P.lm_alpha)
    lm = ts["lm_stat"].to_numpy(np.float64)
    r = ts["log_return"].to_numpy(np.float64)
    z = ts["std_return"].to_numpy(np.float64)
    iz = ts["intensity_z"].to_numpy(np.float64)
    sign = ts["lr_sign"].to_numpy()
    with np.errstate(invalid="ignore"):
        jump = np.abs(lm) > crit
        burst = iz > P.signal_intensity_z
        buy = (jump & (r > 0)) | ((sign == 1) & (z > P.signal_z) & burst)
        sell = (jump & (r < 0)) | ((sign == -1) & (z < -P.signal_z) & burst)
    want = np.where(buy & ~sell, 1, np.where(sell & ~buy, -1, 0))
    assert ts["jump"].to_numpy().tolist() == jump.tolist()
    got = ts["signal"].to_numpy()
    assert (got == want).all(), int((got != want).sum())
    counts = {k: int((got == k).sum()) for k in (1, -1, 0)}
    assert counts[1] >= 5 and counts[-1] >= 5 and counts[0] > 0.9 * len(got), counts


def test_jump_events_find_the_simulated_jumps(signal_day) -> None:  # type: ignore[no-untyped-def]
    dsn, sim, _ = signal_day
    ev = read_day(dsn, derived.JUMP_EVENTS, DAY)
    lm = ev[ev["test"] == "lee_mykland"]
    score = score_detections(pd.DataFrame({"sym": lm["sym"], "ts": _ns(lm["ts"])}), sim.jumps,
                             P.grid_seconds * S)
    tot = score.sum(numeric_only=True)
    precision = tot["hits"] / tot["detections"]
    recall = tot["found"] / tot["true_jumps"]
    assert tot["true_jumps"] >= 8
    assert precision >= 0.9 and recall >= 0.8, score


# ----------------------------------------------------------------------------- anomalies

SPIKE_MIN, SURGE_MIN = 120, 250  # session minutes of the planted price jump and volume surge


@pytest.fixture(scope="module")
def anomaly_day(fresh_db):  # type: ignore[no-untyped-def]
    """Symbol 0's prices (trades and quotes) jump 8 % inside minute SPIKE_MIN; symbol 1's
    trade sizes are 40x inside minute SURGE_MIN."""
    dsn = fresh_db()
    sim = simulate_day(DAY, n_symbols=3, seed=5, trades_per_symbol=4000, quotes_per_symbol=8000,
                       jumps_per_symbol=0.0)
    at = sim.open_ns + SPIKE_MIN * 60 * S + 30 * S
    t, q = sim.trades, sim.quotes
    up = (t["sym_idx"] == 0) & (t["ts_ns"] >= at)
    t["price"][up] = np.round(t["price"][up] * 1.08, 2)
    qup = (q["sym_idx"] == 0) & (q["ts_ns"] >= at)
    for c in ("bid_price", "ask_price", "mid_true"):
        q[c][qup] = np.round(q[c][qup] * 1.08, 2)
    lo, hi = sim.open_ns + SURGE_MIN * 60 * S, sim.open_ns + (SURGE_MIN + 1) * 60 * S
    surge = (t["sym_idx"] == 1) & (t["ts_ns"] >= lo) & (t["ts_ns"] < hi)
    assert surge.sum() >= 3
    t["size"][surge] *= 40
    write_simulated_day(dsn, sim)
    entry_points.run_bars(dsn, DAY)
    entry_points.run_indicators(dsn, DAY)
    report = entry_points.run_anomalies(dsn, DAY)
    return dsn, sim, report


def test_anomalies_are_the_planted_spike_surge_and_rsi_extremes(anomaly_day) -> None:  # type: ignore[no-untyped-def]
    dsn, sim, report = anomaly_day
    bars = read_day(dsn, derived.BARS, DAY, interval_min=1)
    ind = read_day(dsn, derived.INDICATORS, DAY)
    expected = []
    for sym, b in bars.groupby("sym", sort=True):
        close, vol = b["close"].astype(float), b["volume"].astype(float)
        ret = close / close.shift(1) - 1
        ratio = vol / vol.shift(1).rolling(20).mean()
        rsi = ind.loc[ind["sym"] == sym, "rsi_14"].astype(float).to_numpy()
        for i, ts in enumerate(_ns(b["ts"])):
            if abs(ret.iloc[i]) > 0.05:
                expected.append((sym, ts, "price_spike", ret.iloc[i], 0.05))
            if ratio.iloc[i] > 3.0:
                expected.append((sym, ts, "volume_surge", ratio.iloc[i], 3.0))
            if rsi[i] > 70:
                expected.append((sym, ts, "rsi_overbought", rsi[i], 70.0))
            if rsi[i] < 30:
                expected.append((sym, ts, "rsi_oversold", rsi[i], 30.0))
    cols = ["sym", "ts", "kind", "value", "threshold"]
    want = pd.DataFrame(expected, columns=cols).sort_values(["sym", "kind", "ts"]).reset_index(drop=True)
    stored = read_day(dsn, derived.ANOMALIES, DAY)
    got = stored.assign(ts=_ns(stored["ts"]))[cols].sort_values(["sym", "kind", "ts"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-9)

    open_ns = sim.open_ns
    spikes = got[got["kind"] == "price_spike"]
    # the planted jump, and nothing else moved 5 % in a minute
    assert spikes[["sym", "ts"]].values.tolist() == [[sim.symbols[0], open_ns + SPIKE_MIN * 60 * S]]
    assert spikes["value"].iloc[0] == pytest.approx(0.08, abs=0.01)
    surges = got[(got["kind"] == "volume_surge") & (got["sym"] == sim.symbols[1])]
    assert open_ns + SURGE_MIN * 60 * S in surges["ts"].tolist()
    assert surges.loc[surges["ts"] == open_ns + SURGE_MIN * 60 * S, "value"].iloc[0] > 10
    over = got[(got["kind"] == "rsi_overbought") & (got["sym"] == sim.symbols[0])]
    assert open_ns + SPIKE_MIN * 60 * S in over["ts"].tolist()  # an 8 % jump overbuys the RSI
    assert (got["kind"] == "rsi_oversold").any()
    assert report.metadata("anomalies")["count_price_spike"] == 1
