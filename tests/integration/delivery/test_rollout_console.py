"""The console's rollout panel in Debian's headless Chromium, driven by Playwright, over a
real canary on podman and HAProxy run by the project's daemon: an operator follows the
canary paused at its gate on the service's page (step, weight, events), presses Promote
(htmx, with the console's CSRF header) and sees it succeed; a developer sees no buttons.
Screenshots go to ``test-artifacts/delivery/`` (or ``$STACKWRIGHT_TEST_ARTIFACTS``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.fixtures.browser import screenshot
from tests.integration.delivery.helpers import (
    PASSWORD,
    ROLES,
    Daemon,
    canary_share,
    handed,
    record,
    server_weights,
    status,
    wait_for,
    write,
)

from stackwright.ports import free_port

pytestmark = pytest.mark.slow

LB = free_port()


def canary(steps: str) -> str:
    return "{strategy: canary, canary: {steps: [" + steps + "]}}"


@pytest.fixture(scope="module")
def daemon(project_root: Path, image: str) -> Iterator[Daemon]:
    write(project_root, image, LB, page="v1", deploy=canary("{setWeight: 50}"))
    first = handed(project_root, "apply", "--yes")
    assert first.returncode == 0, first.stdout + first.stderr
    d = Daemon(project_root)
    d.add_users(ROLES)
    d.start()
    try:
        yield d
    finally:
        d.stop()


def _log_in(browser: Any, api: str, user: str) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(f"{api}/console/")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{api}/console/")
    return page


def _shot(page: Any, name: str) -> None:
    screenshot(page, "delivery", name)


def test_an_operator_follows_a_paused_canary_and_promotes_it(daemon: Daemon,
                                                              project_root: Path, image: str,
                                                              browser: Any) -> None:
    old = record(project_root)[1]
    write(project_root, image, LB, page="v2", deploy=canary("{setWeight: 40}, {pause: {}}"))
    started = handed(project_root, "apply", "--yes", "--no-wait")
    assert started.returncode == 0, started.stdout + started.stderr
    wait_for("the gate", lambda: status(project_root)["state"] == "paused"
             and status(project_root)["stable"] == old)
    new = status(project_root)["revision"]

    dev = _log_in(browser, daemon.api, "dev")
    dev.goto(f"{daemon.api}/console/resources/Service/web")
    panel = dev.get_by_role("region", name="Rollout")
    assert panel.locator(".rollout-state").inner_text() == "paused"
    assert "need the operator role" in panel.inner_text()
    live = dev.request.get(f"{daemon.api}/console/rollouts/web")  # what htmx polls
    assert live.status == 200 and 'data-state="paused"' in live.text()
    assert panel.get_by_role("button", name="Promote").count() == 0
    dev.close()

    page = _log_in(browser, daemon.api, "ops")
    page.goto(f"{daemon.api}/console/resources/Service/web")
    panel = page.get_by_role("region", name="Rollout")
    assert panel.locator(".rollout-state").inner_text() == "paused"
    assert panel.locator(".rollout-step").inner_text() == "2/2"
    assert panel.locator(".rollout-weight").inner_text() == "40%"
    assert "step 1/2: setWeight 40" in panel.locator(".rollout-events").inner_text()
    assert new in panel.inner_text() and old in panel.inner_text()
    assert round(100 - canary_share(server_weights(project_root), old)) == 40
    _shot(page, "canary-paused")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/rollouts/web/promote")
                              ) as answer:
        panel.get_by_role("button", name="Promote").click()
    assert answer.value.status == 200, answer.value.text()
    page.locator("[data-state=succeeded] .rollout-state").wait_for(timeout=120_000)
    assert panel.locator(".rollout-weight").inner_text() == "100%"
    assert panel.get_by_role("button", name="Promote").count() == 0
    assert "rollout succeeded" in panel.locator(".rollout-events").inner_text()
    events = [e["what"] for e in status(project_root)["events"]]
    assert "promote requested by ops through the API" in events, events
    _shot(page, "canary-promoted")
    page.close()
    doc = status(project_root)
    assert doc["state"] == "succeeded" and doc["revision"] == new
    assert all(n.startswith(new + "-") for n in server_weights(project_root))
