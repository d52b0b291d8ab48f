"""The BUY/SELL/HOLD rule (tickflow.kernels.trade_stats.signal_rule), branch by branch on
hand-built rows, each with the answer written out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from tickflow.kernels.trade_stats import signal_rule

NAN = float("nan")
CRIT = 4.0  # symbol 0's Lee-Mykland threshold in these rows
# (name, log_return r, std_return z, lm_stat L, intensity_z iz, sign, expected jump, expected signal)
ROWS = [
    ("jump up", 0.01, 0.0, 5.0, 0.0, 0, True, 1),
    ("jump down", -0.01, 0.0, -5.0, 0.0, 0, True, -1),
    ("jump with a zero return is no direction", 0.0, 0.0, 5.0, 0.0, 0, True, 0),
    ("|L| equal to the threshold is no jump", 0.01, 0.0, 4.0, 0.0, 0, False, 0),
    ("|L| just above it is", 0.01, 0.0, 4.0000001, 0.0, 0, True, 1),
    ("NaN statistic is no jump", 0.01, 0.0, NAN, 0.0, 0, False, 0),
    ("buyer-initiated, big up move, burst", 0.001, 2.5, 1.0, 1.5, 1, False, 1),
    ("seller-initiated, big down move, burst", -0.001, -2.5, -1.0, 1.5, -1, False, -1),
    ("buyer-initiated but z at the bound", 0.001, 2.0, 1.0, 1.5, 1, False, 0),
    ("buyer-initiated but no burst (iz at the bound)", 0.001, 2.5, 1.0, 1.0, 1, False, 0),
    ("buyer-initiated, NaN intensity", 0.001, 2.5, 1.0, NAN, 1, False, 0),
    ("buyer-initiated, NaN z", 0.001, NAN, 1.0, 1.5, 1, False, 0),
    ("seller-initiated with an up move: no signal", 0.001, 2.5, 1.0, 1.5, -1, False, 0),
    ("buyer-initiated with a down move: no signal", -0.001, -2.5, -1.0, 1.5, 1, False, 0),
    ("unsigned trade, big move, burst", 0.001, 2.5, 1.0, 1.5, 0, False, 0),
    ("jump up and seller-initiated drop in a burst: both fire, HOLD", 0.01, -2.5, 5.0, 1.5, -1, True, 0),
    ("jump down and buyer-initiated rise in a burst: both fire, HOLD", -0.01, 2.5, -5.0, 1.5, 1, True, 0),
    ("jump up and buyer-initiated rise: BUY once", 0.01, 2.5, 5.0, 1.5, 1, True, 1),
    ("quiet trade", 0.0001, 0.1, 0.1, 0.0, 1, False, 0),
]


def _run(rows: list[tuple], starts: list[int], crit: list[float], **kw: float) -> dict[str, np.ndarray]:
    cols = list(zip(*[r[1:6] for r in rows], strict=True))
    stats = {"log_return": np.array(cols[0]), "std_return": np.array(cols[1]), "lm_stat": np.array(cols[2]),
             "intensity_z": np.array(cols[3])}
    return signal_rule(np.array(starts), stats, np.array(cols[4], dtype=np.int8), np.array(crit), **kw)


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_each_branch(row: tuple) -> None:
    out = _run([row], [0, 1], [CRIT])
    assert bool(out["jump"][0]) is row[6]
    assert int(out["signal"][0]) == row[7]


def test_all_rows_together_with_symbols_and_trade_numbers() -> None:
    """Three symbols (one empty) with different thresholds: the rows of symbol 2 use its
    own threshold, and each row carries its symbol code and number within the symbol."""
    rows = ROWS + [("symbol 2: L = 5 under its threshold 6", 0.01, 0.0, 5.0, 0.0, 0, False, 0),
                   ("symbol 2: L = 7 over it", -0.01, 0.0, -7.0, 0.0, 0, True, -1)]
    n0 = len(ROWS)
    out = _run(rows, [0, n0, n0, n0 + 2], [CRIT, 1.0, 6.0])
    assert out["jump"].tolist() == [r[6] for r in rows]
    assert out["signal"].tolist() == [r[7] for r in rows]
    assert out["sym"].tolist() == [0] * n0 + [2, 2]
    assert out["trade_no"].tolist() == list(range(n0)) + [0, 1]


def test_thresholds_are_parameters() -> None:
    row = ("buyer-initiated, z 2.5, iz 1.5", 0.001, 2.5, 1.0, 1.5, 1, False, 1)
    assert _run([row], [0, 1], [CRIT])["signal"][0] == 1
    assert _run([row], [0, 1], [CRIT], z_min=3.0)["signal"][0] == 0
    assert _run([row], [0, 1], [CRIT], intensity_min=2.0)["signal"][0] == 0
