"""Numba kernels for bars, indicators and microstructure signals.

Conventions shared by every kernel module:

- Ticks are held *symbol-major*: all rows of symbol 0, then symbol 1, ..., time-ordered
  within a symbol, as contiguous 1-D numpy arrays (``ts_ns`` int64 nanoseconds since the
  epoch UTC, ``price``/``size``/``bid``/``ask`` float64). ``starts`` (int64, length
  ``n_symbols + 1``) gives symbol ``s`` the rows ``starts[s]:starts[s + 1]``
  (:func:`tickflow.kernels.grouping.group_starts`).
- Regular-grid outputs (bars, sampled prices) are symbol-major too, with the same number
  of rows per symbol, so they reshape to ``(n_symbols, n_bins)``.
- A kernel is ``@numba.njit(cache=True)`` (``parallel=True`` with ``prange`` over symbols
  where the work per symbol is large), takes arrays and returns arrays; a plain Python
  wrapper validates and allocates. Row-length outputs are allocated by numpy and filled by
  the kernel: numpy asks Linux for transparent huge pages on large arrays and numba's
  allocator does not, and on fresh 10M-row arrays the 4 KiB page faults cost about as much
  as the arithmetic (``bench/signals.py``). Undefined values are NaN, never a silent zero.
- Each module docstring gives the formulas and the paper they come from; each kernel has a
  test against an independent reference (plain numpy/pandas, a published value, or `arch`).
"""
