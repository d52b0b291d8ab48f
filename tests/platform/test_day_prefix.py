"""Every derived quantity on any prefix of a day: what a live session computes at minute m.

A simulated day and the real LOBSTER day are cut at times Hypothesis picks (derandomized:
the same cuts on every run, replayable; a few explicit ones where the GARCH fit crashed) and
bars, indicators, signals and measures, anomalies and features are computed on the prefix:
no exception, no infinity anywhere, and for every causal quantity a closed minute (bar,
trade, measure bar) of the prefix equals the same minute computed on the whole day.

Not causal by design, and so only checked for finiteness: the whole-day fits and the
statistics normalised by the day (GARCH sigma, ACD duration and surprise, the per-trade jump
flag and signal, whose Lee-Mykland threshold depends on the day's trade count, BVC buy share
and VPIN, whose buckets are sized by the day's volume, realized spreads, which look 5 minutes
ahead) and the targets (the next bar's return)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.platform.day_suite import MIN_NS, Suite, cut, derive_all, sim_columns
from tickflow.feed.lobster import load_lobster
from tickflow.ml.features import FEATURE_NAMES
from tickflow.simulate.day import simulate_day
from tickflow.store.day_ticks import DayTicks, from_columns

S = 1_000_000_000
DAY = dt.date(2024, 6, 21)
LOBSTER = Path(__file__).resolve().parents[1] / "data" / "lobster" / "AMZN_2012-06-21_34200000_57600000_message_1.csv.gz"

BAR_COLS = ("open", "high", "low", "close", "volume", "vwap", "dollar_volume", "trades", "twap_spread", "close_mid",
            "quotes")
TRADE_COLS = ("ts", "price", "size", "log_return", "std_return", "lm_stat", "bns_z", "intensity_z", "tick_sign",
              "lr_sign", "trade_no")
MEASURE_COLS = ("rv", "bv", "bns_rj", "bns_z", "bns_p", "bns_jump", "lm_max_abs", "lm_jumps", "ofi",
                "signed_volume_tick", "signed_volume_lr", "roll_spread", "kyle_lambda", "amihud", "effective_spread")
ANOMALY_COLS = ("price_spike", "volume_surge", "rsi_overbought", "rsi_oversold", "ret", "volume_ratio")
PROPS = settings(max_examples=4, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def equal(a: np.ndarray, b: np.ndarray, what: str) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, what
    if a.dtype.kind == "f":
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=f"{what}: NaN at different rows")
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(a, b, err_msg=what)


def no_infinity(s: Suite, where: str) -> None:
    tables = {**{f"bars_{k}": v for k, v in s.bars.items()}, "indicators": s.indicators, **s.signals,
              "anomalies": s.anomalies}
    for table, cols in tables.items():
        for name, v in cols.items():
            v = np.asarray(v)
            if v.dtype.kind == "f":
                assert not np.isinf(v).any(), f"{where}: {table}.{name} has infinities"
    num = s.features.drop(columns=["sym"]).to_numpy(np.float64)
    assert not np.isinf(num).any(), f"{where}: features have infinities"


def check_prefix(whole_ticks: DayTicks, whole: Suite, cut_ns: int) -> None:
    part_ticks = cut(whole_ticks, cut_ns)
    part = derive_all(part_ticks)
    where = f"cut at {(cut_ns - whole_ticks.open_ns) / S:.0f}s"
    no_infinity(part, where)
    n_sym = whole_ticks.n_symbols

    # bars at 1/5/15 minutes: every bar that ended before the cut
    for interval, b in whole.bars.items():
        closed = b["ts"] + interval * MIN_NS < cut_ns
        for c in BAR_COLS:
            equal(part.bars[interval][c][closed], b[c][closed], f"{where}: bars_{interval}m.{c}")
        has_quote = np.repeat(np.diff(part_ticks.quote_starts) > 0, b["ts"].size // n_sym)
        assert np.isfinite(part.bars[interval]["close"][closed & has_quote]).all(), where
    minute_closed = whole.bars[1]["ts"] + MIN_NS < cut_ns
    for k, v in whole.indicators.items():
        equal(part.indicators[k][minute_closed], v[minute_closed], f"{where}: indicators.{k}")
    for k in ANOMALY_COLS:
        equal(part.anomalies[k][minute_closed], whole.anomalies[k][minute_closed], f"{where}: anomalies.{k}")

    # per trade: the prefix holds exactly the trades before the cut, in the same order
    wt, pt = whole.signals["trade_signals"], part.signals["trade_signals"]
    before = wt["ts"] < cut_ns
    assert pt["ts"].size == int(before.sum()), where
    for c in TRADE_COLS:
        equal(pt[c], wt[c][before], f"{where}: trade_signals.{c}")

    wm, pm = whole.signals["bar_measures"], part.signals["bar_measures"]
    m_closed = wm["ts"] + wm["interval_min"] * MIN_NS < cut_ns
    for c in MEASURE_COLS:
        equal(pm[c][m_closed], wm[c][m_closed], f"{where}: bar_measures.{c}")

    f_closed = whole.features["ts"].to_numpy() + MIN_NS < cut_ns
    for c in FEATURE_NAMES:
        equal(part.features[c].to_numpy()[f_closed], whole.features[c].to_numpy()[f_closed], f"{where}: features.{c}")
    target_known = whole.features["ts"].to_numpy() + 2 * MIN_NS < cut_ns
    equal(part.features["target"].to_numpy()[target_known], whole.features["target"].to_numpy()[target_known],
          f"{where}: features.target")


@pytest.fixture(scope="module")
def simulated() -> tuple[DayTicks, Suite]:
    sim = simulate_day(DAY, n_symbols=4, seed=21, trades_per_symbol=3000, quotes_per_symbol=6000)
    ticks = from_columns(DAY, sim.symbols, *sim_columns(sim))
    return ticks, derive_all(ticks)


@pytest.fixture(scope="module")
def lobster() -> tuple[DayTicks, Suite]:
    if not LOBSTER.exists():
        pytest.fail(f"the LOBSTER sample is missing: {LOBSTER}")
    day, sym, trades, quotes = load_lobster(LOBSTER)
    ticks = from_columns(day, [sym], trades, quotes)
    return ticks, derive_all(ticks)


SESSION_S = 390 * 60


@PROPS
@given(at_s=st.integers(0, SESSION_S))
@example(at_s=1)
@example(at_s=12 * 60 + 7)  # the partly filled days that crashed the GARCH fit
@example(at_s=35 * 60)
@example(at_s=SESSION_S)
def test_simulated_day_prefix(simulated, at_s: int) -> None:  # type: ignore[no-untyped-def]
    ticks, whole = simulated
    check_prefix(ticks, whole, ticks.open_ns + at_s * S)


@PROPS
@given(at_s=st.integers(0, SESSION_S))
@example(at_s=12 * 60 + 7)
def test_lobster_day_prefix(lobster, at_s: int) -> None:  # type: ignore[no-untyped-def]
    ticks, whole = lobster
    check_prefix(ticks, whole, ticks.open_ns + at_s * S)
