"""tickflow.heap: a loop that frees and allocates a whole day's array again reuses the pages."""

from __future__ import annotations

import subprocess
import sys

LOOP = """
import resource, sys
import numpy as np
from tickflow.heap import retain_freed_memory
if sys.argv[1] == "retain":
    assert retain_freed_memory()
n = 6_000_000  # 48 MB: above glibc's largest mmap threshold, so by default a fresh mapping each time
faults = []
for _ in range(5):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = np.ones(n)
    del a
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(sum(faults[2:]))
"""
HUGE_PAGES = 3 * 6_000_000 * 8 // 2**21  # the last three allocations' 2 MB pages (transparent huge pages)


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", LOOP, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def test_freed_memory_is_reused_without_page_faults() -> None:
    default, retained = _faults("default"), _faults("retain")
    # glibc's defaults: every allocation faults its pages in again (one fault per 4 KB page, or
    # per 2 MB where the kernel backs numpy's large arrays with transparent huge pages)
    assert default >= HUGE_PAGES
    assert retained < 10  # retained: the second allocation on reuses the first one's pages
