"""Row ranges of symbol-major arrays."""

from __future__ import annotations

import numba
import numpy as np


def group_starts(sym_codes: np.ndarray, n_symbols: int | None = None) -> np.ndarray:
    """``starts`` for rows sorted by symbol code: symbol ``s`` owns ``starts[s]:starts[s+1]``.

    Codes must be non-decreasing integers in ``[0, n_symbols)``; symbols without rows get
    an empty range."""
    codes = np.asarray(sym_codes)
    if codes.size and np.any(codes[1:] < codes[:-1]):
        raise ValueError("rows must be sorted by symbol code")
    n = int(codes.max()) + 1 if n_symbols is None and codes.size else int(n_symbols or 0)
    if codes.size and (codes[0] < 0 or codes[-1] >= n):
        raise ValueError(f"symbol codes must lie in [0, {n})")
    return np.searchsorted(codes, np.arange(n + 1), side="left").astype(np.int64)


def check_starts(starts: np.ndarray, n_rows: int, name: str = "starts") -> np.ndarray:
    """``starts`` as contiguous int64, checked: 1-D, non-decreasing from 0 to ``n_rows``."""
    st = np.ascontiguousarray(starts, dtype=np.int64)
    if st.ndim != 1 or st.size < 1 or st[0] != 0 or st[-1] != n_rows or np.any(np.diff(st) < 0):
        raise ValueError(f"{name} must be non-decreasing from 0 to the number of rows ({n_rows})")
    return st


def prefix_counts(ts: np.ndarray, starts: np.ndarray, before_ns: int) -> np.ndarray:
    """Per group, how many of its (time-ordered) rows are before ``before_ns``."""
    below = np.concatenate([[0], np.cumsum(ts < before_ns)])
    return below[starts[1:]] - below[starts[:-1]]


@numba.njit(cache=True, nogil=True)
def splice_groups(old, old_starts, keep, new, new_starts, skip, out_starts, out):  # type: ignore[no-untyped-def]
    """``out``, group by group: the first ``keep[g]`` rows of ``old``'s group ``g`` followed by
    ``new``'s group ``g`` but its first ``skip[g]`` rows (starts of all three over the same
    groups). No arithmetic: a day's kept prefix and its new tail joined, each group in order."""
    for g in range(out_starts.shape[0] - 1):
        o, a, k = out_starts[g], old_starts[g], keep[g]
        for i in range(k):
            out[o + i] = old[a + i]
        b = new_starts[g] + skip[g]
        n = new_starts[g + 1] - b
        for i in range(n):
            out[o + k + i] = new[b + i]
    return out


def splice_columns(old: dict[str, np.ndarray], old_starts: np.ndarray, keep: np.ndarray,
                   new: dict[str, np.ndarray], new_starts: np.ndarray, skip: np.ndarray | None = None,
                   ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each column of ``old`` spliced with the same column of ``new`` by :func:`splice_groups`;
    and the groups' starts in the result."""
    sk = np.zeros(new_starts.size - 1, dtype=np.int64) if skip is None else skip
    out_starts = np.concatenate([[0], np.cumsum(keep + np.diff(new_starts) - sk)]).astype(np.int64)
    cols = {k: splice_groups(v, old_starts, keep, new[k], new_starts, sk, out_starts,
                             np.empty(int(out_starts[-1]), dtype=v.dtype)) for k, v in old.items()}
    return cols, out_starts
