"""Approvals with the platform's roles and artifact retention, on the real daemon.

A job deploying to prod (a protected environment) waits; a developer's token is refused
through the CLI and through the API, with a message naming the role needed; an operator in
prod approves through the API; the approver is on the job and in the audit log. An artifact
kept for seconds is removed by the daemon's pipelines component, listed as expired, and its
download is a clear error (410 on the API) while a job's artifact kept longer downloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fixtures.cli import Project

from .conftest import declare_pipeline, job_of, run_doc, wait_for

pytestmark = pytest.mark.slow

PIPELINE = """
artifactRetention: 30d
environments:
  prod: {approval: true}
jobs:
  build:
    host: true
    artifacts: {paths: [out], retention: 3s}
    steps: [{run: "mkdir -p out && echo built > out/app.txt"}]
  docs:
    host: true
    artifacts: {paths: [site]}
    steps: [{run: "mkdir -p site && echo manual > site/index.txt"}]
  prod:
    needs: [build]
    host: true
    environment: prod
    steps: [{run: "echo deployed to prod"}]
"""


def _token(p: Project, user: str, *grants: tuple[str, str]) -> str:
    added = p.run("user", "add", user, "--role", "developer", "--no-password")
    assert added.code == 0, added.err
    for role, env in grants:
        assert p.run("user", "grant", user, role, "--in", env).code == 0
    made = p.run("token", "create", "--user", user, "-o", "json")
    assert made.code == 0, made.err
    token: str = made.json()["token"]
    return token


def _api(api: str, token: str, method: str, path: str) -> httpx.Response:
    return httpx.request(method, f"{api}{path}", headers={"Authorization": f"Bearer {token}"},
                         timeout=30)


def _artifacts(api: str, token: str, run: str) -> dict[str, Any]:
    listed = _api(api, token, "GET", f"/api/v1/pipelines/runs/{run}/artifacts")
    assert listed.status_code == 200, listed.text
    return {a["job"]: a for a in listed.json()["artifacts"]}


def test_roles_decide_approvals_and_expired_artifacts_are_removed(
        pl_project: Project, tmp_path: Path) -> None:
    p = pl_project
    declare_pipeline(p, "ship", PIPELINE)
    assert p.run("apply", "--yes").code == 0
    dev = _token(p, "dana")
    ops = _token(p, "omar", ("operator", "prod"))
    up = p.run("up", timeout=300)
    assert up.code == 0, up.out + up.err
    try:
        api = p.run("status", "-o", "json").json()["api"]
        run = p.run("pipeline", "run", "ship", "--detach", "-o", "json").json()["id"]
        wait_for("prod to wait for approval", lambda: job_of(run_doc(p, run), "prod")[
            "status"] == "waiting")

        refused = p.run("pipeline", "approve", run, "--token", dev)
        assert refused.code != 0
        assert ("dana is developer in prod; approving job prod (it deploys to prod, a "
                "protected environment) needs operator") in refused.err, refused.err
        assert "stackwright user grant dana operator --in prod" in refused.err
        denied = _api(api, dev, "POST", f"/api/v1/pipelines/runs/{run}/approvals")
        assert denied.status_code == 403, denied.text
        assert "dana is developer in prod" in denied.json()["detail"]
        assert job_of(run_doc(p, run), "prod")["approved_by"] is None

        approved = _api(api, ops, "POST", f"/api/v1/pipelines/runs/{run}/approvals?job=prod")
        assert approved.status_code == 200, approved.text
        assert approved.json() == {"approved": ["prod"], "by": "omar"}
        final = wait_for("the run to end", lambda: (
            d := run_doc(p, run)) and d["status"] not in ("queued", "running") and d)
        assert final["status"] == "success", final
        assert job_of(final, "prod")["approved_by"] == "omar"
        audit = _api(api, ops, "GET", "/api/v1/audit?limit=50").json()
        entry = next(e for e in audit if e["action"] == "pipeline.approve")
        assert entry["actor"] == "omar (token)" and entry["env"] == "prod"
        assert entry["data"]["run"] == run and entry["data"]["role"] == "operator"

        removed = wait_for("the component to remove the expired artifact", lambda: (
            a := _artifacts(api, dev, run)) and a["build"]["removed"] and a)
        assert removed["build"]["expired"] and not removed["docs"]["expired"]
        assert not list((p.root / ".stackwright" / "pipelines").rglob("build.tar"))
        gone = _api(api, dev, "GET", f"/api/v1/pipelines/runs/{run}/artifacts/build")
        assert gone.status_code == 410 and "expired at" in gone.json()["detail"], gone.text
        kept = _api(api, dev, "GET", f"/api/v1/pipelines/runs/{run}/artifacts/docs")
        assert kept.status_code == 200 and len(kept.content) > 0
        download = p.run("pipeline", "artifacts", run, "--job", "build", "--download",
                         str(tmp_path / "dl"))
        assert download.code != 0 and f"artifact of job build in run {run} expired at" \
            in download.err, download.out + download.err
        listed = p.run("pipeline", "artifacts", run, "--download", str(tmp_path / "dl"),
                       "-o", "json").json()["artifacts"]
        assert {a["job"]: a["expired"] for a in listed} == {"build": True, "docs": False}
        assert (tmp_path / "dl" / "docs" / "site" / "index.txt").read_text() == "manual\n"
        assert not (tmp_path / "dl" / "build").exists()
    finally:
        p.run("down")
