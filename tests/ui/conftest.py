"""Browser fixtures: one live deployment (tests/ui/live_stack.py) and one headless Debian
chromium for the whole session; a page per test that saves a full-page screenshot under
artifacts/ui/ (git-ignored) and fails the test on any console error of the app."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.live_stack import REPO, Live, live_stack, reused
from tests.ui.runbook import DOC, RunbookRun, split_at_restart

CHROMIUM = "/usr/bin/chromium"  # Debian's package (make chromium); Playwright's download is unreachable
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "artifacts" / "ui"


@pytest.fixture(scope="session")
def live(workdir: Path) -> Iterator[Live]:
    reuse = os.environ.get("TICKFLOW_UI_REUSE")  # developing the tests: "HOME:BASE_PORT" of a by-hand
    if reuse:                                    # `python -m tests.ui.live_stack HOME BASE_PORT`
        yield reused(Path(reuse.split(":")[0]), int(reuse.split(":")[1]))
        return
    home = workdir / "live"
    home.mkdir()
    with live_stack(home) as deployment:
        yield deployment


@pytest.fixture(scope="session", autouse=True)
def runbook(live: Live, request: pytest.FixtureRequest) -> Iterator[RunbookRun | None]:
    """docs/oncall.md's commands before its restart section, started with the first test of
    tests/ui so that they run beside the browser tests (test_oncall_doc.py joins them)."""
    names = [item.nodeid.split("::")[-1] for item in request.session.items]
    if "test_every_runbook_command_runs" not in names:
        yield None
        return
    if "test_backfill_from_the_dialog_succeeded" not in names:
        live.ui_backfill_done.set()
    # The runbook's derived backfill waits for the run of the UI's bars and signals backfill: two runs
    # that replace days of tables one of them reads or writes can deadlock in PostgreSQL (a
    # run holds the ACCESS EXCLUSIVE lock of a table it swapped while it waits for the next).
    run = RunbookRun(live, split_at_restart(DOC.read_text())[0],
                     gates={"tickflow backfill --select features": live.ui_backfill_done}).start()
    yield run
    try:  # the doc test did not get to join it (it failed, or was interrupted)
        run.join(timeout=5)
    except Exception:  # noqa: BLE001, S110 - the doc test reports its own failure
        pass


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium`")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class UiPage:
    """A page on the live UI that records the app's console errors."""

    def __init__(self, page, base: str) -> None:  # type: ignore[no-untyped-def]
        self.page, self.base = page, base
        self.errors: list[str] = []
        self.dismissed = False
        page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def open(self, path: str, ready: str) -> None:
        """Go to ``path`` and wait for the text ``ready``; dismiss the first-visit dialog."""
        self.page.goto(self.base + path)
        self.page.get_by_text(ready, exact=False).first.wait_for(timeout=60_000)
        if not self.dismissed:  # "Join the Dagster community" shows once per browser profile
            skip = self.page.get_by_role("button", name="Skip")
            try:
                skip.first.wait_for(timeout=5_000)
                skip.first.click()
            except Exception:  # noqa: BLE001 - not shown this time
                pass
            self.dismissed = True


@pytest.fixture
def ui(browser, live: Live, request: pytest.FixtureRequest) -> Iterator[UiPage]:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    p = UiPage(page, live.url)
    try:
        yield p
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        context.close()
    assert not p.errors, "browser console errors:\n" + "\n".join(p.errors)
