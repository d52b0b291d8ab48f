"""`tickflow backfill` and `tickflow retrain`: launched in the running deployment.

``backfill`` resolves a selection (``group:signals``, asset names, joined by ``or``, commas or
spaces) against the webserver's asset graph, and launches one asset backfill over the XNYS
trading days from ``--from`` to ``--to`` (GraphQL ``launchPartitionBackfill``), exactly what
the UI's Materialize dialog does; the assets' BackfillPolicy.single_run makes each a single
run. ``--wait`` follows it with a progress bar and fails if any partition failed.
``retrain`` launches ``train_job`` for one as-of day (GraphQL ``launchRun``).
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from tickflow import sessions
from tickflow.ops.dagster_api import Dagster, DagsterApiError, check

_LAUNCH_BACKFILL = """
mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on Error { message } } }"""

_BACKFILL_STATUS = """
query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  __typename ... on Error { message }
  ... on PartitionBackfill { id status numPartitions
    error { message }
    assetBackfillData { assetBackfillStatuses { __typename
      ... on AssetPartitionsStatusCounts { assetKey { path } numPartitionsTargeted numPartitionsInProgress
                                           numPartitionsMaterialized numPartitionsFailed } } } } } }"""

_LAUNCH_RUN = """
mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on Error { message } } }"""

DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def resolve_selection(selection: str, assets: list[dict[str, Any]]) -> list[list[str]]:
    """Asset key paths for ``group:NAME`` / asset-name terms (``or``, commas or spaces)."""
    terms = [t for t in re.split(r"\s+or\s+|[,\s]+", selection.strip()) if t]
    if not terms:
        raise ValueError("empty --select")
    out: list[list[str]] = []
    for term in terms:
        if term.startswith("group:"):
            found = [a["assetKey"]["path"] for a in assets
                     if a["groupName"] == term[6:] and a["isPartitioned"] and a.get("isMaterializable", True)]
        else:
            found = [a["assetKey"]["path"] for a in assets if "/".join(a["assetKey"]["path"]) == term]
        if not found:
            groups = sorted({a["groupName"] for a in assets if a["groupName"]})
            raise ValueError(f"--select {term!r} matches no partitioned asset (groups: {', '.join(groups)})")
        out += [p for p in found if p not in out]
    return out


def partition_days(start: dt.date, end: dt.date) -> list[str]:
    days = sessions.trading_days(start, end)
    if not days:
        raise ValueError(f"no XNYS trading day from {start} to {end}")
    return [d.isoformat() for d in days]


@dataclass(frozen=True)
class Progress:
    status: str
    targeted: int
    done: int
    failed: int
    in_progress: int
    error: str = ""


def launch_backfill(api: Dagster, keys: list[list[str]], partitions: list[str], title: str = "") -> str:
    params: dict[str, Any] = {"partitionNames": partitions, "assetSelection": [{"path": k} for k in keys],
                              "fromFailure": False, "tags": [{"key": "tickflow/launched-by", "value": "cli"}]}
    if title:
        params["title"] = title
    res = api.query(_LAUNCH_BACKFILL, {"p": params})["launchPartitionBackfill"]
    return str(check(res, "LaunchBackfillSuccess")["backfillId"])


def backfill_progress(api: Dagster, backfill_id: str) -> Progress:
    res = api.query(_BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
    b = check(res, "PartitionBackfill")
    counts = [s for s in (b.get("assetBackfillData") or {}).get("assetBackfillStatuses", [])
              if s["__typename"] == "AssetPartitionsStatusCounts"]
    return Progress(
        status=b["status"],
        targeted=sum(c["numPartitionsTargeted"] for c in counts),
        done=sum(c["numPartitionsMaterialized"] for c in counts),
        failed=sum(c["numPartitionsFailed"] for c in counts),
        in_progress=sum(c["numPartitionsInProgress"] for c in counts),
        error=next(iter(((b.get("error") or {}).get("message") or "").strip().splitlines()), ""),
    )


def _bar(p: Progress, width: int = 30) -> str:
    frac = (p.done + p.failed) / p.targeted if p.targeted else 0.0
    fill = int(round(frac * width))
    return (f"[{'#' * fill}{'.' * (width - fill)}] {p.done}/{p.targeted} asset partitions materialized, "
            f"{p.failed} failed, {p.in_progress} in progress ({p.status})")


def wait_backfill(api: Dagster, backfill_id: str, timeout_s: float = 3600, poll_s: float = 2.0,
                  out: TextIO = sys.stderr, clock: Callable[[], float] = time.monotonic) -> Progress:
    """Follow a backfill to its end, drawing a progress bar; returns the final progress."""
    deadline = clock() + timeout_s
    tty = out.isatty()
    last = ""
    while True:
        p = backfill_progress(api, backfill_id)
        line = _bar(p)
        if line != last:
            out.write(("\r" + line) if tty else (line + "\n"))
            out.flush()
            last = line
        if p.status in DONE:
            if tty:
                out.write("\n")
            return p
        if clock() > deadline:
            raise TimeoutError(f"backfill {backfill_id} still {p.status} after {timeout_s:.0f} s")
        time.sleep(poll_s)


def last_closed_session(now: dt.datetime | None = None) -> dt.date:
    """The latest XNYS session whose close has passed (what a retrain 'now' trains as of)."""
    now = now or dt.datetime.now(dt.UTC)
    day = now.astimezone(ZoneInfo(sessions.NY)).date()
    for back in range(0, 15):
        d = day - dt.timedelta(days=back)
        if sessions.is_trading_day(d) and sessions.session_bounds_ns(d)[1] <= now.timestamp() * 1e9:
            return d
    raise ValueError(f"no closed XNYS session in the 15 days before {day}")


def launch_job(api: Dagster, job: str, partition: str | None = None, tags: dict[str, str] | None = None) -> str:
    location, repo = api.repository()
    all_tags = {"tickflow/launched-by": "cli", **(tags or {})}
    if partition:
        all_tags["dagster/partition"] = partition
    params = {"selector": {"repositoryLocationName": location, "repositoryName": repo, "jobName": job},
              "runConfigData": {}, "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in all_tags.items()]}}
    res = api.query(_LAUNCH_RUN, {"p": params})["launchRun"]
    return str(check(res, "LaunchRunSuccess")["run"]["runId"])


def run_status(api: Dagster, run_id: str) -> str:
    res = api.query("query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } "
                    "... on RunNotFoundError { message } ... on PythonError { message } } }", {"id": run_id})
    return str(check(res["runOrError"], "Run")["status"])


def wait_run(api: Dagster, run_id: str, timeout_s: float = 3600, poll_s: float = 2.0) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        status = run_status(api, run_id)
        if status in {"SUCCESS", "FAILURE", "CANCELED"}:
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {status} after {timeout_s:.0f} s")
        time.sleep(poll_s)


__all__ = ["DagsterApiError", "launch_backfill", "wait_backfill", "launch_job", "wait_run", "resolve_selection",
           "partition_days", "last_closed_session"]
