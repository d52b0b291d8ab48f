"""Deterministic crash points, for the fault-injection tests of the exactly-once path.

With ``TICKFLOW_CRASH_AT=<point>:<n>`` (``Settings.crash_at``) the process SIGKILLs itself
the n-th time it reaches ``crash_point(settings, "<point>")``: no cleanup handler runs,
exactly as when the kernel kills it. A test can so land a crash in a window that a kill
chosen by wall clock may never hit, such as after COPY and before COMMIT. Unset (always,
outside tests) a crash point costs one comparison.

Points: ``after_copy`` (ingest: after each chunk's COPY, inside the open transaction) and
``before_commit`` (ingest: rows, dead letters and ledger rows written, not committed).
"""

from __future__ import annotations

import os
import signal
import sys

from tickflow.config import Settings

POINTS = ("after_copy", "before_commit")
_reached: dict[str, int] = {}


def parse(spec: str) -> tuple[str, int]:
    """"<point>:<n>" (n >= 1, default 1) -> (point, n); a clear error for anything else."""
    point, _, nth = spec.partition(":")
    if point not in POINTS or not (nth == "" or (nth.isdigit() and int(nth) >= 1)):
        raise ValueError(f"TICKFLOW_CRASH_AT={spec!r}: expected <point>[:<n>] with point one of {POINTS}, n >= 1")
    return point, int(nth or 1)


def crash_point(settings: Settings, name: str, detail: str = "") -> None:
    if not settings.crash_at:
        return
    point, nth = parse(settings.crash_at)
    if point != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] == nth:
        sys.stderr.write(f"tickflow crash point {name} #{nth} reached: {detail}\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
