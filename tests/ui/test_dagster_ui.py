"""The Dagster UI in a real browser (Debian chromium, Playwright), against `tickflow dev`
on the local stack with a simulated history and one streamed day."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from tests.ui.conftest import UiPage
from tests.ui.live_stack import BACKFILL_DAYS, FAIL_DAY, LIVE_DAY, TRAIN_DAYS, Live
from tickflow.ops.backfill import wait_backfill

LINEAGE = ["raw_trades", "bars_1m", "trade_signals", "features", "price_model", "predictions"]


def _lineage_section(ui: UiPage, heading: str) -> str:
    """The asset names listed under "Upstream assets" or "Downstream assets"."""
    text = ui.page.inner_text("body")
    start = text.index(heading) + len(heading)
    ends = [i for i in (text.find(h, start) for h in ("Downstream assets", "Definition")) if i > 0]
    return text[start:min(ends)]


def _launch_from_the_materialize_dialog(ui: UiPage, live: Live) -> dict:  # type: ignore[type-arg]
    """A backfill of BACKFILL_DAYS for the bars and signals groups, launched from the lineage
    page's Materialize dialog; returns it as the API lists it."""
    ui.open("/asset-groups", "Global asset lineage")
    ui.page.locator(".CodeMirror").first.click()
    ui.page.keyboard.type("group:bars or group:signals")
    ui.page.keyboard.press("Enter")
    ui.page.get_by_role("button", name=re.compile("Materialize")).first.click()
    dialog = ui.page.get_by_role("dialog")
    dialog.get_by_text("Launch runs to materialize 9 assets").wait_for()
    dialog.get_by_text("Show all partitions").click()
    first, last = (d.isoformat() for d in BACKFILL_DAYS)
    box = dialog.locator("input").first
    box.click()
    box.fill(f"[{first}...{last}]")
    box.press("Enter")
    dialog.get_by_text("2 partitions").wait_for()
    before = {b["id"] for b in _backfills(live)}
    dialog.get_by_role("button", name="Launch backfill").click()
    dialog.wait_for(state="detached")
    deadline = time.monotonic() + 30
    # the runbook's `tickflow backfill` commands run meanwhile (tests/ui/runbook.py): not ours
    while not (new := [b for b in _backfills(live) if b["id"] not in before and not b["cli"]]) \
            and time.monotonic() < deadline:
        time.sleep(0.5)
    [backfill] = new
    live.ui_backfill = backfill
    return backfill


def test_backfill_launched_from_the_materialize_dialog(ui: UiPage, live: Live) -> None:
    """First, so that the daemon runs it while the next tests look at other pages;
    test_backfill_from_the_dialog_succeeded (the last test) follows it to the end."""
    backfill = _launch_from_the_materialize_dialog(ui, live)
    assert sorted(backfill["partitionNames"] or []) == [d.isoformat() for d in BACKFILL_DAYS]
    assert backfill["status"] in ("REQUESTED", "COMPLETED_SUCCESS"), backfill


def test_asset_graph_groups_and_lineage(ui: UiPage) -> None:
    ui.open("/asset-groups", "Global asset lineage")
    tree = ui.page.locator("body")
    for group in ("ingest", "bars", "signals", "ml"):
        assert tree.get_by_text(group, exact=True).count() >= 1, group
    # each edge of the chain, as the asset pages list it (upstream of the next one)
    for up, down in zip(LINEAGE, LINEAGE[1:], strict=False):
        ui.open(f"/assets/{down}", "Upstream assets")
        ups = _lineage_section(ui, "Upstream assets")
        deadline = time.monotonic() + 30
        while ups.strip() in ("", "\u2013") and time.monotonic() < deadline:  # the list still loading ("–")
            ui.page.wait_for_timeout(250)
            ups = _lineage_section(ui, "Upstream assets")
        assert re.search(rf"(^|\n){up}\n", ups), f"{up} -> {down} missing; upstream of {down}: {ups!r}"
    ui.open("/asset-groups", "Global asset lineage")


def test_raw_trades_partitions_and_metadata(ui: UiPage) -> None:
    day = LIVE_DAY.isoformat()
    ui.open(f"/assets/raw_trades?view=partitions&partition={day}", "Latest materialization")
    body = ui.page.inner_text("body")
    assert "Materialized (" in body and "Missing (" in body
    for d in [*BACKFILL_DAYS, LIVE_DAY]:
        assert d.isoformat() in body  # trading-day partitions, newest first
    assert "2024-06-19" not in body.split("Missing (")[1].split(day)[0]  # Juneteenth: no partition
    meta = body[body.index("Metadata"):]
    for key in ("rows", "offsets", "dead_letters", "dead_letter_reasons", "first_ts", "last_ts"):
        assert f"\n{key}\n" in meta, key
    assert re.search(r"\ndead_letters\n\s*\n12\n", meta), meta[:800]  # the 12 malformed messages sent
    assert "ingest_job" in body


def test_price_model_champion_metrics_and_plots(ui: UiPage) -> None:
    ui.open(f"/assets/price_model?view=partitions&partition={TRAIN_DAYS[0].isoformat()}", "Latest materialization")
    body = ui.page.inner_text("body")
    meta = body[body.index("Metadata"):]
    assert re.search(r"\nmodel_version\n\s*\n1\n", meta) and re.search(r"\nchampion\n\s*\ntrue\n", meta)
    for key in ("holdout_rmse", "holdout_rmse_zero_return", "holdout_directional_accuracy", "holdout_ic",
                "walk_forward", "decision"):
        assert f"\n{key}\n" in meta, key
    assert '"reason": "no champion yet"' in meta
    for plot in ("feature_importance", "predicted_vs_realized"):
        row = ui.page.locator("tr", has_text=plot).first
        row.get_by_text("[Show Markdown]").click()
        img = ui.page.get_by_role("dialog").locator('img[src^="data:image/png"]').first
        img.wait_for()
        assert img.evaluate("i => i.complete && i.naturalWidth > 100")
        ui.page.keyboard.press("Escape")
        ui.page.get_by_role("dialog").wait_for(state="detached")


def _backfills(live: Live) -> list[dict]:  # type: ignore[type-arg]
    data = live.api.query("{ partitionBackfillsOrError(limit: 20) { ... on PartitionBackfills { results { id "
                          "partitionNames status tags { key value } } } } }")
    return [{**b, "cli": {"key": "tickflow/launched-by", "value": "cli"} in b["tags"]}
            for b in data["partitionBackfillsOrError"]["results"]]


def test_failed_run_and_its_alert(ui: UiPage, live: Live) -> None:
    if live.retrain is None:  # a reused deployment (TICKFLOW_UI_REUSE): launch it now
        live.retrain = subprocess.Popen(
            [sys.executable, "-m", "tickflow.cli", "retrain", "--as-of", FAIL_DAY.isoformat(), "--wait"],
            env={**os.environ, **live.env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = live.retrain.communicate(timeout=900)
    assert live.retrain.returncode == 1, (out, err)  # `tickflow retrain --wait` exits non-zero
    run_id = re.search(r"train_job run ([0-9a-f-]{36}) as of " + FAIL_DAY.isoformat(), out).group(1)  # type: ignore[union-attr]
    assert f"train_job run {run_id}: FAILURE" in out
    ui.open(f"/runs/{run_id}", "STEP_FAILURE")
    body = ui.page.inner_text("body")
    assert "Failure" in body and f"partition: {FAIL_DAY.isoformat()}" in body
    assert f"no features stored for {FAIL_DAY.isoformat()}" in body
    # the alert: posted to the webhook, and in the alert sensor's tick log in the UI
    deadline = time.monotonic() + 300
    while not live.reused and time.monotonic() < deadline and not [
            b for b in live.recorder.bodies if b["tickflow"]["run_id"] == run_id]:
        time.sleep(1)
    if not live.reused:  # a reused deployment posts to its own process's recorder
        [alert] = [b for b in live.recorder.bodies if b["tickflow"]["run_id"] == run_id]
        assert alert["tickflow"]["job"] == "train_job" and alert["tickflow"]["step"] == "price_model"
        assert alert["tickflow"]["url"] == f"{live.url}/runs/{run_id}"
    ui.open("/locations/tickflow/sensors/run_failure_alert", "All ticks")
    ui.page.locator("tr", has_text=run_id[:8]).first.wait_for(timeout=300_000)  # the sensor's next tick
    row = ui.page.locator("tr", has_text=run_id[:8]).first
    row.get_by_text("View logs").click()
    logs = ui.page.get_by_role("dialog")
    expected = (f"{run_id} failed again within the cooldown" if live.reused  # the fixture's run alerted
                else f"ALERT train_job run {run_id} (partition {FAIL_DAY.isoformat()}) failed")
    logs.get_by_text(expected).first.wait_for()


def test_backfill_from_the_dialog_succeeded(ui: UiPage, live: Live) -> None:
    if live.ui_backfill is None:  # alone (-k): launch it now
        try:
            _launch_from_the_materialize_dialog(ui, live)
        except BaseException:
            live.ui_backfill_done.set()
            raise
    backfill = live.ui_backfill
    assert backfill is not None
    first, last = (d.isoformat() for d in BACKFILL_DAYS)
    assert sorted(backfill["partitionNames"] or []) == [first, last]
    try:
        # the runbook's features backfill may start once this one's run has ended (tests/ui/conftest.py),
        # before the daemon's next iteration marks the backfill done
        deadline = time.monotonic() + 900
        while not ((runs := _runs_of(live, backfill["id"])) and all(r in RUN_ENDED for r in runs)) \
                and time.monotonic() < deadline:
            time.sleep(1)
        live.ui_backfill_done.set()
        progress = wait_backfill(live.api, backfill["id"], timeout_s=900, poll_s=1)  # a minute on a quiet machine
    finally:
        live.ui_backfill_done.set()
    assert progress.status == "COMPLETED_SUCCESS" and progress.failed == 0, progress
    assert progress.done == progress.targeted == 9 * 2
    # one run for the range and both groups (BackfillPolicy.single_run, same partitions)
    assert _runs_of(live, backfill["id"]) == ["SUCCESS"]
    # the UI's backfill page, then the new materializations on the assets
    ui.open(f"/runs/b/{backfill['id']}", "Succeeded")
    assert f"{first}…{last}" in ui.page.inner_text("body") or f"{first}...{last}" in ui.page.inner_text("body")
    for asset in ("bars_1m", "trade_signals", "daily_measures"):
        ui.open(f"/assets/{asset}?view=partitions&partition={last}", "Latest materialization")
        ui.page.get_by_text(re.compile(r"View all historical events \([1-9]")).first.wait_for()  # loaded
        body = ui.page.inner_text("body")
        assert "Materialized" in body and re.search(r"Run\n\s*[0-9a-f]{8}", body)
        assert f"{asset}\n" in body


RUN_ENDED = {"SUCCESS", "FAILURE", "CANCELED"}


def _runs_of(live: Live, backfill_id: str) -> list[str]:
    """The statuses of a backfill's runs."""
    runs = live.api.query('query($t: [ExecutionTag!]) { runsOrError(filter: {tags: $t}) { ... on Runs { results '
                          '{ runId status } } } }', {"t": [{"key": "dagster/backfill", "value": backfill_id}]})
    return [r["status"] for r in runs["runsOrError"]["results"]]
