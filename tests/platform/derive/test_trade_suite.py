"""The per-trade signal suite of a live day computed from its tail: the trades before the
tail keep what an earlier pass computed, the new ones come from a look-back slice, and the
result is the whole day's computation, array for array."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from tickflow import sessions
from tickflow.derive.signals import SignalParams, suite_fits, trade_suite
from tickflow.simulate.day import simulate_day
from tickflow.store.day_ticks import DayTicks, from_columns

DAY = dt.date(2024, 6, 21)
OPEN_NS, CLOSE_NS = sessions.session_bounds_ns(DAY)
MIN = 60_000_000_000


@pytest.fixture(scope="module")
def sim():  # type: ignore[no-untyped-def]
    # one symbol trades rarely: its whole day is shorter than the look-back
    return simulate_day(DAY, n_symbols=4, seed=3, trades_per_symbol=4000, quotes_per_symbol=8000)


def _until(sim, cut_ns: int, drop_symbol_before: int | None = None) -> DayTicks:  # type: ignore[no-untyped-def]
    """The day as stored at ``cut_ns``; ``drop_symbol_before``: symbol 3 trades only from then on."""
    t, q = sim.trades, sim.quotes
    keep_t = t["ts_ns"] < cut_ns
    keep_t &= (t["sym_idx"] != 2) | (np.cumsum(t["sym_idx"] == 2) % 40 == 0)  # symbol 2: a trade in 40
    if drop_symbol_before is not None:
        keep_t &= (t["sym_idx"] != 3) | (t["ts_ns"] >= drop_symbol_before)
    keep_q = q["ts_ns"] < cut_ns
    trades = {"sym": t["sym_idx"][keep_t], "ts_ns": t["ts_ns"][keep_t], "price": t["price"][keep_t],
              "size": t["size"][keep_t], "cond_mask": np.zeros(int(keep_t.sum()), np.int64)}
    quotes = {"sym": q["sym_idx"][keep_q], "ts_ns": q["ts_ns"][keep_q], "bid": q["bid_price"][keep_q],
              "bid_size": q["bid_size"][keep_q], "ask": q["ask_price"][keep_q], "ask_size": q["ask_size"][keep_q]}
    return from_columns(DAY, list(sim.symbols), trades, quotes)


def _assert_equal(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("minutes", [(3, 4, 2), (40, 41, 39), (200, 260, 199), (385, 391, 384)])
def test_the_tail_from_an_earlier_pass_equals_the_whole_day(sim, minutes: tuple[int, int, int]) -> None:  # type: ignore[no-untyped-def]
    earlier_min, now_min, tail_min = minutes
    late_symbol = OPEN_NS + (earlier_min + 0.5) * MIN  # symbol 3 first trades after the earlier pass
    earlier = _until(sim, OPEN_NS + earlier_min * MIN + 7_000_000_000, int(late_symbol))
    now = _until(sim, OPEN_NS + now_min * MIN + 7_000_000_000, int(late_symbol))
    prev, _ = trade_suite(earlier)
    from_ns = OPEN_NS + tail_min * MIN
    assert suite_fits(prev, now, from_ns)
    whole, acd_whole = trade_suite(now)
    tail, acd_tail = trade_suite(now, prev=(prev, from_ns))
    _assert_equal(whole, tail)
    _assert_equal(acd_whole, acd_tail)


def test_an_earlier_pass_over_other_ticks_does_not_fit(sim) -> None:  # type: ignore[no-untyped-def]
    earlier = _until(sim, OPEN_NS + 30 * MIN)
    now = _until(sim, OPEN_NS + 35 * MIN)
    prev, _ = trade_suite(earlier)
    assert suite_fits(prev, now, OPEN_NS + 29 * MIN)
    # a late trade before the tail: the counts differ
    assert not suite_fits(prev, now, OPEN_NS + 31 * MIN)
    moved = dict(prev, ts=prev["ts"].copy())
    moved["ts"][np.flatnonzero(prev["ts"] < OPEN_NS + 29 * MIN)[-1]] -= 1
    assert not suite_fits(moved, now, OPEN_NS + 29 * MIN)
    with pytest.raises(ValueError, match="before the tail"):
        trade_suite(now, SignalParams(), prev=(prev, OPEN_NS + 31 * MIN))
