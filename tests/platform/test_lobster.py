"""The real NASDAQ day (LOBSTER AMZN 2012-06-21) through bars and the whole signal suite.

Executions become trades, the level-1 book becomes quotes (tickflow.feed.lobster). Bar
volume must reconcile with the executions, every signal must be finite where defined,
and the day's realized variance, GARCH fit and jump tests are printed into the test log."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tickflow.derive.bars import compute_bars
from tickflow.derive.signals import compute_signals
from tickflow.feed.lobster import load_lobster
from tickflow.store.day_ticks import from_columns

# The workspace's ../shared/data/lobster, vendored gzip-compressed so any clone can run this.
LOBSTER = Path(__file__).resolve().parents[1] / "data" / "lobster"
MESSAGES = LOBSTER / "AMZN_2012-06-21_34200000_57600000_message_1.csv.gz"


@pytest.fixture(scope="module")
def amzn():  # type: ignore[no-untyped-def]
    if not MESSAGES.exists():
        pytest.fail(f"the LOBSTER sample is missing: {MESSAGES}")
    day, sym, trades, quotes = load_lobster(MESSAGES)
    ticks = from_columns(day, [sym], trades, quotes)
    bars = compute_bars(ticks)
    sig = compute_signals(ticks, bars[1]["close"], bars[1]["volume"])
    return ticks, bars, sig


def test_loader_reads_executions_and_book() -> None:
    day, sym, trades, quotes = load_lobster(MESSAGES)
    assert (str(day), sym) == ("2012-06-21", "AMZN")
    # 57,514 messages; executions (types 4, 5) only, aggressor side opposite the resting order.
    assert 10_000 < trades["ts_ns"].size < 20_000 and set(np.unique(trades["side"])) == {-1, 1}
    assert np.all(quotes["ask"] > quotes["bid"]) and 200 < np.median(quotes["bid"]) < 250


def test_bar_volume_reconciles_with_executions(amzn) -> None:  # type: ignore[no-untyped-def]
    ticks, bars, _ = amzn
    executed = ticks.trades["size"].sum()
    assert executed > 0
    for interval, b in bars.items():
        assert b["volume"].sum() == pytest.approx(executed, rel=1e-12), interval
        assert b["trades"].sum() == ticks.trades["size"].size
        assert len(b["close"]) == 390 // interval
        assert np.all(b["high"] >= np.maximum(b["open"], b["close"]))
        assert np.all(b["low"] <= np.minimum(b["open"], b["close"]))
        assert np.all((b["vwap"] >= b["low"]) & (b["vwap"] <= b["high"]))


def test_every_signal_is_finite_where_defined(amzn, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    ticks, _, sig = amzn
    for table, cols in sig.items():
        for name, values in cols.items():
            v = np.asarray(values)
            if v.dtype.kind == "f":
                assert not np.isinf(v).any(), f"{table}.{name} has infinities"
    daily = sig["daily_measures"]
    for key in ("rv", "bv", "bns_z", "bns_p", "garch_omega", "garch_alpha", "garch_beta", "garch_loglik",
                "acd_alpha", "acd_beta", "vpin", "effective_spread", "realized_spread", "roll_spread", "amihud"):
        assert np.isfinite(daily[key][0]), key
    assert 0 <= daily["bns_p"][0] <= 1
    assert daily["garch_alpha"][0] + daily["garch_beta"][0] < 1
    side = ticks.trades["side"]
    lr = sig["trade_signals"]["lr_sign"]
    accuracy = float(np.mean(lr[lr != 0] == side[lr != 0]))
    report = {
        "day": str(ticks.day), "trades": int(side.size), "quotes": int(ticks.quotes["ts_ns"].size),
        "realized_variance_10s": float(daily["rv"][0]), "bipower_variation_10s": float(daily["bv"][0]),
        "realized_vol_annualized": float(np.sqrt(252 * daily["rv"][0])),
        "bns": {"rj": float(daily["bns_rj"][0]), "z": float(daily["bns_z"][0]), "p": float(daily["bns_p"][0])},
        "lee_mykland": {"critical": float(daily["lm_critical"][0]), "jumps": int(daily["lm_jumps"][0])},
        "garch11": {k: float(daily[f"garch_{k}"][0]) for k in ("omega", "alpha", "beta", "loglik")},
        "acd11": {k: float(daily[f"acd_{k}"][0]) for k in ("omega", "alpha", "beta")},
        "vpin": float(daily["vpin"][0]), "effective_spread": float(daily["effective_spread"][0]),
        "lee_ready_accuracy_vs_lobster_side": round(accuracy, 4),
        "jump_events": int(sig["jump_events"]["ts"].size),
    }
    with capsys.disabled():
        print("\nLOBSTER AMZN 2012-06-21:", json.dumps(report, indent=1))
    # Executions at the touch: Lee-Ready should classify nearly all of them (LOBSTER knows the side).
    assert accuracy > 0.9
