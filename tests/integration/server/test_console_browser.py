"""The web console in Debian's headless Chromium, driven by Playwright: log in, see the
project's resources healthy after an apply started from the plan page, follow the history,
audit log and graph; keyboard use and a phone-width layout. Screenshots are kept under
``test-artifacts/console/`` (or ``$STACKWRIGHT_TEST_ARTIFACTS``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.fixtures.browser import screenshot
from tests.integration.server.daemon_fixture import (
    PASSWORDS,
    SPEC,
    Daemon,
    start_daemon,
    stop_daemon,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def console_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = start_daemon(tmp_path_factory.mktemp("console"))
    try:
        yield d
    finally:
        stop_daemon(d.proc)


def _shot(page: Any, name: str) -> None:
    screenshot(page, "console", name)


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
    page.get_by_role("link", name="Run 1: its changes").click()
    page.wait_for_url(f"{api}/console/history/1")
    assert "create File/motd (by dev (session))" in page.locator("main").inner_text()
    console_daemon.project.write("main.yaml", SPEC.replace("hello console", "hello again"))
    page.get_by_role("link", name="Plan", exact=True).click()
    page.get_by_role("button", name="Apply these changes").click()
    page.locator("#operation .succeeded").wait_for(timeout=120_000)
    page.get_by_role("link", name="History", exact=True).click()
    page.get_by_role("link", name="Run 2: its changes").click()
    motd = page.locator("details", has_text="File/motd")
    assert "update" in motd.inner_text()
    assert ["content", "hello console", "hello again"] == \
        motd.locator("tbody tr").first.locator("td").all_inner_texts()
    _shot(page, "history-run-diff")
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


# Text colour against the first opaque background behind it, as WCAG 2 computes contrast.
CONTRAST_JS = """() => {
  const lum = c => { const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map(v => {
      v = v / 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const opaque = c => { const m = c.match(/[\\d.]+/g); return m && (m.length < 4 || +m[3] > 0.5); };
  const bg = el => { for (; el; el = el.parentElement) {
      const c = getComputedStyle(el).backgroundColor; if (opaque(c)) return c; }
    return "rgb(255, 255, 255)"; };
  const worst = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length) continue;
    const a = lum(getComputedStyle(el).color), b = lum(bg(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) worst.push(el.tagName + "." + el.className + ": " + ratio.toFixed(2));
  }
  return worst;
}"""
# Every control a keyboard reaches has a name a screen reader reads.
UNNAMED_JS = """() => [...document.querySelectorAll("a, button, input, select, textarea, summary")]
  .filter(el => el.type !== "hidden" && !(el.getAttribute("aria-label") || el.labels?.length
    || el.textContent.trim() || el.getAttribute("title")))
  .map(el => el.outerHTML.slice(0, 80))"""
PAGES = ["/console/", "/console/plan", "/console/history", "/console/history/1",
         "/console/drift", "/console/audit", "/console/graph", "/console/gitops",
         "/console/resources/File/motd"]


@pytest.mark.parametrize("width", [1280, 390])
def test_every_page_has_named_controls_aa_contrast_and_fits_the_width(
        console_daemon: Daemon, browser: Any, width: int) -> None:
    api = console_daemon.api
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.set_default_timeout(60_000)
    _log_in(page, api, "vic", PASSWORDS["vic"])
    page.wait_for_url(f"{api}/console/")
    for path in PAGES:
        page.goto(f"{api}{path}")
        assert page.locator("main h1").count() == 1, path
        assert page.evaluate(UNNAMED_JS) == [], path
        assert page.evaluate(CONTRAST_JS) == [], path
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"{path} scrolls sideways at {width}px ({scroll}px)"
        _shot(page, f"a11y-{width}-{path.strip('/').replace('/', '-') or 'overview'}")
    page.evaluate("""document.querySelector("main").insertAdjacentHTML("beforeend",
        '<p style="color:#aaa">faint</p><button aria-hidden="true"></button>')""")
    assert page.evaluate(CONTRAST_JS) == ["P.: 2.32"], "the contrast check itself works"
    assert len(page.evaluate(UNNAMED_JS)) == 1, "the name check itself works"
    page.close()
