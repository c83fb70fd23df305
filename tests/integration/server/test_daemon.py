"""The platform daemon as users run it: up, status, the Vault API through hvac, a second
daemon refused, a killed daemon replaced, down."""

from __future__ import annotations

import json
import os
import signal
import time

import httpx
import hvac
import pytest
from tests.fixtures.cli import Project

pytestmark = pytest.mark.slow

SPEC = """
apiVersion: stackwright.dev/v1
kind: File
metadata: {name: motd}
spec: {path: out/motd.txt, content: "hello"}
"""


def _status(project: Project) -> dict[str, object]:
    result = project.run("status", "-o", "json")
    assert result.code == 0, result.err
    doc: dict[str, object] = result.json()
    return doc


def test_up_status_vault_and_down(project: Project) -> None:
    project.write("main.yaml", SPEC)
    up = project.run("up")
    assert up.code == 0, up.out + up.err
    assert "Apply complete!" in up.out and "Daemon: running" in up.out
    doc = _status(project)
    api = str(doc["api"])
    assert api.startswith("http://127.0.0.1:")
    assert [r["address"] for r in doc["resources"]] == ["File/motd"]  # type: ignore[index]
    daemon = doc["daemon"]
    assert isinstance(daemon, dict)
    pid = int(daemon["pid"])
    try:
        assert httpx.get(f"{api}/api/v1/health", timeout=5).json()["ok"] is True

        second = project.run("server")
        assert second.code == 1 and f"pid {pid}" in second.err

        client = hvac.Client(url=api)
        init = client.sys.initialize(3, 2)
        assert client.sys.read_seal_status()["sealed"] is True
        for key in init["keys"][:2]:
            client.sys.submit_unseal_key(key)
        client.token = init["root_token"]
        client.secrets.kv.v2.create_or_update_secret(path="app/db", secret={"pw": "daemon-77"})
        read = client.secrets.kv.v2.read_secret_version(path="app/db",
                                                        raise_on_deleted_version=True)
        assert read["data"]["data"] == {"pw": "daemon-77"}
        log = (project.root / ".stackwright/run/dev/daemon.log").read_text()
        assert "daemon-77" not in log
        events = [json.loads(line)["event"] for line in log.splitlines() if line.startswith("{")]
        assert "daemon.started" in events
    finally:
        down = project.run("down")
    assert down.code == 0 and f"pid {pid}" in down.out
    assert not (project.root / ".stackwright/run/dev/daemon.json").exists()
    assert _status(project)["daemon"] is None


def test_killed_daemon_is_replaced_by_up(project: Project) -> None:
    project.write("main.yaml", SPEC)
    assert project.run("up").code == 0
    first = int(_status(project)["daemon"]["pid"])  # type: ignore[index]
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _status(project)["daemon"] is not None:
        time.sleep(0.1)
    assert _status(project)["daemon"] is None, "a dead pid is not a running daemon"
    again = project.run("up")
    assert again.code == 0, again.err
    second = int(_status(project)["daemon"]["pid"])  # type: ignore[index]
    assert second != first
    assert "No changes." in again.out, "nothing is redeployed needlessly"
    assert project.run("down").code == 0


def test_up_whose_apply_fails_says_the_daemon_keeps_running(project: Project) -> None:
    project.write("main.yaml", """
        apiVersion: stackwright.dev/v1
        kind: Command
        metadata: {name: broken}
        spec: {create: "echo no >&2; exit 3"}
    """)
    up = project.run("up")
    try:
        assert up.code == 1, up.out + up.err
        daemon = _status(project)["daemon"]
        assert isinstance(daemon, dict), "the daemon stays up for the next try"
        assert f"the daemon (pid {daemon['pid']}) keeps running" in up.err
        assert "stackwright down" in up.err
    finally:
        assert project.run("down").code == 0
    assert _status(project)["daemon"] is None
