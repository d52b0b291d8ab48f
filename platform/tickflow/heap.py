"""Keep freed memory in the process's heap, for a loop that allocates the same large arrays
again and again (the live session's passes).

glibc serves an allocation above its mmap threshold (at most 32 MB) with a fresh mapping and
unmaps it on free, and trims the heap top above its trim threshold: either way the next
allocation of that size gets new pages, and a numpy array of a whole day's ticks (tens of
MB) pays page faults and the kernel's zeroing of its pages on first touch, every pass (48 MB:
4 ms, against 1.2 ms reused). Measured on the 2-core machine
(100 symbols, 2.2M trades at 15:30; `tickflow.derive.live.update_once`, 6 passes each):
2.9-4.2 s a pass with glibc's defaults, 2.5-2.9 s with mmap off and trimming above 2 GB,
and the spread between passes fell with it (a feature step of 0.31-0.96 s became 0.31-0.33 s).

The cost: the process keeps its peak heap until it exits rather than returning it between
passes, which a live session (one run, one day in memory) reaches on its first pass anyway.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt(3) parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_MAX = -4

TRIM_BYTES = 2**31 - 1  # mallopt takes an int: the largest it accepts, ~2 GB
TOP_PAD_BYTES = 64 * 2**20


def retain_freed_memory() -> bool:
    """Serve large allocations from the heap and keep freed memory in it (glibc's
    ``mallopt``); False where the C library has no ``mallopt`` (not glibc), which changes
    nothing."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return all(mallopt(p, v) == 1 for p, v in ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, TRIM_BYTES),
                                                (M_TOP_PAD, TOP_PAD_BYTES)))
