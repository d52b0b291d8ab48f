"""Sale-condition rules (tickflow.conditions) and their use in the 1-minute bars kernel,
checked on trades worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from tests.platform.conditions_reference import flags_of
from tickflow import conditions as C
from tickflow.kernels.bars import MINUTE_NS, minute_bars

OPEN = 1_700_000_000 * 1_000_000_000  # any minute-aligned instant


def test_rule_table_cases() -> None:
    assert flags_of([]) == C.ALL  # a regular sale without conditions
    assert flags_of([0]) == C.ALL
    assert flags_of([37]) == C.VOLUME  # odd lot: volume only
    assert flags_of([2]) == C.VOLUME  # average price
    assert flags_of([12]) == C.VOLUME  # Form T (extended hours)
    assert flags_of([33]) == C.HIGH_LOW | C.VOLUME  # sold out of sequence: not the last
    assert flags_of([22]) == C.HIGH_LOW | C.VOLUME  # prior reference price
    assert flags_of([15]) == 0 and flags_of([16]) == 0  # official close / open: nothing
    assert flags_of([38]) == C.LAST | C.HIGH_LOW  # corrected close: prices, no volume
    assert flags_of([14, 41]) == C.ALL  # intermarket sweep, trade-through exempt
    assert flags_of([14, 37]) == C.VOLUME  # every condition must allow a field
    assert flags_of([99]) == 0  # unknown id: updates nothing


def test_vectorised_flags_equal_the_per_trade_rule() -> None:
    rng = np.random.default_rng(3)
    pool = [*C.RULES, 26, 39, 60, 63, 100, 2000]
    lists = [list(rng.choice(pool, size=int(rng.integers(0, 4)))) for _ in range(3000)]
    lens = np.array([len(x) for x in lists], dtype=np.int32)
    flat = np.array([c for x in lists for c in x], dtype=np.int16)
    start = np.cumsum(lens, dtype=np.int64) - lens
    got = C.flags_from_mask(C.mask_from_codes(flat, start, lens))
    want = np.array([flags_of(x) for x in lists], dtype=np.uint8)
    np.testing.assert_array_equal(got, want)


def test_bars_apply_the_rules_on_hand_worked_trades() -> None:
    s = 1_000_000_000
    # minute 0: regular 10.00 x100; odd lot 10.50 x10 (volume only); out-of-sequence 9.80 x100
    #           (high/low, not last); regular 10.10 x200; average-price 11.00 x50 (volume only)
    # minute 1: only an odd lot 10.40 x5  -> prices carried (10.10), volume 5
    # minute 2: official close print 10.30 x1000 (nothing) -> an empty minute
    # minute 3: out-of-sequence 10.60 x100 only -> open/close carried 10.10, high 10.60
    trades = [
        (0, 10.00, 100, []), (1, 10.50, 10, [37]), (2, 9.80, 100, [33]), (3, 10.10, 200, [0]),
        (4, 11.00, 50, [2]),
        (61, 10.40, 5, [37]),
        (125, 10.30, 1000, [15]),
        (190, 10.60, 100, [33]),
    ]
    ts = np.array([OPEN + t * s for t, *_ in trades], dtype=np.int64)
    price = np.array([p for _, p, _, _ in trades])
    size = np.array([q for _, _, q, _ in trades], dtype=np.float64)
    lens = np.array([len(c) for *_, c in trades], dtype=np.int32)
    flat = np.array([x for *_, c in trades for x in c], dtype=np.int16)
    flags = C.flags_from_mask(C.mask_from_codes(flat, np.cumsum(lens, dtype=np.int64) - lens, lens))
    b = minute_bars(ts, price, size, np.array([0, len(trades)]), OPEN, 4, np.array([9.9]), flags)

    np.testing.assert_array_equal(b["open"], [10.00, 10.10, 10.10, 10.10])
    np.testing.assert_array_equal(b["close"], [10.10, 10.10, 10.10, 10.10])
    np.testing.assert_array_equal(b["high"], [10.10, 10.10, 10.10, 10.60])
    np.testing.assert_array_equal(b["low"], [9.80, 10.10, 10.10, 10.10])
    np.testing.assert_array_equal(b["volume"], [460.0, 5.0, 0.0, 100.0])
    np.testing.assert_array_equal(b["trades"], [5, 1, 0, 1])
    dv0 = 10.00 * 100 + 10.50 * 10 + 9.80 * 100 + 10.10 * 200 + 11.00 * 50
    assert b["vwap"][0] == pytest.approx(dv0 / 460.0)
    assert b["vwap"][1] == pytest.approx(10.40)
    assert b["vwap"][2] == 10.10

    # without flags every trade counts for everything (the kernel's previous behaviour)
    plain = minute_bars(ts, price, size, np.array([0, len(trades)]), OPEN, 4, np.array([9.9]))
    assert plain["high"][0] == 11.00 and plain["close"][0] == 11.00 and plain["volume"][2] == 1000.0


def test_flags_shape_is_checked() -> None:
    ts = np.array([OPEN, OPEN + MINUTE_NS], dtype=np.int64)
    with pytest.raises(ValueError, match="one value per trade"):
        minute_bars(ts, np.ones(2), np.ones(2), np.array([0, 2]), OPEN, 2, flags=np.ones(3, np.uint8))


def test_mask_sql_equals_the_python_mask(plain_dsn: str) -> None:
    """The store computes the bit set in SQL (the unrolled and the general form)."""
    import psycopg

    lists = [[], [0], [37], [14, 41], [12, 37, 2, 14], [2, 12, 14, 37, 41], [70], [-3, 5], [62, 63, 64]]
    with psycopg.connect(plain_dsn) as conn:
        got = [conn.execute(f"SELECT {C.COND_MASK_SQL} FROM (SELECT %s::smallint[] AS conditions) x",  # noqa: S608
                            (c,)).fetchone()[0] for c in lists]  # type: ignore[index]
    lens = np.array([len(c) for c in lists], dtype=np.int32)
    want = C.mask_from_codes(np.array([x for c in lists for x in c], np.int16),
                             np.cumsum(lens, dtype=np.int64) - lens, lens)
    assert got == want.tolist()
