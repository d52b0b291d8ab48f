"""Scoring detected jumps against a simulation's ground truth (demo and reports)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def score_detections(detected: pd.DataFrame, truth: pd.DataFrame, step_ns: int) -> pd.DataFrame:
    """Per symbol: true jumps, detections, detections that hit a jump, jumps found.

    ``detected``: sym, ts (ns, end of the flagged grid return); ``truth``: symbol, ts_ns. A
    detection hits a true jump of its symbol that lies within one grid step of its return
    interval ``(ts - step, ts]`` (the first quote after a jump may fall in the next interval);
    a jump is found when some detection hits it."""
    rows = []
    for sym in sorted(set(detected["sym"]) | set(truth["symbol"])):
        d = np.sort(detected.loc[detected["sym"] == sym, "ts"].to_numpy(np.int64))
        t = np.sort(truth.loc[truth["symbol"] == sym, "ts_ns"].to_numpy(np.int64))
        # interval of a detection: (d - step, d]; accept a jump in (d - 2 step, d + step]
        lo = np.searchsorted(t, d - 2 * step_ns, side="right")
        hi = np.searchsorted(t, d + step_ns, side="right")
        hits = hi > lo
        found = np.zeros(t.size, dtype=bool)
        for a, b in zip(lo[hits], hi[hits], strict=True):
            found[a:b] = True
        rows.append({"sym": sym, "true_jumps": int(t.size), "detections": int(d.size),
                     "hits": int(hits.sum()), "found": int(found.sum())})
    return pd.DataFrame(rows, columns=["sym", "true_jumps", "detections", "hits", "found"])
