"""The web console in Debian's headless Chromium, driven by Playwright: log in, see the
project's resources healthy after an apply started from the plan page, follow the history,
audit log and graph; keyboard use and a phone-width layout. Screenshots are kept under
``test-artifacts/console/`` (or ``$STACKWRIGHT_TEST_ARTIFACTS``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.server.daemon_fixture import PASSWORDS, Daemon, start_daemon, stop_daemon

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("STACKWRIGHT_TEST_ARTIFACTS",
                                Path(__file__).resolve().parents[3] / "test-artifacts")) / "console"


@pytest.fixture(scope="module")
def console_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = start_daemon(tmp_path_factory.mktemp("console"))
    try:
        yield d
    finally:
        stop_daemon(d.proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: make setup installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _log_in(page: Any, api: str, user: str, password: str) -> None:
    page.goto(f"{api}/console/")
    assert page.url.endswith("/console/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.keyboard.press("Enter")


def test_log_in_apply_from_the_plan_and_see_resources_healthy(console_daemon: Daemon,
                                                               browser: Any) -> None:
    api = console_daemon.api
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(60_000)
    _log_in(page, api, "dev", "not-the-password")
    assert "Wrong user name or password" in page.locator("[role=alert]").inner_text()
    _log_in(page, api, "dev", PASSWORDS["dev"])
    page.wait_for_url(f"{api}/console/")
    assert "dev (developer)" in page.locator("header").inner_text()
    _shot(page, "overview-before-apply")
    page.get_by_role("link", name="Plan", exact=True).click()
    assert page.get_by_text("File/motd").first.is_visible()
    _shot(page, "plan")
    page.get_by_role("button", name="Apply these changes").click()
    page.locator("#operation .succeeded").wait_for(timeout=120_000)
    assert "Apply complete!" in page.locator("#operation pre").inner_text()
    _shot(page, "applied")
    page.get_by_role("link", name="Overview", exact=True).click()
    row = page.locator("tr[data-address='File/motd']")
    assert row.locator("td.healthy").inner_text() == "healthy"
    assert page.locator("tr[data-address='Command/setup'] td.healthy").count() == 1
    page.get_by_role("link", name="History", exact=True).click()
    assert "dev (session)" in page.locator("table").first.inner_text()
    page.get_by_role("link", name="Audit", exact=True).click()
    assert "access.login_failed" in page.locator("table").inner_text()
    page.get_by_role("link", name="Graph", exact=True).click()
    assert page.locator("svg[role=img]").get_attribute("aria-label") == \
        "Resource graph with 2 resources"
    _shot(page, "graph")
    page.goto(f"{api}/console/resources/File/motd")
    assert "healthy" in page.locator("main").inner_text()
    page.close()


def test_viewer_sees_no_apply_button_and_the_phone_layout_fits(console_daemon: Daemon,
                                                               browser: Any) -> None:
    api = console_daemon.api
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.set_default_timeout(60_000)
    _log_in(page, api, "vic", PASSWORDS["vic"])
    page.wait_for_url(f"{api}/console/")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the overview scrolls sideways at phone width ({width}px)"
    _shot(page, "overview-phone")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.goto(f"{api}/console/plan")
    assert page.get_by_role("button", name="Apply these changes").count() == 0
    page.close()
