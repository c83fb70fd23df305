"""A real daemon on a free port for the API, console and access tests: ``stackwright
server`` (no secrets store, no controllers) in a scratch project of File and Command
resources, with users and tokens made through the CLI as an admin does."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from tests.fixtures.cli import STACKWRIGHT, Project, _make_project

from stackwright.ports import free_port

SPEC = """
apiVersion: stackwright.dev/v1
kind: Command
metadata: {name: setup}
spec: {create: "mkdir -p out", destroy: "rm -rf out"}
---
apiVersion: stackwright.dev/v1
kind: File
metadata: {name: motd}
spec: {path: out/motd.txt, content: "hello console"}
dependsOn: [Command/setup]
"""

PASSWORDS = {"ada": "admin-pass-1", "dev": "dev-pass-12", "vic": "viewer-pass-1",
             "ops": "operator-pass-1"}
ROLES = {"ada": "admin", "dev": "developer", "vic": "viewer", "ops": "operator"}


@dataclass
class Daemon:
    project: Project
    api: str
    proc: subprocess.Popen[str]
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, user: str | None = None, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        return httpx.Client(base_url=self.api, headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]

    def wait_operation(self, client: httpx.Client, op_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            doc = client.get(f"/api/v1/operations/{op_id}").json()
            if doc["status"] != "running":
                return doc  # type: ignore[no-any-return]
            time.sleep(0.2)
        raise AssertionError(f"operation {op_id} still running after {timeout}s")


def start_daemon(tmp_path: Path, env_name: str = "dev", extra_config: str = "") -> Daemon:
    project = _make_project(tmp_path, None)
    if extra_config:
        path = project.root / "stackwright.yaml"
        path.write_text(path.read_text() + extra_config)
    project.write("main.yaml", SPEC)
    for user, role in ROLES.items():
        added = project.run("user", "add", user, "--role", role, "--password-stdin",
                            input=PASSWORDS[user] + "\n")
        assert added.code == 0, added.err
    tokens = {}
    for user in ROLES:
        made = project.run("token", "create", "--user", user, "--name", "tests", "-o", "json")
        assert made.code == 0, made.err
        tokens[user] = made.json()["token"]
    port = free_port()
    proc = subprocess.Popen([STACKWRIGHT, "-C", str(project.root), "--env", env_name, "server",
                             "--no-secrets", "--no-controllers", "--port", str(port)],
                            env=project.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    api = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api}/api/v1/health", timeout=2).status_code == 200:
                return Daemon(project, api, proc, tokens)
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    stop_daemon(proc)
    raise AssertionError(f"the daemon did not answer: {proc.stdout.read() if proc.stdout else ''}")


def stop_daemon(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = start_daemon(tmp_path_factory.mktemp("api-daemon"))
    try:
        yield d
    finally:
        stop_daemon(d.proc)
