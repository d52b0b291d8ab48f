"""The day's checks can fail where it matters: a wrong VWAP is not hidden by clipping, bar
volume is reconciled with the stored day (rows lost on load are caught), and a day that
fails is not written."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import psycopg
import pytest

from tickflow.derive import bars as bars_mod
from tickflow.derive import entry_points
from tickflow.quality.expectations import bar_checks
from tickflow.simulate.day import simulate_day
from tickflow.simulate.to_store import write_simulated_day
from tickflow.store.day_ticks import DayTicks, from_columns, load_day_ticks

DAY = dt.date(2024, 6, 21)


def _ticks() -> DayTicks:
    sim = simulate_day(DAY, n_symbols=2, seed=3, trades_per_symbol=1500, quotes_per_symbol=3000)
    t, q = sim.trades, sim.quotes
    return from_columns(DAY, list(sim.symbols), {"sym": t["sym_idx"], "ts_ns": t["ts_ns"], "price": t["price"],
                                                  "size": t["size"]},
                        {"sym": q["sym_idx"], "ts_ns": q["ts_ns"], "bid": q["bid_price"], "bid_size": q["bid_size"],
                         "ask": q["ask_price"], "ask_size": q["ask_size"]})


def test_rounding_is_clipped_but_a_wrong_vwap_is_not() -> None:
    low, high = np.array([10.0, 10.0, 10.0, 10.0]), np.array([11.0, 11.0, 11.0, 11.0])
    vwap = np.array([10.5, np.nextafter(11.0, 12.0), 10.0 - 1e-13, 11.02])
    out = bars_mod.clip_rounding(vwap, low, high)
    assert list(out[:3]) == [10.5, 11.0, 10.0]
    assert out[3] == 11.02  # a real excursion is left for the check


def test_a_wrong_vwap_fails_vwap_within_range(monkeypatch: pytest.MonkeyPatch) -> None:
    real = bars_mod.minute_bars

    def wrong(*args, **kw):  # type: ignore[no-untyped-def]
        out = real(*args, **kw)
        traded = np.flatnonzero(out["volume"] > 0)[:3]
        out["vwap"][traded] = out["high"][traded] * 1.01  # e.g. dollar volume summed wrong
        out["dollar_volume"][traded] = out["vwap"][traded] * out["volume"][traded]
        return out

    ticks = _ticks()
    good = bars_mod.compute_bars(ticks)[1]
    ok = {o.name: o.passed for o in bar_checks(bars_mod.bars_frame(good, ticks.symbols), 2, ticks.n_minutes)}
    assert ok["vwap_within_range"]
    monkeypatch.setattr(bars_mod, "minute_bars", wrong)
    bad = bars_mod.compute_bars(ticks)
    for interval in (1, 5):
        outcomes = {o.name: o for o in bar_checks(bars_mod.bars_frame(bad[interval], ticks.symbols), 2,
                                                  ticks.n_minutes // interval)}
        assert not outcomes["vwap_within_range"].passed


def test_rows_lost_on_load_fail_the_reconciliation_and_the_day_is_not_written(plain_dsn: str) -> None:
    write_simulated_day(plain_dsn, simulate_day(DAY, n_symbols=2, seed=3, trades_per_symbol=1500,
                                                quotes_per_symbol=3000))
    good = entry_points.run_bars(plain_dsn, DAY)
    assert not good.blocked
    assert all(o.passed for o in entry_points.check_bars(good, "bars_1m"))
    ticks = load_day_ticks(plain_dsn, DAY)
    # The load "loses" 5 trades of the first symbol.
    keep = np.ones(ticks.trades["ts_ns"].size, bool)
    keep[ticks.trade_starts[0] + 10 : ticks.trade_starts[0] + 15] = False
    lossy = DayTicks(DAY, ticks.symbols, ticks.open_ns, ticks.close_ns,
                     {k: v[keep] for k, v in ticks.trades.items()},
                     ticks.trade_starts - np.concatenate([[0], np.full(ticks.n_symbols, 5)]),
                     ticks.quotes, ticks.quote_starts)
    with psycopg.connect(plain_dsn) as conn:
        before = conn.execute("SELECT count(*), sum(volume) FROM bars WHERE day = %s", (DAY,)).fetchone()
    report = entry_points.run_bars(plain_dsn, DAY, ticks=lossy)
    rec = {o.name: o for o in entry_points.check_bars(report, "bars_1m")}["volume_reconciles_with_raw"]
    assert not rec.passed and rec.metadata["mismatched_symbols"] == 1
    assert "bars_1m.volume_reconciles_with_raw" in report.blocked
    with psycopg.connect(plain_dsn) as conn:
        after = conn.execute("SELECT count(*), sum(volume) FROM bars WHERE day = %s", (DAY,)).fetchone()
    assert after == before  # the failed day did not replace the stored one


def test_ticks_are_read_once_per_run_and_again_when_the_ledger_moves(plain_dsn: str, tmp_path,  # type: ignore[no-untyped-def]
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entry_points, "_CACHE_ROOT", tmp_path / "ticks")
    write_simulated_day(plain_dsn, simulate_day(DAY, n_symbols=2, seed=3, trades_per_symbol=500,
                                                quotes_per_symbol=1000))
    reads: list[dt.date] = []
    real = entry_points.load_day_ticks

    def counted(dsn: str, day: dt.date) -> DayTicks:
        reads.append(day)
        return real(dsn, day)

    monkeypatch.setattr(entry_points, "load_day_ticks", counted)
    first = entry_points.day_ticks(plain_dsn, DAY, "run-a")
    assert entry_points.day_ticks(plain_dsn, DAY, "run-a") is first and len(reads) == 1
    entry_points._MEMO.clear()  # another process of the same run: the file cache
    again = entry_points.day_ticks(plain_dsn, DAY, "run-a")
    assert len(reads) == 1 and again is not first
    for k in first.trades:
        np.testing.assert_array_equal(again.trades[k], first.trades[k])
    np.testing.assert_array_equal(again.quote_starts, first.quote_starts)
    assert again.symbols == first.symbols
    entry_points.day_ticks(plain_dsn, DAY, "run-b")  # another run reads the store
    assert len(reads) == 2
    with psycopg.connect(plain_dsn) as conn:  # an ingest commit (late ticks) moves the ledger
        conn.execute("INSERT INTO offset_ledger (topic, partition, start_offset, end_offset, messages, trades, "
                     "quotes, duplicates, dead_letters) VALUES ('trades', 0, 0, 5, 5, 5, 0, 0, 0)")
    entry_points.day_ticks(plain_dsn, DAY, "run-b")
    assert len(reads) == 3


def test_the_vwap_range_includes_odd_lots_that_set_no_high_or_low() -> None:
    # Odd lots (condition 37) count in volume and VWAP but set no high/low: the VWAP can
    # leave [low, high], and its check bounds are widened by exactly those trades' prices.
    from tickflow.conditions import mask_from_codes

    sim = simulate_day(DAY, n_symbols=2, seed=5, trades_per_symbol=1500, quotes_per_symbol=3000)
    t, q = sim.trades, sim.quotes
    mask = mask_from_codes(t["cond"], t["cond_start"], t["cond_len"])
    ticks = from_columns(DAY, list(sim.symbols), {"sym": t["sym_idx"], "ts_ns": t["ts_ns"], "price": t["price"],
                                                  "size": t["size"], "cond_mask": mask},
                         {"sym": q["sym_idx"], "ts_ns": q["ts_ns"], "bid": q["bid_price"],
                          "bid_size": q["bid_size"], "ask": q["ask_price"], "ask_size": q["ask_size"]})
    bars = bars_mod.compute_bars(ticks)
    one = bars[1]
    # reference: pandas over every trade (no condition here forbids volume), per symbol-minute
    tr = ticks.trades
    sym = np.repeat(np.arange(ticks.n_symbols), np.diff(ticks.trade_starts))
    minute = (tr["ts_ns"] - ticks.open_ns) // 60_000_000_000
    ref = pd.DataFrame({"row": sym * ticks.n_minutes + minute, "p": tr["price"]}).groupby("row")["p"].agg(["min", "max"])
    lo = np.fmin(one["low"], pd.Series(ref["min"]).reindex(range(one["low"].size)).to_numpy())
    hi = np.fmax(one["high"], pd.Series(ref["max"]).reindex(range(one["high"].size)).to_numpy())
    np.testing.assert_array_equal(one["vwap_floor"], lo)
    np.testing.assert_array_equal(one["vwap_cap"], hi)
    outside = (one["vwap"] < one["low"]) | (one["vwap"] > one["high"])
    assert outside.any(), "the simulated odd lots should put some VWAPs outside [low, high]"
    for interval, b in bars.items():
        ok = {o.name: o.passed for o in bar_checks(bars_mod.bars_frame(b, ticks.symbols), 2,
                                                       ticks.n_minutes // interval)}
        assert ok["vwap_within_range"], interval
