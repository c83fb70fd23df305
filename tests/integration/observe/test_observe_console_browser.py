"""The observe console panels in Debian's headless Chromium (Playwright), on a real daemon:
a service's page shows its logs tail, the search swaps in the matching lines (htmx, no page
reload) and the level filter narrows them; the overview shows the SLO panel and an alert the
daemon's receiver recorded; the Alerts page lists it. The log lines are written into the
daemon's log store with the store's own API (collection from podman is tested in
test_observe_logs_daemon)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from tests.fixtures.browser import screenshot
from tests.integration.server.daemon_fixture import PASSWORDS, Daemon, start_daemon, stop_daemon

from stackwright.observe.logcollect import Source, read_records
from stackwright.observe.logstore import LogStore

pytestmark = pytest.mark.slow
SETTINGS = "settings:\n  observe: {enabled: false}\n"  # no Prometheus: only the log store
LINES = ["GET /cart 200", '{"level":"error","msg":"payment timeout for order 42"}',
         "GET /pay 200", "warn: slow answer from db", '{"level":"info","msg":"timeout=30s"}',
         "GET /cart 200"]


@pytest.fixture(scope="module")
def observe_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = start_daemon(tmp_path_factory.mktemp("obs-console"), extra_config=SETTINGS)
    store = LogStore(d.project.root / ".stackwright" / "observe" / "dev" / "logs.db")
    source = Source("sw-obs-dev-web-r1-1", "", "web", "r1", "1")
    data = "".join(f"2026-12-03T09:00:{i:02d}.0+00:00 stdout F {text}\n"
                   for i, text in enumerate(LINES))
    store.append(read_records(source, "dev", data.encode(), 0).lines, "/web.log",
                 source.container, len(data), 1)
    store.close()
    try:
        yield d
    finally:
        stop_daemon(d.proc)


def _log_in(page: Any, api: str) -> None:
    page.goto(f"{api}/console/")
    page.get_by_label("User name").fill("vic")
    page.get_by_label("Password").fill(PASSWORDS["vic"])
    page.keyboard.press("Enter")
    page.wait_for_url(f"{api}/console/")


def _shot(page: Any, name: str) -> None:
    screenshot(page, "observe", name)


def test_search_a_services_logs_in_the_console(observe_daemon: Daemon, browser: Any) -> None:
    api = observe_daemon.api
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(60_000)
    _log_in(page, api)
    page.goto(f"{api}/console/resources/Service/web")
    logs = page.locator("#logs-web")
    assert "The newest 6 line(s)." in logs.inner_text()
    loaded = page.url
    page.get_by_label("Search logs").fill("TIMEOUT")
    page.get_by_role("button", name="Search").click()
    page.get_by_text("matching “TIMEOUT”").wait_for()
    text = logs.locator("pre.logs").inner_text()
    assert "payment timeout for order 42" in text and "timeout=30s" in text
    assert "GET /cart" not in text
    assert page.url == loaded  # swapped in by htmx, not a new page
    _shot(page, "logs-search")
    page.get_by_label("Level").select_option("error")
    page.get_by_role("button", name="Search").click()
    page.get_by_text("The newest 1 line(s) matching").wait_for()
    assert "timeout=30s" not in logs.inner_text()
    page.get_by_label("Search logs").fill("no such text")
    page.get_by_role("button", name="Search").click()
    page.get_by_text("No log lines matching").wait_for()
    page.close()


def test_overview_and_alerts_page_show_a_recorded_alert(observe_daemon: Daemon,
                                                        browser: Any) -> None:
    alert = {"status": "firing", "labels": {"alertname": "WebDown", "severity": "page",
                                            "service": "web"},
             "annotations": {"summary": "web replica 1 is down"},
             "startsAt": "2026-12-03T09:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
             "fingerprint": "f00dfeed12345678"}
    payload = {"version": "4", "status": "firing", "receiver": "stackwright",
               "groupKey": "{}:{}", "alerts": [alert]}
    with observe_daemon.client("ada") as client:
        done = client.post("/api/v1/observe/alertmanager", content=json.dumps(payload),
                           headers={"Content-Type": "application/json"})
        assert done.status_code == 200, done.text
    api = observe_daemon.api
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(60_000)
    _log_in(page, api)
    firing = page.get_by_role("region", name="Alerts firing")
    assert "WebDown" in firing.inner_text() and "web replica 1 is down" in firing.inner_text()
    assert "Prometheus is not running" in page.get_by_role("region", name="SLOs").inner_text()
    page.get_by_role("link", name="Alerts", exact=True).click()
    page.wait_for_url(f"{api}/console/observe/alerts")
    assert "WebDown" in page.locator("main table").inner_text()
    _shot(page, "alerts")
    page.close()
