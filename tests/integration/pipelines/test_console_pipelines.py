"""The pipelines panel of the web console in Debian's headless Chromium (Playwright): a
developer sees the waiting run and is refused at Approve with the role it needs; an operator
in prod approves it, the jobs and the live log follow the run to its end, and the kept
artifact downloads. Screenshots go to ``test-artifacts/console/`` (or
``$STACKWRIGHT_TEST_ARTIFACTS``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.fixtures.cli import Project
from tests.integration.server.test_console_browser import _shot

from .conftest import declare_pipeline, job_of, run_doc, wait_for

pytestmark = pytest.mark.slow
PASSWORDS = {"dana": "dana-pass-123", "omar": "omar-pass-123"}
PIPELINE = """
environments:
  prod: {approval: true}
jobs:
  build:
    host: true
    artifacts: {paths: [out]}
    steps: [{run: "mkdir -p out && echo built > out/app.txt && echo build finished"}]
  prod:
    needs: [build]
    host: true
    environment: prod
    steps: [{run: "echo deploying; sleep 2; echo deployed to prod"}]
"""


def _log_in(page: Any, api: str, user: str) -> None:
    page.goto(f"{api}/console/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORDS[user])
    page.keyboard.press("Enter")
    page.wait_for_url(f"{api}/console/")


def _users(p: Project) -> None:
    for user in PASSWORDS:
        added = p.run("user", "add", user, "--role", "developer", "--password-stdin",
                      input=PASSWORDS[user] + "\n")
        assert added.code == 0, added.err
    assert p.run("user", "grant", "omar", "operator", "--in", "prod").code == 0


def test_an_operator_approves_a_waiting_pipeline_in_the_console(
        pl_project: Project, browser: Any, tmp_path: Path) -> None:  # noqa: F811
    p = pl_project
    declare_pipeline(p, "ship", PIPELINE)
    _users(p)
    up = p.run("up", timeout=300)
    assert up.code == 0, up.out + up.err
    try:
        api = p.run("status", "-o", "json").json()["api"]
        run = p.run("pipeline", "run", "ship", "--detach", "-o", "json").json()["id"]
        wait_for("prod to wait", lambda: job_of(run_doc(p, run), "prod")["status"] == "waiting")

        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(60_000)
        _log_in(page, api, "dana")
        assert "waiting for approval" in page.locator("#pl-runs").inner_text()
        page.get_by_role("link", name="Pipelines", exact=True).click()
        page.get_by_role("link", name="ship#1").click()
        page.wait_for_url(f"{api}/console/pipelines/runs/{run}")
        assert "needs operator in prod" in page.locator("tr[data-job=prod]").inner_text()
        page.get_by_role("button", name="Approve prod").click()
        alert = page.locator("#pl-jobs [role=alert]")
        alert.wait_for()
        assert "dana is developer in prod" in alert.inner_text() and "needs operator" in \
            alert.inner_text()
        _shot(page, "pipelines-approve-refused")
        assert job_of(run_doc(p, run), "prod")["approved_by"] is None

        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(f"{api}/console/login")
        _log_in(page, api, "omar")
        page.goto(f"{api}/console/pipelines/runs/{run}")
        page.get_by_role("button", name="Approve prod").click()
        page.locator("#pl-jobs [role=alert]", has_text="Approved prod as omar.").wait_for()
        page.locator("#pl-run-status.success").wait_for(timeout=120_000)
        assert "approved by omar" in page.locator("tr[data-job=prod]").inner_text()
        page.locator("summary", has_text="prod").click()
        page.locator("pre[data-job=prod]", has_text="deployed to prod").wait_for()
        _shot(page, "pipelines-approved")

        with page.expect_download() as got:
            page.get_by_role("link", name="build", exact=True).click()
        saved = tmp_path / "build.tar"
        got.value.save_as(saved)
        assert saved.stat().st_size > 0
        final = run_doc(p, run)
        assert final["status"] == "success" and job_of(final, "prod")["approved_by"] == "omar"
    finally:
        p.run("down")
