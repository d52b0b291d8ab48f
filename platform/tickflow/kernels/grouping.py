"""Row ranges of symbol-major arrays."""

from __future__ import annotations

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
