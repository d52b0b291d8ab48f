"""The live session loop yields the CPU from its second pass on: every thread of the run's
process, numba's workers included, is niced, once, and never raised back."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def test_every_thread_is_niced_once_and_only_down() -> None:
    script = textwrap.dedent("""
        import json, os, threading
        from assets.bars import _yield_cpu

        def nices():
            out = []
            for tid in sorted(os.listdir("/proc/self/task")):
                with open(f"/proc/self/task/{tid}/stat") as f:
                    out.append(int(f.read().rsplit(")", 1)[1].split()[16]))  # field 19: nice
            return out

        stop = threading.Event()
        worker = threading.Thread(target=stop.wait)  # started before, as numba's workers are
        worker.start()
        before = nices()
        level = min(before[0] + 3, 19)  # this process may start niced (an earlier in-process live run)
        _yield_cpu(level)
        after = nices()
        _yield_cpu(level - 1)  # never back up
        again = nices()
        stop.set()
        print(json.dumps([before, after, again, level]))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    before, after, again, level = json.loads(out.strip().splitlines()[-1])
    assert len(before) >= 2 and len(set(before)) == 1 and before[0] < level
    assert set(after) == {level} and again == after
