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
