"""The daemon's ``/api/v1/backups`` and ``/api/v1/drills`` routes on a real daemon (its
repository password in a real secrets server): list, run (operator only), snapshots and
history; the password in no answer."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from tests.fixtures.cli import STACKWRIGHT
from tests.integration.recover.conftest import RecoverProject, needs_restic
from tests.integration.server.daemon_fixture import stop_daemon

from stackwright.ports import free_port

pytestmark = [pytest.mark.slow, needs_restic]

SPEC = """
apiVersion: stackwright.dev/v1
kind: BackupRepository
metadata: {name: main}
spec: {path: backups/repo}
---
apiVersion: stackwright.dev/v1
kind: BackupPolicy
metadata: {name: site}
spec:
  repository: main
  sources: {files: [config]}
  objectives: {rpo: 1h, rto: 10m}
---
apiVersion: stackwright.dev/v1
kind: RestoreDrill
metadata: {name: site-drill}
spec:
  policy: site
  checks:
    command: [sh, -c, 'grep -q version=1 "$(find "$SCRATCH_CONFIG_DIR" -name app.ini)"']
"""
USERS = {"ops": "operator", "dev": "developer"}


@pytest.fixture
def daemon(recover_project: RecoverProject) -> Iterator[tuple[str, dict[str, str]]]:
    rp = recover_project
    rp.write("main.yaml", SPEC)
    (rp.root / "config").mkdir()
    (rp.root / "config" / "app.ini").write_text("version=1\n")
    rp.run("apply", "--yes")
    tokens = {}
    for user, role in USERS.items():
        added = rp.p.run("user", "add", user, "--role", role, "--password-stdin",
                         input=f"{user}-password-1\n")
        assert added.code == 0, added.err
        made = rp.p.run("token", "create", "--user", user, "--name", "t", "-o", "json")
        assert made.code == 0, made.err
        tokens[user] = made.json()["token"]
    port = free_port()
    proc = subprocess.Popen([STACKWRIGHT, "-C", str(rp.root), "server", "--no-secrets",
                             "--no-controllers", "--port", str(port)], env=rp.p.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    api = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"{api}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield api, tokens
    finally:
        stop_daemon(proc)


def test_backups_and_drills_through_the_api(daemon: tuple[str, dict[str, str]],
                                            recover_project: RecoverProject) -> None:
    api, tokens = daemon
    ops = httpx.Client(base_url=api, timeout=300,
                       headers={"Authorization": f"Bearer {tokens['ops']}"})
    dev = httpx.Client(base_url=api, timeout=60,
                       headers={"Authorization": f"Bearer {tokens['dev']}"})
    seen: list[str] = []

    def ok(response: httpx.Response) -> dict:  # type: ignore[type-arg]
        seen.append(response.text)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    listed = ok(dev.get("/api/v1/backups"))["policies"]
    assert [(p["name"], p["sources"], p["last_run"]) for p in listed] == [
        ("site", ["File/config"], None)]
    refused = dev.post("/api/v1/backups/site/runs")
    assert refused.status_code == 403 and "needs operator" in refused.text
    assert ops.post("/api/v1/backups/nope/runs").status_code == 404

    run = ok(ops.post("/api/v1/backups/site/runs"))
    assert run["status"] == "succeeded" and run["kind"] == "backup", run
    snaps = ok(dev.get("/api/v1/backups/site/snapshots"))["snapshots"]
    assert [(s["source"], s["run"]) for s in snaps] == [("File/config", run["id"])]
    history = ok(dev.get("/api/v1/backups/runs", params={"policy": "site"}))["runs"]
    assert [r["id"] for r in history] == [run["id"]]

    assert dev.post("/api/v1/drills/site-drill/runs").status_code == 403
    drill = ok(ops.post("/api/v1/drills/site-drill/runs"))
    assert drill["status"] == "succeeded", drill
    assert drill["details"]["rto"] > 0 and drill["details"]["checks"] == 1
    drills = ok(dev.get("/api/v1/drills"))["drills"]
    assert [(d["name"], d["policy"], d["last_run"]["id"]) for d in drills] == [
        ("site-drill", "site", drill["id"])]
    assert [r["id"] for r in ok(dev.get("/api/v1/drills/runs"))["runs"]] == [drill["id"]]
    assert dev.get("/api/v1/drills/runs", params={"drill": "nope"}).status_code == 404

    secret = recover_project.password()
    assert all(secret not in text for text in seen)
