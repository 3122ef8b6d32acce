"""The console in headless Chromium, clicked through as people would: start a guarded run,
mark a step done, run a hook, approve as the requester (refused) and then as the incident
commander, and check the thread shows every decision with its ledger sequence number.

Needs Debian's chromium at /usr/bin/chromium (or RUNBOOK_CHROMIUM). Without it the test is
skipped, unless RUNBOOK_REQUIRE_BROWSER=1 (set by .ci/run), where a missing browser fails."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bot.emulator.processes import free_port
from bot.ledger.sqlite_store import SqliteStore
from tests.conftest import REPO
from tests.console.test_serve import console_env, serving

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("RUNBOOK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("RUNBOOK_TEST_ARTIFACTS", REPO / "test-artifacts"))
IC_NAME = "Ivy Chen"
SRE_NAME = "Sam Rivera"


def browser_or_skip() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    message = f"no Chromium at {CHROMIUM}; install Debian's chromium (apt-get install chromium)"
    if os.environ.get("RUNBOOK_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


async def test_a_guarded_run_clicked_through_the_console(
    tmp_path: Path, runbooks_dir: Path
) -> None:
    executable = browser_or_skip()
    from playwright.async_api import async_playwright, expect

    port = free_port()
    env = console_env(tmp_path, runbooks_dir)
    async with serving(env, tmp_path, port), async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=FLAGS
        )
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"http://127.0.0.1:{port}/")
        await expect(page.locator("#pane-head")).to_have_text("# incident-2211")
        await page.select_option("#user", label=f"{SRE_NAME} — SRE on call (responder)")

        composer = page.locator("#composer-input")
        await composer.fill("/runbook start restart-service service=api env=production")
        await composer.press("Enter")
        started = page.locator(".ephemeral", has_text="Started run")
        await expect(started).to_be_visible()
        run_id = (await started.locator("code").first.inner_text()).strip()
        assert run_id.startswith("run-")

        await page.locator("button[data-thread]").first.click()
        thread = page.locator("#thread-messages")
        await thread.locator("button[data-action='runbook.step.done']").click()  # announce
        await thread.locator("button[data-action='runbook.step.run']").click()  # check
        approve = thread.locator("button[data-action='runbook.approval.approve']")
        await expect(approve).to_be_visible()

        await approve.click()  # the requester under the two-person rule: refused, told why
        refusal = page.locator(".ephemeral", has_text="Your approval does not count")
        await expect(refusal).to_contain_text("not an approver")

        await page.select_option("#user", label=f"{IC_NAME} — Incident commander")
        await page.locator("button[data-thread]").first.click()
        await thread.locator("button[data-action='runbook.approval.approve']").click()
        await expect(thread).to_contain_text("approved")

        await page.select_option("#user", label=f"{SRE_NAME} — SRE on call (responder)")
        await page.locator("button[data-thread]").first.click()
        await thread.locator("button[data-action='runbook.step.run']").click()  # restart
        await expect(thread.locator("button[data-action='runbook.step.run']")).to_have_count(1)
        await thread.locator("button[data-action='runbook.step.run']").click()  # verify
        await expect(thread.locator("button[data-action='runbook.step.done']")).to_have_count(1)
        await thread.locator("button[data-action='runbook.step.done']").click()  # all-clear
        await expect(thread).to_contain_text("Ledger checkpoint")

        store = await SqliteStore.open(tmp_path / "c.db")
        try:
            entries = await store.read(run_id=run_id)
        finally:
            await store.close()
        kinds = [e.kind for e in entries]
        assert kinds.count("approval.refused") == 1 and kinds.count("approval.granted") == 1
        assert kinds[-1] == "run.completed"
        shown = await thread.inner_text()
        for entry in entries:  # every decision, in the thread, with its sequence number
            assert f"#{entry.seq}" in shown, (entry.seq, entry.kind)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "console-guarded-run.png"), full_page=True)
        assert errors == []
        await browser.close()
