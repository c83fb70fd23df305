"""GitOps mode against a real git repository and a real daemon on a free port: every new
commit planned; applied on its own where the environment says ``auto`` (actor
``gitops@<commit>`` in state history and the audit log); waiting for an operator's approval
where it says ``approve``; drift checked on a schedule and corrected when configured."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fixtures.cli import STACKWRIGHT
from tests.integration.server.daemon_fixture import (
    PASSWORDS,
    Daemon,
    start_daemon,
    stop_daemon,
)
from tests.integration.server.test_console_browser import _log_in, _shot

pytestmark = pytest.mark.slow

SPEC = """apiVersion: stackwright.dev/v1
kind: File
metadata: {{name: motd}}
spec: {{path: out/motd.txt, content: "{content}"}}
"""
PROJECT = "project: demo\nenvironments:\n  dev: {}\n  prod: {}\n"


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True, env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
                                           "GIT_COMMITTER_NAME": "t",
                                           "GIT_COMMITTER_EMAIL": "t@x", "HOME": str(repo)})
    return done.stdout.strip()


def _commit(repo: Path, content: str, message: str) -> str:
    (repo / "main.yaml").write_text(SPEC.format(content=content))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "platform-repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "stackwright.yaml").write_text(PROJECT)
    return repo


def _settings(repo: Path, drift: str) -> str:
    return (f"settings:\n  gitops:\n    repo: {repo}\n    branch: main\n    interval: 0.5\n"
            f"    environments: {{dev: auto, prod: approve}}\n    drift: {drift}\n")


def _wait(what: str, probe: Callable[[], Any], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _run(client: httpx.Client, sha: str, status: str) -> Callable[[], Any]:
    def probe() -> Any:
        resp = client.get("/api/v1/gitops")
        if resp.status_code == 404 and "not configured" in resp.text:
            return None  # the daemon starts its components just after its API answers
        doc = resp.json()
        assert resp.status_code == 200, doc
        found = [r for r in doc["runs"] if r["commit"] == sha]
        if found and found[0]["status"] == "failed":
            raise AssertionError(f"GitOps run failed: {found[0]}")
        return found[0] if found and found[0]["status"] == status else None
    return probe


def _gitops_daemon(tmp: Path, env: str, content: str, message: str, drift: str
                   ) -> Iterator[tuple[Daemon, Path]]:
    """A daemon of ``env`` watching a new repository whose first commit holds ``content``."""
    repo = _repo(tmp)
    _commit(repo, content, message)
    d = start_daemon(tmp, env, _settings(repo, drift))
    try:
        yield d, repo
    finally:
        stop_daemon(d.proc)


@pytest.fixture(scope="module")
def auto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, Path]]:
    yield from _gitops_daemon(tmp_path_factory.mktemp("gitops-auto"), "dev", "v1",
                              "first motd", "{interval: 1, correct: true}")


def _tree(d: Daemon, env: str) -> Path:
    return d.project.root / ".stackwright" / "run" / env / "gitops" / "tree"


def test_every_new_commit_is_applied_as_gitops_at_that_commit(auto: tuple[Daemon, Path]
                                                              ) -> None:
    d, repo = auto
    first = _git(repo, "rev-parse", "HEAD")
    with d.client("vic") as vic:
        run = _wait("the first commit applied", _run(vic, first, "applied"))
        assert run["message"] == "first motd" and run["mode"] == "auto"
        motd = _tree(d, "dev") / "out" / "motd.txt"
        assert motd.read_text() == "v1"
        second = _commit(repo, "v2", "second motd")
        run = _wait("the second commit applied", _run(vic, second, "applied"))
        assert run["summary"]["update"] == 1 and motd.read_text() == "v2"
        history = vic.get("/api/v1/state/history").json()
        actors = [(h["operation"], h["actor"]) for h in history]  # oldest first
        assert actors[-2:] == [("apply", f"gitops@{first[:12]}"),
                               ("apply", f"gitops@{second[:12]}")], actors
        audit = vic.get("/api/v1/audit", params={"limit": 200}).json()
    assert any(e["action"] == "resource.update" and e["actor"] == f"gitops@{second[:12]}"
               for e in audit)
    status = d.project.run("--env", "dev", "status")
    assert status.code == 0, status.err
    assert "component gitops" in status.out and f"mode auto at {second[:12]}" in status.out


def test_drift_is_found_on_schedule_and_corrected(auto: tuple[Daemon, Path]) -> None:
    d, repo = auto
    head = _git(repo, "rev-parse", "HEAD")
    motd = _tree(d, "dev") / "out" / "motd.txt"
    with d.client("vic") as vic:
        _wait("the head commit applied", _run(vic, head, "applied"))
        motd.write_text("changed behind its back")

        def corrected() -> Any:
            drift = vic.get("/api/v1/gitops").json()["drift"]
            return drift if drift and drift["status"] == "corrected" else None

        drift = _wait("drift corrected", corrected)
        assert drift["drifted"] is True and drift["commit"] == head
        assert [c["address"] for c in drift["changes"]] == ["File/motd"]
        assert motd.read_text() == "v2"
        audit = vic.get("/api/v1/audit", params={"limit": 200}).json()
    assert any(e["action"] == "gitops.drift" and e["actor"] == f"gitops@{head[:12]}"
               for e in audit)


def test_a_bad_commit_fails_with_the_spec_error_and_is_not_applied(auto: tuple[Daemon, Path]
                                                                   ) -> None:
    d, repo = auto
    (repo / "main.yaml").write_text(SPEC.format(content="v3").replace("path:", "pth:"))
    _git(repo, "commit", "-qam", "broken spec")
    bad = _git(repo, "rev-parse", "HEAD")
    with d.client("vic") as vic:
        def failed() -> Any:
            runs = [r for r in vic.get("/api/v1/gitops").json()["runs"] if r["commit"] == bad]
            return runs[0] if runs and runs[0]["status"] == "failed" else None

        run = _wait("the broken commit reported", failed)
    assert "main.yaml:4" in run["error"] and "pth" in run["error"]
    assert (_tree(d, "dev") / "out" / "motd.txt").read_text() == "v2"


@pytest.fixture(scope="module")
def approve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, Path]]:
    yield from _gitops_daemon(tmp_path_factory.mktemp("gitops-approve"), "prod", "prod v1",
                              "prod motd", "{interval: 3600}")


def test_protected_environment_waits_for_an_operators_approval(
        approve: tuple[Daemon, Path]) -> None:
    d, repo = approve
    sha = _git(repo, "rev-parse", "HEAD")
    with d.client("dev") as dev:
        run = _wait("the plan waiting", _run(dev, sha, "waiting"))
        assert run["summary"]["create"] == 1
        plan = dev.get(f"/api/v1/gitops/runs/{sha[:10]}").json()["plan"]
        assert [c["address"] for c in plan["changes"]] == ["File/motd"]
        assert not (_tree(d, "prod") / "out" / "motd.txt").exists()
        denied = dev.post(f"/api/v1/gitops/runs/{sha}/approve")
        assert denied.status_code == 403 and "needs operator" in denied.json()["error"]
    status = d.project.run("--env", "prod", "status")
    assert f"waiting: {sha[:12]}" in status.out, status.out
    env = {**d.project.env, "STACKWRIGHT_ADDR": d.api, "STACKWRIGHT_TOKEN": d.tokens["ops"]}
    approved = subprocess.run([STACKWRIGHT, "gitops", "approve", sha[:12]], env=env,
                              capture_output=True, text=True, timeout=120)
    assert approved.returncode == 0, approved.stderr
    assert "applying as operation" in approved.stdout
    with d.client("ops") as ops:
        run = _wait("the approved plan applied", _run(ops, sha, "applied"))
        assert run["approved_by"] == "ops (token)"
        again = ops.post(f"/api/v1/gitops/runs/{sha}/approve")
        assert again.status_code == 409 and "applied" in again.json()["detail"]
        audit = ops.get("/api/v1/audit", params={"limit": 100}).json()
    assert (_tree(d, "prod") / "out" / "motd.txt").read_text() == "prod v1"
    assert any(e["action"] == "gitops.approved" and e["actor"] == "ops (token)" for e in audit)
    assert any(e["action"] == "resource.create" and e["actor"] == f"gitops@{sha[:12]}"
               for e in audit)
    listed = subprocess.run([STACKWRIGHT, "gitops", "status", "-o", "json"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and '"mode": "approve"' in listed.stdout
    text = subprocess.run([STACKWRIGHT, "gitops", "status"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert text.returncode == 0, text.stderr
    assert f"{sha[:12]}  applied    1 create" in text.stdout and "(main), mode approve" in \
        text.stdout and "approved by ops (token)" in text.stdout, text.stdout


def test_a_newer_commit_supersedes_the_waiting_one(approve: tuple[Daemon, Path]) -> None:
    d, repo = approve
    older = _commit(repo, "prod v2", "second")
    with d.client("ops") as ops:
        _wait("the older plan waiting", _run(ops, older, "waiting"))
        newer = _commit(repo, "prod v3", "third")
        ops.post("/api/v1/gitops/sync")
        _wait("the newer plan waiting", _run(ops, newer, "waiting"))
        assert _run(ops, older, "superseded")()
        refused = ops.post(f"/api/v1/gitops/runs/{older}/approve")
        assert refused.status_code == 409 and "superseded" in refused.json()["detail"]


def test_an_operator_approves_the_waiting_commit_in_the_console(
        approve: tuple[Daemon, Path], browser: Any) -> None:
    d, repo = approve
    sha = _git(repo, "rev-parse", "HEAD")
    with d.client("ops") as ops:
        _wait("the head commit waiting", _run(ops, sha, "waiting"))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(60_000)
    _log_in(page, d.api, "ops", PASSWORDS["ops"])
    page.wait_for_url(f"{d.api}/console/")
    page.get_by_role("link", name="GitOps", exact=True).click()
    assert sha[:12] in page.locator("main").inner_text()
    assert "prod v3" in page.locator("details", has_text="File/motd").inner_text()
    _shot(page, "gitops-waiting")
    page.get_by_role("button", name=f"Approve and apply commit {sha[:12]}").click()
    page.locator("#gitops-result .succeeded").wait_for(timeout=120_000)
    assert f"by gitops@{sha[:12]}" in page.locator("#gitops-result").inner_text()
    _shot(page, "gitops-approved")
    page.close()
    assert (_tree(d, "prod") / "out" / "motd.txt").read_text() == "prod v3"
