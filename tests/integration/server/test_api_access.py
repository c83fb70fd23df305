"""The platform API and its access rules against a real daemon on a free port: roles
(a viewer cannot apply, a developer cannot apply to a protected environment), token expiry
and revocation, CSRF on cookie sessions, the login rate limit, the Host check, the local
user's trust, apply as an operation polled and streamed, and every change audited with its
actor."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.fixtures.cli import STACKWRIGHT
from tests.integration.server.daemon_fixture import (
    PASSWORDS,
    Daemon,
    daemon,
    start_daemon,
    stop_daemon,
)

from stackwright.server.access.store import AccessStore

pytestmark = pytest.mark.slow
__all__ = ["daemon"]


def _state_url(d: Daemon) -> str:
    return f"sqlite:///{d.project.root / '.stackwright' / 'state.db'}"


def test_health_is_public_and_a_browser_needs_to_log_in(daemon: Daemon) -> None:
    assert httpx.get(f"{daemon.api}/api/v1/health").json()["ok"] is True
    browser = httpx.get(f"{daemon.api}/api/v1/status", headers={"Origin": "http://evil.test"})
    assert browser.status_code == 401
    assert "Bearer" in browser.json()["hint"]
    page = httpx.get(f"{daemon.api}/console/", headers={"Sec-Fetch-Mode": "navigate"})
    assert page.status_code == 303 and page.headers["location"] == "/console/login"


def test_the_daemons_own_user_is_trusted_on_loopback(daemon: Daemon) -> None:
    me = httpx.get(f"{daemon.api}/api/v1/session").json()
    assert me["via"] == "local" and me["role"] == "admin"
    assert httpx.get(f"{daemon.api}/api/v1/status").json()["project"] == "demo"


def test_a_foreign_host_header_is_refused(daemon: Daemon) -> None:
    refused = httpx.get(f"{daemon.api}/api/v1/status", headers={"Host": "attacker.test"})
    assert refused.status_code == 421


def test_viewer_reads_but_cannot_apply(daemon: Daemon) -> None:
    with daemon.client("vic") as vic:
        assert vic.get("/api/v1/session").json() == {
            "user": "vic", "role": "viewer", "via": "token", "environment": "dev"}
        assert vic.get("/api/v1/plan").json()["has_changes"] is True
        denied = vic.post("/api/v1/operations", json={"action": "apply"})
        assert denied.status_code == 403
        assert "needs developer" in denied.json()["error"]
        assert vic.get("/api/v1/access/users").status_code == 403
    with daemon.client("ada") as ada:
        assert {u["name"] for u in ada.get("/api/v1/access/users").json()} >= {"vic", "ada"}
        audit = ada.get("/api/v1/audit", params={"limit": 20}).json()
    assert any(e["action"] == "api.denied" and e["actor"] == "vic (token)"
               and e["data"]["path"] == "/api/v1/operations" for e in audit)


def test_developer_applies_as_an_operation_streamed_and_audited(daemon: Daemon) -> None:
    with daemon.client("dev") as dev:
        started = dev.post("/api/v1/operations", json={"action": "apply"})
        assert started.status_code == 202, started.text
        op = started.json()
        assert op["actor"] == "dev (token)"
        with dev.stream("GET", op["links"]["events"]) as stream:
            events = [json.loads(line[6:]) for line in stream.iter_lines()
                      if line.startswith("data: ")]
        assert events[-1]["type"] == "done" and events[-1]["status"] == "succeeded"
        text = "".join(e["text"] for e in events if e["type"] == "output")
        assert "File/motd: Creation complete" in text and "Apply complete!" in text
        done = daemon.wait_operation(dev, op["id"])
        assert done["exit_code"] == 0
        assert (daemon.project.root / "out" / "motd.txt").read_text() == "hello console"
        history = dev.get("/api/v1/state/history").json()
        assert history[0]["actor"] == "dev (token)" and history[0]["status"] == "ok"
        audit = dev.get("/api/v1/audit", params={"limit": 50}).json()
        requests = [e for e in audit if e["action"] == "api.request"]
        assert any(e["actor"] == "dev (token)" and e["data"]["path"] == "/api/v1/operations"
                   and e["data"]["status"] == 202 for e in requests)
        assert dev.get("/api/v1/plan").json()["has_changes"] is False
        assert dev.get("/api/v1/drift").json() == {"drifted": False, "changes": []}
        assert dev.get("/api/v1/audit/verify").json()["ok"] is True


def test_a_saved_plan_is_applied_exactly_and_refused_when_stale(daemon: Daemon) -> None:
    daemon.project.write("extra.yaml", """
        apiVersion: stackwright.dev/v1
        kind: File
        metadata: {name: extra}
        spec: {path: out/extra.txt, content: "one"}
    """)
    with daemon.client("dev") as dev:
        first = dev.post("/api/v1/plans", json={}).json()
        second = dev.post("/api/v1/plans", json={}).json()
        assert [c["address"] for c in first["changes"]] == ["File/extra"]
        op = dev.post("/api/v1/operations", json={"plan_id": first["plan_id"]}).json()
        assert daemon.wait_operation(dev, op["id"])["status"] == "succeeded"
        stale = dev.post("/api/v1/operations", json={"plan_id": second["plan_id"]}).json()
        doc = daemon.wait_operation(dev, stale["id"])
        assert doc["status"] == "failed"
        out = "".join(e.get("text", "") for e in doc["events"])
        assert "stale" in out


def test_token_expiry_and_revocation(daemon: Daemon) -> None:
    store = AccessStore.open(_state_url(daemon))
    try:
        short, brief = store.create_token("vic", "short", ttl=15.0)
        revoked, record = store.create_token("vic", "gone", ttl=None)
    finally:
        store.close()
    headers = {"Authorization": f"Bearer {short}"}
    # 15 s: the first request must land before expiry even on a loaded machine
    assert httpx.get(f"{daemon.api}/api/v1/session", headers=headers).status_code == 200
    time.sleep(max(0.0, brief["expires_at"] - time.time()) + 0.5)
    assert httpx.get(f"{daemon.api}/api/v1/session", headers=headers).status_code == 401
    headers = {"Authorization": f"Bearer {revoked}"}
    assert httpx.get(f"{daemon.api}/api/v1/status", headers=headers).status_code == 200
    result = daemon.project.run("token", "revoke", record["id"])
    assert result.code == 0, result.err
    assert httpx.get(f"{daemon.api}/api/v1/status", headers=headers).status_code == 401
    bogus = {"Authorization": "Bearer swt_000000000000_nope"}
    assert httpx.get(f"{daemon.api}/api/v1/status", headers=bogus).status_code == 401


def test_session_cookie_needs_the_csrf_token_to_change_anything(daemon: Daemon) -> None:
    with httpx.Client(base_url=daemon.api, timeout=60,
                      headers={"Origin": daemon.api}) as browser:
        login = browser.post("/api/v1/session/login",
                             json={"username": "dev", "password": PASSWORDS["dev"]})
        assert login.status_code == 200, login.text
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        csrf = login.json()["csrf_token"]
        assert browser.get("/api/v1/session").json()["via"] == "session"
        forged = browser.post("/api/v1/plans", json={})
        assert forged.status_code == 403 and "CSRF" in forged.json()["error"]
        wrong = browser.post("/api/v1/plans", json={}, headers={"X-CSRF-Token": "x" + csrf})
        assert wrong.status_code == 403
        ok = browser.post("/api/v1/plans", json={}, headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 201, ok.text
        browser.post("/api/v1/session/logout", headers={"X-CSRF-Token": csrf})
        assert browser.get("/api/v1/session").status_code == 401


def test_login_attempts_are_rate_limited(daemon: Daemon) -> None:
    url = f"{daemon.api}/api/v1/session/login"
    codes = [httpx.post(url, json={"username": "ops", "password": "wrong-guess"}).status_code
             for _ in range(5)]
    assert codes == [401] * 5
    blocked = httpx.post(url, json={"username": "ops", "password": PASSWORDS["ops"]})
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    with daemon.client("ada") as ada:
        audit = ada.get("/api/v1/audit", params={"limit": 100}).json()
    assert sum(1 for e in audit if e["action"] == "access.login_failed"
               and e["actor"] == "ops") >= 5


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = start_daemon(tmp_path_factory.mktemp("api-prod"), env_name="prod")
    try:
        yield d
    finally:
        stop_daemon(d.proc)


def test_developer_cannot_apply_to_a_protected_environment(prod: Daemon) -> None:
    with prod.client("dev") as dev:
        denied = dev.post("/api/v1/operations", json={"action": "apply"})
        assert denied.status_code == 403 and "needs operator" in denied.json()["error"]
        assert dev.post("/api/v1/deploys/x/approve").status_code == 403
    with prod.client("ops") as ops:
        started = ops.post("/api/v1/operations", json={"action": "apply"})
        assert started.status_code == 202, started.text
        assert prod.wait_operation(ops, started.json()["id"])["status"] == "succeeded"


def test_state_files_hold_no_token_or_password(daemon: Daemon, tmp_path: Path) -> None:
    raw = (daemon.project.root / ".stackwright" / "state.db").read_bytes()
    for secret in [*daemon.tokens.values(), *PASSWORDS.values()]:
        assert secret.encode() not in raw


def _remote(daemon: Daemon, user: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**daemon.project.env, "STACKWRIGHT_ADDR": daemon.api,
           "STACKWRIGHT_TOKEN": daemon.tokens[user]}
    return subprocess.run([STACKWRIGHT, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_remote_cli_same_commands_and_output(daemon: Daemon, tmp_path: Path) -> None:
    daemon.project.write("remote.yaml", """
        apiVersion: stackwright.dev/v1
        kind: File
        metadata: {name: remote}
        spec: {path: out/remote.txt, content: "from afar"}
    """)
    local = daemon.project.run("plan", "--detailed-exitcode")
    remote = _remote(daemon, "vic", "plan", "--detailed-exitcode", cwd=tmp_path)
    assert (remote.returncode, remote.stdout) == (local.code, local.out) == (2, local.out)
    assert "File/remote will be created" in remote.stdout
    as_json = _remote(daemon, "vic", "plan", "-o", "json", cwd=tmp_path)
    assert "File/remote" in [c["address"] for c in json.loads(as_json.stdout)["changes"]]
    denied = _remote(daemon, "vic", "apply", "--yes", cwd=tmp_path)
    assert denied.returncode == 1 and "refused (403)" in denied.stderr
    applied = _remote(daemon, "dev", "apply", "--yes", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert "File/remote: Creation complete" in applied.stdout
    assert "Apply complete!" in applied.stdout
    assert (daemon.project.root / "out" / "remote.txt").read_text() == "from afar"
    assert not (tmp_path / ".stackwright").exists(), "nothing ran in the caller's directory"
    other = _remote(daemon, "dev", "secrets", "list", cwd=tmp_path)
    assert other.returncode == 1 and "unset STACKWRIGHT_ADDR" in other.stderr
