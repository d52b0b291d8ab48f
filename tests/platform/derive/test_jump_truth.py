"""Scoring jump detections against ground truth, by hand."""

from __future__ import annotations

import pandas as pd

from tickflow.derive.jump_truth import score_detections

S = 10_000_000_000  # a 10-second grid step in ns


def test_hits_misses_and_false_alarms_per_symbol() -> None:
    truth = pd.DataFrame({"symbol": ["A", "A", "B"], "ts_ns": [100 * S + 3, 500 * S, 50 * S]})
    detected = pd.DataFrame({
        "sym": ["A", "A", "A", "C"],
        # end of the return holding A's first jump; the next interval (late first quote); a false alarm
        "ts": [101 * S, 102 * S, 300 * S, 7 * S]})
    got = score_detections(detected, truth, S).set_index("sym")
    assert got.loc["A"].to_dict() == {"true_jumps": 2, "detections": 3, "hits": 2, "found": 1}
    assert got.loc["B"].to_dict() == {"true_jumps": 1, "detections": 0, "hits": 0, "found": 0}
    assert got.loc["C"].to_dict() == {"true_jumps": 0, "detections": 1, "hits": 0, "found": 0}
